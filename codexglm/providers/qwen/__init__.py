"""Qwen on Alibaba Cloud Model Studio (DashScope, OpenAI-compatible mode).

Hybrid models think only with `enable_thinking` (off by default for commercial models) and
answer in `reasoning_content`; the reasoning need not go back (it is ignored).  Usage is sent
only with `stream_options.include_usage`, on a trailing chunk with `choices: []`.  Mainland
(`dashscope`) and international (`dashscope-intl`) hosts take different keys (api.md §7,
update-2026-12).
"""

from __future__ import annotations

from ..base import Provider
from ..controls import region_endpoints, thinking_control
from .errors import ERROR_CODES, MESSAGE_CODES
from .models import MODELS

REGIONS = {
    "international": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    "china": "https://dashscope.aliyuncs.com/compatible-mode/v1",
}

QWEN = Provider(
    name="qwen",
    vendor="Alibaba Cloud Model Studio",
    model_family="Qwen",
    model_owner="qwen",
    models=MODELS,
    default_model="qwen3-coder-plus",
    key_env="DASHSCOPE_API_KEY",
    env_settings={"DASHSCOPE_BASE_URL": "base_url"},
    endpoints=region_endpoints(REGIONS),
    regions=REGIONS,
    passthrough_prefixes=("qwen", "qwq-"),
    thinking=thinking_control("enable-thinking"),
    reasoning_replay="none",
    error_codes=ERROR_CODES,
    message_codes=MESSAGE_CODES,
    key_fix="Check DASHSCOPE_API_KEY (an international Model Studio key works only with the international "
    "region, a mainland one only with `region = \"china\"`).",
    model_fix="Set the model with `-m qwen3-coder-plus` (or another Qwen model).",
    base_url_fix="Check DASHSCOPE_BASE_URL: the URL before /chat/completions, "
    "e.g. https://dashscope-intl.aliyuncs.com/compatible-mode/v1.",
)
