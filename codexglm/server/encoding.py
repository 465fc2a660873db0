"""Compressed request bodies (`Content-Encoding`), decoded within the body limit.

Codex compresses request bodies with zstd only for OpenAI's own backend today
(protocol.md §1.1), but it has the code for it: if a release turns it on for custom
providers, the proxy must keep working rather than answer garbage JSON.  Decoding is
bounded by `max_body_bytes`, so a small compressed body cannot expand without limit.
"""

from __future__ import annotations

import zlib

import zstandard

# The encodings accepted, as `Accept-Encoding` style names.
SUPPORTED = ("zstd", "gzip", "deflate")


class EncodingError(Exception):
    """The body cannot be decoded: (HTTP status, message, code)."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def decode_body(raw: bytes, header: str | None, limit: int) -> bytes:
    """RAW decoded by every coding in HEADER (applied in order, so undone in reverse)."""
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip() and c.strip().lower() != "identity"]
    for coding in reversed(codings):
        if coding not in SUPPORTED:
            raise EncodingError(415, f"Content-Encoding {coding!r} is not supported; send the body uncompressed "
                                f"or as {', '.join(SUPPORTED)}.", "unsupported_content_encoding")
        raw = _zstd(raw, limit) if coding == "zstd" else _zlib(raw, limit, gzip=coding == "gzip")
    return raw


def _too_large(limit: int) -> EncodingError:
    return EncodingError(413, f"The decompressed request body is larger than the proxy's limit of {limit} bytes.",
                         "request_too_large")


def _corrupt(coding: str, detail: object) -> EncodingError:
    return EncodingError(400, f"The request body is not valid {coding} data ({detail}).", "invalid_content_encoding")


def _zstd(raw: bytes, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as reader:
            while total <= limit:
                chunk = reader.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
    except zstandard.ZstdError as exc:
        raise _corrupt("zstd", exc) from None
    if total > limit:
        raise _too_large(limit)
    return b"".join(chunks)


def _zlib(raw: bytes, limit: int, *, gzip: bool) -> bytes:
    decoder = zlib.decompressobj(wbits=31 if gzip else 15)
    try:
        out = decoder.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise _corrupt("gzip" if gzip else "deflate", exc) from None
    if len(out) > limit:
        raise _too_large(limit)
    if not decoder.eof:
        raise _corrupt("gzip" if gzip else "deflate", "truncated")
    return out
