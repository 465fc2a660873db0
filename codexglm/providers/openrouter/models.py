"""A few OpenRouter models Codex users route (any other `vendor/model` id passes through).
Context and prices from openrouter.ai model pages (z-ai/glm-5.3 via ~z-ai/glm-latest:
1M context, $1.40/$4.40, cache read $0.26; deepseek-v4-flash: 1,048,576, $0.14/$0.28;
qwen3-coder-next: 262,144, $0.07/$0.30, no thinking)."""

from __future__ import annotations

from ..base import ModelSpec

MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        ModelSpec("z-ai/glm-5.3", "GLM-5.3 (OpenRouter)", 1_000_000, 131_072, "forced", tool_stream=False, price=(1.4, 0.26, 4.4)),
        ModelSpec("deepseek/deepseek-v4-flash", "DeepSeek-V4-Flash (OpenRouter)", 1_048_576, 384_000, "effort",
                  tool_stream=False, price=(0.14, 0.14, 0.28)),
        ModelSpec("minimax/minimax-m3", "MiniMax-M3 (OpenRouter)", 500_000, 131_072, "toggle", vision=True,
                  tool_stream=False, price=(0.24, 0.24, 0.96)),
        ModelSpec("qwen/qwen3-coder-next", "Qwen3-Coder-Next (OpenRouter)", 262_144, 65_536, "none",
                  tool_stream=False, price=(0.07, 0.07, 0.3)),
    )
}
