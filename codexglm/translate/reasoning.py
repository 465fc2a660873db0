"""Carrying the upstream's reasoning through Codex without server-side state.

Codex replays every reasoning item it received, including `encrypted_content`, verbatim.
We put the upstream's reasoning text there (versioned, opaque to Codex) so the next request can
hand the exact text back as preserved/interleaved thinking.  Upstreams that also send
structured reasoning entries to be returned unmodified (`reasoning_details`) get a second
format holding both, and the name of the provider that sent them: entries go back only to
it (one session may switch providers; the text suits any).  Compaction summaries ride the
same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

_REASONING_PREFIX = "codexglm.reasoning.v1:"
_DETAILED_PREFIX = "codexglm.reasoning.v2:"
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


def encode_reasoning(text: str, details: list[Any] | None = None, provider: str = "") -> str:
    if not details:
        return _encode(_REASONING_PREFIX, text)
    return _encode(_DETAILED_PREFIX, json.dumps({"text": text, "details": details, "provider": provider}, ensure_ascii=False))


def _detailed(blob: object) -> dict[str, Any] | None:
    raw = _decode(_DETAILED_PREFIX, blob)
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def decode_reasoning(blob: object) -> str | None:
    """The reasoning text in one of our blobs, or None for anything else (e.g. OpenAI's)."""
    detailed = _detailed(blob)
    if detailed is not None:
        text = detailed.get("text")
        return text if isinstance(text, str) else ""
    return _decode(_REASONING_PREFIX, blob)


def decode_reasoning_details(blob: object, provider: str) -> list[Any]:
    """The structured reasoning entries PROVIDER sent, exactly as received, from one of our
    blobs (none from another provider's)."""
    detailed = _detailed(blob)
    if detailed is None or detailed.get("provider") != provider:
        return []
    details = detailed.get("details")
    return details if isinstance(details, list) else []


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
