"""The providers codexglm can talk to, by name: the bottom floor, pure data plus hooks.

Adding a provider is a folder beside `glm/` and one line in `_BUILT_IN`.  Providers defined
in config.toml (`[providers.NAME]`, see `custom`) join through `define_custom_providers`.
Which provider serves a model name is decided here too (`route_model`), so the catalog,
the proxy and the CLI agree on it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .base import ModelSpec, Provider
from .custom import custom_provider
from .deepseek import DEEPSEEK
from .glm import GLM
from .kimi import KIMI
from .minimax import MINIMAX
from .openrouter import OPENROUTER
from .qwen import QWEN

# The registry: the built-in providers, plus any `register_provider` adds.
_BUILT_IN: dict[str, Provider] = {provider.name: provider for provider in (GLM, DEEPSEEK, KIMI, MINIMAX, QWEN, OPENROUTER)}
_CORE = frozenset(_BUILT_IN)
DEFAULT_PROVIDER = GLM.name
# The `[providers.NAME]` tables of the config last loaded (replaced as a whole on each load).
_CUSTOM: dict[str, Provider] = {}
# `PROVIDER/MODEL` names a provider's model; only the first segment can name a provider.
PROVIDER_SEPARATOR = "/"


class UnknownProvider(KeyError):
    """No provider of that name is registered."""


def get_provider(name: str) -> Provider:
    try:
        return _BUILT_IN.get(name) or _CUSTOM[name]
    except KeyError:
        raise UnknownProvider(f"unknown provider {name!r} (known: {', '.join(provider_names())})") from None


def provider_names() -> tuple[str, ...]:
    return (*_BUILT_IN, *_CUSTOM)


def define_custom_providers(tables: Mapping[str, Any]) -> None:
    """Make the `[providers.NAME]` TABLES of a config the custom providers (ValueError if one is bad)."""
    if not isinstance(tables, Mapping):
        raise ValueError("providers must hold one [providers.NAME] table per provider")
    defined: dict[str, Provider] = {}
    for name, table in tables.items():
        if name in _BUILT_IN:
            raise ValueError(f"providers.{name}: {name} is a built-in provider; give the custom one another name")
        if PROVIDER_SEPARATOR in name:
            raise ValueError(f"providers.{name}: a provider name cannot hold {PROVIDER_SEPARATOR!r}")
        defined[name] = custom_provider(name, table)
    _CUSTOM.clear()
    _CUSTOM.update(defined)


def register_provider(provider: Provider) -> None:
    """Add (or replace) a provider beside the built-in ones (a test's, or a wrapper's)."""
    if not provider.name or PROVIDER_SEPARATOR in provider.name:
        raise ValueError(f"a provider name must be non-empty and without {PROVIDER_SEPARATOR!r}: {provider.name!r}")
    _BUILT_IN[provider.name] = provider


def unregister_provider(name: str) -> None:
    """Remove a provider added with `register_provider` (built-in ones stay)."""
    if name in _CORE:
        raise ValueError(f"{name!r} is built in")
    _BUILT_IN.pop(name, None)


def key_variables() -> frozenset[str]:
    """Every environment variable that holds some provider's API key."""
    return frozenset(get_provider(name).key_env for name in provider_names())


def model_slug(provider: str, model_id: str, default_provider: str = DEFAULT_PROVIDER) -> str:
    """The name Codex knows a provider's model by: GLM's models keep their bare ids (they
    always had them), and so do the configured default provider's; every other provider's
    are `PROVIDER/MODEL`, so slugs never clash.  Every form routes back (`route_model`)."""
    bare = provider in (DEFAULT_PROVIDER, default_provider)
    return model_id if bare else f"{provider}{PROVIDER_SEPARATOR}{model_id}"


def route_model(
    requested: str | None, known: Mapping[str, Collection[str]], default_provider: str = DEFAULT_PROVIDER
) -> tuple[str, str]:
    """(provider, model name for that provider) for a model name Codex asked for.

    A model of the default provider's own table comes first (OpenRouter's ids hold a slash:
    with OpenRouter the default, `deepseek/deepseek-v4-flash` is its model); then
    `PROVIDER/MODEL` with a registered PROVIDER always goes to it (`openrouter/z-ai/glm-5.3`
    asks OpenRouter for `z-ai/glm-5.3`); a bare id that exactly one provider in KNOWN
    (provider -> its model ids, lower-case) lists goes to that one; the default provider
    wins a tie it is part of; anything else (Codex's own `gpt-*` slugs) goes to the default
    provider, whose `resolve_model` maps it to its default model.
    """
    registered = provider_names()
    name = (requested or "").strip()
    lowered = name.lower()
    if lowered in known.get(default_provider, ()):
        return default_provider, name
    head, separator, tail = name.partition(PROVIDER_SEPARATOR)
    if separator and head.lower() in registered and tail.strip():
        return head.lower(), tail.strip()
    owners = [provider for provider, models in known.items() if lowered in models and provider in registered]
    if len(owners) == 1:
        return owners[0], name
    if default_provider in owners or not owners:
        return default_provider, name
    return owners[0], name


__all__ = [
    "DEFAULT_PROVIDER",
    "GLM",
    "PROVIDER_SEPARATOR",
    "ModelSpec",
    "Provider",
    "UnknownProvider",
    "define_custom_providers",
    "get_provider",
    "key_variables",
    "model_slug",
    "provider_names",
    "register_provider",
    "route_model",
    "unregister_provider",
]
