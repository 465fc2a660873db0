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
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")
_LONG_DIGITS_TEXT = re.compile(r"\d{19}")
# A number orjson writes unlike repr(): 0.00001 for 1e-05, 1e-7 for 1e-07.  Only ever in
# a value position (after `:`, `,` or `[`); a string that merely looks alike costs a
# fallback, never a wrong byte.
_FLOAT_FORMS = re.compile(rb"[:,\[]-?(?:0\.0000|\d+(?:\.\d+)?e-\d(?!\d))")


class _Refused:
    """The answer of `loads_fast` when only the standard library can decide."""


REFUSED: Final = _Refused()


def loads_fast(data: bytes | str) -> Any:
    """DATA's value where orjson reads it as `json.loads` would, else REFUSED.

    Refused: anything not strict RFC 8259 JSON in UTF-8 (NaN, 1e999, a lone surrogate, a
    UTF-16 body), and integers too long for orjson to keep exact."""
    pattern = _LONG_DIGITS_BYTES if isinstance(data, bytes) else _LONG_DIGITS_TEXT
    if pattern.search(data):  # type: ignore[arg-type]
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
    return _stdlib(value, default) if _FLOAT_FORMS.search(data) else data


def _stdlib(value: Any, default: Callable[[Any], Any] | None) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    return text.encode("utf-8", "replace")
