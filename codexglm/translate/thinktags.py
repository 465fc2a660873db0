"""Inline `<think>...</think>` reasoning at the start of a content stream, split from the answer.

Some upstreams (MiniMax without `reasoning_split`, self-hosted reasoning models) put their
thinking into `content`.  Tags arrive split across chunks at any byte, so this is a small
state machine that holds back only what could still turn out to be part of a tag.  A tag is
recognised only where reasoning begins (the start of the content, after whitespace), so an
answer that merely mentions `<think>` is left alone.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"

REASONING = "reasoning"
TEXT = "text"

Piece = tuple[str, str]  # (REASONING | TEXT, text)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of TEXT that is the beginning of TAG (a tag still arriving)."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def wrap(reasoning: str, text: str) -> str:
    """Content with REASONING inline, as such upstreams want it replayed."""
    return f"{OPEN}{reasoning}{CLOSE}\n\n{text}" if reasoning else text


class ThinkTagSplitter:
    """Feed content fragments; get (kind, text) pieces in order.  `close()` flushes the rest."""

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> text, or start -> text
        self._held = ""

    def feed(self, fragment: str) -> list[Piece]:
        data = self._held + fragment
        self._held = ""
        pieces: list[Piece] = []
        if self._state == "start":
            stripped = data.lstrip()
            if not stripped or (len(stripped) < len(OPEN) and OPEN.startswith(stripped)):
                self._held = data  # whitespace, or a tag still arriving: undecided
                return pieces
            if not stripped.startswith(OPEN):
                self._state = "text"
                return [(TEXT, data)]
            self._state = "thinking"
            data = stripped[len(OPEN):]
        if self._state == "thinking":
            end = data.find(CLOSE)
            if end < 0:
                keep = _partial_suffix(data, CLOSE)
                self._held = data[len(data) - keep:]
                data = data[: len(data) - keep]
                return [(REASONING, data)] if data else []
            if end:
                pieces.append((REASONING, data[:end]))
            self._state = "text"
            data = data[end + len(CLOSE):]
        if data:
            pieces.append((TEXT, data))
        return pieces

    def close(self) -> list[Piece]:
        """The end of the content: whatever was held back is what it looked like."""
        held, self._held = self._held, ""
        if not held:
            return []
        return [(REASONING if self._state == "thinking" else TEXT, held)]
