"""Kimi (Moonshot AI): K3 always thinks, and the whole assistant message goes back.

Tool-call ids look like `functions.<name>:<n>` and continuation chunks carry `id: null`
(matched by index in the core); the previous assistant message must be replayed with its
`reasoning_content`.  Global (`.ai`) and mainland (`.cn`) keys are not interchangeable, so
the region picks the host (api.md §7, update-2026-12).
"""

from __future__ import annotations

from typing import Any

from ..base import ModelSpec
from ..controls import compatible_provider, thinking_control
from .errors import ERROR_CODES, MESSAGE_CODES
from .models import MODELS

REGIONS = {"international": "https://api.moonshot.ai/v1", "china": "https://api.moonshot.cn/v1"}
# Moonshot's default output budget is small and thinking shares it; Kimi's own CLI asks for this.
_DEFAULT_MAX_TOKENS = 32_000


def kimi_chat_extras(spec: ModelSpec, stream: bool, has_tools: bool) -> dict[str, Any]:
    """An output budget big enough for thinking plus the answer (a request's own limit wins)."""
    return {"max_tokens": min(_DEFAULT_MAX_TOKENS, spec.max_output)}


KIMI = compatible_provider(
    name="kimi",
    vendor="Moonshot AI",
    model_family="Kimi",
    model_owner="moonshotai",
    models=MODELS,
    default_model="kimi-k3",
    regions=REGIONS,
    key_env="MOONSHOT_API_KEY",
    base_url_env="MOONSHOT_BASE_URL",
    key_help=" (platform.moonshot.ai keys work only on the international region, "
    "platform.moonshot.cn keys only with `region = \"china\"`)",
    passthrough_prefixes=("kimi-", "moonshot-"),
    # K3 accepts only reasoning_effort "max"; K2.x switch with thinking.type.
    thinking=thinking_control("thinking-type", "reasoning_effort", dict.fromkeys(("low", "medium", "high", "xhigh", "max"), "max")),
    chat_extras=kimi_chat_extras,
    reasoning_required_on_tool_calls=True,
    cached_tokens_fields=("prompt_tokens_details.cached_tokens", "cached_tokens"),
    error_codes=ERROR_CODES,
    message_codes=MESSAGE_CODES,
    model_fix="Set the model with `-m kimi-k3` (or another Kimi model).",
)
