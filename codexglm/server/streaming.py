"""A streamed response body: a producer task writes into a sink, silence is filled with keep-alives.

Quart sends a body with `async with body: async for chunk in body: send(chunk)`, in the
request's task.  The body opens a nursery in `__aenter__` and closes it in `__aexit__`, so
the producer (reading GLM) runs under structured concurrency for exactly as long as the
body is being sent, and is cancelled when Codex disconnects.

What the producer writes is appended to one buffer and sent in one piece.  Until the
producer says the first text is out, each piece goes as soon as it is written (Codex sees
`response.created` and the first delta at once); after that, writes are at least
`BATCH_SECONDS` apart, so a fast stream costs one socket write per interval instead of
one per chunk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from contextvars import ContextVar
from types import TracebackType
from typing import Protocol

import trio
from quart.wrappers.response import ResponseBody

# Called once when the body is done; the flag says whether the client got all of it.
Finisher = Callable[[bool], Awaitable[None]]

# Apart this much at least once batching began: below a frame of Codex's TUI, and 100
# writes a second however fast the model streams.
BATCH_SECONDS = 0.01
# A producer that is this far ahead of a slow client waits (backpressure up to GLM).
_HIGH_WATER = 256 * 1024
# A zero or negative keep-alive interval would spin; anything this short is already absurd.
_MIN_INTERVAL = 0.01


class MergedWrites(Protocol):
    """A client connection that can gather the writes of several ASGI sends into one."""

    def hold(self) -> None: ...

    async def release(self) -> None: ...


# The connection an app task answers on (set by the server for each connection; its app
# tasks inherit it): a response's head goes out with its first chunk, its last chunk with
# the end of the body, one socket write each instead of two.
CONNECTION: ContextVar[MergedWrites | None] = ContextVar("codexglm_connection", default=None)


class Sink:
    """The producer's end of a stream body."""

    def __init__(self, opening: bytes = b"") -> None:
        self._buffer = bytearray(opening)
        self._urgent = bool(opening)  # the buffer holds bytes written before batching began
        self._batching = False
        self._ready = trio.Event()  # bytes are waiting, or the producer is done
        if opening:
            self._ready.set()
        self._done = trio.Event()
        self._taken = trio.Event()  # set when the buffer is handed out

    async def send(self, data: bytes) -> None:
        """Queue DATA; before batching began, wait until it is handed to the client (the
        rest of a burst GLM sent with the first text must not be translated ahead of it);
        after, only while the client is `_HIGH_WATER` bytes behind."""
        self._buffer += data
        self._ready.set()
        if not self._batching:
            self._urgent = True
            await self._taken.wait()
        while len(self._buffer) > _HIGH_WATER:
            await self._taken.wait()

    def batch(self) -> None:
        """What follows may wait for the batch interval (the first text has been sent)."""
        self._batching = True

    def close(self) -> None:
        self._ready.set()
        self._done.set()

    @property
    def closed(self) -> bool:
        return self._done.is_set()

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def may_wait(self) -> bool:
        """May the sender hold what is waiting, to send more in one piece?"""
        return self._batching and not self._urgent and not self.closed

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def wait_closed(self) -> None:
        await self._done.wait()

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        self._urgent = False
        if not self.closed:
            self._ready = trio.Event()
        self._taken.set()
        self._taken = trio.Event()
        return data


Producer = Callable[[Sink], Awaitable[None]]


class EventStream(ResponseBody):
    def __init__(
        self,
        produce: Producer,
        *,
        keepalive: Callable[[], bytes],
        interval: float,
        finish: Finisher,
        opening: bytes = b"",
    ) -> None:
        """OPENING is sent first, with the response's head, before the producer runs."""
        self._produce = produce
        self._keepalive = keepalive
        self._interval = max(interval, _MIN_INTERVAL)
        self._finish = finish
        self._finished = False
        self._stack: AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None
        self._sink = Sink(opening)
        self._quiet_since = 0.0
        self._last_write = -float("inf")
        self.ended = False  # the last chunk has been handed out

    async def __aenter__(self) -> EventStream:
        stack = AsyncExitStack()
        self._nursery = await stack.enter_async_context(trio.open_nursery())
        self._stack = stack
        self._nursery.start_soon(self._run)
        self._quiet_since = trio.current_time()
        return self

    async def _run(self) -> None:
        try:
            await self._produce(self._sink)
        finally:
            self._sink.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> bytes:
        sink = self._sink
        while True:
            if not sink.pending and not sink.closed:
                # Nothing to join what the connection holds (the head): it goes now.
                connection = CONNECTION.get()
                if connection is not None:
                    await connection.release()
                with trio.move_on_at(self._quiet_since + self._interval):
                    await sink.wait_ready()
            if sink.pending:
                due = self._last_write + BATCH_SECONDS
                if sink.may_wait() and trio.current_time() < due:
                    with trio.move_on_at(due):
                        await sink.wait_closed()  # the end goes out at once
                self._quiet_since = self._last_write = trio.current_time()
                self.ended = sink.closed
                return sink.take()
            if sink.closed:
                raise StopAsyncIteration
            self._quiet_since = trio.current_time()
            beat = self._keepalive()
            if beat:
                return beat

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._stack is not None:
                assert self._nursery is not None
                self._nursery.cancel_scope.cancel()
                await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            await self.discard(completed=exc_type is None)

    async def discard(self, *, completed: bool = False) -> None:
        """Run the finisher once: after sending, or when the body was never sent at all."""
        if self._finished:
            return
        self._finished = True
        with trio.CancelScope(shield=True):
            await self._finish(completed)
