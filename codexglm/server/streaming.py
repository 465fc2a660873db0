"""A streamed response body: a producer task writes chunks, silence is filled with keep-alives.

Quart sends a body with `async with body: async for chunk in body: send(chunk)`, in the
request's task.  The body opens a nursery in `__aenter__` and closes it in `__aexit__`, so
the producer (reading GLM) runs under structured concurrency for exactly as long as the
body is being sent, and is cancelled when Codex disconnects.  Chunks waiting in the
channel are sent in one write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType

import trio
from quart.wrappers.response import ResponseBody

Producer = Callable[[trio.MemorySendChannel[bytes]], Awaitable[None]]
# Called once when the body is done; the flag says whether the client got all of it.
Finisher = Callable[[bool], Awaitable[None]]

_BUFFER = 64
# A zero or negative keep-alive interval would spin; anything this short is already absurd.
_MIN_INTERVAL = 0.01


class EventStream(ResponseBody):
    def __init__(self, produce: Producer, *, keepalive: Callable[[], bytes], interval: float, finish: Finisher) -> None:
        self._produce = produce
        self._keepalive = keepalive
        self._interval = max(interval, _MIN_INTERVAL)
        self._finish = finish
        self._finished = False
        self._stack: AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None
        self._receive: trio.MemoryReceiveChannel[bytes] | None = None
        self._quiet_since = 0.0

    async def __aenter__(self) -> EventStream:
        stack = AsyncExitStack()
        self._nursery = await stack.enter_async_context(trio.open_nursery())
        self._stack = stack
        send, self._receive = trio.open_memory_channel[bytes](_BUFFER)
        self._nursery.start_soon(self._run, send)
        self._quiet_since = trio.current_time()
        return self

    async def _run(self, send: trio.MemorySendChannel[bytes]) -> None:
        async with send:
            await self._produce(send)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> bytes:
        assert self._receive is not None
        while True:
            with trio.move_on_at(self._quiet_since + self._interval):
                try:
                    chunks = [await self._receive.receive()]
                except trio.EndOfChannel:
                    raise StopAsyncIteration from None
                while True:
                    try:
                        chunks.append(self._receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                self._quiet_since = trio.current_time()
                return b"".join(chunks)
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
