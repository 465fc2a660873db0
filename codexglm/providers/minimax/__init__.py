"""MiniMax (M3, M3.1-Flash, M2.7): thinking in `reasoning_details`, or inline `<think>` tags.

With `reasoning_split: true` the reasoning arrives as `reasoning_details` entries, which go
back unmodified; without it (or from a model that ignores it) it is inline `<think>...</think>`
in the content, which goes back inline.  `max_tokens` is deprecated in favour of
`max_completion_tokens`.  Errors can come as `base_resp.status_code` (api.md §7,
update-2026-12).
"""

from __future__ import annotations

from typing import Any

from ..base import ModelSpec
from ..controls import compatible_provider, thinking_control
from .errors import ERROR_CODES
from .models import MODELS

REGIONS = {"international": "https://api.minimax.io/v1", "china": "https://api.minimaxi.com/v1"}


def minimax_chat_extras(spec: ModelSpec, stream: bool, has_tools: bool) -> dict[str, Any]:
    """Ask for reasoning apart from the answer, where the model thinks at all."""
    return {"reasoning_split": True} if spec.supports_reasoning else {}


MINIMAX = compatible_provider(
    name="minimax",
    vendor="MiniMax",
    models=MODELS,
    default_model="MiniMax-M3",
    regions=REGIONS,
    key_env="MINIMAX_API_KEY",
    base_url_env="MINIMAX_BASE_URL",
    key_help=" (platform.minimax.io keys work on the international region, "
    "platform.minimaxi.com keys with `region = \"china\"`)",
    passthrough_prefixes=("minimax-",),
    # M3 thinks adaptively unless disabled; M2.x and M3.1-Flash cannot be switched off.
    thinking=thinking_control("thinking-adaptive"),
    chat_extras=minimax_chat_extras,
    reasoning_details_field="reasoning_details",
    inline_think_tags=True,
    reasoning_replay="tags",
    max_tokens_field="max_completion_tokens",
    replay_json_arguments=True,
    error_codes=ERROR_CODES,
    model_fix="Set the model with `-m MiniMax-M3` (or another MiniMax model).",
)
