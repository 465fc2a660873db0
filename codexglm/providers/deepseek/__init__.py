"""DeepSeek (V4 flash/pro): thinking switched per request, and strict about its replay.

In thinking mode DeepSeek rejects a follow-up whose assistant tool-call message lacks
`reasoning_content` (400 "... must be passed back"), so it is always sent, empty if need
be.  Cached prompt tokens arrive as `prompt_cache_hit_tokens` (api.md §7, update-2026-12).
"""

from __future__ import annotations

from ..controls import compatible_provider, thinking_control
from .errors import MESSAGE_CODES, STATUS_CODES
from .models import MODELS

REGIONS = {"international": "https://api.deepseek.com"}

DEEPSEEK = compatible_provider(
    name="deepseek",
    vendor="DeepSeek",
    models=MODELS,
    default_model="deepseek-v4-pro",
    regions=REGIONS,
    key_env="DEEPSEEK_API_KEY",
    base_url_env="DEEPSEEK_BASE_URL",
    key_help=" (keys are at platform.deepseek.com/api_keys)",
    passthrough_prefixes=("deepseek-",),
    # V4 thinks with `thinking.type` and takes effort high or max.
    thinking=thinking_control("thinking-type", "reasoning_effort",
                              {"low": "high", "medium": "high", "high": "high", "xhigh": "max", "max": "max"}),
    reasoning_required_on_tool_calls=True,
    cached_tokens_fields=("prompt_cache_hit_tokens", "prompt_tokens_details.cached_tokens"),
    message_codes=MESSAGE_CODES,
    status_codes=STATUS_CODES,
    model_fix="Set the model with `-m deepseek-v4-pro` or `-m deepseek-v4-flash`.",
)
