"""A streamed response body: the producer writes to the client itself; a ticker batches and fills silence.

The request's own task runs the producer (reading GLM, translating) and writes what it
produces to the client connection directly, so no task hand-off stands between an
upstream chunk and its write.  A second task, the ticker, owns time: it writes a batch
once its interval is up, and a keep-alive into a silence.

The opening (`response.created`) may wait, briefly, until the producer has sent its
request upstream (`Sink.release`): written while GLM thinks, it costs the first text
nothing.  Until the producer says the first text is out, every piece is written at once
(Codex sees the first delta immediately, and the rest of a burst is not translated ahead
of the first text); after that, a piece that comes within
`BATCH_SECONDS` of the last write waits for the ticker, so a fast stream costs one socket
write per interval instead of one per chunk.  The last piece is not written here: the
server sends it with the end of the body, in one write (see streaming.CONNECTION).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Awaitable, Callable
from contextvars import ContextVar
from typing import Protocol

import trio
from quart.wrappers.response import ResponseBody

# Called once when the body is done; the flag says whether the client got all of it.
Finisher = Callable[[bool], Awaitable[None]]
# One body write to the client.
Writer = Callable[[bytes], Awaitable[None]]

# Apart this much at least once batching began: below a frame of Codex's TUI, and 100
# writes a second however fast the model streams.
BATCH_SECONDS = 0.01
# A producer this far ahead of the batch it waits for writes it itself (and so waits for a slow client).
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
    """The producer's end of a stream body: writes to the client, at once or batched."""

    def __init__(self, write: Writer, opening: bytes = b"", *, opening_by: float = -math.inf) -> None:
        """OPENING waits for `release()` until OPENING_BY at the latest."""
        self._write = write
        self._buffer = bytearray(opening)
        self._held_until = opening_by
        self._batching = False
        self._writing: trio.Event | None = None  # set when the write in progress has ended
        self._last_write = -math.inf
        self.wake: trio.CancelScope | None = None  # the ticker's sleep (its deadline is the next batch)

    async def send(self, data: bytes) -> None:
        """Write DATA: at once before batching began; after, at once when it ends a pause
        an interval after the last write, else with the ticker's next batch."""
        # A piece that finds others waiting is part of a burst: the ticker writes them all
        # together when their interval is up.  One that comes after a pause goes now, if its
        # interval is up already, and costs no task switch.
        in_burst = bool(self._buffer)
        self._buffer += data
        if self._batching and len(self._buffer) <= _HIGH_WATER:
            due = self.batch_due()
            if in_burst or trio.current_time() < due:
                if self.wake is not None and due < self.wake.deadline:
                    self.wake.deadline = due
                return
        await self.flush()

    def release(self) -> None:
        """The opening need not wait any longer (the request it waited for is sent)."""
        if self._held_until > -math.inf:
            self._held_until = -math.inf
            if self.wake is not None:
                self.wake.deadline = trio.current_time()

    def batch(self) -> None:
        """What follows may wait for the batch interval (the first text has been sent)."""
        self._batching = True

    def add(self, data: bytes) -> None:
        """Queue DATA for the next write, whoever makes it."""
        self._buffer += data

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    @property
    def last_write(self) -> float:
        return self._last_write

    def batch_due(self) -> float:
        """When what is waiting has to be written."""
        return max(self._last_write + BATCH_SECONDS, self._held_until)

    async def flush(self) -> None:
        """Write what is waiting, after the write in progress (backpressure from a slow client)."""
        while self._writing is not None:
            await self._writing.wait()
        if not self._buffer:
            return
        data = bytes(self._buffer)
        self._buffer.clear()
        self._held_until = -math.inf  # the opening is out
        self._writing = writing = trio.Event()
        self._last_write = trio.current_time()
        try:
            await self._write(data)
        finally:
            self._writing = None
            writing.set()

    async def rest(self) -> bytes:
        """What is still waiting, once the write in progress has ended: the body's last bytes."""
        while self._writing is not None:
            await self._writing.wait()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


Producer = Callable[[Sink], Awaitable[None]]


class EventStream(ResponseBody):
    """A streamed body, sent by `deliver` (the server's send path), not iterated."""

    def __init__(
        self,
        produce: Producer,
        *,
        keepalive: Callable[[], bytes],
        interval: float,
        finish: Finisher,
        opening: bytes = b"",
        opening_wait: float = 0.0,
    ) -> None:
        """OPENING is written first, with the response's head, once the producer releases it
        (`Sink.release`) or OPENING_WAIT seconds have passed."""
        self._produce = produce
        self._opening_wait = opening_wait
        self._keepalive = keepalive
        self._interval = max(interval, _MIN_INTERVAL)
        self._finish = finish
        self._finished = False
        self.opening = opening

    async def deliver(self, write: Writer) -> bytes:
        """Run the producer, writing with WRITE; returns the last bytes, for the server to send
        with the end of the body."""
        sink = Sink(write, self.opening, opening_by=trio.current_time() + self._opening_wait)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._tick, sink)
            await self._produce(sink)
            last = await sink.rest()
            nursery.cancel_scope.cancel()
        return last

    async def _tick(self, sink: Sink) -> None:
        """Write the opening when released, then each batch when its interval is up, and
        keep-alives into silences."""
        quiet_since = trio.current_time()
        while True:
            due = sink.batch_due() if sink.pending else max(sink.last_write, quiet_since) + self._interval
            if due > trio.current_time():
                with trio.CancelScope(deadline=due) as sink.wake:
                    await trio.sleep_forever()
                sink.wake = None
                continue
            with trio.CancelScope(shield=True):  # a write cut short would lose its bytes
                if not sink.pending:
                    quiet_since = trio.current_time()
                    sink.add(self._keepalive())
                await sink.flush()

    # Quart's generic path iterates a body (`async with body: async for chunk in body`); this
    # one is sent by `deliver`, from the server's connection class, and refuses the other.
    async def __aenter__(self) -> AsyncIterable[bytes]:
        raise TypeError("an EventStream is sent with deliver(), by codexglm's connection class")

    async def __aexit__(self, *exc_info: object) -> None:
        await self.discard()

    async def discard(self, *, completed: bool = False) -> None:
        """Run the finisher once: after sending, or when the body was never sent at all."""
        if self._finished:
            return
        self._finished = True
        with trio.CancelScope(shield=True):
            await self._finish(completed)
