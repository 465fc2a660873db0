"""The checks a member request passes before anything goes upstream.

Who (the member key: unknown or revoked keys get a 401), which model (400), the budget
(400: Codex shows a 400's body verbatim and never retries it), requests per minute and
concurrent streams (429 with Retry-After: Codex waits that long and retries a bounded
number of times).  Every refusal names the member, the limit, what is used and when it
resets.  State lives in the database so that every instance enforces the same limits; a
key lookup is cached for `REVOCATION_SECONDS`, the bound on how long a key revoked
elsewhere keeps working here.  A database that fails makes new requests a 503.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ..ledger.store import LedgerError
from ..translate import error_body
from .members import Member, hash_key, period_bounds, utc_text
from .store import TeamStore

REVOCATION_SECONDS = 2.0
# A stream lease outlives its request only when an instance dies; then it expires.
LEASE_SECONDS = 15 * 60
FLUSH_SECONDS = 0.5
_CACHE_LIMIT = 4096
_Result = TypeVar("_Result")


class Refusal(Exception):
    """A member request that may not go upstream: the HTTP status and OpenAI error body."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: float | None = None) -> None:
        super().__init__(body["error"]["message"])
        self.status, self.body, self.retry_after = status, body, retry_after


def _refusal(status: int, message: str, kind: str, code: str, retry_after: float | None = None) -> Refusal:
    return Refusal(status, error_body(f"codexglm gateway: {message}", kind, code), retry_after)


class Gate:
    def __init__(self, store: TeamStore, *, threads: int = 4, cache_seconds: float = REVOCATION_SECONDS) -> None:
        self.store = store
        self._limiter = trio.CapacityLimiter(threads)
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Member | None]] = {}
        self._released: list[str] = []
        self.error: str | None = None  # the database's last failure, for readiness

    async def _db(self, work: Callable[..., _Result], *args: Any) -> _Result:
        try:
            result = await trio.to_thread.run_sync(work, *args, limiter=self._limiter)
        except LedgerError as exc:
            self.error = str(exc)
            raise _refusal(
                503, f"the team database is unavailable ({exc}); try again shortly", "server_error", "database_unavailable"
            ) from None
        self.error = None
        return result

    async def member(self, key: str) -> Member:
        """The member KEY belongs to; a Refusal (401) for an unknown or revoked key."""
        digest, now = hash_key(key), trio.current_time()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            found = cached[1]
        else:
            found = await self._db(self.store.by_key, key)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = (now + self._cache_seconds, found)
        if found is None:
            raise _refusal(401, "unknown member key; ask the gateway's admin for one", "authentication_error", "invalid_api_key")
        if found.revoked is not None:
            raise _refusal(
                401,
                f"the key of member {found.name} (…{found.key_tail}) was revoked {utc_text(found.revoked)}; "
                "ask the gateway's admin for a new one",
                "authentication_error",
                "key_revoked",
            )
        return found

    async def admit(self, member: Member, model: str) -> str:
        """Check MEMBER's limits for one request to MODEL (empty: a request for no model, like a
        web search); returns the stream lease to release."""
        if member.models and model and model not in member.models:
            raise _refusal(
                400,
                f"member {member.name} may not use model {model}; allowed: {', '.join(member.models)}",
                "invalid_request_error",
                "model_not_allowed",
            )
        now = time.time()
        start, resets = period_bounds(member.period, now)
        lease = secrets.token_hex(12)
        counters = await self._db(self.store.admit, member.name, start, now, lease, LEASE_SECONDS)
        try:
            self._check(member, counters.spent_usd, counters.minute_requests, counters.streams, now, start, resets)
        except Refusal:
            self.release(lease)
            raise
        return lease

    @staticmethod
    def _check(member: Member, spent: float, minute: int, streams: int, now: float, start: float, resets: float) -> None:
        name = member.name
        if member.budget_usd is not None and spent >= member.budget_usd:
            raise _refusal(
                400,
                f"member {name} has used its budget: ${spent:.2f} of ${member.budget_usd:.2f} this {member.period} "
                f"(since {utc_text(start)}); it resets {utc_text(resets)}",
                "insufficient_quota",
                "budget_exceeded",
            )
        if member.rpm is not None and minute > member.rpm:
            wait = max(1, math.ceil(60 - now % 60))
            raise _refusal(
                429,
                f"member {name} sent {minute} requests this minute, the limit is {member.rpm} per minute; "
                f"try again in {wait} s",
                "rate_limit_exceeded",
                "rate_limit_exceeded",
                retry_after=wait,
            )
        if member.max_streams is not None and streams > member.max_streams:
            raise _refusal(
                429,
                f"member {name} has {streams - 1} requests in progress, the limit is {member.max_streams} at once; "
                "try again in 1 s",
                "rate_limit_exceeded",
                "too_many_streams",
                retry_after=1,
            )

    def release(self, lease: str) -> None:
        """The request holding LEASE ended (written to the database by `run`)."""
        self._released.append(lease)

    async def ready(self) -> str | None:
        """None when the database answers, else why not."""
        try:
            await self._db(self.store.ping)
        except Refusal:
            return self.error
        return None

    async def run(self) -> None:
        """Write released leases (and prune old rate counters), until cancelled; a write
        that fails is kept and tried again (the leases expire anyway)."""
        while True:
            await trio.sleep(FLUSH_SECONDS)
            if self._released:
                leases, self._released = self._released, []
                try:
                    await self._db(self.store.release, leases)
                except Refusal:
                    self._released.extend(leases[: _CACHE_LIMIT - len(self._released)])
