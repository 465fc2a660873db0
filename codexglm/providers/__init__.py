"""The providers codexglm can talk to, by name: the bottom floor, pure data plus hooks.

Adding a provider is a folder beside `glm/` and one line in `_BUILT_IN`.
"""

from __future__ import annotations

from .base import ModelSpec, Provider
from .deepseek import DEEPSEEK
from .glm import GLM
from .kimi import KIMI
from .minimax import MINIMAX
from .openrouter import OPENROUTER
from .qwen import QWEN

_BUILT_IN: dict[str, Provider] = {provider.name: provider for provider in (GLM, DEEPSEEK, KIMI, MINIMAX, QWEN, OPENROUTER)}
DEFAULT_PROVIDER = GLM.name


class UnknownProvider(KeyError):
    """No provider of that name is registered."""


def get_provider(name: str) -> Provider:
    try:
        return _BUILT_IN[name]
    except KeyError:
        raise UnknownProvider(f"unknown provider {name!r} (known: {', '.join(_BUILT_IN)})") from None


def provider_names() -> tuple[str, ...]:
    return tuple(_BUILT_IN)


def key_variables() -> frozenset[str]:
    """Every environment variable that holds some provider's API key."""
    return frozenset(get_provider(name).key_env for name in provider_names())


__all__ = ["DEFAULT_PROVIDER", "GLM", "ModelSpec", "Provider", "UnknownProvider", "get_provider", "key_variables", "provider_names"]
