"""The stream body: the first text at once, then coalesced writes; keep-alives; backpressure; the end at once."""

from __future__ import annotations

import trio
import trio.testing

from codexglm.server.streaming import _HIGH_WATER, BATCH_SECONDS, CONNECTION, EventStream, Sink

KEEPALIVE = b": ka\n\n"


async def _collect(produce, *, interval: float = 15.0) -> list[tuple[float, bytes]]:
    """What the body's sender would write, with the (mock) time of each write."""

    async def finish(completed: bool) -> None:
        pass

    writes = []
    async with EventStream(produce, keepalive=lambda: KEEPALIVE, interval=interval, finish=finish) as body:
        async for chunk in body:
            writes.append((trio.current_time(), chunk))
    return writes


async def test_before_the_first_text_every_write_goes_out_at_once(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"created ")
        await trio.sleep(0.001)
        await sink.send(b"first-text ")
        sink.batch()
        await trio.sleep(1)

    writes = await _collect(produce)
    assert [chunk for _, chunk in writes] == [b"created ", b"first-text "]
    assert writes[1][0] - writes[0][0] < BATCH_SECONDS


async def test_after_the_first_text_writes_are_coalesced(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"first ")
        sink.batch()
        for n in range(100):  # a delta every millisecond: 100 deltas in 0.1 s
            await trio.sleep(0.001)
            await sink.send(b"d%d " % n)
        await trio.sleep(1)

    writes = await _collect(produce)
    joined = b"".join(chunk for _, chunk in writes)
    assert joined == b"first " + b"".join(b"d%d " % n for n in range(100))
    # One write per batch interval (plus the first), not one per delta.
    assert len(writes) <= 0.1 / BATCH_SECONDS + 3
    gaps = [later - earlier for (earlier, _), (later, _) in zip(writes[1:], writes[2:])]
    assert all(gap >= BATCH_SECONDS - 1e-9 for gap in gaps)


async def test_a_delta_after_a_pause_is_not_held(autojump_clock: trio.testing.MockClock) -> None:
    sent_at: list[float] = []

    async def produce(sink: Sink) -> None:
        await sink.send(b"first ")
        sink.batch()
        await trio.sleep(0.5)
        sent_at.append(trio.current_time())
        await sink.send(b"later ")
        await trio.sleep(1)

    writes = await _collect(produce)
    assert writes[-1] == (sent_at[0], b"later ")


async def test_the_end_of_the_stream_is_not_held_for_the_batch_interval(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"first ")
        sink.batch()
        await sink.send(b"completed")

    start = trio.current_time()
    writes = await _collect(produce)
    assert b"".join(chunk for _, chunk in writes) == b"first completed"
    assert writes[-1][0] - start < BATCH_SECONDS


async def test_silence_is_filled_with_keepalives(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"created ")
        await trio.sleep(35)
        await sink.send(b"text")

    writes = await _collect(produce, interval=15)
    assert [chunk for _, chunk in writes] == [b"created ", KEEPALIVE, KEEPALIVE, b"text"]


async def test_a_producer_far_ahead_of_the_client_waits() -> None:
    sink = Sink()
    sink.batch()
    blocked = trio.Event()
    unblocked = trio.Event()

    async def producer() -> None:
        await sink.send(b"x" * _HIGH_WATER)  # up to the mark: no wait
        blocked.set()
        await sink.send(b"y")  # past it: waits for the client
        unblocked.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await blocked.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert not unblocked.is_set()
        assert sink.take() == b"x" * _HIGH_WATER + b"y"
        await unblocked.wait()


class _Connection:
    """Records when what the connection holds (the response's head) is released."""

    def __init__(self) -> None:
        self.released_at: list[float] = []

    def hold(self) -> None:
        pass

    async def release(self) -> None:
        self.released_at.append(trio.current_time())


async def test_the_opening_is_the_first_chunk_before_the_producer_runs(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"later")

    async def finish(completed: bool) -> None:
        pass

    async with EventStream(produce, keepalive=lambda: b"", interval=15, finish=finish, opening=b"created ") as body:
        assert await body.__anext__() == b"created "


async def test_a_head_is_not_held_while_the_first_chunk_is_not_ready(autojump_clock: trio.testing.MockClock) -> None:
    # A pass-through stream has no opening: its head must go out before GLM's first chunk.
    connection = _Connection()
    token = CONNECTION.set(connection)
    try:
        async def produce(sink: Sink) -> None:
            await trio.sleep(5)
            await sink.send(b"first")

        writes = await _collect(produce)
    finally:
        CONNECTION.reset(token)
    assert writes == [(5, b"first")]
    assert connection.released_at and connection.released_at[0] == 0
