"""The stream body: the first text at once, then coalesced writes; keep-alives; backpressure; the end at once."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from codexglm.server.app import _send_stream
from codexglm.server.streaming import _HIGH_WATER, BATCH_SECONDS, CONNECTION, EventStream, Sink

KEEPALIVE = b": ka\n\n"


async def _finish(completed: bool) -> None:
    pass


async def _collect(
    produce, *, interval: float = 15.0, opening: bytes = b"", opening_wait: float = 0.0
) -> tuple[list[tuple[float, bytes]], bytes]:
    """The writes the body makes, with the (mock) time of each, and the last bytes it leaves
    for the end of the body."""
    writes: list[tuple[float, bytes]] = []

    async def write(data: bytes) -> None:
        writes.append((trio.current_time(), data))

    body = EventStream(
        produce, keepalive=lambda: KEEPALIVE, interval=interval, finish=_finish, opening=opening, opening_wait=opening_wait
    )
    last = await body.deliver(write)
    return writes, last


async def test_a_held_opening_is_written_when_the_producer_releases_it(autojump_clock: trio.testing.MockClock) -> None:
    released_at: list[float] = []

    async def produce(sink: Sink) -> None:
        await trio.sleep(0.02)  # the upstream request is being written
        released_at.append(trio.current_time())
        sink.release()
        await trio.sleep(1)  # GLM thinks
        await sink.send(b"first-text ")

    start = trio.current_time()
    writes, last = await _collect(produce, opening=b"created ", opening_wait=0.05)
    assert writes[0] == (released_at[0], b"created ") and released_at[0] - start == pytest.approx(0.02)
    assert writes[1][1] == b"first-text " and last == b""


async def test_a_held_opening_goes_out_by_its_deadline_if_never_released(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await trio.sleep(1)  # queued for a concurrency slot: nothing was sent upstream yet

    start = trio.current_time()
    writes, _ = await _collect(produce, opening=b"created ", opening_wait=0.05)
    assert writes[0] == (pytest.approx(start + 0.05), b"created ")


async def test_output_before_the_release_takes_the_held_opening_with_it(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"first-text ")  # an upstream that answered before the trace said it was sent
        await trio.sleep(1)

    writes, _ = await _collect(produce, opening=b"created ", opening_wait=0.05)
    assert writes[0] == (pytest.approx(writes[0][0]), b"created first-text ") and len(writes) == 1


async def test_before_the_first_text_every_write_goes_out_at_once(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"created ")
        await trio.sleep(0.001)
        await sink.send(b"first-text ")
        sink.batch()
        await trio.sleep(1)

    writes, last = await _collect(produce)
    assert [chunk for _, chunk in writes] == [b"created ", b"first-text "]
    assert writes[1][0] - writes[0][0] < BATCH_SECONDS
    assert last == b""


async def test_after_the_first_text_writes_are_coalesced(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"first ")
        sink.batch()
        for n in range(100):  # a delta every millisecond: 100 deltas in 0.1 s
            await trio.sleep(0.001)
            await sink.send(b"d%d " % n)
        await trio.sleep(1)

    writes, last = await _collect(produce)
    joined = b"".join(chunk for _, chunk in writes) + last
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

    writes, _ = await _collect(produce)
    assert writes[-1] == (sent_at[0], b"later ")


async def test_a_batch_waiting_while_the_producer_waits_upstream_is_written_when_due(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"first ")
        sink.batch()
        await trio.sleep(0.001)
        await sink.send(b"soon ")  # within the interval: waits for the ticker
        await trio.sleep(1)  # GLM is thinking

    writes, last = await _collect(produce)
    assert writes == [(0, b"first "), (pytest.approx(BATCH_SECONDS), b"soon ")]
    assert last == b""


async def test_the_end_of_the_stream_is_not_held_for_the_batch_interval(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"first ")
        sink.batch()
        await sink.send(b"completed")

    writes, last = await _collect(produce)
    assert writes == [(0, b"first ")]
    assert last == b"completed"  # for the server to send with the end of the body, at once


async def test_silence_is_filled_with_keepalives(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        await sink.send(b"created ")
        await trio.sleep(35)
        await sink.send(b"text")

    writes, _ = await _collect(produce, interval=15)
    assert writes == [(0, b"created "), (15, KEEPALIVE), (30, KEEPALIVE), (35, b"text")]


async def test_writes_keep_the_silence_from_counting(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        for _ in range(4):
            await trio.sleep(10)
            await sink.send(b"x")

    writes, _ = await _collect(produce, interval=15)
    assert KEEPALIVE not in [chunk for _, chunk in writes]


async def test_a_producer_waits_for_a_slow_client() -> None:
    client_reads = trio.Event()
    written: list[bytes] = []
    progress: list[str] = []

    async def write(data: bytes) -> None:
        written.append(data)
        await client_reads.wait()

    sink = Sink(write)

    async def producer() -> None:
        await sink.send(b"first")
        progress.append("first written")
        sink.batch()
        await sink.send(b"x" * _HIGH_WATER)  # within the batch interval: waits for the ticker
        progress.append("queued")
        await sink.send(b"y")  # past the mark: written now, after the write in progress
        progress.append("second written")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        assert (written, progress) == ([b"first"], [])
        client_reads.set()
        await trio.testing.wait_all_tasks_blocked()
    assert progress == ["first written", "queued", "second written"]
    assert written == [b"first", b"x" * _HIGH_WATER + b"y"]


class _Connection:
    """A connection that merges held writes; records what reaches the socket, and when."""

    def __init__(self) -> None:
        self.socket: list[tuple[float, list[str]]] = []
        self.sent: list[str] = []  # every ASGI message, held or not
        self._held: list[str] | None = None

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    async def release(self) -> None:
        held, self._held = self._held, None
        if held:
            self.socket.append((trio.current_time(), held))

    async def send(self, message: dict) -> None:
        """An ASGI send as hypercorn makes it: each message is one write, unless held."""
        if message["type"] == "http.response.start":
            what = "head"
        else:
            what = message["body"].decode() + ("" if message["more_body"] else "|end")
        self.sent.append(what)
        if self._held is not None:
            self._held.append(what)
        else:
            self.socket.append((trio.current_time(), [what]))


class _Response:
    status_code = 200
    headers: dict[str, str] = {}


async def _serve_stream(produce, *, opening: bytes = b"", connection: _Connection | None = None) -> _Connection:
    connection = connection or _Connection()
    token = CONNECTION.set(connection)
    try:
        body = EventStream(produce, keepalive=lambda: b"", interval=15, finish=_finish, opening=opening)
        await _send_stream(_merged(connection), _Response(), body)  # type: ignore[arg-type]
    finally:
        CONNECTION.reset(token)
    return connection


def _merged(connection: _Connection):
    from codexglm.server.app import _merged_sends

    token = CONNECTION.set(connection)
    try:
        return _merged_sends(connection.send)  # type: ignore[arg-type]
    finally:
        CONNECTION.reset(token)


async def test_the_head_goes_out_with_the_opening_and_the_last_bytes_with_the_end(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def produce(sink: Sink) -> None:
        await trio.sleep(1)  # GLM thinking: the opening must not wait for it
        await sink.send(b"text ")
        sink.batch()
        await sink.send(b"completed")

    connection = await _serve_stream(produce, opening=b"created ")
    assert connection.socket == [(0, ["head", "created "]), (1, ["text "]), (1, ["completed|end"])]


async def test_the_producer_sends_its_request_upstream_before_the_head_is_made(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The head waits for the opening anyway: encoding it first would delay the upstream request.
    connection = _Connection()
    sent_before_upstream: list[list[str]] = []

    async def produce(sink: Sink) -> None:
        sent_before_upstream.append(list(connection.sent))  # the upstream request is written here
        sink.release()
        await trio.sleep(1)
        await sink.send(b"completed")

    await _serve_stream(produce, opening=b"created ", connection=connection)
    assert sent_before_upstream == [[]]
    assert connection.socket[0] == (0, ["head", "created "])


async def test_a_stream_that_writes_nothing_still_sends_its_head_first(autojump_clock: trio.testing.MockClock) -> None:
    async def produce(sink: Sink) -> None:
        pass  # failed before its request was written: the opening goes out with the end

    connection = await _serve_stream(produce, opening=b"created ")
    assert connection.sent == ["head", "created |end"]
    assert connection.socket == [(0, ["head", "created |end"])]


async def test_a_head_is_not_held_while_the_first_chunk_is_not_ready(autojump_clock: trio.testing.MockClock) -> None:
    # A pass-through stream has no opening: its head must go out before GLM's first chunk.
    async def produce(sink: Sink) -> None:
        await trio.sleep(5)
        await sink.send(b"first")

    connection = await _serve_stream(produce)
    assert connection.socket == [(0, ["head"]), (5, ["first"]), (5, ["|end"])]


async def test_the_first_text_goes_out_before_the_rest_of_its_burst_is_produced() -> None:
    # GLM often sends the first text with more frames in one read: translating all of them
    # first would hold the first text back.
    order: list[str] = []

    async def write(data: bytes) -> None:
        order.append(data.decode())

    async def produce(sink: Sink) -> None:
        await sink.send(b"first-text")
        order.append("produced the rest")
        sink.batch()
        await sink.send(b"rest")

    body = EventStream(produce, keepalive=lambda: b"", interval=15, finish=_finish)
    last = await body.deliver(write)
    assert order == ["first-text", "produced the rest"]
    assert last == b"rest"


async def test_a_stream_body_is_sent_only_by_deliver() -> None:
    # Quart's generic body loop would bypass the batching and the merged writes.
    body = EventStream(lambda sink: trio.sleep(0), keepalive=lambda: b"", interval=15, finish=_finish)
    with pytest.raises(TypeError, match="deliver"):
        async with body:
            pass
