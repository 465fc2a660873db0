"""httpcore's connection pool, made linear in its connections.

httpcore (1.0.x) decides which connections to close or reuse in
`AsyncConnectionPool._assign_requests_to_connections`, run on every request and every
response close.  For each idle connection it counts all connections again
(`len([c.is_idle() for c in self._connections])`), so a pass costs idle x total calls: at
150 concurrent Codex sessions close to half of one worker's CPU went there (0.31 ms per
streamed chunk against 0.17 without) and its throughput fell to 0.54x of the direct rate
(bench/bench_load.py).  The fix is known upstream (encode/httpcore#1035) but not released.

`assign_requests_to_connections` makes exactly the same decisions in one pass: every
connection is asked the same questions in the same order, only the repeated count is kept
as a running number (tests/test_pool.py checks the two agree on random pools).  It is
installed on the class, for every pool in the process; pyproject.toml pins httpcore to the
minor version it was checked against.
"""

from __future__ import annotations

import httpcore
from httpcore._async.connection_pool import AsyncPoolRequest
from httpcore._async.interfaces import AsyncConnectionInterface

ORIGINAL_ASSIGN = httpcore.AsyncConnectionPool._assign_requests_to_connections


def assign_requests_to_connections(pool: httpcore.AsyncConnectionPool) -> list[AsyncConnectionInterface]:
    """Drop closed connections; close expired ones and idle ones beyond the keep-alive
    limit; give each queued request a connection (reused, new, or new in place of an idle
    one).  Returns the connections to close, as httpcore's own version does."""
    closing: list[AsyncConnectionInterface] = []
    kept: list[AsyncConnectionInterface] = []
    # httpcore's count: the connections not yet dropped in this pass (idle or not).
    remaining = len(pool._connections)
    for connection in pool._connections:
        if connection.is_closed():
            remaining -= 1
        elif connection.has_expired() or (connection.is_idle() and remaining > pool._max_keepalive_connections):
            remaining -= 1
            closing.append(connection)
        else:
            kept.append(connection)
    pool._connections[:] = kept

    queued: list[AsyncPoolRequest] = [request for request in pool._requests if request.is_queued()]
    for pool_request in queued:
        origin = pool_request.request.url.origin
        reusable = next(
            (c for c in pool._connections if c.can_handle_request(origin) and c.is_available()), None
        )
        if reusable is not None:
            pool_request.assign_to_connection(reusable)
            continue
        if len(pool._connections) >= pool._max_connections:
            idle = next((c for c in pool._connections if c.is_idle()), None)
            if idle is None:
                continue  # the request waits for a connection to come free
            pool._connections.remove(idle)
            closing.append(idle)
        connection = pool.create_connection(origin)
        pool._connections.append(connection)
        pool_request.assign_to_connection(connection)
    return closing


def install() -> None:
    """Use the linear pass in every httpcore pool of this process (idempotent)."""
    httpcore.AsyncConnectionPool._assign_requests_to_connections = assign_requests_to_connections  # type: ignore[method-assign, assignment]
