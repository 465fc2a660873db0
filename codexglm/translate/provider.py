"""Provider quirks as data plus small hooks.

The translation rules are shared by every chat-only upstream; what differs (where the
reasoning text lives, how thinking is switched, which request fields the upstream rejects)
is described by a `Provider`.  GLM is the first; others are a new instance, not new `if`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from .models import ModelSpec

ThinkingHook = Callable[[ModelSpec, "str | None"], dict]

# Codex 0.169 efforts: none, minimal, low, medium, high, xhigh, max, ultra.
_OFF = ("none", "minimal")
_FORCED_EFFORT = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high",
                  "xhigh": "max", "max": "max", "ultra": "max"}
_GLM52_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max", "ultra": "max"}


def glm_thinking(spec: ModelSpec, effort: str | None) -> dict:
    """Request fields for Codex's `reasoning.effort` on a GLM model family (api.md §2.4)."""
    effort = effort.lower() if isinstance(effort, str) else None
    if spec.thinking == "none":
        return {}
    if spec.thinking == "forced":
        # GLM-5.3 cannot stop thinking; it knows low/high/max only.
        return {"reasoning_effort": _FORCED_EFFORT[effort]} if effort in _FORCED_EFFORT else {}
    if effort in _OFF:
        disabled: dict = {"thinking": {"type": "disabled"}}
        if spec.thinking == "effort":
            disabled["reasoning_effort"] = "none"
        return disabled
    enabled: dict = {"thinking": {"type": "enabled"}}
    if spec.thinking == "effort" and effort in _GLM52_EFFORT:
        enabled["reasoning_effort"] = _GLM52_EFFORT[effort]
    return enabled


@dataclass(frozen=True)
class Provider:
    name: str
    # Delta/message fields that carry reasoning text, first match wins.
    reasoning_fields: tuple[str, ...] = ("reasoning_content",)
    # Field the upstream accepts reasoning in on replayed assistant messages.
    reasoning_replay_field: str = "reasoning_content"
    thinking: ThinkingHook = glm_thinking
    max_tools: int = 128
    temperature_range: tuple[float, float] = (0.0, 1.0)
    top_p_range: tuple[float, float] = (0.01, 1.0)
    # Ask for usage in streams (GLM tolerates stream_options; some upstreams need it).
    stream_usage_option: bool = True
    # Rewrite tool schemas without $ref/anyOf/oneOf (GLM 500s or stalls on them).
    simplify_schemas: bool = True
    # GLM's own billed search tool; None when the upstream has none.
    web_search_tool: dict | None = None


GLM = Provider(
    name="glm",
    web_search_tool={"type": "web_search", "web_search": {"enable": True, "search_engine": "search_pro_jina", "search_result": True}},
)
