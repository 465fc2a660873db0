"""Compressed request bodies: zstd (what Codex's transport implements), gzip and deflate
are decoded within the body limit; anything else is a clear OpenAI-shaped error."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from codexglm.server import create_app
from codexglm.server.encoding import EncodingError, decode_body
from tests.server_support import AUTH, TOKEN, Script, codex_body, glm_stream, make_settings, sse_events, sse_response

COMPRESS = {
    "zstd": lambda data: zstandard.ZstdCompressor(level=3).compress(data),
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


@given(st.binary(max_size=4096), st.sampled_from(sorted(COMPRESS)))
def test_every_supported_coding_round_trips(data: bytes, coding: str) -> None:
    assert decode_body(COMPRESS[coding](data), coding, limit=len(data)) == data


def test_stacked_codings_are_undone_in_reverse_and_identity_is_nothing() -> None:
    data = b'{"model": "glm-5.1"}'
    assert decode_body(zstandard.ZstdCompressor().compress(gzip.compress(data)), "gzip, zstd", 100) == data
    assert decode_body(data, "identity", 100) == data


def test_multi_frame_zstd_is_read_to_the_end() -> None:
    compressor = zstandard.ZstdCompressor()
    assert decode_body(compressor.compress(b"a" * 10) + compressor.compress(b"b" * 10), "zstd", 100) == b"a" * 10 + b"b" * 10


@pytest.mark.parametrize("coding", sorted(COMPRESS))
def test_expansion_beyond_the_body_limit_is_a_413(coding: str) -> None:
    bomb = COMPRESS[coding](b"\0" * 1_000_000)
    with pytest.raises(EncodingError) as caught:
        decode_body(bomb, coding, limit=999_999)
    assert caught.value.status == 413 and "999999 bytes" in caught.value.message


@pytest.mark.parametrize(("coding", "status"), [("zstd", 400), ("gzip", 400), ("deflate", 400), ("br", 415)])
def test_corrupt_or_unknown_codings_are_clear_errors(coding: str, status: int) -> None:
    with pytest.raises(EncodingError) as caught:
        decode_body(b"definitely not compressed", coding, limit=1000)
    assert caught.value.status == status and coding in caught.value.message


def test_truncated_gzip_is_corrupt() -> None:
    with pytest.raises(EncodingError, match="truncated"):
        decode_body(gzip.compress(b"x" * 1000)[:-12], "gzip", limit=10_000)


async def _post_raw(tmp_path: Path, data: bytes, coding: str) -> tuple[int, bytes, Script]:
    script = Script(sse_response(glm_stream("Hi from GLM.")))
    app = create_app(make_settings(tmp_path), TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        response = await test_app.test_client().post(
            "/v1/responses", data=data,
            headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": coding})
        return response.status_code, await response.get_data(), script


async def test_zstd_request_from_codex_is_answered(tmp_path: Path) -> None:
    raw = json.dumps(codex_body("Say hi.")).encode()
    status, data, script = await _post_raw(tmp_path, COMPRESS["zstd"](raw), "zstd")
    assert status == 200
    assert "Hi from GLM." in json.dumps(sse_events(data))
    assert script.body()["messages"][-1]["content"] == "Say hi."


async def test_unknown_coding_is_an_openai_error(tmp_path: Path) -> None:
    status, data, script = await _post_raw(tmp_path, b"xx", "br")
    assert status == 415 and script.requests == []
    error = json.loads(data)["error"]
    assert error["code"] == "unsupported_content_encoding" and "br" in error["message"]
