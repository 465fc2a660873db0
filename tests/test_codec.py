"""The hot path's JSON codec gives the standard library's bytes and values, whichever of the two runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codexglm.translate import codec

# Any code point, lone surrogates included (the standard library writes them, UTF-8 cannot).
_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-5, 1.5e-7, 0.0001, 1e16, 1e-300, 5e-324, -0.0])
    | _TEXT
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=20
)


def _stdlib_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


@given(_VALUES)
def test_dumps_writes_the_standard_librarys_bytes(value: Any) -> None:
    assert codec.dumps(value) == _stdlib_bytes(value)


@given(_VALUES, st.sampled_from([None, 2]), st.booleans())
def test_loads_reads_what_the_standard_library_reads(value: Any, indent: int | None, ascii_only: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    for data in (text, text.encode("utf-8", "surrogatepass")):
        # repr: 1 and 1.0 are equal but not the same answer.
        assert repr(codec.loads(data)) == repr(json.loads(data))


@pytest.mark.parametrize(
    "data",
    [
        b"NaN",
        b"[Infinity]",
        b"1e999",
        b'"\\ud800"',
        b'"\xed\xa0\x80"',  # a surrogate in UTF-8 form
        '{"a": 1}'.encode("utf-16"),
        b"18446744073709551616",
        b'{"n": -9223372036854775809}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_what_orjson_would_read_differently_is_left_to_the_standard_library(data: bytes) -> None:
    assert codec.loads_fast(data) is codec.REFUSED
    try:
        expected: Any = json.loads(data)
    except ValueError:
        with pytest.raises(ValueError):
            codec.loads(data)
    else:
        assert repr(codec.loads(data)) == repr(expected)


def test_strict_json_is_read_by_the_fast_path() -> None:
    assert codec.loads_fast(b'{"a":[1,2.5,"\\u00e9",null,true]}') == {"a": [1, 2.5, "é", None, True]}


def test_invalid_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        codec.loads(b'{"a":')


def test_a_lone_surrogate_is_written_as_a_question_mark() -> None:
    assert codec.dumps({"text": "a\ud800b"}) == b'{"text":"a?b"}'


def test_a_value_orjson_cannot_encode_uses_the_default_like_the_standard_library() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert codec.dumps({"x": Opaque(), 1: 2}, default=str) == b'{"x":"opaque","1":2}'


@pytest.mark.parametrize(
    ("value", "differs"),
    [
        ({"output": "Wall time: 0.0000 seconds"}, False),  # in every Codex shell output
        ({"text": "re-run file-1, one-off line-2"}, False),
        ({"x": 1.5e-05}, True),
        ([-0.00002], True),
        ({"x": 3e-7}, True),
        ({"x": 3e-17}, False),
        ({"x": 10.00001}, False),
    ],
)
def test_only_numbers_orjson_writes_otherwise_send_a_body_to_the_standard_library(value: Any, differs: bool) -> None:
    import orjson

    assert codec._writes_floats_unlike_repr(orjson.dumps(value)) is differs
    assert codec.dumps(value) == _stdlib_bytes(value)
