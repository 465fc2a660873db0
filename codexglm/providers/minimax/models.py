"""MiniMax models.  M3: 1M context (MiniMax serves 500K for now, models.dev #1940), 131K output,
text/image/video input, adaptive thinking that can be disabled.  M3.1-Flash: always thinks,
1M context, 512K output.  M2.7: 205K context, always thinks.  Prices per million tokens from
the Vercel AI Gateway listings (MiniMax states M3 is priced as M2.7); MiniMax publishes no
separate cache-hit price there, so cached input is billed as input here.
"""

from __future__ import annotations

from ..base import ModelSpec

_K = 1024

MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        ModelSpec("MiniMax-M3", "MiniMax-M3", 500_000, 128 * _K, "toggle", vision=True, tool_stream=False,
                  json_mode=False, price=(0.24, 0.24, 0.96)),
        ModelSpec("MiniMax-M3.1-Flash", "MiniMax-M3.1-Flash", 1_000_000, 512 * _K, "forced", tool_stream=False,
                  json_mode=False, price=(0.15, 0.15, 0.6)),
        ModelSpec("MiniMax-M2.7", "MiniMax-M2.7", 204_800, 128 * _K, "forced", tool_stream=False,
                  json_mode=False, price=(0.24, 0.24, 0.96)),
    )
}
