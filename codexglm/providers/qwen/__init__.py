"""Qwen on Alibaba Cloud Model Studio (DashScope, OpenAI-compatible mode).

Hybrid models think only with `enable_thinking` (off by default for commercial models) and
answer in `reasoning_content`; the reasoning need not go back (it is ignored).  Usage is sent
only with `stream_options.include_usage`, on a trailing chunk with `choices: []`.  Mainland
(`dashscope`) and international (`dashscope-intl`) hosts take different keys (api.md §7,
update-2026-12).
"""

from __future__ import annotations

from ..controls import compatible_provider, thinking_control
from .errors import ERROR_CODES, MESSAGE_CODES
from .models import MODELS

REGIONS = {
    "international": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    "china": "https://dashscope.aliyuncs.com/compatible-mode/v1",
}

QWEN = compatible_provider(
    name="qwen",
    vendor="Alibaba Cloud Model Studio",
    model_family="Qwen",
    models=MODELS,
    default_model="qwen3-coder-plus",
    regions=REGIONS,
    key_env="DASHSCOPE_API_KEY",
    base_url_env="DASHSCOPE_BASE_URL",
    key_help=" (an international Model Studio key works only with the international region, "
    "a mainland one only with `region = \"china\"`)",
    passthrough_prefixes=("qwen", "qwq-"),
    thinking=thinking_control("enable-thinking"),
    thinking_streams_only=True,
    reasoning_replay="none",
    error_codes=ERROR_CODES,
    message_codes=MESSAGE_CODES,
    model_fix="Set the model with `-m qwen3-coder-plus` (or another Qwen model).",
)
