"""DeepSeek's models (V4, April 2026; `deepseek-chat`/`-reasoner` retired 2026-07-24).

1M context, up to 384K output, thinking off by default and switched per request; prices per
million tokens: input, cache hit, output (DeepSeek's V4 announcement as quoted by
arikusi/deepseek-mcp-server v2.0.0).
"""

from __future__ import annotations

from ..base import ModelSpec

MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        ModelSpec("deepseek-v4-pro", "DeepSeek-V4-Pro", 1_048_576, 384_000, "effort", tool_stream=False,
                  price=(0.435, 0.003625, 0.87)),
        ModelSpec("deepseek-v4-flash", "DeepSeek-V4-Flash", 1_048_576, 384_000, "effort", tool_stream=False,
                  price=(0.14, 0.0028, 0.28)),
    )
}
