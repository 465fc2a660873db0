"""Server-sent events: a tolerant decoder for upstream streams and the encoder for Codex's.

The decoder works on bytes and splits lines before decoding: CR and LF never occur inside
a multi-byte UTF-8 sequence, so a character split across two network reads is simply
decoded once its line is complete (invalid bytes become U+FFFD).
"""

from __future__ import annotations

from typing import Any

from . import codec

_BOM = b"\xef\xbb\xbf"
_MERGE_MARK = "data: "
_DONE = "[DONE]"
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEError(ValueError):
    """The stream cannot be decoded (an event grew past the size limit)."""


class SSEDecoder:
    """Turns a byte stream into the payloads of its `data:` events.

    Only `data:` matters to us: `event:`, `id:`, `retry:`, unknown fields and comments are
    skipped.  Repairs the merged-frame bug (seen from Z.ai), where the tail of one frame is lost and the
    next `data: ` continues on the same line (see `_unmerge`).
    """

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._partial = bytearray()  # the current, unterminated line
        self._data: list[str] = []  # data lines of the event being read
        self._size = 0  # bytes held for the event being read
        self._skip_lf = False  # the last feed ended with CR: a leading LF belongs to it
        self._at_start = True  # a BOM is only stripped from the very first line

    def feed(self, data: bytes) -> list[str]:
        """Consume bytes; return the payload of every event completed by them."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            # A trailing CR ends its line now (no waiting for the next read); remember to
            # swallow the LF of a CRLF that was split between reads.
            self._skip_lf = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[str] = []
        if b"\n" not in data:
            self._partial += data
        else:
            lines = data.split(b"\n")
            if self._partial:
                self._partial += lines[0]
                lines[0] = bytes(self._partial)
                self._partial.clear()
            self._partial += lines.pop()
            for line in lines:
                self._line(line, out)
        if self._size + len(self._partial) > self._max:
            self._overflow()
        return out

    def close(self) -> list[str]:
        """End of stream: return the last event even if its blank line never came."""
        out: list[str] = []
        if self._partial:
            line = bytes(self._partial)
            self._partial.clear()
            self._line(line, out)
        self._dispatch(out)
        return out

    def _line(self, line: bytes, out: list[str]) -> None:
        if self._at_start:
            self._at_start = False
            if line.startswith(_BOM):
                line = line[len(_BOM):]
        if not line:
            self._dispatch(out)
            return
        name, _, value = line.partition(b":")
        if name != b"data":  # comments (empty name), event:, id:, retry:, unknown fields
            return
        if value[:1] == b" ":
            value = value[1:]
        self._size += len(value) + 1
        if self._size > self._max:
            self._overflow()
        text = value.decode("utf-8", "replace")
        if not self._data and _MERGE_MARK in text and not _is_payload(text):
            text = _unmerge(text, out)
        self._data.append(text)

    def _dispatch(self, out: list[str]) -> None:
        if self._data:
            out.append("\n".join(self._data))
            self._data.clear()
        self._size = 0

    def _overflow(self) -> None:
        self._data.clear()
        self._partial.clear()
        self._size = 0
        raise SSEError(f"an SSE event exceeded {self._max} bytes")


def _is_payload(text: str) -> bool:
    if text == _DONE:
        return True
    try:
        codec.loads(text)
    except ValueError:
        return False
    return True


def _unmerge(text: str, out: list[str]) -> str:
    """Split `<frame>data: <frame>` glued onto one line; return the last frame.

    Some upstreams (Z.ai) lose the end of a frame (and its blank line), so the next frame's
    `data: ` continues the same line.  A truncated head is dropped; a head that is still a
    complete payload is kept as an event of its own.  Only reached when the whole line is
    not valid JSON, so payloads merely containing the text "data: " are left alone.
    """
    while _MERGE_MARK in text and not _is_payload(text):
        head, _, text = text.partition(_MERGE_MARK)
        if _is_payload(head):
            out.append(head)
    return text


def encode_sse(event: dict[str, Any]) -> bytes:
    """One SSE frame for Codex: `event:` names the type, `data:` holds compact JSON."""
    # A lone surrogate (from a model's broken \u escape) becomes "?": it must not crash the stream.
    return b"event: " + str(event["type"]).encode("utf-8", "replace") + b"\ndata: " + codec.dumps(event) + b"\n\n"
