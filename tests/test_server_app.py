"""The proxy application in-process: guards, error shapes, routes, translation, streaming.

Requests go through Quart's ASGI test client; GLM is an httpx.MockTransport (`Script`),
so time-based behaviour (backoff, keep-alives) runs on trio's virtual clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from codexglm.providers.glm.models import MODELS
from codexglm.server import app as app_module
from codexglm.server import create_app
from codexglm.server.app import ANY_HOST, ProxyApp, _host_allowed, allowed_hosts
from codexglm.server.reqlog import log_path
from codexglm.settings import Settings
from tests.mockglm import text_reply
from tests.server_support import (
    AUTH,
    KEY,
    TOKEN,
    Script,
    codex_body,
    glm_error,
    glm_frames,
    glm_stream,
    http_response,
    make_settings,
    sse_events,
    sse_response,
    types,
)


@asynccontextmanager
async def _client(settings: Settings, script: Script) -> AsyncIterator[tuple[ProxyApp, Any]]:
    app = create_app(settings, TOKEN, transport=script.transport)
    async with app.test_app() as test_app:
        yield app, test_app.test_client()


async def _post(settings: Settings, script: Script, path: str, body: Any, **kwargs: Any) -> tuple[int, dict, bytes]:
    async with _client(settings, script) as (_, client):
        response = await client.post(path, json=body, headers=kwargs.pop("headers", AUTH), **kwargs)
        return response.status_code, dict(response.headers), await response.get_data()


def _records(settings: Settings) -> list[dict]:
    return [json.loads(line) for line in log_path(settings).read_text().splitlines()]


def _failed(events: list[dict]) -> dict:
    assert types(events)[-1] == "response.failed"
    return events[-1]["response"]["error"]


# --------------------------------------------------------------------------- guards


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"bearer {TOKEN}", TOKEN, f"Bearer {TOKEN} "])
async def test_requests_without_the_exact_bearer_token_are_refused(tmp_path: Path, header: str | None) -> None:
    script = Script()
    headers = {} if header is None else {"Authorization": header}
    status, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body(), headers=headers)
    assert status == 401
    error = json.loads(data)["error"]
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
    assert script.requests == []


async def test_host_header_must_name_the_loopback_address(tmp_path: Path) -> None:
    async with _client(make_settings(tmp_path), Script()) as (app, client):
        app.proxy.hosts = allowed_hosts("127.0.0.1", 8765)
        for host, expected in [
            ("127.0.0.1:8765", 200),
            ("localhost:8765", 200),
            ("[::1]:8765", 200),
            ("LOCALHOST:8765", 200),
            ("evil.example:8765", 403),
            ("127.0.0.1:9999", 403),
            ("127.0.0.1", 403),
            ("", 403),
        ]:
            response = await client.get("/v1/models", headers={**AUTH, "Host": host})
            assert response.status_code == expected, host
        body = json.loads(await response.get_data())
        assert body["error"]["code"] == "invalid_host"


def test_allowed_hosts_on_loopback_are_exact_and_on_a_network_address_any() -> None:
    assert allowed_hosts("127.0.0.1", 9000) == {"127.0.0.1:9000", "localhost:9000", "[::1]:9000"}
    # A team box behind a load balancer is reached by names it cannot know; the token guards it.
    for host in ("192.168.1.5", "fd00::5", "0.0.0.0"):
        assert allowed_hosts(host, 9000) is ANY_HOST
        assert _host_allowed(allowed_hosts(host, 9000), "codex.corp.example")
    assert not _host_allowed(allowed_hosts("127.0.0.1", 9000), "codex.corp.example:9000")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/v1/nothing", None, 404, "not_found"),
        ("GET", "/v1/responses", None, 405, "method_not_allowed"),
        ("DELETE", "/v1/models", None, 405, "method_not_allowed"),
        ("POST", "/v1/responses", b"{not json", 400, "invalid_json"),
        ("POST", "/v1/responses", b"[1, 2]", 400, "invalid_json"),
        ("POST", "/v1/responses", b'{"input": []}', 400, None),  # no model
        ("POST", "/v1/responses", b'{"model": "glm-5.1", "input": [], "stream": "yes"}', 400, None),
        ("POST", "/v1/chat/completions", b'{"model": "glm-5.1"}', 400, None),  # no messages
        ("POST", "/v1/responses", b'{"model": "glm-5.1", "input": "' + b"x" * 5000 + b'"}', 413, "request_too_large"),
    ],
)
async def test_bad_requests_get_openai_error_json(
    tmp_path: Path, method: str, path: str, body: bytes | None, status: int, code: str | None
) -> None:
    script = Script()
    async with _client(make_settings(tmp_path, max_body_bytes=4096), script) as (_, client):
        response = await client.open(
            path, method=method, data=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        data = await response.get_data()
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = json.loads(data)["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    assert script.requests == []


async def test_unexpected_exceptions_become_a_500_error_body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(body: object, options: object) -> None:
        raise RuntimeError(f"boom {KEY}")

    monkeypatch.setattr(app_module, "build_chat_request", explode)
    status, _, data = await _post(make_settings(tmp_path), Script(), "/v1/responses", codex_body())
    assert status == 500
    assert json.loads(data)["error"]["code"] == "internal_error"
    assert b"Traceback" not in data and KEY.encode() not in data and b"boom" not in data


async def test_responses_requests_are_served_below_quart_and_answered_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    below: list[str] = []
    serve_responses = ProxyApp._serve_responses

    async def spy(self: ProxyApp, scope: Any, *args: Any) -> None:
        below.append(scope["path"])
        await serve_responses(self, scope, *args)

    monkeypatch.setattr(ProxyApp, "_serve_responses", spy)
    bad = {"model": "glm-5.1", "input": [], "stream": "yes"}
    runs = []
    for through_quart in (False, True):
        if through_quart:  # the route the fast path leaves a team gateway's requests to
            monkeypatch.setattr(ProxyApp, "_fast_path_headers", lambda self, scope: None)
        script = Script(*(sse_response(glm_stream("The same answer.", reasoning="Think.")) for _ in range(2)))
        answers = []
        async with _client(make_settings(tmp_path / str(through_quart)), script) as (_, client):
            for body, extra in ((codex_body(), {}), (bad, {}), (codex_body(), {"Content-Encoding": "identity"})):
                response = await client.post("/v1/responses", json=body, headers={**AUTH, **extra})
                data = await response.get_data()
                shape = [(e["type"], e["sequence_number"], e.get("delta")) for e in sse_events(data)] or data
                answers.append((response.status_code, sorted(response.headers.keys()), shape))
        runs.append(answers)
    assert below == ["/v1/responses"] * 3
    assert runs[0] == runs[1]
    assert [status for status, _, _ in runs[0]] == [200, 400, 200]


async def test_a_body_that_never_arrives_gets_408_below_quart(tmp_path: Path, autojump_clock: MockClock) -> None:
    app = create_app(make_settings(tmp_path), TOKEN, transport=Script().transport)
    sent: list[dict[str, Any]] = []
    arriving = [{"type": "http.request", "body": b'{"model": "gl', "more_body": True}]  # and then nothing

    async def receive() -> dict[str, Any]:
        if arriving:
            return arriving.pop()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"host", b"127.0.0.1:9"), (b"authorization", f"Bearer {TOKEN}".encode()), (b"content-length", b"900")]
    scope = {"type": "http", "method": "POST", "path": "/v1/responses", "raw_path": b"/v1/responses", "headers": headers}
    with trio.fail_after(600):
        await app.asgi_app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 408
    assert json.loads(sent[-1]["body"])["error"]["code"] == "request_timeout" and not sent[-1]["more_body"]
    record = json.loads(log_path(make_settings(tmp_path)).read_text().splitlines()[-1])
    assert record["status"] == 408 and record["outcome"] == "rejected"


# --------------------------------------------------------------------------- plain routes


async def test_models_lists_glm_models_default_first(tmp_path: Path) -> None:
    async with _client(make_settings(tmp_path, default_model="glm-4.7"), Script()) as (_, client):
        response = await client.get("/v1/models", headers=AUTH)
        body = json.loads(await response.get_data())
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[0] == "glm-4.7" and sorted(ids) == sorted(MODELS)
    assert all(m["object"] == "model" for m in body["data"])


async def test_healthz_reports_state_without_secrets(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, coding_base_url="https://user:hunter2@glm.test/api/coding/paas/v4")
    async with _client(settings, Script()) as (_, client):
        await client.post("/v1/responses", json=codex_body(), headers=AUTH)
        response = await client.get("/healthz", headers=AUTH)
        data = await response.get_data()
    health = json.loads(data)
    assert health["status"] == "ok" and health["version"]
    assert health["upstream"]["endpoint_mode"] == "coding-only"
    assert health["upstream"]["base_url"] == "https://glm.test/api/coding/paas/v4"
    assert health["requests"]["total"] == 1 and health["requests"]["in_flight"] == 0
    assert health["uptime_s"] >= 0
    for secret in (KEY, TOKEN, "hunter2"):
        assert secret.encode() not in data


# --------------------------------------------------------------------------- /v1/responses


async def test_non_streaming_request_is_translated_both_ways(tmp_path: Path) -> None:
    completion = {
        "id": "1",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi there!"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }
    script = Script(http_response(200, completion))
    status, headers, data = await _post(
        make_settings(tmp_path), script, "/v1/responses", codex_body(stream=False, model="gpt-5.4")
    )
    assert status == 200 and headers["x-request-id"].startswith("req_")
    response = json.loads(data)
    assert response["status"] == "completed"
    assert response["output"][-1]["content"][0]["text"] == "Hi there!"
    assert response["usage"]["input_tokens"] == 10
    upstream = script.body()
    assert upstream["model"] == "glm-5.3" and upstream["stream"] is False
    assert [m["role"] for m in upstream["messages"]] == ["system", "user"]


async def test_streamed_answer_is_a_complete_numbered_event_sequence(tmp_path: Path) -> None:
    script = Script(sse_response(glm_stream("Hello there, friend.", reasoning="Greet them.")))
    status, headers, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert headers["x-request-id"].startswith("req_") and "openai-model" not in headers
    events = sse_events(data)
    assert types(events)[:2] == ["response.created", "response.in_progress"]
    assert types(events)[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "Hello there, friend."
    assert events[-1]["response"]["usage"]["output_tokens"] > 0


async def test_fatal_upstream_error_streams_created_then_failed(tmp_path: Path) -> None:
    script = Script(glm_error(400, "1214", "Incorrect role information"))
    status, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    events = sse_events(data)
    assert status == 200
    assert types(events) == ["response.created", "response.in_progress", "response.failed"]
    assert "1214" in _failed(events)["message"]


async def test_rate_limit_after_retries_tells_codex_when_to_retry(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(*(glm_error(429, "1302", "Rate limit reached for requests") for _ in range(4)))
    _, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    error = _failed(sse_events(data))
    assert error["code"] == "rate_limit_exceeded"
    assert "Please try again in" in error["message"]
    assert len(script.requests) == 4


async def test_error_frame_before_any_output_is_retried_transparently(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    overloaded = glm_frames(
        [{"error": {"code": "1305", "message": "The service may be temporarily overloaded"}}], done=False
    )
    script = Script(sse_response(overloaded), sse_response(glm_stream("Recovered.")))
    _, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    events = sse_events(data)
    assert len(script.requests) == 2
    assert types(events).count("response.created") == 1 and types(events)[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))


async def test_error_frame_after_output_fails_the_response(tmp_path: Path) -> None:
    frames = glm_frames(text_reply("Partial answer").chunks[:2], done=False)
    frames += glm_frames([{"error": {"code": "1305", "message": "overloaded"}}], done=False)
    script = Script(sse_response(frames))
    _, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    events = sse_events(data)
    assert len(script.requests) == 1
    assert "response.output_text.delta" in types(events)
    assert "response.output_item.done" not in types(events)
    assert _failed(events)["code"] == "server_error"


def _broken_after(frames: list[bytes]) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for frame in frames:
            yield frame
        raise httpx.ReadError("connection reset by peer")

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


async def test_connection_lost_mid_answer_ends_with_failed(tmp_path: Path) -> None:
    script = Script(_broken_after(glm_frames(text_reply("Half an answer").chunks[:2], done=False)))
    _, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    error = _failed(sse_events(data))
    assert error["code"] == "server_error" and "GLM" in error["message"]


async def test_connection_lost_before_output_is_retried(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(_broken_after([]), sse_response(glm_stream("Second try.")))
    _, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    assert types(sse_events(data))[-1] == "response.completed"
    assert len(script.requests) == 2


async def test_json_body_instead_of_a_stream_is_understood(tmp_path: Path, autojump_clock: MockClock) -> None:
    completion = {
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Plain."}}]
    }
    script = Script(
        http_response(200, {"error": {"code": "1305", "message": "overloaded"}}), http_response(200, completion)
    )
    _, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    events = sse_events(data)
    assert len(script.requests) == 2
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Plain."
    assert types(events)[-1] == "response.completed"


async def test_silence_is_filled_with_in_progress_heartbeats(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(sse_response(glm_stream("Slow."), delay=35.0))
    settings = make_settings(tmp_path, keepalive_interval=10.0)
    _, _, data = await _post(settings, script, "/v1/responses", codex_body())
    events = sse_events(data)
    # created + in_progress at once, then one in_progress at 10, 20 and 30 s of silence.
    assert types(events)[:5] == ["response.created"] + ["response.in_progress"] * 4
    assert types(events).count("response.in_progress") == 4
    assert types(events)[-1] == "response.completed"


async def test_non_streaming_upstream_failure_is_an_http_error(tmp_path: Path) -> None:
    script = Script(glm_error(401, "1002", f"Authorization Token is invalid: Bearer {KEY}"))
    status, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body(stream=False))
    assert status == 401
    error = json.loads(data)["error"]
    assert error["type"] == "authentication_error" and "1002" in error["message"]
    assert KEY.encode() not in data


async def test_shutdown_ends_a_stream_with_a_retryable_failure(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(sse_response(glm_stream("Never."), delay=1000.0))
    async with _client(make_settings(tmp_path), script) as (app, client):
        result: list[bytes] = []
        async with trio.open_nursery() as nursery:

            async def request() -> None:
                response = await client.post("/v1/responses", json=codex_body(), headers=AUTH)
                result.append(await response.get_data())

            nursery.start_soon(request)
            await trio.sleep(5)
            app.proxy.lifecycle.stop()
    error = _failed(sse_events(result[0]))
    assert error["code"] == "server_error" and "shutting down" in error["message"]
    assert app.proxy.upstream.limiter.borrowed_tokens == 0


# --------------------------------------------------------------------------- pass-through


async def test_chat_passthrough_maps_the_model_and_swaps_credentials(tmp_path: Path) -> None:
    completion = {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}]}
    script = Script(http_response(200, completion))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    status, _, data = await _post(make_settings(tmp_path), script, "/v1/chat/completions", body)
    assert status == 200 and json.loads(data) == completion
    sent = script.body()
    assert sent == {**body, "model": "glm-5.3"}
    assert script.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert TOKEN.encode() not in script.requests[0].content


async def test_chat_passthrough_stream_repairs_merged_frames(tmp_path: Path) -> None:
    frames = glm_stream("Hello world, how are you?")
    merged = frames[1][: len(frames[1]) // 2] + frames[1]  # GLM's truncated-frame bug
    script = Script(sse_response([frames[0], merged, *frames[2:]]))
    body = {"model": "glm-5.1", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    status, _, data = await _post(make_settings(tmp_path), script, "/v1/chat/completions", body)
    assert status == 200
    chunks = sse_events(data)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices"))
    assert text == "Hello world, how are you?"
    assert data.endswith(b"data: [DONE]\n\n")


async def test_non_streaming_rate_limit_carries_retry_after(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(*(glm_error(429, "1302", "Rate limit reached for requests") for _ in range(4)))
    status, headers, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body(stream=False))
    assert status == 429 and headers["retry-after"] == "5"
    assert json.loads(data)["error"]["code"] == "rate_limit_exceeded"


async def test_chat_passthrough_keeps_quiet_streams_alive_with_comments(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(sse_response(glm_stream("Late."), delay=25.0))
    body = {"model": "glm-5.1", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    settings = make_settings(tmp_path, keepalive_interval=10.0)
    _, _, data = await _post(settings, script, "/v1/chat/completions", body)
    # GLM's headers come at once, its first frame after 25 s: comments at 10 and 20 s.
    assert data.count(b": keep-alive\n\n") == 2
    assert data.endswith(b"data: [DONE]\n\n")


async def test_chat_passthrough_reports_upstream_errors_with_their_status(tmp_path: Path) -> None:
    script = Script(glm_error(400, "1211", "Unknown Model, please check the model code."))
    body = {"model": "glm-9", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    status, _, data = await _post(make_settings(tmp_path), script, "/v1/chat/completions", body)
    assert status == 404
    assert json.loads(data)["error"]["code"] == "model_not_found"


# --------------------------------------------------------------------------- request log


async def test_request_log_records_each_request_and_redacts_bodies(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, log_bodies=True)
    script = Script(sse_response(glm_stream("Logged.")))
    await _post(settings, script, "/v1/responses", codex_body(f"my key is {KEY}", model="gpt-5.4"))
    record = _records(settings)[-1]
    assert record["path"] == "/v1/responses" and record["outcome"] == "completed"
    assert (record["model_in"], record["model_out"], record["stream"]) == ("gpt-5.4", "glm-5.3", True)
    assert record["endpoint"] == "coding" and record["attempts"] == 1 and record["status"] == 200
    assert record["usage"]["total_tokens"] > 0 and record["ttft_ms"] is not None
    assert "my key is" in record["request"] and "upstream_request" in record and "Logged." in record["response"]
    text = log_path(settings).read_text()
    assert KEY not in text and TOKEN not in text


async def test_request_log_has_no_bodies_by_default(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await _post(settings, Script(), "/v1/responses", codex_body("secret prompt text"))
    await _post(settings, Script(), "/v1/responses", codex_body(), headers={})
    records = _records(settings)
    assert [r["status"] for r in records] == [200, 401]
    assert records[1]["outcome"] == "rejected"
    assert "secret prompt text" not in log_path(settings).read_text()


async def test_upstream_bodies_are_asked_for_uncompressed(tmp_path: Path) -> None:
    # Bodies are relayed as raw bytes: a gzip stream would never parse.
    script = Script(sse_response(glm_stream()))
    await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    assert script.requests[0].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_key_echoed_by_glm_never_reaches_the_client(tmp_path: Path, stream: bool) -> None:
    script = Script(glm_error(401, "1002", f"API key {KEY} is invalid or expired"))
    status, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body(stream=stream))
    assert KEY.encode() not in data
    assert b"is invalid or expired" in data and status == (200 if stream else 401)


async def test_retry_after_header_is_the_delay_codex_is_told(tmp_path: Path, autojump_clock: MockClock) -> None:
    script = Script(*(glm_error(429, "1302", "Rate limit reached for requests", {"Retry-After": "2"}) for _ in range(4)))
    _, _, data = await _post(make_settings(tmp_path), script, "/v1/responses", codex_body())
    assert "Please try again in 2 s." in _failed(sse_events(data))["message"]


async def test_shutdown_during_the_final_chunk_still_delivers_the_terminal_event(tmp_path: Path) -> None:
    frames = glm_stream("Almost finished answer.")
    holder: dict[str, ProxyApp] = {}

    async def body() -> AsyncIterator[bytes]:
        for frame in frames[:-2]:
            yield frame
        holder["app"].proxy.lifecycle.stop()  # SIGTERM lands now
        yield b"".join(frames[-2:])  # the finish chunk and [DONE] in the same read

    script = Script(lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body()))
    async with _client(make_settings(tmp_path), script) as (app, client):
        holder["app"] = app
        response = await client.post("/v1/responses", json=codex_body(), headers=AUTH)
        events = sse_events(await response.get_data())
    assert types(events)[-1] == "response.completed"


def test_the_private_hooks_we_override_still_exist() -> None:
    """Canary: the proxy overrides private hooks of quart-trio and hypercorn; a release that
    moves them must fail here loudly, not misbehave quietly."""
    import inspect

    import hypercorn.trio.run
    from hypercorn.trio.tcp_server import TCPServer
    from quart_trio import QuartTrio
    from quart_trio.asgi import TrioASGIHTTPConnection

    assert list(inspect.signature(TrioASGIHTTPConnection._send_response).parameters) == ["self", "send", "response"]
    assert list(inspect.signature(QuartTrio.create_url_adapter).parameters) == ["self", "request"]
    assert hasattr(TCPServer, "protocol_send") and hasattr(TCPServer, "_close")
    assert hasattr(hypercorn.trio.run, "TCPServer")
