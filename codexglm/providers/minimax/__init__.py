"""MiniMax (M3, M3.1-Flash, M2.7): thinking in `reasoning_details`, or inline `<think>` tags.

With `reasoning_split: true` the reasoning arrives as `reasoning_details` entries, which go
back unmodified; without it (or from a model that ignores it) it is inline `<think>...</think>`
in the content, which goes back inline.  `max_tokens` is deprecated in favour of
`max_completion_tokens`.  Errors can come as `base_resp.status_code` (api.md §7,
update-2026-12).
"""

from __future__ import annotations

from typing import Any

from ..base import ModelSpec, Provider
from ..controls import region_endpoints, thinking_control
from .errors import ERROR_CODES
from .models import MODELS

REGIONS = {"international": "https://api.minimax.io/v1", "china": "https://api.minimaxi.com/v1"}


def minimax_chat_extras(spec: ModelSpec, stream: bool, has_tools: bool) -> dict[str, Any]:
    """Ask for reasoning apart from the answer, where the model thinks at all."""
    return {"reasoning_split": True} if spec.supports_reasoning else {}


MINIMAX = Provider(
    name="minimax",
    vendor="MiniMax",
    model_family="MiniMax",
    model_owner="minimax",
    models=MODELS,
    default_model="MiniMax-M3",
    key_env="MINIMAX_API_KEY",
    env_settings={"MINIMAX_BASE_URL": "base_url"},
    endpoints=region_endpoints(REGIONS),
    regions=REGIONS,
    passthrough_prefixes=("minimax-",),
    # M3 thinks adaptively unless disabled; M2.x and M3.1-Flash cannot be switched off.
    thinking=thinking_control("thinking-adaptive"),
    chat_extras=minimax_chat_extras,
    reasoning_details_field="reasoning_details",
    inline_think_tags=True,
    reasoning_replay="tags",
    max_tokens_field="max_completion_tokens",
    error_codes=ERROR_CODES,
    key_fix="Check MINIMAX_API_KEY (platform.minimax.io keys work on the international region, "
    "platform.minimaxi.com keys with `region = \"china\"`).",
    model_fix="Set the model with `-m MiniMax-M3` (or another MiniMax model).",
    base_url_fix="Check MINIMAX_BASE_URL: the URL before /chat/completions, e.g. https://api.minimax.io/v1.",
)
