"""JSON on the hot path: orjson's speed, the standard library's answers.

Every body Codex sends is parsed, every upstream body encoded and every event Codex gets
encoded once per request or chunk; orjson does each 5-10x faster.  Where orjson would give
a different answer than `json` (integers beyond 64 bits, floats below 1e-4 written
without an exponent, lone surrogates, anything it refuses), the standard library gives
it, so bytes and values never depend on which of the two ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

import orjson

# orjson reads an integer of 20+ digits as a float; 19 digits is the shortest that can.
# Bytes are checked by mapping every digit to one letter (a table lookup per byte, then a
# substring search): a regex walks a 39 KB body at a twentieth of the speed.
_LONG_RUN = 19
_DIGITS_ONLY = bytes(ord("D") if chr(byte).isdigit() and byte < 128 else ord(" ") for byte in range(256))
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{%d}" % _LONG_RUN)
_ASCII_DIGITS = frozenset(b"0123456789")


class _Refused:
    """The answer of `loads_fast` when only the standard library can decide."""


REFUSED: Final = _Refused()


def loads_fast(data: bytes | str) -> Any:
    """DATA's value where orjson reads it as `json.loads` would, else REFUSED.

    Refused: anything not strict RFC 8259 JSON in UTF-8 (NaN, 1e999, a lone surrogate, a
    UTF-16 body), and integers too long for orjson to keep exact."""
    if isinstance(data, bytes):
        if b"D" * _LONG_RUN in data.translate(_DIGITS_ONLY):
            return REFUSED
    elif _LONG_DIGITS_TEXT.search(data):
        return REFUSED
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return REFUSED


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`, faster; raises ValueError as it does."""
    value = loads_fast(data)
    return json.loads(data) if value is REFUSED else value


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact UTF-8 JSON, byte for byte `json.dumps(value, ensure_ascii=False,
    separators=(",", ":"))`, except that a lone surrogate becomes "?": it cannot be
    sent as UTF-8.  (Non-finite floats are not JSON; the request parser refuses them.)"""
    try:
        data = orjson.dumps(value, default=default)
    except (TypeError, orjson.JSONEncodeError):  # >64-bit ints, lone surrogates, int keys, deep nesting
        return _stdlib(value, default)
    return _stdlib(value, default) if _writes_floats_unlike_repr(data) else data


def _writes_floats_unlike_repr(data: bytes) -> bool:
    """Does orjson's DATA hold a number repr() writes otherwise: 0.00001 for 1e-05, 1e-7
    for 1e-07?  A string that merely looks alike costs a fallback, never a wrong byte."""
    start = data.find(b"0.0000")
    while start != -1:  # a value, not text such as Codex's "Wall time: 0.0000 seconds"
        head = data[max(0, start - 2) : start].removesuffix(b"-")
        if not head or head[-1:] in (b":", b",", b"["):
            return True
        start = data.find(b"0.0000", start + 6)
    start = data.find(b"e-")
    while start != -1:  # a handful in a body of English text: "re-run", "one-off"
        one_digit = data[start + 2 : start + 3].isdigit() and not data[start + 3 : start + 4].isdigit()
        if one_digit and start and data[start - 1] in _ASCII_DIGITS:
            return True
        start = data.find(b"e-", start + 2)
    return False


def _stdlib(value: Any, default: Callable[[Any], Any] | None) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    return text.encode("utf-8", "replace")
