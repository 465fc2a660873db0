"""Kimi models: K3 (2026-07-16, always thinks, effort `max` only), K2.6 (thinking switchable,
vision) and K2.7 Code (always thinks).  Context and prices: Moonshot's pricing as listed by
dev.to/aihubmix (K3: $3.00 input, $0.30 cache hit) and docs.wolffi.sh (K2.x); where the
output price is not published in those sources the input price's ratio of K2.6 is used.
"""

from __future__ import annotations

from ..base import ModelSpec

_K = 1024

MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        ModelSpec("kimi-k3", "Kimi K3", 256 * _K, 64 * _K, "forced", tool_stream=False, price=(3.0, 0.3, 12.6)),
        ModelSpec("kimi-k2.7-code", "Kimi K2.7 Code", 256 * _K, 64 * _K, "forced", tool_stream=False, price=(0.95, 0.16, 4.0)),
        ModelSpec("kimi-k2.6", "Kimi K2.6", 256 * _K, 64 * _K, "toggle", vision=True, tool_stream=False, price=(0.95, 0.16, 4.0)),
    )
}
