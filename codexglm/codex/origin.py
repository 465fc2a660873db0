"""Which Codex session, thread and kind of request an HTTP request comes from.

Codex sends `session-id` and `thread-id` on every model request, and
`x-codex-turn-metadata` (a JSON string) with `turn_id` and `request_kind` ("turn" or
"compaction") and `thread_source`: "user" for the conversation, "subagent" for spawned
agents (which keep their root's session id), others such as "thread_title" for Codex's
own side threads, each with a session of its own.  Sub-agent requests also carry
`x-openai-subagent` (`collab_spawn`, `review`, `compact`, `memory_consolidation`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Protocol

RequestKind = Literal["turn", "compaction", "subagent"]
# Ids are UUIDs; anything longer is not one and is not stored.
_MAX_ID = 128


class Headers(Protocol):
    """Request headers with case-insensitive lookup (werkzeug's, httpx's)."""

    def get(self, key: str) -> str | None: ...


@dataclass(frozen=True)
class RequestOrigin:
    session_id: str | None = None
    thread_id: str | None = None
    turn_id: str | None = None
    kind: RequestKind = "turn"
    # The session is the user's conversation (what `resume` takes), not a side thread's.
    conversation: bool = True


def request_origin(headers: Headers) -> RequestOrigin:
    """The origin of a request from its headers; a header that is missing or malformed
    leaves its field empty."""
    metadata = _metadata(headers.get("x-codex-turn-metadata"))
    subagent = (headers.get("x-openai-subagent") or "").strip()
    source = metadata.get("thread_source")
    side_thread = source not in (None, "user", "subagent")
    kind: RequestKind = "turn"
    if metadata.get("request_kind") == "compaction" or subagent == "compact":
        kind = "compaction"
    elif subagent or source == "subagent" or side_thread:
        kind = "subagent"  # Codex's own side threads (titles) are helpers much like sub-agents
    return RequestOrigin(
        session_id=_id(headers.get("session-id")) or _id(metadata.get("session_id")),
        thread_id=_id(headers.get("thread-id")) or _id(metadata.get("thread_id")),
        turn_id=_id(metadata.get("turn_id")),
        kind=kind,
        conversation=not side_thread,
    )


def _metadata(raw: str | None) -> dict[str, object]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= _MAX_ID and value.isprintable() else None
