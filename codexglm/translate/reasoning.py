"""Carrying the upstream's reasoning through Codex without server-side state.

Codex replays every reasoning item it received, including `encrypted_content`, verbatim.
We put the upstream's reasoning text there (versioned, opaque to Codex) so the next request can
hand the exact text back as preserved/interleaved thinking.  Compaction summaries
ride the same way.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

_REASONING_PREFIX = "codexglm.reasoning.v1:"
_COMPACTION_PREFIX = "codexglm.compaction.v1:"


def _encode(prefix: str, text: str) -> str:
    return prefix + base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii")


def _decode(prefix: str, blob: object) -> str | None:
    if not isinstance(blob, str) or not blob.startswith(prefix):
        return None
    try:
        return base64.urlsafe_b64decode(blob[len(prefix) :].encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None


def encode_reasoning(text: str) -> str:
    return _encode(_REASONING_PREFIX, text)


def decode_reasoning(blob: object) -> str | None:
    """The reasoning text in one of our blobs, or None for anything else (e.g. OpenAI's)."""
    return _decode(_REASONING_PREFIX, blob)


def encode_compaction(summary: str) -> str:
    return _encode(_COMPACTION_PREFIX, summary)


def decode_compaction(blob: object) -> str | None:
    return _decode(_COMPACTION_PREFIX, blob)


def _part_texts(parts: object) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"]]


def reasoning_item_text(item: dict[str, Any]) -> str:
    """Best available reasoning text of a replayed reasoning item.

    Our own blob is exact; otherwise raw `content`, then the summary (which is what we
    showed, and for chat upstreams it is the full reasoning).
    """
    exact = decode_reasoning(item.get("encrypted_content"))
    if exact is not None:
        return exact
    return "\n\n".join(_part_texts(item.get("content")) or _part_texts(item.get("summary")))
