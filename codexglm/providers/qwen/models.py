"""Qwen models on Model Studio (international prices per million tokens, first tier).
qwen3-max: 262K context, 65K output, hybrid thinking, $1.2/$6.0 (Vercel AI Gateway listing);
qwen3-coder-plus: 1M context, no thinking, $1/$5.  Implicit-cache hits bill 20 % of input.
Newer ids (qwen3.7-plus, ...) pass through with conservative defaults.
"""

from __future__ import annotations

from ..base import ModelSpec

_K = 1024

MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        ModelSpec("qwen3-coder-plus", "Qwen3-Coder-Plus", 1_000_000, 64 * _K, "none", tool_stream=False, price=(1.0, 0.2, 5.0)),
        ModelSpec("qwen3-max", "Qwen3-Max", 262_144, 64 * _K, "toggle", tool_stream=False, price=(1.2, 0.24, 6.0)),
    )
}
