"""The real proxy on hypercorn, on a loopback port, against the strict mock GLM server.

Fault injection comes from the mock (429s with GLM codes, slow first byte, hangs,
mid-stream disconnects, merged frames, in-stream error frames).  These tests use the real
clock (sockets and a virtual clock do not mix); every wait is bounded.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from codexglm.server import app as app_module
from codexglm.server import serve
from codexglm.server.hosting import GRACEFUL_TIMEOUT, SHUTDOWN_BOUND
from codexglm.server.reqlog import SERVER_LOG_NAME, log_path
from codexglm.server.upstream import raw_chunks
from tests.mockglm import DEFAULT_KEY, Hang, InStreamError, MockGLM, Stream, open_mock_glm, overloaded, quota_data, text_reply
from tests.server_support import AUTH, TOKEN, codex_body, mock_settings, running_proxy, sse_events, stoppable_proxy, types

_settings = mock_settings


@asynccontextmanager
async def _proxy(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[MockGLM, httpx.AsyncClient]]:
    async with open_mock_glm() as mock:
        async with running_proxy(_settings(mock, tmp_path, **overrides)) as url:
            async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
                yield mock, client


async def _stream(client: httpx.AsyncClient, body: dict | None = None) -> list[dict]:
    with trio.fail_after(20):
        response = await client.post("/v1/responses", json=body or codex_body())
    assert response.status_code == 200
    return sse_events(response.content)


def _text(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def _error(events: list[dict]) -> dict:
    assert types(events)[-1] == "response.failed", types(events)
    return events[-1]["response"]["error"]


# --------------------------------------------------------------------------- basics


async def test_streams_a_translated_answer_over_a_real_socket(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.enqueue(text_reply("Hello from GLM.", reasoning="Think first."))
        events = await _stream(client)
        assert _text(events) == "Hello from GLM."
        assert types(events)[-1] == "response.completed"
        request = mock.chat_requests[0]
        assert request.path.endswith("/api/coding/paas/v4/chat/completions") and request.key == DEFAULT_KEY


async def test_upstream_connections_are_reused(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        for _ in range(5):
            assert types(await _stream(client))[-1] == "response.completed"
        await client.post("/v1/responses", json=codex_body(stream=False))
        body = {"model": "glm-5.1", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        await client.post("/v1/chat/completions", json=body)
        assert len(mock.chat_requests) == 7
        # One keep-alive connection for all chat requests (no handshake per request), plus
        # at most one for the background quota fetch that ran alongside the first.
        assert mock.connections <= 2


async def test_dns_rebinding_host_is_refused_on_the_wire(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        port = client.base_url.port
        for host, status in [(f"localhost:{port}", 200), (f"127.0.0.1:{port}", 200), (f"attacker.example:{port}", 403)]:
            response = await client.get("/v1/models", headers={"Host": host})
            assert response.status_code == status, host
        assert [r.path for r in mock.requests if r.path.endswith("/chat/completions")] == []


async def test_serves_on_a_socket_it_is_given_and_leaves_it_open(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    try:
        async with open_mock_glm() as mock:
            async with running_proxy(_settings(mock, tmp_path), sock=listener) as url:
                assert url.endswith(f":{listener.getsockname()[1]}")
                async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
                    assert types(await _stream(client))[-1] == "response.completed"
        assert listener.fileno() != -1
    finally:
        listener.close()


async def test_nothing_reaches_the_terminal_and_tracebacks_go_to_server_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(body: object, options: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(app_module, "build_chat_request", explode)
    async with _proxy(tmp_path) as (_, client):
        response = await client.post("/v1/responses", json=codex_body())
        assert response.status_code == 500
        await client.get("/nowhere")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert "RuntimeError: unexpected" in (tmp_path / "logs" / SERVER_LOG_NAME).read_text()


# --------------------------------------------------------------------------- fault injection


async def test_glm_overload_before_the_answer_is_absorbed(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.fail_next(2, overloaded())
        events = await _stream(client)
        assert types(events)[-1] == "response.completed"
        assert len(mock.chat_requests) == 3


@pytest.mark.parametrize(
    "reply",
    [
        Stream(text_reply("Merged frames survive.").chunks, merge_frames=True),
        Stream(text_reply("Split frames survive.").chunks, split_bytes=7),
        Stream(text_reply("Trailing usage works.").chunks, trailing_usage_chunk=True),
    ],
    ids=["merged", "split", "trailing-usage"],
)
async def test_framing_quirks_are_repaired(tmp_path: Path, reply: Stream) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.enqueue(reply)
        events = await _stream(client)
        assert _text(events).endswith("survive.") or _text(events) == "Trailing usage works."
        assert types(events)[-1] == "response.completed"
        assert events[-1]["response"]["usage"]["input_tokens"] > 0


async def test_in_stream_error_before_output_is_retried(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.enqueue(
            InStreamError("1305", "The service may be temporarily overloaded"), text_reply("Second time lucky.")
        )
        events = await _stream(client)
        assert _text(events) == "Second time lucky." and len(mock.chat_requests) == 2


async def test_in_stream_error_after_output_fails_cleanly(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.enqueue(
            InStreamError("1234", "Network error, error id: 42", after_chunks=text_reply("Partial").chunks[:1])
        )
        events = await _stream(client)
        error = _error(events)
        assert error["code"] == "server_error" and "1234" in error["message"]
        assert "response.output_item.done" not in types(events)


async def test_mid_stream_disconnect_after_output_fails_cleanly(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        reply = text_reply("A long answer that gets cut off somewhere.")
        reply.disconnect_after = 3
        mock.enqueue(reply)
        events = await _stream(client)
        assert _error(events)["code"] == "server_error"
        assert len(mock.chat_requests) == 1


async def test_disconnect_before_output_is_retried(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        reply = text_reply("Lost.")
        reply.disconnect_after = 0
        mock.enqueue(reply, text_reply("Found."))
        assert _text(await _stream(client)) == "Found."


async def test_hung_upstream_times_out_and_is_retried(tmp_path: Path) -> None:
    async with _proxy(tmp_path, read_timeout=0.3) as (mock, client):
        mock.enqueue(Hang(5.0), text_reply("After the hang."))
        assert _text(await _stream(client)) == "After the hang."


async def test_slow_first_byte_gets_real_keepalive_events(tmp_path: Path) -> None:
    async with _proxy(tmp_path, keepalive_interval=0.05) as (mock, client):
        reply = text_reply("Thought long.")
        reply.first_byte_delay = 0.4
        mock.enqueue(reply)
        events = await _stream(client)
        assert types(events).count("response.in_progress") >= 3
        assert types(events)[-1] == "response.completed"


async def test_auto_mode_finds_the_endpoint_matching_the_key_plan(tmp_path: Path) -> None:
    async with open_mock_glm(keys={DEFAULT_KEY: {"general"}}) as mock:
        async with running_proxy(_settings(mock, tmp_path, endpoint_mode="auto", key_type="standard")) as url:
            async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
                assert types(await _stream(client))[-1] == "response.completed"
                assert types(await _stream(client))[-1] == "response.completed"
        paths = [r.path.rsplit("/api/", 1)[1] for r in mock.chat_requests]
        assert paths == ["coding/paas/v4/chat/completions", "paas/v4/chat/completions", "paas/v4/chat/completions"]


async def test_quota_exhaustion_is_shown_to_codex_not_retried(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.fail_next(
            1, InStreamError("1308", "Usage limit reached for 5 hour. Your limit will reset at 2031-01-01 00:00:00")
        )
        error = _error(await _stream(client))
        assert "2031" in error["message"] or "reset" in error["message"]
        assert len(mock.chat_requests) == 1


# --------------------------------------------------------------------------- load, leaks, lifecycle


def _echo(body: dict) -> Stream:
    prompt = body["messages"][-1]["content"]
    reply = text_reply(f"echo: {prompt}", chunk_size=4)
    reply.gap = 0.001
    return reply


async def test_fifty_concurrent_streams_all_complete_correctly(tmp_path: Path) -> None:
    async with open_mock_glm(handler=_echo) as mock:
        async with running_proxy(_settings(mock, tmp_path)) as url:
            limits = httpx.Limits(max_connections=50)
            async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30, limits=limits) as client:
                results: dict[int, list[dict]] = {}

                async def one(i: int) -> None:
                    results[i] = await _stream(client, codex_body(f"request number {i}"))

                with trio.fail_after(30):
                    async with trio.open_nursery() as nursery:
                        for i in range(50):
                            nursery.start_soon(one, i)
    for i, events in results.items():
        assert types(events)[-1] == "response.completed"
        assert _text(events) == f"echo: request number {i}"
    assert len(results) == 50


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _tasks() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(child) for nursery in task.child_nurseries for child in nursery.child_tasks)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    return count(root)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count descriptors")
@pytest.mark.slow
async def test_no_descriptors_or_tasks_leak_over_a_thousand_requests(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        before_server = _fds()
        async with running_proxy(_settings(mock, tmp_path, log_requests=False)) as url:
            limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
            async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30, limits=limits) as client:

                async def batch(total: int) -> None:
                    async def worker(n: int) -> None:
                        for k in range(n):
                            if k % 4 == 3:  # a client that walks away mid-stream
                                async with (
                                    client.stream("POST", "/v1/responses", json=codex_body()) as response,
                                    raw_chunks(response) as chunks,
                                ):
                                    await chunks.__anext__()
                            else:
                                events = sse_events((await client.post("/v1/responses", json=codex_body())).content)
                                assert types(events)[-1] == "response.completed"

                    async with trio.open_nursery() as nursery:
                        for _ in range(20):
                            nursery.start_soon(worker, total // 20)

                with trio.fail_after(60):
                    await batch(40)  # warm both connection pools
                    await trio.sleep(0.2)
                    fds, tasks = _fds(), _tasks()
                    await batch(1000)
                    await trio.sleep(0.2)
                assert _fds() <= fds + 4
                assert _tasks() <= tasks + 4
                health = (await client.get("/healthz")).json()
                assert health["requests"]["in_flight"] == 0 and health["upstream"]["in_use"] == 0
        assert _fds() <= before_server


async def test_client_walking_away_frees_the_upstream_side(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        reply = text_reply("A slow answer nobody waits for.", chunk_size=2)
        reply.gap = 0.5
        mock.enqueue(reply)
        with trio.fail_after(10):
            async with (
                client.stream("POST", "/v1/responses", json=codex_body()) as response,
                raw_chunks(response) as chunks,
            ):
                async for chunk in chunks:
                    if b"output_text.delta" in chunk:
                        break
            while (await client.get("/healthz")).json()["upstream"]["in_use"]:
                await trio.sleep(0.02)
        record = json.loads(log_path(_settings(mock, tmp_path)).read_text().splitlines()[-1])
        assert record["outcome"] == "disconnected"


async def test_client_giving_up_on_a_non_streaming_request_is_accounted_for(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        reply = text_reply("Too late.")
        reply.first_byte_delay = 2.0
        mock.enqueue(reply)
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v1/responses", json=codex_body(stream=False), timeout=0.3)
        with trio.fail_after(5):
            while (health := (await client.get("/healthz")).json())["upstream"]["in_use"]:
                await trio.sleep(0.02)
        assert health["requests"]["in_flight"] == 0
        record = json.loads(log_path(_settings(mock, tmp_path)).read_text().splitlines()[-1])
        assert record["outcome"] == "disconnected" and record["stream"] is False


async def test_cancelling_serve_ends_streams_with_a_terminal_event(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        reply = text_reply("This answer is interrupted by a shutdown.", chunk_size=2)
        reply.gap = 1.0
        mock.enqueue(reply)
        async with stoppable_proxy(_settings(mock, tmp_path)) as proxy:
            port = proxy.port
            lines: list[str] = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30) as client:
                with trio.fail_after(SHUTDOWN_BOUND + 5):
                    async with client.stream("POST", "/v1/responses", json=codex_body()) as response:
                        async for line in response.aiter_lines():
                            lines.append(line)
                            if "output_text.delta" in line and not proxy.scope.cancel_called:
                                proxy.scope.cancel()
                    await proxy.stopped.wait()
        events = sse_events("\n".join(lines).encode())
        error = _error(events)
        assert error["code"] == "server_error" and "shutting down" in error["message"]
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_idle_keep_alive_connections_do_not_hold_up_shutdown(tmp_path: Path) -> None:
    async with open_mock_glm() as mock:
        async with stoppable_proxy(_settings(mock, tmp_path)) as proxy:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", headers=AUTH) as client:
                await _stream(client)  # leaves an idle keep-alive connection, as Codex does
                proxy.scope.cancel()
                # Without the fix the idle connection is only cut at the graceful deadline.
                with trio.fail_after(GRACEFUL_TIMEOUT * 0.75):
                    await proxy.stopped.wait()


async def test_an_idle_client_connection_is_closed_and_a_slow_answer_on_it_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The keep-alive timer stops while a request is served and runs again once it is answered.
    import hypercorn.config

    monkeypatch.setattr(hypercorn.config.Config, "keep_alive_timeout", 0.4)
    body = json.dumps(codex_body()).encode()
    async with open_mock_glm() as mock:
        for _ in range(2):
            reply = text_reply("An answer slower than the keep-alive timeout.", chunk_size=10)
            reply.gap = 0.15  # five chunks: 0.75 s in all
            mock.enqueue(reply)
        async with running_proxy(_settings(mock, tmp_path)) as url:
            port = int(url.rsplit(":", 1)[1])
            request = (
                b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n" % port
                + b"Authorization: " + AUTH["Authorization"].encode()
                + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            )
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                for _ in range(2):  # the second answer shows the timer restarted, not fired, after the first
                    await stream.send_all(request)
                    received = b""
                    with trio.fail_after(10):
                        while not received.endswith(b"\r\n0\r\n\r\n"):
                            received += await stream.receive_some()
                    assert b"response.completed" in received
                    assert received.count(b"event: response.output_text.delta") == 5
                with trio.fail_after(3):  # idle now: closed after 0.4 s
                    assert await stream.receive_some() == b""


@pytest.mark.parametrize("yields", [0, 1, 5])
async def test_cancelling_serve_during_start_up_returns_promptly(tmp_path: Path, yields: int) -> None:
    # The launcher cancels the proxy as soon as codex exits, which can be before it listens.
    async with open_mock_glm() as mock:
        with trio.fail_after(2):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: serve(_settings(mock, tmp_path), TOKEN))
                for _ in range(yields):
                    await trio.sleep(0)
                nursery.cancel_scope.cancel()


async def test_coding_plan_usage_reaches_codex_as_rate_limit_headers(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.quota = quota_data(percentage=42)
        first = await client.post("/v1/responses", json=codex_body())
        assert first.status_code == 200  # the quota is fetched in the background, not waited for
        with trio.fail_after(5):
            while not any(r.path.endswith("/quota/limit") for r in mock.requests):
                await trio.sleep(0.01)
            await trio.sleep(0.05)
        second = await client.post("/v1/responses", json=codex_body())
        assert second.headers["x-codex-primary-used-percent"] == "42"
        assert second.headers["x-codex-primary-window-minutes"] == "300"
        assert int(second.headers["x-codex-primary-reset-at"]) > 0
        third = await client.post("/v1/responses", json=codex_body())
        # Refreshed at most once a minute.
        assert sum(r.path.endswith("/quota/limit") for r in mock.requests) == 1
        assert third.headers["x-codex-primary-used-percent"] == "42"


async def test_no_quota_endpoint_means_no_headers_and_no_errors(tmp_path: Path) -> None:
    async with _proxy(tmp_path) as (mock, client):
        mock.quota = None
        for _ in range(2):
            response = await client.post("/v1/responses", json=codex_body())
            assert response.status_code == 200
            assert not any(h.startswith("x-codex-") for h in response.headers)
            await trio.sleep(0.05)


async def test_a_streamed_answer_takes_few_socket_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The head goes with `response.created`, the last event with the end of the chunked
    # body, and the deltas after the first text are coalesced: not one write per event.
    writes: list[bytes] = []
    real_send_all = trio.SocketStream.send_all

    async def recording_send_all(stream: trio.SocketStream, data: bytes) -> None:
        if stream.socket.getsockname()[1] == port:  # the proxy's side of a client connection
            writes.append(bytes(data))
        await real_send_all(stream, data)

    monkeypatch.setattr(trio.SocketStream, "send_all", recording_send_all)
    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("word " * 200, reasoning="Thinking it over.", chunk_size=1))
        async with running_proxy(_settings(mock, tmp_path)) as url:
            port = int(url.rsplit(":", 1)[1])
            async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:
                events = await _stream(client)
    assert types(events)[-1] == "response.completed"
    assert writes[0].startswith(b"HTTP/1.1 200") and b"event: response.created" in writes[0]
    assert b"event: response.completed" in writes[-1] and writes[-1].endswith(b"0\r\n\r\n")
    deltas = sum(1 for e in events if e["type"].endswith(".delta"))
    assert deltas > 1000 and len(writes) < deltas / 10
