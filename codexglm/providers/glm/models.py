"""The GLM model table: limits, thinking controls, modalities, prices.

Z.ai's `/models` returns ids only, so context windows and output limits live here
(docs.z.ai "Core Parameters" and pricing pages, late 2026).  Thinking styles:
toggle = `thinking: {type: enabled|disabled}` (GLM-4.5 ... 5.1, 4.7, vision models);
effort = `reasoning_effort` none...max plus the toggle (GLM-5.2); forced =
`reasoning_effort` low|high|max, cannot be disabled (GLM-5.3 family, and GLM-5.4 until Z.ai
documents its controls).  Models newer than this table still work: `discovery` merges each
upstream's `/models` answer in, with conservative defaults.
"""

from __future__ import annotations

from ..base import ModelSpec

_K = 1024

MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        # GLM-5.4 (2026-11-24): Coding Plan only (no pay-as-you-go price yet); image and video input.
        ModelSpec("glm-5.4", "GLM-5.4", 1_000_000, 131_072, "forced", vision=True, price=None, plan_only=True),
        ModelSpec("glm-5.3", "GLM-5.3", 1_000_000, 131_072, "forced", vision=True, price=(1.4, 0.26, 4.4)),
        ModelSpec("glm-5.3-flash", "GLM-5.3-Flash", 1_000_000, 131_072, "forced", vision=True, price=(0.15, 0.03, 0.5)),
        ModelSpec("glm-5.3-flashx", "GLM-5.3-FlashX", 1_000_000, 131_072, "forced", vision=True, price=(0.37, 0.075, 1.25)),
        ModelSpec("glm-5.2", "GLM-5.2", 1_000_000, 131_072, "effort", price=(1.4, 0.26, 4.4)),
        ModelSpec("glm-5.1", "GLM-5.1", 202_800, 131_072, price=(1.4, 0.26, 4.4)),
        ModelSpec("glm-5", "GLM-5", 200_000, 131_072, price=(1.0, 0.2, 3.2)),
        ModelSpec("glm-5-turbo", "GLM-5-Turbo", 200_000, 131_072, price=(1.2, 0.24, 4.0)),
        ModelSpec("glm-5v-turbo", "GLM-5V-Turbo", 200_000, 131_072, vision=True, tool_stream=False, json_mode=False, price=(1.2, 0.24, 4.0)),
        ModelSpec("glm-4.7", "GLM-4.7", 204_800, 131_072, price=(0.6, 0.11, 2.2)),
        ModelSpec("glm-4.7-flashx", "GLM-4.7-FlashX", 200_000, 131_072, price=(0.07, 0.01, 0.4)),
        ModelSpec("glm-4.7-flash", "GLM-4.7-Flash", 200_000, 131_072, price=None),
        ModelSpec("glm-4.6", "GLM-4.6", 204_800, 131_072, price=(0.6, 0.11, 2.2)),
        ModelSpec("glm-4.6v", "GLM-4.6V", 128 * _K, 32 * _K, vision=True, tool_stream=False, json_mode=False, price=(0.3, 0.05, 0.9)),
        ModelSpec("glm-4.6v-flashx", "GLM-4.6V-FlashX", 128 * _K, 32 * _K, vision=True, tool_stream=False, json_mode=False, price=(0.04, 0.004, 0.4)),
        ModelSpec("glm-4.6v-flash", "GLM-4.6V-Flash", 128 * _K, 32 * _K, vision=True, tool_stream=False, json_mode=False, price=None),
        ModelSpec("glm-4.5", "GLM-4.5", 128 * _K, 96 * _K, tool_stream=False, price=(0.6, 0.11, 2.2)),
        ModelSpec("glm-4.5-air", "GLM-4.5-Air", 128 * _K, 96 * _K, tool_stream=False, price=(0.2, 0.03, 1.1)),
        ModelSpec("glm-4.5-x", "GLM-4.5-X", 128 * _K, 96 * _K, tool_stream=False, price=(2.2, 0.45, 8.9)),
        ModelSpec("glm-4.5-airx", "GLM-4.5-AirX", 128 * _K, 96 * _K, tool_stream=False, price=(1.1, 0.22, 4.5)),
        ModelSpec("glm-4.5-flash", "GLM-4.5-Flash", 128 * _K, 96 * _K, tool_stream=False, price=None),
        ModelSpec("glm-4.5v", "GLM-4.5V", 64 * _K, 16 * _K, vision=True, tool_stream=False, json_mode=False, price=(0.6, 0.11, 1.8)),
        ModelSpec("glm-4-32b-0414-128k", "GLM-4-32B", 128 * _K, 16 * _K, "none", tool_stream=False, price=(0.1, 0.1, 0.1)),
    )
}

# What the Coding Plan serves: since August 2026 it answers GLM-5.1 and GLM-5.2 requests with
# GLM-5.3, so that is the default (docs.z.ai devpack, quoted in glm-acp-agent#74).
DEFAULT_MODEL = "glm-5.3"
PLAN_ROUTED: dict[str, str] = {"glm-5.1": DEFAULT_MODEL, "glm-5.2": DEFAULT_MODEL}
