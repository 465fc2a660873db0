"""Benchmark: what the proxy adds to the time to first text, its stream throughput, CPU and memory.

The mock GLM server, each proxy and the measuring client run in processes of their own (so
each one's CPU time and RSS are its own, and the mock's work is not billed to a path).
Everything is measured in one run, as ratios and differences against the *direct floor*:
the same client asking the mock itself.

* Time to first text (TTFT: the first text or reasoning delta), p50/p99, for a tiny prompt
  and for a real-sized 39 KB Codex request (9 tools, a history with tool calls), each in
  three series:
  - warm:   back to back;
  - paced:  each request after 0.2 s of idle, as Codex sends them (a turn's requests are
            spaced by tool runs and rendering);
  - cold:   each request after 1.5 s of idle (the first turn after a pause).
  Rounds interleave the paths in a fresh random order, so drift hits all of them alike.
* Throughput of one long stream (text chunks/s), direct and through `/v1/responses`, and
  the proxy's CPU time per streamed chunk over it.
* The proxy's RSS after a concurrent soak.
* The stack's own floor: a bare relay on the same libraries (hypercorn, httpx, trio), which
  passes the Chat Completions request and its stream through untouched.  What it adds is
  what any proxy built on them pays before doing anything; the rest is codexglm's.

    .venv/bin/python bench/bench_proxy.py [--warm 300] [--paced 60] [--cold 12] [--chunks 20000]
    .venv/bin/python bench/bench_proxy.py --against /path/to/other/checkout   # and that version too

`--against` runs a second proxy from another checkout of codexglm (e.g. `git worktree add
/tmp/old main~5`) in the same run, so a change is measured as a ratio to what it replaces.

Targets: first text of the 39 KB body within +2 ms of the floor, warm and paced; long-stream
throughput at least 0.7x direct; RSS under 80 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codexglm.providers.glm import GLM  # noqa: E402
from codexglm.providers.glm.endpoints import CODING_PATH  # noqa: E402
from codexglm.translate import TranslateOptions, build_chat_request  # noqa: E402
from tests.mockglm import DEFAULT_KEY, MockGLM, Stream, text_reply  # noqa: E402

TOKEN = "bench-proxy-token"
RELAY = "bare relay"
LONG_MARKER = "[long stream]"
FIXTURE = ROOT / "tests" / "fixtures" / "codex-bodies" / "0.171.0" / "test-shell-command-round-trip-1.json"
CODEX_BODY_BYTES = 39_000
REPLY = "Hello! This is the mock GLM server."
SERIES = {"warm": 0.0, "paced": 0.2, "cold": 1.5}
# Run in a child with the checkout to measure first on sys.path: prints the port, serves
# until stdin closes.
_CHILD = """
import json, sys
import trio
from codexglm.server import serve
from codexglm.settings import Settings

options = json.loads(sys.argv[1])
settings = Settings(api_keys=(options["key"],), coding_base_url=options["upstream"], log_dir=options["log_dir"])

async def main():
    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(serve, settings, options["token"])
        print(port, flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)
        nursery.cancel_scope.cancel()

trio.run(main)
"""


# --------------------------------------------------------------------------- request bodies


def codex_body(size: int = CODEX_BODY_BYTES) -> dict[str, Any]:
    """A real Codex 0.171 request (its 9 tools, instructions, a shell round trip), its history
    grown with more tool turns of the same shape until the body is SIZE bytes: the size of a
    first turn's request from a real session (developer instructions and AGENTS.md included)."""
    body = json.loads(FIXTURE.read_text())
    body["stream"] = True
    history = body["input"]
    turn = [item for item in history if item.get("type") in ("function_call", "function_call_output")]
    number = 0
    while len(json.dumps(body)) < size:
        number += 1
        for item in turn:
            copy = json.loads(json.dumps(item))
            copy["call_id"] = f"{item['call_id']}_{number}"
            if copy["type"] == "function_call_output":
                copy["output"] = f"{copy['output']}\n" + "src/module_%d.py: 120 lines\n" % number * 8
            history.insert(-1, copy)
    return body


def chat_body(codex: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions body the proxy sends for CODEX: the floor's request is the same size."""
    return build_chat_request(json.loads(json.dumps(codex)), TranslateOptions(provider=GLM, default_model="glm-5.1")).body


def _reply_for(chunks: int) -> Callable[[dict[str, Any]], Stream]:
    long_text = "x" * chunks

    def reply(body: dict[str, Any]) -> Stream:
        last = body["messages"][-1].get("content")
        if isinstance(last, str) and LONG_MARKER in last:
            return text_reply(long_text, chunk_size=1)
        return text_reply(REPLY, reasoning="A greeting.")

    return reply


# --------------------------------------------------------------------------- the proxy children


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    url: str

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))


async def _start_child(name: str, argv: list[str], checkout: Path) -> Child:
    """A child that prints its port, then serves until its stdin closes."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=checkout)
    assert process.stdout is not None
    port = int(await trio.to_thread.run_sync(process.stdout.readline))
    return Child(name, process, f"http://127.0.0.1:{port}")


async def _start_proxy(name: str, checkout: Path, upstream: str, log_dir: str) -> Child:
    options = json.dumps({"key": DEFAULT_KEY, "upstream": upstream, "log_dir": log_dir, "token": TOKEN})
    return await _start_child(name, [sys.executable, "-c", _CHILD, options], checkout)


def _mock_child(chunks: int) -> None:
    """The mock GLM server (child process mode)."""
    mock = MockGLM(handler=_reply_for(chunks))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.serve)
            print(mock.url.rsplit(":", 1)[1], flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)
            nursery.cancel_scope.cancel()

    trio.run(main)


def _relay_child(upstream: str) -> None:
    """The bare relay (child process mode): hypercorn serving a plain ASGI function that
    reads the body, posts it with httpx's transport (the leanest public path: no client
    layers) and writes each chunk as it comes."""
    import hypercorn.trio
    from hypercorn.config import Config

    async def main() -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        config = Config()
        config.bind = [f"fd://{listener.fileno()}"]
        config.accesslog = config.errorlog = None
        stop = trio.Event()
        limits = httpx.Limits(max_connections=4096, max_keepalive_connections=4096)  # as many as bench_load opens
        async with httpx.AsyncHTTPTransport(limits=limits) as transport:

            async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
                if scope["type"] == "lifespan":
                    while (await receive())["type"] != "lifespan.shutdown":
                        await send({"type": "lifespan.startup.complete"})
                    await send({"type": "lifespan.shutdown.complete"})
                    return
                body = b""
                while True:
                    message = await receive()
                    body += message.get("body", b"")
                    if not message.get("more_body"):
                        break
                headers = [(k, v) for k, v in scope["headers"] if k in (b"authorization", b"content-type")]
                request = httpx.Request("POST", upstream + scope["path"], content=body, headers=headers)
                response = await transport.handle_async_request(request)
                try:
                    kind = response.headers.get("content-type", "text/event-stream").encode()
                    await send({"type": "http.response.start", "status": response.status_code, "headers": [(b"content-type", kind)]})
                    async for chunk in response.stream:  # type: ignore[union-attr]
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finally:
                    await response.aclose()
                await send({"type": "http.response.body", "body": b"", "more_body": False})

            async def stop_on_eof() -> None:
                await trio.to_thread.run_sync(sys.stdin.read)
                stop.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(stop_on_eof)
                print(listener.getsockname()[1], flush=True)
                await hypercorn.trio.serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    trio.run(main)


async def _stop_child(child: Child) -> None:
    assert child.process.stdin is not None
    child.process.stdin.close()
    await trio.to_thread.run_sync(child.process.wait, 10)


# --------------------------------------------------------------------------- measuring


@dataclass
class Target:
    """One way of asking for an answer: URL, body, headers, and whether it speaks Responses."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str]
    codex: bool
    child: Child | None = None  # the proxy answering, if any
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # the proxy's CPU seconds per request


def _is_text(line: bytes, codex: bool) -> bool:
    if codex:
        return line.startswith(b"event: response.output_text.delta") or line.startswith(
            b"event: response.reasoning_summary_text.delta"
        )
    return line.startswith(b"data: {") and (b'"content":"' in line or b'"reasoning_content":"' in line)


async def _first_text(client: httpx.AsyncClient, target: Target) -> float:
    """Seconds from sending to the first text delta (the whole answer is read)."""
    start = time.perf_counter()
    first = None
    buffer = b""
    headers = {**target.headers, "Content-Type": "application/json"}
    async with client.stream("POST", target.url, content=target.body, headers=headers) as response:
        response.raise_for_status()
        async for raw in response.aiter_raw():
            if first is None:
                buffer += raw
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                if any(_is_text(line, target.codex) for line in lines):
                    first = time.perf_counter() - start
    if first is None:
        raise RuntimeError(f"{target.name}: no text in the answer")
    return first


async def _series(client: httpx.AsyncClient, targets: list[Target], kind: str, rounds: int) -> None:
    """ROUNDS rounds of one request per target, in a fresh order each round, each after the
    series' idle gap; a proxy's CPU time per request is noted too (robust on a busy machine)."""
    gap = SERIES[kind]
    for target in targets:  # warm connections and caches
        for _ in range(5):
            await _first_text(client, target)
    for _ in range(rounds):
        order = random.sample(targets, len(targets))
        for target in order:
            if gap:
                await trio.sleep(gap)
            before = target.child.cpu_seconds() if target.child else 0.0
            target.samples.setdefault(kind, []).append(await _first_text(client, target))
            if target.child:
                target.cpu.setdefault(kind, []).append(target.child.cpu_seconds() - before)


async def _throughput(client: httpx.AsyncClient, target: Target, chunks: int) -> float:
    start = time.perf_counter()
    seen = 0
    marker = b"event: response.output_text.delta" if target.codex else b'"content":"x"'
    headers = {**target.headers, "Content-Type": "application/json"}
    async with client.stream("POST", target.url, content=target.body, headers=headers) as response:
        tail = b""
        async for raw in response.aiter_raw():
            window = tail + raw  # a marker may be split between two reads
            seen += window.count(marker)
            tail = window[-(len(marker) - 1):]
            seen -= tail.count(marker)  # counted again with the next read
    elapsed = time.perf_counter() - start
    if seen != chunks:
        raise RuntimeError(f"{target.name}: expected {chunks} text chunks, got {seen}")
    return chunks / elapsed


async def _soak(client: httpx.AsyncClient, target: Target, n: int, concurrency: int = 50) -> None:
    """N requests from CONCURRENCY clients at once (as many as sub-agents make)."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await _first_text(client, target)

    async with trio.open_nursery() as nursery:
        for i in range(concurrency):
            nursery.start_soon(worker, n // concurrency + (1 if i < n % concurrency else 0))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- the run


def _targets(mock: Child, children: list[Child], codex: dict[str, Any], relay: Child) -> dict[str, list[Target]]:
    """Per body size, every way of asking for its answer (`_paths`)."""
    tiny_codex = {
        "model": "glm-5.1",
        "stream": True,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}],
    }
    bodies = {"tiny": tiny_codex, "39 KB": codex}
    return {size: _paths(mock, children, relay, body) for size, body in bodies.items()}


def _paths(mock: Child, children: list[Child], relay: Child, codex: dict[str, Any]) -> list[Target]:
    """The direct floor first, then each proxy's /v1/responses, then the bare relay, for one Codex body."""
    chat, floor_auth = _encode(chat_body(codex)), {"Authorization": f"Bearer {DEFAULT_KEY}"}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    return [
        Target("direct", mock.url + CODING_PATH + "/chat/completions", chat, floor_auth, False),
        *(Target(child.name, child.url + "/v1/responses", _encode(codex), auth, True, child) for child in children),
        Target(RELAY, relay.url + CODING_PATH + "/chat/completions", chat, floor_auth, False, relay),
    ]


async def _run(args: argparse.Namespace) -> int:
    checkouts = [("codexglm", ROOT)] + [(f"@{Path(path).name}", Path(path).resolve()) for path in args.against]
    with tempfile.TemporaryDirectory(prefix="codexglm-bench-") as logs:
        mock = await _start_child("mock", [sys.executable, __file__, "--mock-child", str(args.chunks)], ROOT)
        relay = await _start_child(RELAY, [sys.executable, __file__, "--relay-child", mock.url], ROOT)
        children = []
        try:
            for index, (name, checkout) in enumerate(checkouts):
                upstream = mock.url + CODING_PATH
                children.append(await _start_proxy(name, checkout, upstream, f"{logs}/{index}"))
            return await _measure(args, mock, children, relay)
        finally:
            for child in [*children, relay, mock]:
                await _stop_child(child)


async def _measure(args: argparse.Namespace, mock: Child, children: list[Child], relay: Child) -> int:
    codex = codex_body()
    by_size = _targets(mock, children, codex, relay)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    long_codex = {**codex, "input": [*codex["input"][:-1], _user(LONG_MARKER)]}
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for kind in SERIES:
            rounds = getattr(args, kind)
            if rounds:
                for targets in by_size.values():
                    await _series(client, targets, kind, rounds)
        streams = _paths(mock, children, relay, long_codex)
        rates, cpu = {}, {}
        for target in streams:
            child = target.child
            before = child.cpu_seconds() if child else 0.0
            rates[target.name] = await _throughput(client, target, args.chunks)
            if child:
                cpu[target.name] = (child.cpu_seconds() - before) / args.chunks
        memory = []
        for child in children:
            rss, fds = child.rss_mb(), child.fds()
            await _soak(client, by_size["39 KB"][children.index(child) + 1], args.soak)
            memory.append((child.name, rss, child.rss_mb(), fds, child.fds()))
    return _report(args, by_size, rates, cpu, memory, len(_encode(codex)))


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _report(
    args: argparse.Namespace,
    by_size: dict[str, list[Target]],
    rates: dict[str, float],
    cpu: dict[str, float],
    memory: list[tuple[str, float, float, int, int]],
    codex_bytes: int,
) -> int:
    print(f"\ntime to first text, ms, p50 / p99 (added p50 over the direct floor; {codex_bytes:,}-byte Codex body)")
    print(f"{'body':<6} {'series':<6} {'path':<16} {'p50':>8} {'p99':>8} {'added':>8} {'ratio':>6} {'CPU/request':>12}")
    added: dict[tuple[str, str, str], float] = {}
    for size, targets in by_size.items():
        for kind in SERIES:
            floor = targets[0].samples.get(kind)
            if not floor:
                continue
            base = _pct(floor, 0.5)
            for target in targets:
                values = target.samples[kind]
                p50 = _pct(values, 0.5)
                extra = "" if target is targets[0] else f"{p50 - base:+8.2f} {p50 / base:5.2f}x"
                if target.cpu.get(kind):
                    extra += f" {sum(target.cpu[kind]) / len(target.cpu[kind]) * 1000:9.2f} ms"
                if target is not targets[0]:
                    added[(size, kind, target.name)] = p50 - base
                print(f"{size:<6} {kind:<6} {target.name:<16} {p50:8.2f} {_pct(values, 0.99):8.2f} {extra}")
    print("\nadded p50 over the floor, codexglm against the bare relay (the libraries' own share):")
    for size in by_size:
        for kind in SERIES:
            if (size, kind, "codexglm") in added:
                stack, ours = added[(size, kind, RELAY)], added[(size, kind, "codexglm")]
                print(f"  {size:<6} {kind:<6} codexglm {ours:+6.2f} ms, bare relay {stack:+6.2f} ms, codexglm's own {ours - stack:+6.2f} ms")
    direct_rate = rates["direct"]
    print(f"\none {args.chunks}-chunk stream: direct {direct_rate:,.0f} chunks/s")
    for name, rate in rates.items():
        if name != "direct":
            print(f"  {name:<16} {rate:10,.0f} chunks/s ({rate / direct_rate:.2f}x direct), "
                  f"CPU {cpu[name] * 1e6:6.1f} us/chunk")
    ours = cpu["codexglm"]
    for name, value in cpu.items():
        if name not in ("codexglm", RELAY):
            print(f"  CPU per chunk, codexglm vs {name}: {value / ours:.2f}x lower")
    print(f"  CPU per chunk, codexglm over the bare relay: {(ours - cpu[RELAY]) * 1e6:+.1f} us ({ours / cpu[RELAY]:.2f}x)")
    for name, before, after, fds_before, fds_after in memory:
        print(f"{name} RSS {before:.1f} MB, {after:.1f} MB after a {args.soak}-request soak; "
              f"descriptors {fds_before} -> {fds_after}")
    ours = {key: value for key, value in added.items() if key[2] == "codexglm" and key[0] == "39 KB"}
    latency_ok = all(value <= 2.0 for (size, kind, _), value in ours.items() if kind in ("warm", "paced"))
    rate_ok = rates["codexglm"] / direct_rate >= 0.7
    memory_ok = all(after < 80 for name, _, after, _, _ in memory if name == "codexglm")
    print(
        "\ntargets: 39 KB first text within +2 ms warm and paced "
        + ", ".join(f"{kind} {value:+.2f}" for (_, kind, _), value in ours.items())
        + f" {'met' if latency_ok else 'NOT met'}; long stream >= 0.7x "
        f"{'met' if rate_ok else 'NOT met'}; RSS < 80 MB {'met' if memory_ok else 'NOT met'}"
    )
    return 0 if latency_ok and rate_ok and memory_ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm", type=int, default=300, help="rounds of the warm series (default 300)")
    parser.add_argument("--paced", type=int, default=60, help="rounds of the 0.2 s paced series (default 60)")
    parser.add_argument("--cold", type=int, default=12, help="rounds of the 1.5 s cold series (default 12)")
    parser.add_argument("--soak", type=int, default=1000, help="requests in the RSS soak (default 1000)")
    parser.add_argument("--chunks", type=int, default=20000, help="text chunks in the long stream (default 20000)")
    parser.add_argument("--against", action="append", default=[], metavar="CHECKOUT",
                        help="also measure the proxy of another codexglm checkout (repeatable)")
    parser.add_argument("--mock-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--relay-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mock_child is not None:
        _mock_child(args.mock_child)
        return
    if args.relay_child is not None:
        _relay_child(args.relay_child)
        return
    sys.exit(trio.run(_run, args))


if __name__ == "__main__":
    main()
