"""server/pool.py: the linear pool pass decides exactly what httpcore's own does.

Checked against the installed httpcore's original on random pools, so a release that
changes the pass fails here (pyproject.toml pins the minor version)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpcore
from hypothesis import given, settings
from hypothesis import strategies as st

from codexglm.server import pool

ORIGINS = ("https://open.bigmodel.cn:443", "https://api.z.ai:443")


@dataclass(eq=False)
class FakeConnection:
    name: str
    origin: str
    closed: bool = False
    expired: bool = False
    idle: bool = False
    available: bool = False
    expiry_checks: list[str] = field(default_factory=list)  # has_expired polls the socket: who was asked

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        self.expiry_checks.append(self.name)
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin: str) -> bool:
        return origin == self.origin


@dataclass(eq=False)
class FakeRequest:
    name: str
    origin: str
    queued: bool
    assigned: list[str] = field(default_factory=list)

    @property
    def request(self) -> Any:
        return type("Request", (), {"url": type("URL", (), {"origin": self.origin})()})()

    def is_queued(self) -> bool:
        return self.queued

    def assign_to_connection(self, connection: FakeConnection) -> None:
        self.assigned.append(connection.name)


# (closed, expired, idle, available): the states a pooled connection is in, and any mix.
STATES = {
    "idle": (False, False, True, True),
    "active": (False, False, False, False),
    "multiplexing": (False, False, False, True),  # HTTP/2 with room for more streams
    "expired": (False, True, True, True),
    "closed": (True, False, False, False),
}
flags = st.one_of(st.sampled_from(list(STATES.values())), st.tuples(*[st.booleans()] * 4))
connections = st.lists(st.tuples(st.sampled_from(ORIGINS), flags), max_size=12)
requests = st.lists(st.tuples(st.sampled_from(ORIGINS), st.booleans()), max_size=5)


def _run(assign: Any, conns: list[Any], reqs: list[Any], max_connections: int, keepalive: int) -> tuple[Any, ...]:
    target = httpcore.AsyncConnectionPool(max_connections=max_connections, max_keepalive_connections=keepalive)
    made: list[FakeConnection] = []

    def create_connection(origin: str) -> FakeConnection:
        made.append(FakeConnection(f"new{len(made)}", origin))
        return made[-1]

    live = [FakeConnection(f"c{i}", origin, *state) for i, (origin, state) in enumerate(conns)]
    queue = [FakeRequest(f"r{i}", origin, queued) for i, (origin, queued) in enumerate(reqs)]
    target._connections = list(live)  # type: ignore[assignment]
    target._requests = list(queue)  # type: ignore[assignment]
    target.create_connection = create_connection  # type: ignore[method-assign, assignment]
    closing = assign(target)
    return (
        [c.name for c in target._connections],  # type: ignore[attr-defined]
        [c.name for c in closing],
        [(r.name, r.assigned) for r in queue],
        [(m.name, m.origin) for m in made],
        [c.expiry_checks for c in live],
    )


@settings(max_examples=500)
@given(connections, requests, st.integers(1, 12), st.integers(0, 12))
def test_the_linear_pass_decides_what_httpcores_own_does(
    conns: list[Any], reqs: list[Any], max_connections: int, keepalive: int
) -> None:
    ours = _run(pool.assign_requests_to_connections, conns, reqs, max_connections, keepalive)
    theirs = _run(pool.ORIGINAL_ASSIGN, conns, reqs, max_connections, keepalive)
    assert ours == theirs


def test_a_pass_asks_each_connection_once_not_once_per_idle_connection() -> None:
    calls = {"is_idle": 0}

    class Counting(FakeConnection):
        def is_idle(self) -> bool:
            calls["is_idle"] += 1
            return super().is_idle()

    target = httpcore.AsyncConnectionPool(max_connections=300, max_keepalive_connections=300)
    target._connections = [Counting(f"c{i}", ORIGINS[0], idle=True, available=True) for i in range(200)]  # type: ignore[assignment]
    target._requests = []
    pool.assign_requests_to_connections(target)
    assert calls["is_idle"] == 200  # httpcore's own pass: 200 x 201


def test_install_puts_the_linear_pass_on_every_pool() -> None:
    pool.install()
    pool.install()
    assert httpcore.AsyncConnectionPool._assign_requests_to_connections is pool.assign_requests_to_connections
    assert pool.ORIGINAL_ASSIGN is not pool.assign_requests_to_connections
