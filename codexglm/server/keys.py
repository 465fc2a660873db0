"""The upstream API keys: priority order, cool-down after rate limits or auth failures.

Keys are used in the order they were configured, not round-robin: GLM's prompt cache is
per account, and Codex resends the whole (growing) history every turn, so staying on one
key keeps cache hits.  A key that hits a rate limit or fails auth cools down and the next
one takes over.  Times come from `trio.current_time()` so tests can use a MockClock.  The workers of one
`serve --workers N` share cool-downs (`share`): a key one worker saw rate-limited is
not tried again by the others.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence

import trio

from .shared import SharedState


class KeyPool:
    """Picks the key for the next upstream attempt."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = tuple(dict.fromkeys(k for k in keys if k))
        self._cool_until: dict[str, float] = {}
        self._shared: SharedState | None = None

    def share(self, shared: SharedState) -> None:
        """Cool-downs from now on also come from, and go to, the other workers."""
        self._shared = shared

    def __len__(self) -> int:
        return len(self._keys)

    def index(self, key: str) -> int:
        """A key's position (1-based) in the configuration: safe to log, unlike the key."""
        return self._keys.index(key) + 1

    def pick(self, exclude: Collection[str] = ()) -> str | None:
        """The first key not cooling down; if all are, the one whose cool-down ends first.

        Keys in `exclude` (already failed for this request) are never returned; None when
        nothing is left.
        """
        candidates = [k for k in self._keys if k not in exclude]
        if not candidates:
            return None
        now = trio.current_time()
        for key in candidates:
            if self.cooling_until(key) <= now:
                return key
        return min(candidates, key=self.cooling_until)

    def cool_down(self, key: str, seconds: float) -> None:
        until = trio.current_time() + max(seconds, 0.0)
        self._cool_until[key] = max(self._cool_until.get(key, 0.0), until)
        if self._shared is not None:
            self._shared.cool_down(key, time.monotonic() + max(seconds, 0.0))

    def cooling_until(self, key: str) -> float:
        """When KEY's cool-down ends (trio time), in this worker or, when shared, any other."""
        local = self._cool_until.get(key, 0.0)
        if self._shared is None:
            return local
        shared = self._shared.cooling_until(key)
        return max(local, shared - time.monotonic() + trio.current_time()) if shared else local

    def cooling(self) -> int:
        """How many keys are cooling down now (for /healthz)."""
        now = trio.current_time()
        return sum(1 for k in self._keys if self.cooling_until(k) > now)
