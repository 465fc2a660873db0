"""What one translation needs to know: its options, and the context the response side reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..providers.base import ModelSpec, Provider
from .names import ToolNames


class Notices:
    """What the translator has already warned about in this proxy's life: a new Codex
    item type is worth one log line, not one per request."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def first(self, what: str) -> bool:
        """True the first time WHAT is noticed, False after that."""
        if what in self._seen:
            return False
        self._seen.add(what)
        return True


@dataclass(frozen=True)
class TranslateOptions:
    provider: Provider
    default_model: str
    model_map: dict[str, str] = field(default_factory=dict)
    web_search: bool = False
    show_reasoning: bool = True
    notices: Notices = field(default_factory=Notices, compare=False)


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
