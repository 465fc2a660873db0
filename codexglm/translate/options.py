"""What one translation needs to know: its options, and the context the response side reads."""

from __future__ import annotations

from collections import OrderedDict
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


# Tool lists remembered per route: several sessions, sub-agents and compaction at once.
TOOL_CACHE_SIZE = 16


class ToolCache:
    """The translated tool lists of recent requests, by the declared tools' JSON.

    Codex resends its whole tool list, unchanged, on every turn (9 tools are 12 KB);
    translating it again was a third of a request's translation.  Entries are shared
    between requests: nothing after the translation changes a tool list or its names."""

    def __init__(self, size: int = TOOL_CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, tuple[list[dict[str, Any]], ToolNames]] = OrderedDict()

    def lookup(self, key: bytes) -> tuple[list[dict[str, Any]], ToolNames] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def store(self, key: bytes, entry: tuple[list[dict[str, Any]], ToolNames]) -> None:
        self._entries[key] = entry
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class TranslateOptions:
    provider: Provider
    default_model: str
    model_map: dict[str, str] = field(default_factory=dict)
    web_search: bool = False
    show_reasoning: bool = True
    notices: Notices = field(default_factory=Notices, compare=False)
    tool_cache: ToolCache = field(default_factory=ToolCache, compare=False)


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
