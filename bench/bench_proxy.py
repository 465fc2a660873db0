"""Benchmark: what the proxy adds to latency, its streaming throughput and its memory.

Runs the mock GLM server in this process and the proxy in a child process (so its RSS is
its own), then measures over loopback:

* time to first byte (TTFB), time to first token (TTFT) and total time per request,
  p50/p99 over --requests sequential streamed requests, for
  - direct:      client -> mock GLM  /chat/completions
  - passthrough: client -> proxy /v1/chat/completions -> mock   (same bytes, apples to apples)
  - responses:   client -> proxy /v1/responses -> mock          (the Codex path, translated)
* throughput of one long stream (chunks/s), direct and through /v1/responses;
* the proxy's RSS after a soak of --soak requests.

    .venv/bin/python bench/bench_proxy.py [--requests 500] [--soak 2000] [--chunks 20000]

Targets: p50 added TTFB under 2 ms (for /v1/responses the first *token*: its first byte,
`response.created`, goes out before GLM is even called); RSS under 80 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codexglm.settings import Settings  # noqa: E402
from tests.mockglm import DEFAULT_KEY, MockGLM, Stream, text_reply  # noqa: E402

TOKEN = "bench-proxy-token"
LONG_MARKER = "[long stream]"
PROMPT = [{"role": "user", "content": "Say hello."}]
CODEX_INPUT = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}]


@dataclass
class Timing:
    ttfb: float
    ttft: float
    total: float


def _reply_for(chunks: int) -> Callable[[dict[str, Any]], Stream]:
    long_text = "x" * chunks

    def reply(body: dict[str, Any]) -> Stream:
        last = body["messages"][-1].get("content")
        if isinstance(last, str) and LONG_MARKER in last:
            return text_reply(long_text, chunk_size=1)
        return text_reply("Hello! This is the mock GLM server.", reasoning="A greeting.")

    return reply


# --------------------------------------------------------------------------- the proxy child


def _child(config: str) -> None:
    """Run the proxy (child process mode): print the port, serve until stdin closes."""
    from codexglm.server import serve

    options = json.loads(config)
    settings = Settings(api_keys=(DEFAULT_KEY,), coding_base_url=options["upstream"], log_dir=options["log_dir"])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            _, port = await nursery.start(serve, settings, TOKEN)
            print(port, flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)  # the parent closes stdin to stop us
            nursery.cancel_scope.cancel()

    trio.run(main)


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- measuring


def _is_token(line: bytes, codex: bool) -> bool:
    if codex:
        return line.startswith(b"event: response.output_text.delta") or line.startswith(
            b"event: response.reasoning_summary_text.delta"
        )
    return (
        line.startswith(b"data: {") and b'"delta"' in line and (b'"content"' in line or b'"reasoning_content"' in line)
    )


async def _timed(client: httpx.AsyncClient, url: str, body: dict, headers: dict, codex: bool) -> Timing:
    start = time.perf_counter()
    ttfb = ttft = None
    buffer = b""
    async with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        async for raw in response.aiter_raw():
            now = time.perf_counter()
            if ttfb is None:
                ttfb = now - start
            if ttft is None:
                buffer += raw
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                if any(_is_token(line, codex) for line in lines):
                    ttft = now - start
    total = time.perf_counter() - start
    return Timing(ttfb or total, ttft or total, total)


async def _series(client: httpx.AsyncClient, target: tuple, n: int) -> list[Timing]:
    url, body, headers, codex = target
    for _ in range(20):  # warm up connections and caches
        await _timed(client, url, body, headers, codex)
    return [await _timed(client, url, body, headers, codex) for _ in range(n)]


async def _throughput(client: httpx.AsyncClient, target: tuple, chunks: int) -> float:
    url, body, headers, codex = target
    start = time.perf_counter()
    seen = 0
    marker = b"event: response.output_text.delta" if codex else b'"content":"x"'
    async with client.stream("POST", url, json=body, headers=headers) as response:
        async for raw in response.aiter_raw():
            seen += raw.count(marker)
    elapsed = time.perf_counter() - start
    if seen != chunks:
        raise RuntimeError(f"expected {chunks} text chunks, got {seen}")
    return chunks / elapsed


async def _soak(client: httpx.AsyncClient, target: tuple, n: int, concurrency: int = 50) -> None:
    """N requests from CONCURRENCY clients at once (as many as sub-agents make)."""
    url, body, headers, codex = target

    async def worker(count: int) -> None:
        for _ in range(count):
            await _timed(client, url, body, headers, codex)

    async with trio.open_nursery() as nursery:
        for i in range(concurrency):
            nursery.start_soon(worker, n // concurrency + (1 if i < n % concurrency else 0))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _row(name: str, timings: list[Timing], base: list[Timing] | None) -> str:
    cells = [name]
    for attr in ("ttfb", "ttft", "total"):
        values = [getattr(t, attr) for t in timings]
        p50, p99 = _pct(values, 0.5), _pct(values, 0.99)
        cell = f"{p50:7.2f} / {p99:7.2f}"
        if base is not None:
            b50 = _pct([getattr(t, attr) for t in base], 0.5)
            cell += f"  (+{p50 - b50:5.2f}, x{p50 / b50:4.2f})"
        cells.append(cell)
    return " | ".join(f"{c:<34}" if i else f"{c:<12}" for i, c in enumerate(cells))


async def _run(args: argparse.Namespace) -> int:
    mock = MockGLM(handler=_reply_for(args.chunks))
    with tempfile.TemporaryDirectory(prefix="codexglm-bench-") as logs:
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.serve)
            config = json.dumps({"upstream": mock.coding_url, "log_dir": logs})
            child = subprocess.Popen(
                [sys.executable, __file__, "--child", config], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            try:
                assert child.stdout is not None
                port = int(await trio.to_thread.run_sync(child.stdout.readline))
                code = await _measure(args, mock, port, child.pid)
            finally:
                assert child.stdin is not None
                child.stdin.close()
                await trio.to_thread.run_sync(child.wait, 10)
            nursery.cancel_scope.cancel()
    return code


async def _measure(args: argparse.Namespace, mock: MockGLM, port: int, pid: int) -> int:
    proxy = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    direct = (
        mock.coding_url + "/chat/completions",
        {"model": "glm-5.1", "messages": PROMPT, "stream": True},
        {"Authorization": f"Bearer {DEFAULT_KEY}"},
        False,
    )
    passthrough = (
        proxy + "/v1/chat/completions",
        {"model": "glm-5.1", "messages": PROMPT, "stream": True},
        auth,
        False,
    )
    responses = (proxy + "/v1/responses", {"model": "glm-5.1", "input": CODEX_INPUT, "stream": True}, auth, True)
    long_prompt = [{"role": "user", "content": LONG_MARKER}]
    long_input = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": LONG_MARKER}]}]

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        base = await _series(client, direct, args.requests)
        through = await _series(client, passthrough, args.requests)
        translated = await _series(client, responses, args.requests)
        direct_rate = await _throughput(
            client, (direct[0], {**direct[1], "messages": long_prompt}, direct[2], False), args.chunks
        )
        proxy_rate = await _throughput(
            client, (responses[0], {**responses[1], "input": long_input}, auth, True), args.chunks
        )
        rss_before = _rss_mb(pid)
        fds_before = _fds(pid)
        await _soak(client, responses, args.soak)
        rss_after = _rss_mb(pid)
        fds_after = _fds(pid)

    print(
        f"\n{args.requests} sequential streamed requests each; milliseconds, p50 / p99 "
        "(added p50 and ratio vs direct)\n"
    )
    print(f"{'path':<12} | {'TTFB':<34} | {'TTFT':<34} | {'total':<34}")
    print("-" * 124)
    print(_row("direct", base, None))
    print(_row("passthrough", through, base))
    print(_row("responses", translated, base))
    # Worst of: pass-through first byte, and the first token on the Codex path (its first
    # byte, `response.created`, does not wait for GLM and would flatter the proxy).
    added = max(
        _pct([t.ttfb for t in through], 0.5) - _pct([t.ttfb for t in base], 0.5),
        _pct([t.ttft for t in translated], 0.5) - _pct([t.ttft for t in base], 0.5),
    )
    print(
        f"\nthroughput, one {args.chunks}-chunk stream: direct {direct_rate:,.0f} chunks/s, "
        f"through /v1/responses {proxy_rate:,.0f} chunks/s ({proxy_rate / direct_rate:.2f}x)"
    )
    print(f"proxy RSS: {rss_before:.1f} MB before, {rss_after:.1f} MB after a {args.soak}-request soak "
          f"({rss_after / rss_before:.2f}x); open descriptors {fds_before} -> {fds_after}")
    ok = added < 2.0 and rss_after < 80
    print(
        f"\ntargets: added p50 latency to GLM's first byte {added:.2f} ms (< 2 ms), "
        f"RSS {rss_after:.1f} MB (< 80 MB): "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per latency series (default 500)")
    parser.add_argument("--soak", type=int, default=2000, help="requests in the RSS soak (default 2000)")
    parser.add_argument("--chunks", type=int, default=20000, help="text chunks in the long stream (default 20000)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    sys.exit(trio.run(_run, args))


if __name__ == "__main__":
    main()
