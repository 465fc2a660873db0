"""Live decoding of a freeform tool's input from the JSON arguments it travels in.

Freeform tools (apply_patch) travel as `{"input": "<patch>"}`; Codex shows the patch as
it streams through `custom_tool_call_input.delta`, which wants the raw text, so the
string value is decoded as its fragments arrive, escapes and surrogate pairs included.
"""

from __future__ import annotations

import json
import re

# The safely decodable head of a JSON string body: escapes complete, and a UTF-16 high
# surrogate escape only together with its low half (fragments may split the pair).
_JSON_STRING_HEAD = re.compile(
    r'(?:[^"\\]|\\["\\/bfnrt]|\\u(?![dD][89abAB])[0-9a-fA-F]{4}'
    r'|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})*'
)
_JSON_FIRST_STRING_VALUE = re.compile(r'\s*\{\s*"(?:[^"\\]|\\.)*"\s*:\s*"')
# How much of a freeform call's arguments may pass before its string value must have begun.
_MAX_HEAD = 4096


class StringValueStream:
    """Decodes the first string value of a JSON object as its text arrives in fragments."""

    def __init__(self) -> None:
        self._pending = ""  # text not decoded yet: the object's head, or a split escape
        self._started = False
        self._closed = False

    def feed(self, fragment: str) -> str:
        if self._closed:
            return ""
        self._pending += fragment
        if not self._started:
            match = _JSON_FIRST_STRING_VALUE.match(self._pending)
            if match is None:
                if len(self._pending) > _MAX_HEAD:
                    self._closed = True  # not `{"key": "...`: nothing to show live
                return ""
            self._started = True
            self._pending = self._pending[match.end() :]
        head = _JSON_STRING_HEAD.match(self._pending)
        assert head is not None  # the pattern also matches the empty string
        chunk = head.group(0)
        rest = self._pending[head.end() :]
        self._closed = rest.startswith('"')
        self._pending = "" if self._closed else rest
        if not chunk:
            return ""
        try:
            decoded: str = json.loads(f'"{chunk}"')
            return decoded
        except ValueError:
            return ""
