"""How GLM takes Codex's reasoning effort, and the request fields only GLM has (api.md §2.4)."""

from __future__ import annotations

from typing import Any

from ..base import ModelSpec

_OFF = ("none", "minimal")
# GLM-5.3 knows low/high/max only and cannot stop thinking.
_FORCED_EFFORT = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high",
                  "xhigh": "max", "max": "max", "ultra": "max"}
# GLM-5.2 thinks at two depths: it treats low and medium as high, and xhigh as max (api.md
# §2.4), so those are what it is sent, and `/model` offers exactly high and max.
_GLM52_EFFORT = {"low": "high", "medium": "high", "high": "high", "xhigh": "max", "max": "max", "ultra": "max"}


def glm_thinking(spec: ModelSpec, effort: str | None) -> dict[str, Any]:
    """Request fields for a requested reasoning effort on a GLM model family."""
    effort = effort.lower() if isinstance(effort, str) else None
    if spec.thinking == "none":
        return {}
    if spec.thinking == "forced":
        return {"reasoning_effort": _FORCED_EFFORT[effort]} if effort in _FORCED_EFFORT else {}
    if effort in _OFF:
        disabled: dict[str, Any] = {"thinking": {"type": "disabled"}}
        if spec.thinking == "effort":
            disabled["reasoning_effort"] = "none"
        return disabled
    enabled: dict[str, Any] = {"thinking": {"type": "enabled"}}
    if spec.thinking == "effort" and effort in _GLM52_EFFORT:
        enabled["reasoning_effort"] = _GLM52_EFFORT[effort]
    return enabled


def glm_chat_extras(spec: ModelSpec, stream: bool, has_tools: bool) -> dict[str, Any]:
    """`tool_stream`: GLM streams tool-call arguments only when asked, on models that can."""
    return {"tool_stream": True} if stream and has_tools and spec.tool_stream else {}
