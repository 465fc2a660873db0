"""OpenRouter: one key for many upstreams, with its own reasoning and error shapes.

Reasoning arrives as `reasoning` text plus structured `reasoning_details`, which go back
unmodified; thinking is the `reasoning` object; streams carry SSE comments
(`: OPENROUTER PROCESSING`, skipped by the decoder); errors are
`{"error": {"message": "Provider returned error", "code": 429, "metadata": {"raw", "provider_name"}}}`
(api.md §7, recordings of openrouter.ai).
"""

from __future__ import annotations

from typing import Any

from ..base import CONTENT_FILTER, OVERLOADED, ModelSpec
from ..controls import compatible_provider, thinking_control
from .errors import ERROR_CODES
from .models import MODELS

REGIONS = {"international": "https://openrouter.ai/api/v1"}


def openrouter_chat_extras(spec: ModelSpec, stream: bool, has_tools: bool) -> dict[str, Any]:
    """Usage accounting with cost and cached tokens, as OpenRouter's own clients ask for it."""
    return {"usage": {"include": True}}


OPENROUTER = compatible_provider(
    name="openrouter",
    vendor="OpenRouter",
    models=MODELS,
    default_model="z-ai/glm-5.3",
    regions=REGIONS,
    key_env="OPENROUTER_API_KEY",
    base_url_env="OPENROUTER_BASE_URL",
    key_help=" (keys are at openrouter.ai/settings/keys)",
    # Every `vendor/model` id OpenRouter serves passes through, known to the table or not.
    passthrough_prefixes=("z-ai/", "deepseek/", "moonshotai/", "minimax/", "qwen/", "openai/", "anthropic/",
                          "google/", "x-ai/", "mistralai/", "meta-llama/", "~"),
    thinking=thinking_control("reasoning-object", "reasoning.effort",
                              {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}),
    chat_extras=openrouter_chat_extras,
    reasoning_fields=("reasoning", "reasoning_content"),
    reasoning_replay_field="reasoning",
    reasoning_details_field="reasoning_details",
    error_codes=ERROR_CODES,
    failed_finish_reasons={"content_filter": CONTENT_FILTER, "error": OVERLOADED},
    model_fix="Set the model with `-m z-ai/glm-5.3` (any OpenRouter model id works).",
)
