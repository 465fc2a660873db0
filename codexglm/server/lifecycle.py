"""Shutdown coordination: work that must end cleanly when the proxy stops.

Long waits (upstream attempts, streaming) run inside `Lifecycle.guard()`.  `stop()`
cancels every guard at once; the guarded code then sees `scope.cancelled_caught` and
finishes its response properly (a terminal event, a 503) instead of being cut off.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio


class Lifecycle:
    def __init__(self) -> None:
        self.stopping = False
        self._scopes: set[trio.CancelScope] = set()

    @contextmanager
    def guard(self) -> Iterator[trio.CancelScope]:
        scope = trio.CancelScope()
        if self.stopping:
            scope.cancel()
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)

    def stop(self) -> None:
        self.stopping = True
        for scope in list(self._scopes):
            scope.cancel()
