"""Upstream attempts: retries with backoff, key rotation, endpoint switching, limits.

Driven through httpx.MockTransport on trio's virtual clock (pytest-trio's
`autojump_clock`), so backoff waits cost no real time and can be checked exactly.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from trio.testing import MockClock

from codexglm.server.upstream import Upstream, UpstreamFailure
from tests.server_support import (
    CODING,
    GENERAL,
    KEY,
    KEY2,
    Script,
    glm_error,
    glm_stream,
    http_response,
    make_settings,
    sse_response,
)

PAYLOAD = json.dumps({"model": "glm-5.1", "messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()


def _ok() -> httpx.Response:
    return sse_response(glm_stream())


def _balance() -> httpx.Response:
    return glm_error(429, "1113", "Insufficient balance or no resource package. Please recharge.")


def _upstream(tmp_path: Path, script: Script, **overrides: object) -> Upstream:
    return Upstream(make_settings(tmp_path, **overrides), transport=script.transport)


async def _open(upstream: Upstream) -> tuple[int, float]:
    """Open one streamed call; (attempts, virtual seconds it took)."""
    start = trio.current_time()
    async with upstream.call("/chat/completions", PAYLOAD, stream=True) as call:
        response = await call.open()
        assert response.status_code == 200
        return call.stats.attempts, trio.current_time() - start


async def test_transient_failures_are_retried_with_growing_backoff(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(
        glm_error(429, "1305", "The service may be temporarily overloaded"),
        http_response(502, b"<html><title>Bad Gateway</title></html>"),
        httpx.ConnectError("connection refused"),
        _ok(),
    )
    attempts, elapsed = await _open(_upstream(tmp_path, script))
    assert attempts == 4
    # Jittered 0.5 * 2^(n-1) * [0.5, 1]: at least 0.25 + 0.5 + 1.0, at most 0.5 + 1 + 2.
    assert 1.75 <= elapsed <= 3.5
    assert script.urls == [CODING + "/chat/completions"] * 4


async def test_retry_after_header_sets_the_wait(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(glm_error(503, "500", "busy", headers={"Retry-After": "7"}), _ok())
    attempts, elapsed = await _open(_upstream(tmp_path, script))
    assert attempts == 2
    assert 7.0 <= elapsed <= 7.7


async def test_rate_limit_gives_up_after_max_attempts_with_a_retry_hint(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    script = Script(*(glm_error(429, "1302", "Rate limit reached for requests") for _ in range(10)))
    upstream = _upstream(tmp_path, script, max_attempts=3)
    with pytest.raises(UpstreamFailure) as failure:
        await _open(upstream)
    assert len(script.requests) == 3
    error = failure.value.error
    assert error.codex_code == "rate_limit_exceeded"
    assert "Please try again in" in error.message
    assert upstream.limiter.borrowed_tokens == 0


async def test_total_retry_time_is_bounded_by_the_budget(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(*(glm_error(503, "500", "busy", headers={"Retry-After": "20"}) for _ in range(5)))
    with pytest.raises(UpstreamFailure):
        await _open(_upstream(tmp_path, script, retry_budget=30.0))
    # The second wait of ~20 s would exceed the 30 s budget: two attempts, no third.
    assert len(script.requests) == 2


async def test_fatal_errors_are_not_retried(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(glm_error(400, "1214", "Incorrect role information"), _ok())
    with pytest.raises(UpstreamFailure) as failure:
        await _open(_upstream(tmp_path, script))
    assert len(script.requests) == 1
    assert failure.value.error.http_status == 400
    assert "1214" in failure.value.error.message


async def test_auth_failure_rotates_keys_and_cools_the_bad_one(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(glm_error(401, "1002", "Authorization Token is invalid"), _ok(), _ok())
    upstream = _upstream(tmp_path, script, api_keys=(KEY, KEY2))
    attempts, elapsed = await _open(upstream)
    assert (attempts, elapsed) == (2, 0)
    await _open(upstream)  # the next request starts on the healthy key
    assert script.keys == [KEY, KEY2, KEY2]
    assert upstream.keys.cooling() == 1


async def test_rate_limited_key_hands_over_without_waiting(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(glm_error(429, "1302", "Rate limit reached for requests"), _ok())
    attempts, elapsed = await _open(_upstream(tmp_path, script, api_keys=(KEY, KEY2)))
    assert (attempts, elapsed) == (2, 0)
    assert script.keys == [KEY, KEY2]


async def test_every_key_rejected_is_reported_not_retried(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(*(glm_error(401, "1002", f"Authorization Token is invalid: Bearer {KEY}") for _ in range(4)))
    with pytest.raises(UpstreamFailure) as failure:
        await _open(_upstream(tmp_path, script, api_keys=(KEY, KEY2)))
    assert len(script.requests) == 2
    error = failure.value.error
    assert error.http_status == 401 and KEY not in error.message and KEY not in json.dumps(error.to_error_body())


@pytest.mark.parametrize(
    "safe", [{"key_type": "standard"}, {"key_type": "coding-plan"}, {"key_type": "team-plan"}, {"paid_fallback": True}]
)
async def test_auto_mode_switches_endpoint_on_1113_and_remembers(
    tmp_path: Path, autojump_clock: MockClock, safe: dict[str, Any]
) -> None:
    # Allowed: the general path bills the plan (plan keys), the request already spends cash
    # (Standard keys bill cash everywhere), or the user opted in.
    script = Script(_balance(), _ok(), _ok())
    upstream = _upstream(tmp_path, script, endpoint_mode="auto", **safe)
    assert (await _open(upstream))[0] == 2
    await _open(upstream)
    assert script.urls == [CODING + "/chat/completions", GENERAL + "/chat/completions", GENERAL + "/chat/completions"]


@pytest.mark.parametrize("key_type", ["compatible", "unknown"])
async def test_auto_mode_never_falls_back_onto_a_path_that_spends_cash(
    tmp_path: Path, autojump_clock: MockClock, key_type: str
) -> None:
    # A Compatible key (or one whose type is not known) pays with plan quota on the Coding
    # Plan path and with cash on the general path: a 1113 must not move it there.
    script = Script(_balance(), _ok())
    with pytest.raises(UpstreamFailure) as failure:
        await _open(_upstream(tmp_path, script, endpoint_mode="auto", key_type=key_type))
    assert script.urls == [CODING + "/chat/completions"]
    message = failure.value.error.message
    assert "GLM 1113" in message and "spends your cash balance" in message
    assert "codexglm login" in message and "paid_fallback true" in message


async def test_auto_mode_gives_up_when_both_endpoints_refuse(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(_balance(), _balance(), _ok())
    with pytest.raises(UpstreamFailure) as failure:
        await _open(_upstream(tmp_path, script, endpoint_mode="auto", key_type="coding-plan"))
    assert len(script.requests) == 2
    assert "endpoint mode" in failure.value.error.message


@pytest.mark.parametrize(("mode", "url"), [("coding-only", CODING), ("base-only", GENERAL)])
async def test_fixed_modes_use_one_endpoint_and_report_1113(tmp_path: Path, mode: str, url: str) -> None:
    script = Script(_balance())
    with pytest.raises(UpstreamFailure) as failure:
        await _open(_upstream(tmp_path, script, endpoint_mode=mode))
    assert script.urls == [url + "/chat/completions"]
    assert failure.value.error.glm_code == "1113"


async def test_no_key_fails_without_calling_upstream(tmp_path: Path) -> None:
    script = Script()
    with pytest.raises(UpstreamFailure) as failure:
        await _open(_upstream(tmp_path, script, api_keys=()))
    assert script.requests == []
    assert "ZAI_API_KEY" in failure.value.error.message


async def test_requests_carry_the_key_and_the_exact_body(tmp_path: Path) -> None:
    script = Script()
    await _open(_upstream(tmp_path, script))
    request = script.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert request.content == PAYLOAD


async def test_non_streaming_in_body_errors_are_retried(tmp_path: Path, autojump_clock: MockClock) -> None:
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
    script = Script(
        http_response(200, {"error": {"code": "1305", "message": "overloaded"}}),
        http_response(200, b"not json"),
        http_response(200, completion),
    )
    upstream = _upstream(tmp_path, script)
    async with upstream.call("/chat/completions", PAYLOAD, stream=False) as call:
        assert await call.json() == completion
        assert call.stats.attempts == 3
    assert script.requests[0].headers["accept"] == "application/json"


async def test_concurrency_is_bounded_by_the_limiter(tmp_path: Path) -> None:
    upstream = _upstream(tmp_path, Script(), max_concurrency=2)
    opened: list[str] = []

    async def hold(name: str, release: trio.Event) -> None:
        async with upstream.call("/chat/completions", PAYLOAD, stream=True) as call:
            await call.open()
            opened.append(name)
            await release.wait()

    releases = [trio.Event() for _ in range(3)]
    async with trio.open_nursery() as nursery:
        for i, release in enumerate(releases):
            nursery.start_soon(hold, f"c{i}", release)
        await trio.testing.wait_all_tasks_blocked()
        assert len(opened) == 2 and upstream.limiter.statistics().tasks_waiting == 1
        releases[int(opened[0][1])].set()
        await trio.testing.wait_all_tasks_blocked()
        assert len(opened) == 3
        for release in releases:
            release.set()
    assert upstream.limiter.borrowed_tokens == 0
    await upstream.aclose()


async def test_a_proxy_from_the_environment_carries_the_upstream_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hot path skips httpx's client layers but keeps its choice of transport.
    seen: list[bytes] = []

    async def proxy_server(stream: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(65536)
        seen.append(head.split(b"\r\n", 1)[0])
        body = b"data: [DONE]\n\n"
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, proxy_server, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        upstream = Upstream(make_settings(tmp_path, coding_base_url="http://glm.invalid/api/coding/paas/v4"))
        try:
            async with upstream.call("/chat/completions", PAYLOAD, stream=True) as call:
                response = await call.open()
                assert response.status_code == 200
        finally:
            await upstream.aclose()
        nursery.cancel_scope.cancel()
    assert seen == [b"POST http://glm.invalid/api/coding/paas/v4/chat/completions HTTP/1.1"]


async def test_on_sent_is_told_once_the_request_is_written_before_the_answer(tmp_path: Path) -> None:
    # A real connection: the notice comes from httpcore's trace hook, which a mock transport lacks.
    answer = trio.Event()
    received: list[bytes] = []

    async def server(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < len(PAYLOAD):
            data += await stream.receive_some(65536)
        received.append(data.split(b"\r\n\r\n", 1)[1])
        await answer.wait()
        body = b"data: [DONE]\n\n"
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await stream.aclose()

    told: list[bool] = []  # whether the answer had been sent when on_sent was called

    def on_sent() -> None:
        told.append(answer.is_set())
        answer.set()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, server, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        upstream = Upstream(make_settings(tmp_path, coding_base_url=f"http://127.0.0.1:{port}/api/coding/paas/v4"))
        try:
            with trio.fail_after(10):
                async with upstream.call("/chat/completions", PAYLOAD, stream=True, on_sent=on_sent) as call:
                    response = await call.open()
                    assert response.status_code == 200
        finally:
            await upstream.aclose()
        nursery.cancel_scope.cancel()
    assert told == [False] and received == [PAYLOAD]
