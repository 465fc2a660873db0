"""The providers codexglm can talk to, by name: the bottom floor, pure data plus hooks.

Adding a provider is a folder beside `glm/` and one line in `_BUILT_IN`.  Providers defined
in config.toml (`[providers.NAME]`, see `custom`) join through `define_custom_providers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import ModelSpec, Provider
from .custom import custom_provider
from .deepseek import DEEPSEEK
from .glm import GLM
from .kimi import KIMI
from .minimax import MINIMAX
from .openrouter import OPENROUTER
from .qwen import QWEN

_BUILT_IN: dict[str, Provider] = {provider.name: provider for provider in (GLM, DEEPSEEK, KIMI, MINIMAX, QWEN, OPENROUTER)}
DEFAULT_PROVIDER = GLM.name
# The `[providers.NAME]` tables of the config last loaded (replaced as a whole on each load).
_CUSTOM: dict[str, Provider] = {}


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
        defined[name] = custom_provider(name, table)
    _CUSTOM.clear()
    _CUSTOM.update(defined)


def key_variables() -> frozenset[str]:
    """Every environment variable that holds some provider's API key."""
    return frozenset(get_provider(name).key_env for name in provider_names())


__all__ = [
    "DEFAULT_PROVIDER",
    "GLM",
    "ModelSpec",
    "Provider",
    "UnknownProvider",
    "define_custom_providers",
    "get_provider",
    "key_variables",
    "provider_names",
]
