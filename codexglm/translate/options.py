"""What one translation needs to know: its options, and the context the response side reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..providers.base import ModelSpec, Provider
from .names import ToolNames


@dataclass(frozen=True)
class TranslateOptions:
    provider: Provider
    default_model: str
    model_map: dict[str, str] = field(default_factory=dict)
    web_search: bool = False
    show_reasoning: bool = True


@dataclass
class TurnContext:
    """What the response side needs to know about the request it answers."""

    model: str
    requested_model: str
    spec: ModelSpec
    tools: ToolNames
    provider: Provider
    show_reasoning: bool = True
    compaction: bool = False
    # Size of the prompt in characters, for a usage estimate if the upstream reports none.
    prompt_chars: int = 0


@dataclass
class ChatRequest:
    body: dict[str, Any]
    context: TurnContext
    stream: bool
    model: str
    requested_model: str
