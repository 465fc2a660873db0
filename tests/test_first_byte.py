"""A GLM that takes a streamed request and then says nothing: bounded by `first_byte_timeout`,
retried once, then one `response.failed` naming the upstream and the wait.

On trio's virtual clock (MockClock, autojump), so a ten-minute hang costs no real time and
the time it took is exact.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import trio
from trio.testing import MockClock

from codexglm.server.app import create_app
from codexglm.server.upstream import FIRST_BYTE_RETRIES
from codexglm.settings import Settings
from tests.server_support import AUTH, TOKEN, Script, codex_body, glm_stream, make_settings, sse_events, sse_response, types

FOREVER = 24 * 3600.0


def _pings_forever() -> httpx.Response:
    """200 headers, then only SSE comments: an upstream's own keep-alives, no data."""

    async def body() -> AsyncIterator[bytes]:
        while True:
            yield b": ping\n\n"
            await trio.sleep(5.0)

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


async def _stream(settings: Settings, transport: httpx.AsyncBaseTransport) -> tuple[list[dict], float]:
    """POST one streamed Codex request; its events and the virtual seconds it took."""
    app = create_app(settings, TOKEN, transport=transport)
    start = trio.current_time()
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/responses", json=codex_body(), headers=AUTH)
        data = await response.get_data()
    return sse_events(data), trio.current_time() - start


def _failure(events: list[dict]) -> dict:
    assert types(events)[-1] == "response.failed", types(events)
    return events[-1]["response"]["error"]


async def test_silence_after_the_headers_is_retried_once_then_fails_clearly(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    script = Script(*(sse_response(glm_stream(), delay=FOREVER) for _ in range(3)))
    settings = make_settings(tmp_path, first_byte_timeout=30.0, keepalive_interval=10.0)
    events, elapsed = await _stream(settings, script.transport)
    assert len(script.requests) == 1 + FIRST_BYTE_RETRIES
    assert elapsed < 2 * 30.0 + 1.0  # not the 600 s read timeout
    error = _failure(events)
    assert error["code"] == "invalid_prompt"  # Codex shows it and does not retry: the proxy did
    message = error["message"]
    assert "accepted the request and then sent nothing" in message
    assert "coding endpoint" in message.lower() and "30 s" in message, message
    # Keep-alives kept Codex's idle timer fed meanwhile, and did not hide the dead upstream.
    assert types(events).count("response.in_progress") >= 5


async def test_one_silent_attempt_then_an_answer_completes(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(sse_response(glm_stream(), delay=FOREVER), sse_response(glm_stream("Second try.")))
    events, elapsed = await _stream(make_settings(tmp_path, first_byte_timeout=20.0), script.transport)
    assert types(events)[-1] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Second try."
    assert len(script.requests) == 2 and 20.0 <= elapsed < 21.0


async def test_headers_that_never_come_are_bounded_too(tmp_path: Path, autojump_clock: MockClock) -> None:
    seen: list[httpx.Request] = []

    async def never(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        await trio.sleep(FOREVER)
        raise AssertionError("unreachable")

    events, elapsed = await _stream(make_settings(tmp_path, first_byte_timeout=15.0), httpx.MockTransport(never))
    assert len(seen) == 1 + FIRST_BYTE_RETRIES and elapsed < 2 * 15.0 + 1.0
    assert "sent nothing" in _failure(events)["message"]


async def test_upstream_pings_are_not_a_first_byte(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(_pings_forever(), _pings_forever())
    events, elapsed = await _stream(make_settings(tmp_path, first_byte_timeout=25.0), script.transport)
    assert len(script.requests) == 2 and elapsed < 2 * 25.0 + 1.0
    assert "sent nothing" in _failure(events)["message"]


async def test_a_slow_first_byte_within_the_bound_is_waited_for(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(sse_response(glm_stream("Slow start."), delay=40.0))
    events, _ = await _stream(make_settings(tmp_path, first_byte_timeout=45.0), script.transport)
    assert types(events)[-1] == "response.completed" and len(script.requests) == 1


async def test_the_bound_is_for_the_first_byte_only(tmp_path: Path, autojump_clock: MockClock) -> None:
    # Gaps after the first frame are the model thinking: read_timeout's business, not this bound's.
    script = Script(sse_response(glm_stream("A long answer with pauses."), gap=30.0))
    settings = make_settings(tmp_path, first_byte_timeout=10.0, keepalive_interval=60.0)
    events, _ = await _stream(settings, script.transport)
    assert types(events)[-1] == "response.completed" and len(script.requests) == 1


async def test_chat_passthrough_stream_is_bounded(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(sse_response(glm_stream(), delay=FOREVER))
    app = create_app(make_settings(tmp_path, first_byte_timeout=10.0), TOKEN, transport=script.transport)
    body = {"model": "glm-5.1", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/v1/chat/completions", json=body, headers=AUTH)
        data = (await response.get_data()).decode()
    frames = [json.loads(line[5:]) for line in data.splitlines() if line.startswith("data:") and "{" in line]
    assert any("sent nothing" in json.dumps(frame) for frame in frames), data
