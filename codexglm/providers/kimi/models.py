"""Kimi models: K3 (2026-07-16, always thinks, effort `max` only), K2.6 and K2.5 (thinking
switchable, vision) and K2.7 Code (always thinks), all 256K context.  Prices per million
tokens (input, cache hit, output): K2.x from Moonshot's international price list (platform
.moonshot.ai pricing, via developer.puter.com, June 2026); K3's $3.00 / $0.30 input from the
dev.to/aihubmix K3 guide; its output price is not in those sources, so K2.6's output-to-input
ratio stands in for it.
"""

from __future__ import annotations

from ..base import ModelSpec

_K = 1024

MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        ModelSpec("kimi-k3", "Kimi K3", 256 * _K, 64 * _K, "forced", tool_stream=False, price=(3.0, 0.3, 12.6)),
        ModelSpec("kimi-k2.7-code", "Kimi K2.7 Code", 256 * _K, 64 * _K, "forced", tool_stream=False, price=(0.95, 0.19, 4.0)),
        ModelSpec("kimi-k2.6", "Kimi K2.6", 256 * _K, 64 * _K, "toggle", vision=True, tool_stream=False, price=(0.95, 0.16, 4.0)),
        ModelSpec("kimi-k2.5", "Kimi K2.5", 256 * _K, 64 * _K, "toggle", vision=True, tool_stream=False, price=(0.6, 0.1, 3.0)),
    )
}
