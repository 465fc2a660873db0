"""Load benchmark: many Codex-paced streams through `codexglm serve --workers N`, against the direct floor.

    .venv/bin/python bench/bench_load.py [--streams 50,200,500] [--workers 1,2] [--seconds 12]
                                         [--chunks 100] [--gap 0.02] [--rounds 1] [--against CHECKOUT]

Each stream is one Codex session on one keep-alive connection: it sends a ~39 KB Codex
request body (a recorded Codex 0.171 body from tests/fixtures, its instructions filled up
to the size of Codex's real ones), reads the whole streamed answer (--chunks text chunks,
--gap seconds apart, as GLM streams them), waits 0.2 s, as Codex does between requests,
and sends the next, until --seconds have passed.  Streams start spread over one second.

Every configuration runs in the same session against one mock upstream:

* direct:  the client posts to the mock's /chat/completions itself (the floor);
* relay:   the bare relay of bench_proxy.py (hypercorn, httpx and trio passing the request and
           its stream through untouched): what the libraries cost before any translation;
* w1, w2:  the client posts to `codexglm serve --workers N` /v1/responses, which calls the mock.

For each it reports time to first text (TTFT) p50/p99 over every request of every stream,
the streams that got answers and no error ("ok"), complete answers, errors, requests still
without text when the window closed ("wait": their TTFT is not in the percentiles, so
look at it beside them), the text chunks delivered per second, CPU seconds per streamed
chunk of the proxy (all its processes, from /proc/<pid>/stat), of the mock and of the
client (what is left of the cores for the proxy is what the machine has minus theirs), the
worker balance (each worker's share of the proxy's CPU); then each configuration's TTFT
and throughput as a ratio to the direct floor, w2's throughput over w1's, and the capacity
of each: the most streams it kept up with (the scaling: past saturation one worker's
throughput collapses, which flatters the plain ratio).  `--against` runs another
checkout's proxy, one worker, in the same run (`git worktree add /tmp/old main~5`).
The mock is a lean HTTP/1.1 server in its own process that sends the frames
tests/mockglm.py builds (recorded GLM shapes), so it is not the bottleneck; the client
runs in this process.  With --rounds above 1 the order of configurations is reshuffled
each round and every line reports the spread.

The machine's other load counts: on a shared machine run it short, more than once.
The proxy gets `max_concurrency = 4096`, so that the measured limit is CPU, not the
default bound of 64 streams at once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mockglm import DEFAULT_KEY, _Context, _stream_frames, text_reply  # noqa: E402

TOKEN = "bench-load-token"
SPACING = 0.2  # seconds between a stream's requests, as Codex sends them
# A configuration keeps up with a load while its TTFT p99 stays under this (a saturated
# proxy's grows to seconds), with no errors and few requests left waiting at the end.
KEPT_UP_P99 = 0.2
KEPT_UP_WAITING = 0.02  # of the answers
BODY_BYTES = 39 * 1024
FIXTURE = ROOT / "tests" / "fixtures" / "codex-bodies" / "0.171.0" / "test-shell-command-round-trip-1.json"
_TICKS = os.sysconf("SC_CLK_TCK")
_CHAT_PATH = "/api/coding/paas/v4/chat/completions"


# --------------------------------------------------------------------------- the mock upstream (child)


def _answer(chunks: int) -> list[bytes]:
    """The chunked-encoded frames of one answer: GLM's recorded frame shapes, CHUNKS text deltas."""
    words = " ".join(random.Random(7).choice(["the", "test", "passes", "now", "fix", "file"]) for _ in range(chunks * 2))
    reply = text_reply(words[: chunks * 5], chunk_size=5)
    frames = _stream_frames(reply, _Context("bench", int(time.time()), "glm-5.3", 9000, 8000))
    return [b"%x\r\n%s\r\n" % (len(frame), frame) for frame in frames] + [b"0\r\n\r\n"]


async def _mock_connection(stream: trio.SocketStream, frames: list[bytes], gap: float) -> None:
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream;charset=UTF-8\r\n"
            b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n")
    buffer = b""
    try:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buffer += data
            header, buffer = buffer.split(b"\r\n\r\n", 1)
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", header)
            need = int(length.group(1)) if length else 0
            while len(buffer) < need:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buffer += data
            buffer = buffer[need:]
            if _CHAT_PATH.encode() not in header.split(b"\r\n", 1)[0]:
                await stream.send_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}")
                continue
            await stream.send_all(head + frames[0])
            for frame in frames[1:]:
                await trio.sleep(gap)
                await stream.send_all(frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return


def _mock_child(chunks: int, gap: float) -> None:
    frames = _answer(chunks)

    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=4096)
        print(listeners[0].socket.getsockname()[1], flush=True)
        await trio.serve_listeners(lambda s: _mock_connection(s, frames, gap), listeners)

    trio.run(main)


# --------------------------------------------------------------------------- processes and their CPU


def _cpu_seconds(pid: int) -> float:
    """CPU time of PID and of its children, live (read one by one) and reaped (cutime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(value) for value in fields[11:15]) / _TICKS
    return own + sum(_cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    """PID's live children, whichever of its threads started them (trio starts processes from threads)."""
    try:
        return [int(child) for task in Path(f"/proc/{pid}/task").glob("*/children") for child in task.read_text().split()]
    except OSError:
        return []


@dataclass
class Child:
    process: subprocess.Popen[str]
    port: int

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _start_child(argv: list[str]) -> Child:
    """A child that prints its port first (its stdin held open: the relay stops when it closes)."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return Child(process, int(process.stdout.readline()))


def _start_mock(chunks: int, gap: float) -> Child:
    return _start_child([sys.executable, __file__, "--mock-child", f"{chunks},{gap}"])


def _start_relay(mock_port: int) -> Child:
    return _start_child([sys.executable, str(ROOT / "bench" / "bench_proxy.py"), "--relay-child", f"http://127.0.0.1:{mock_port}"])


def _start_proxy(workers: int, mock_port: int, home: Path, checkout: Path = ROOT) -> Child:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text("max_concurrency = 4096\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAI_", "CODEXGLM_"))}
    upstream = f"http://127.0.0.1:{mock_port}/api"
    env.update(HOME=str(home), CODEXGLM_CONFIG_DIR=str(home / "config"), CODEXGLM_STATE_DIR=str(home / "state"),
               CODEXGLM_CACHE_DIR=str(home / "cache"), CODEXGLM_TOKEN=TOKEN, ZAI_API_KEY=DEFAULT_KEY,
               ZAI_CODING_BASE_URL=f"{upstream}/coding/paas/v4", ZAI_BASE_URL=f"{upstream}/paas/v4")
    # One worker without the flag: a checkout from before --workers runs too.
    argv = [sys.executable, "-m", "codexglm", "serve", "--port", "0", *(["--workers", str(workers)] if workers > 1 else [])]
    env["PYTHONPATH"] = str(checkout)
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, text=True, cwd=checkout)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"127\.0\.0\.1:(\d+)/v1", line)
    if found is None:
        process.kill()
        raise SystemExit(f"the proxy did not start: {line!r}")
    return Child(process, int(found.group(1)))


# --------------------------------------------------------------------------- the client


def codex_body() -> bytes:
    """A real Codex 0.171 request body (recorded, scrubbed), instructions filled up to ~39 KB."""
    body = json.loads(FIXTURE.read_text())
    body["stream"] = True
    body["instructions"] = ""
    size = len(json.dumps(body))
    sentence = "You are Codex, a coding agent. Keep changes minimal, run the tests, and explain what you did. "
    body["instructions"] = (sentence * (BODY_BYTES // len(sentence) + 1))[: BODY_BYTES - size]
    return json.dumps(body, separators=(",", ":")).encode()


def _request(port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer {TOKEN}\r\n"
            f"content-type: application/json\r\naccept: text/event-stream\r\ncontent-length: {len(body)}\r\n\r\n"
            ).encode() + body


@dataclass
class Tally:
    ttft: list[float] = field(default_factory=list)
    requests: int = 0  # answered completely
    errors: Counter[str] = field(default_factory=Counter)  # failed requests by kind (each ends its stream)
    waiting: int = 0  # sent, and no text yet when the window closed
    streams_ok: set[int] = field(default_factory=set)  # streams with an answer and no error
    chunks: int = 0


async def _request_once(connection: trio.SocketStream, request: bytes, marker: bytes, tally: Tally) -> str | None:
    """Send one request and read its whole answer (MARKER starts each text chunk); None, or
    what went wrong."""
    sent = time.perf_counter()
    first: float | None = None
    tail, failed = b"", False
    try:
        await connection.send_all(request)
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            data = await connection.receive_some(262144)
            if not data:
                return "closed"
            if not tail and first is None and not data.startswith(b"HTTP/1.1 200"):
                return "status " + data[9:12].decode(errors="replace")
            failed = failed or b"response.failed" in data
            tally.chunks += data.count(marker)
            if first is None and marker in tail[-64:] + data:
                first = time.perf_counter()
                tally.ttft.append(first - sent)
            tail = (tail + data)[-64:]
            if first is not None:
                await trio.sleep(0.01)  # read in batches: the client must not be the bottleneck
    except trio.BrokenResourceError:
        return "reset"
    except trio.Cancelled:
        if first is None:
            tally.waiting += 1  # the window closed before any text came
        raise
    return "response.failed" if failed else None


async def _stream(index: int, port: int, request: bytes, marker: bytes, start: float, tally: Tally) -> None:
    """One Codex session: requests SPACING apart on one connection, until the window closes."""
    await trio.sleep(start)
    try:
        connection = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        tally.errors["connect"] += 1
        return
    async with connection:
        while (error := await _request_once(connection, request, marker, tally)) is None:
            tally.requests += 1
            tally.streams_ok.add(index)
            await trio.sleep(SPACING)
        tally.errors[error] += 1
        tally.streams_ok.discard(index)


@dataclass
class Result:
    name: str
    streams: int
    ttft_p50: float
    ttft_p99: float
    streams_ok: int
    requests: int
    errors: Counter[str]
    waiting: int
    chunks_per_s: float
    proxy_cpu_per_chunk: float | None
    mock_cpu_per_chunk: float
    client_cpu_per_chunk: float
    balance: str


async def _load(port: int, path: str, marker: bytes, streams: int, seconds: float, body: bytes) -> Tally:
    """STREAMS sessions (starting spread over a second) for SECONDS."""
    tally = Tally()
    request = _request(port, path, body)
    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for index in range(streams):
                nursery.start_soon(_stream, index, port, request, marker, index / streams, tally)
    return tally


def _measure(name: str, port: int, path: str, marker: bytes, streams: int, args: argparse.Namespace, body: bytes,
             mock: Child, proxy: Child | None) -> Result:
    workers = _children(proxy.process.pid) if proxy else []
    before = {pid: _cpu_seconds(pid) for pid in workers}
    proxy_before = _cpu_seconds(proxy.process.pid) if proxy else 0.0
    mock_before = _cpu_seconds(mock.process.pid)
    client_before = time.process_time()
    tally = trio.run(_load, port, path, marker, streams, args.seconds, body)
    client_cpu = time.process_time() - client_before
    mock_cpu = _cpu_seconds(mock.process.pid) - mock_before
    delivered = max(tally.chunks, 1)
    proxy_cpu = (_cpu_seconds(proxy.process.pid) - proxy_before) / delivered if proxy else None
    used = [_cpu_seconds(pid) - before[pid] for pid in workers]
    balance = "/".join(f"{100 * u / max(sum(used), 1e-9):.0f}%" for u in used) if len(used) > 1 else "-"
    ttft = sorted(tally.ttft) or [float("nan")]
    return Result(name, streams, statistics.median(ttft), ttft[min(len(ttft) - 1, int(len(ttft) * 0.99))],
                  len(tally.streams_ok), tally.requests, tally.errors, tally.waiting, tally.chunks / args.seconds, proxy_cpu,
                  mock_cpu / delivered, client_cpu / delivered, balance)


def _spread(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    middle = statistics.median(values) * scale
    if len(values) == 1:
        return f"{middle:.2f}{unit}"
    return f"{middle:.2f}{unit} (±{(max(values) - min(values)) * scale / 2:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="50,200,500", help="concurrent streams per run (comma-separated)")
    parser.add_argument("--workers", default="1,2", help="proxy worker counts to compare (comma-separated)")
    parser.add_argument("--seconds", type=float, default=12.0, help="how long each configuration runs")
    parser.add_argument("--chunks", type=int, default=100, help="text chunks per streamed answer")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between the mock's chunks")
    parser.add_argument("--rounds", type=int, default=1, help="repeat everything, reshuffled, and show the spread")
    parser.add_argument("--against", action="append", default=[], metavar="CHECKOUT",
                        help="also run another checkout's proxy (one worker) in the same run, as w1@<dir name>")
    parser.add_argument("--mock-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mock_child:
        chunks, gap = args.mock_child.split(",")
        _mock_child(int(chunks), float(gap))
        return
    body = codex_body()
    mock = _start_mock(args.chunks, args.gap)
    relay = _start_relay(mock.port)
    proxies: dict[str, Child] = {}
    home = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        for count in args.workers.split(","):
            proxies[f"w{count}"] = _start_proxy(int(count), mock.port, home / f"w{count}")
        for path in args.against:
            name = f"w1@{Path(path).name}"
            proxies[name] = _start_proxy(1, mock.port, home / name, Path(path).resolve())
        time.sleep(1.0)  # the workers' first usage poll and imports settle
        names = ["direct", "relay", *proxies]
        results: dict[tuple[str, int], list[Result]] = {}
        for round_number in range(args.rounds):
            order = [(name, int(streams)) for streams in args.streams.split(",") for name in names]
            if round_number:
                random.shuffle(order)
            for name, streams in order:
                proxy = proxies.get(name)
                if name == "direct":
                    result = _measure(name, mock.port, _CHAT_PATH, b'"content":"', streams, args, body, mock, None)
                elif name == "relay":
                    result = _measure(name, relay.port, _CHAT_PATH, b'"content":"', streams, args, body, mock, relay)
                else:
                    assert proxy is not None
                    result = _measure(name, proxy.port, "/v1/responses", b"event: response.output_text.delta", streams,
                                      args, body, mock, proxy)
                results.setdefault((name, streams), []).append(result)
                time.sleep(0.5)
        _report(results, names, args)
    finally:
        for child in (*proxies.values(), relay, mock):
            child.stop()


def _report(results: dict[tuple[str, int], list[Result]], names: list[str], args: argparse.Namespace) -> None:
    print(f"body {len(codex_body()) / 1024:.1f} KB, {args.chunks} chunks per answer {args.gap * 1000:g} ms apart, "
          f"requests {SPACING:g} s apart for {args.seconds:g} s, {args.rounds} round(s), {os.cpu_count()} CPUs")
    print(f"{'config':8} {'streams':>7} {'TTFT p50':>16} {'TTFT p99':>16} {'ok':>4} {'answers':>7} {'err':>4} {'wait':>4} "
          f"{'chunks/s':>16} {'proxy ms CPU/chunk':>20} {'mock':>6} {'client':>6} {'worker CPU split':>16}")
    for (name, streams), runs in sorted(results.items(), key=lambda item: (item[0][1], names.index(item[0][0]))):
        proxy_cpu = [r.proxy_cpu_per_chunk for r in runs if r.proxy_cpu_per_chunk is not None]
        print(f"{name:8} {streams:7d} {_spread([r.ttft_p50 for r in runs], 1000, ' ms'):>16} "
              f"{_spread([r.ttft_p99 for r in runs], 1000, ' ms'):>16} {min(r.streams_ok for r in runs):4d} "
              f"{min(r.requests for r in runs):7d} {max(sum(r.errors.values()) for r in runs):4d} {max(r.waiting for r in runs):4d} "
              f"{_spread([r.chunks_per_s for r in runs]):>16} "
              f"{_spread(proxy_cpu, 1000) if proxy_cpu else '-':>20} "
              f"{_spread([r.mock_cpu_per_chunk for r in runs], 1000):>6} "
              f"{_spread([r.client_cpu_per_chunk for r in runs], 1000):>6} {runs[-1].balance:>16}")
    failures = {key: sum((r.errors for r in runs), Counter()) for key, runs in results.items()}
    for (name, streams), kinds in failures.items():
        if kinds:
            print(f"  errors of {name} at {streams} streams: " + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()))
    print("\nas a ratio to the direct floor (TTFT p50, chunks/s):")
    for (name, streams), runs in sorted(results.items(), key=lambda item: (item[0][1], names.index(item[0][0]))):
        floor = results[("direct", streams)]
        if name == "direct":
            continue
        ttft = [r.ttft_p50 / f.ttft_p50 for r, f in zip(runs, floor)]
        rate = [r.chunks_per_s / f.chunks_per_s for r, f in zip(runs, floor)]
        print(f"  {name} at {streams:3d} streams: TTFT {_spread(ttft)}x, throughput {_spread(rate)}x")
    print("\nproxy CPU per chunk over the bare relay's (what translation and codexglm's own work cost):")
    for streams in sorted({s for _, s in results}):
        stack = [r.proxy_cpu_per_chunk or 0.0 for r in results[("relay", streams)]]
        for name in (n for n in names if n not in ("direct", "relay")):
            ours = [r.proxy_cpu_per_chunk or 0.0 for r in results[(name, streams)]]
            print(f"  {name} at {streams:3d} streams: {_spread([o / max(b, 1e-9) for o, b in zip(ours, stack)])}x the relay's")
    if "w1" in names and "w2" in names:
        print("\nscaling, w2 over w1 (chunks/s):")
        for streams in sorted({s for _, s in results}):
            ratio = [b.chunks_per_s / a.chunks_per_s for a, b in zip(results[("w1", streams)], results[("w2", streams)])]
            print(f"  {streams:3d} streams: {_spread(ratio)}x")
    # Past saturation one worker's throughput collapses, which flatters the ratio above; the
    # load each configuration still kept up with is the fairer measure of what workers add.
    print(f"\ncapacity: the most streams a configuration kept up with (in every round TTFT p99 under "
          f"{KEPT_UP_P99 * 1000:g} ms, no errors, at most {KEPT_UP_WAITING:.0%} of requests left waiting), of the counts tried:")
    capacity = {name: _capacity(results, name) for name in names if name != "direct"}
    for name, streams in capacity.items():
        print(f"  {name:8} {streams if streams else 'none'}")
    if capacity.get("w1") and capacity.get("w2"):
        print(f"  w2 over w1: {capacity['w2'] / capacity['w1']:.2f}x")


def _capacity(results: dict[tuple[str, int], list[Result]], name: str) -> int:
    kept_up = [
        streams
        for (config, streams), runs in results.items()
        if config == name
        and all(r.ttft_p99 <= KEPT_UP_P99 and not r.errors and r.waiting <= KEPT_UP_WAITING * r.requests for r in runs)
    ]
    return max(kept_up, default=0)


if __name__ == "__main__":
    main()
