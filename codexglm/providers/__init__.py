"""The providers codexglm can talk to, by name: the bottom floor, pure data plus hooks.

Adding a provider is a folder beside `glm/` and one line in `_BUILT_IN`.  Which provider
serves a model name is decided here too (`route_model`), so the catalog, the proxy and
the CLI agree on it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from .base import ModelSpec, Provider
from .glm import GLM

# The registry: the built-in providers, plus any `register_provider` adds.
_BUILT_IN: dict[str, Provider] = {provider.name: provider for provider in (GLM,)}
_CORE = frozenset(_BUILT_IN)
DEFAULT_PROVIDER = GLM.name
# `PROVIDER/MODEL` names a provider's model; only the first segment can name a provider.
PROVIDER_SEPARATOR = "/"


class UnknownProvider(KeyError):
    """No provider of that name is registered."""


def get_provider(name: str) -> Provider:
    try:
        return _BUILT_IN[name]
    except KeyError:
        raise UnknownProvider(f"unknown provider {name!r} (known: {', '.join(_BUILT_IN)})") from None


def provider_names() -> tuple[str, ...]:
    return tuple(_BUILT_IN)


def register_provider(provider: Provider) -> None:
    """Add (or replace) a provider beside the built-in ones, e.g. one defined in config."""
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


def model_slug(provider: str, model_id: str) -> str:
    """The name Codex knows a provider's model by: GLM's models keep their bare ids (they
    always had them), every other provider's are `PROVIDER/MODEL`, so slugs never clash."""
    return model_id if provider == DEFAULT_PROVIDER else f"{provider}{PROVIDER_SEPARATOR}{model_id}"


def route_model(
    requested: str | None, known: Mapping[str, Collection[str]], default_provider: str = DEFAULT_PROVIDER
) -> tuple[str, str]:
    """(provider, model name for that provider) for a model name Codex asked for.

    `PROVIDER/MODEL` with a registered PROVIDER always goes to it (`openrouter/z-ai/glm-5.3`
    asks OpenRouter for `z-ai/glm-5.3`); a bare id that exactly one provider in KNOWN
    (provider -> its model ids, lower-case) lists goes to that one; the default provider
    wins a tie it is part of; anything else (Codex's own `gpt-*` slugs) goes to the default
    provider, whose `resolve_model` maps it to its default model.
    """
    name = (requested or "").strip()
    head, separator, tail = name.partition(PROVIDER_SEPARATOR)
    if separator and head.lower() in _BUILT_IN and tail.strip():
        return head.lower(), tail.strip()
    lowered = name.lower()
    owners = [provider for provider, models in known.items() if lowered in models and provider in _BUILT_IN]
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
    "get_provider",
    "key_variables",
    "model_slug",
    "provider_names",
    "register_provider",
    "route_model",
    "unregister_provider",
]
