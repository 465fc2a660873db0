"""Chat-function names for Codex tools, and the way back.

Chat upstreams accept one flat list of functions named `^[a-zA-Z0-9_-]{1,64}$`.  Codex has top-level
functions, freeform (`custom`) tools and functions nested in namespaces (MCP servers,
`multi_agent_v1`), and it routes a call only when `name` and `namespace` come back exactly
as declared.  So every Codex tool gets a flat name here, and `ToolNames` keeps the map from
that name back to the original.  Flattening is deterministic so that calls replayed from
history get the same name as the tool in this request, even when the tool list changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

ToolKind = Literal["function", "custom", "tool_search"]

_VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_SEPARATOR = "__"
_MAX = 64


@dataclass(frozen=True)
class ToolEntry:
    """One declared Codex tool as the upstream sees it."""

    flat: str
    name: str
    namespace: str | None
    kind: ToolKind


def _hashed(name: str, namespace: str | None) -> str:
    # surrogatepass: a hostile name may hold a lone surrogate; it still needs a stable hash.
    digest = hashlib.sha1(f"{namespace or ''}\0{name}".encode("utf-8", "surrogatepass")).hexdigest()[:10]
    joined = f"{namespace}{_SEPARATOR}{name}" if namespace else name
    cleaned = _INVALID_CHARS.sub("_", joined)
    return f"{cleaned[: _MAX - len(digest) - 1]}_{digest}"


def flat_name(name: str, namespace: str | None = None) -> str:
    """`ns__name` when that is a valid chat function name, else a sanitised, truncated, hashed form."""
    joined = f"{namespace}{_SEPARATOR}{name}" if namespace else name
    if _VALID.match(joined):
        return joined
    return _hashed(name, namespace)


class ToolNames:
    """The per-request map between flat chat names and Codex tools."""

    def __init__(self) -> None:
        self._by_flat: dict[str, ToolEntry] = {}
        self._by_origin: dict[tuple[str | None, str], ToolEntry] = {}

    def __len__(self) -> int:
        return len(self._by_flat)

    def register(self, name: str, namespace: str | None, kind: ToolKind) -> ToolEntry:
        """Declare a tool; a clash with an earlier, different tool gets the hashed name."""
        origin = (namespace, name)
        existing = self._by_origin.get(origin)
        if existing is not None:
            return existing
        flat = flat_name(name, namespace)
        if flat in self._by_flat:
            flat = _hashed(name, namespace)
        entry = ToolEntry(flat, name, namespace, kind)
        self._by_flat[flat] = entry
        self._by_origin[origin] = entry
        return entry

    def chat_name(self, name: str, namespace: str | None = None) -> str:
        """The flat name for a call found in history (declared or not)."""
        entry = self._by_origin.get((namespace, name))
        return entry.flat if entry is not None else flat_name(name, namespace)

    def resolve(self, flat: str) -> ToolEntry | None:
        """The declared tool a model-emitted name refers to, forgiving small corruptions.

        Models (GLM-5.x among them) occasionally leak template markup into names (`tool</arg_value>`) or changes
        case; anything we cannot match goes back verbatim and Codex answers "unsupported call",
        which the model can recover from.
        """
        entry = self._by_flat.get(flat)
        if entry is not None:
            return entry
        head = re.match(r"[a-zA-Z0-9_-]+", flat.strip())
        if head and head.group(0) in self._by_flat:
            return self._by_flat[head.group(0)]
        lowered = flat.strip().lower()
        for key, candidate in self._by_flat.items():
            if key.lower() == lowered:
                return candidate
        return None
