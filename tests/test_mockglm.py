"""The mock GLM server: real-shaped replies, strict request checks, fault injection."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock

from tests.mockglm import (
    DEFAULT_KEY,
    Error,
    Hang,
    InStreamError,
    MockGLM,
    Stream,
    content_filtered,
    finish_reply,
    open_mock_glm,
    overloaded,
    quota_data,
    text_reply,
    tool_reply,
    usage_limit_reached,
)

CHAT = "/api/coding/paas/v4/chat/completions"
GENERAL_CHAT = "/api/paas/v4/chat/completions"
ID = re.compile(r"20\d{12}[0-9a-f]{16}")
CALL_ID = re.compile(r"call_[0-9a-f]{24}")
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "strict": False,
        "description": "Get weather information for a location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}


def chat(model: str = "glm-5.1", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "What's the weather in Florence?"}], **extra}


def sse_payloads(body: bytes) -> list[str]:
    """Split a stream body, checking every frame is exactly `data: <payload>\\n\\n`."""
    assert body.endswith(b"\n\n")
    frames = body.decode().split("\n\n")[:-1]
    assert all(frame.startswith("data: ") and "\n" not in frame for frame in frames)
    return [frame[len("data: ") :] for frame in frames]


def chunks_of(body: bytes) -> list[dict[str, Any]]:
    payloads = sse_payloads(body)
    assert payloads[-1] == "[DONE]"
    return [json.loads(payload) for payload in payloads[:-1]]


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]


@pytest.fixture
async def mock() -> AsyncIterator[MockGLM]:
    async with open_mock_glm() as server:
        yield server


@pytest.fixture
async def client(mock: MockGLM) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {DEFAULT_KEY}"}
    async with httpx.AsyncClient(base_url=mock.url, headers=headers, timeout=5) as http:
        yield http


# --------------------------------------------------------------------------- stream shapes


async def test_text_stream_has_the_recorded_shape(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.enqueue(text_reply("Olá! Tudo bem?", reasoning="Say hi in Portuguese.", chunk_size=5))
    response = await client.post(CHAT, json=chat("glm-4.7-flash", stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream;charset=UTF-8"
    assert "event:" not in response.text
    chunks = chunks_of(response.content)
    assert {chunk["id"] for chunk in chunks} == {chunks[0]["id"]} and ID.fullmatch(chunks[0]["id"])
    assert {chunk["created"] for chunk in chunks} == {chunks[0]["created"]}
    assert all(list(chunk)[:4] == ["id", "created", "object", "model"] for chunk in chunks)
    assert {(chunk["object"], chunk["model"]) for chunk in chunks} == {("chat.completion.chunk", "glm-4.7-flash")}
    kinds = [next(key for key in delta if key != "role") for delta in deltas(chunks)[:-1]]
    assert kinds == ["reasoning_content"] * 5 + ["content"] * 3
    assert all(delta["role"] == "assistant" for delta in deltas(chunks))
    assert "".join(d.get("reasoning_content", "") for d in deltas(chunks)) == "Say hi in Portuguese."
    assert "".join(d.get("content", "") for d in deltas(chunks)) == "Olá! Tudo bem?"
    assert "Olá" in response.content.decode()  # UTF-8 on the wire, not \u escapes
    finish = chunks[-1]
    assert finish["choices"] == [{"index": 0, "finish_reason": "stop", "delta": {"role": "assistant", "content": ""}}]
    usage = finish["usage"]
    assert list(usage) == [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 0 < usage["completion_tokens_details"]["reasoning_tokens"] < usage["completion_tokens"]
    assert response.content.endswith(b"data: [DONE]\n\n")


async def test_usage_follows_prompt_size_and_cached_prefixes(mock: MockGLM, client: httpx.AsyncClient) -> None:
    async def usage(body: dict[str, Any]) -> dict[str, Any]:
        return chunks_of((await client.post(CHAT, json=body)).content)[-1]["usage"]

    first = await usage(chat(stream=True))
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    for extra in range(4):  # every prompt length modulo 4: the last token is never cached
        long = chat(stream=True, tools=[WEATHER])
        long["messages"].append({"role": "assistant", "content": "Let me think."})
        long["messages"].append({"role": "user", "content": "Please hurry " * 200 + "!" * extra})
        fresh, again = await usage(long), await usage(long)
        assert first["prompt_tokens"] < fresh["prompt_tokens"] == again["prompt_tokens"]
        assert fresh["prompt_tokens_details"]["cached_tokens"] < again["prompt_tokens_details"]["cached_tokens"]
        assert again["prompt_tokens_details"]["cached_tokens"] == again["prompt_tokens"] - 1


async def test_explicit_usage_is_sent_verbatim(mock: MockGLM, client: httpx.AsyncClient) -> None:
    usage = {"prompt_tokens": 170, "completion_tokens": 72, "total_tokens": 242}
    usage["prompt_tokens_details"] = {"cached_tokens": 43}
    mock.enqueue(text_reply("hi", usage=usage, model="glm-4.5"))
    chunks = chunks_of((await client.post(CHAT, json=chat("glm-4.7", stream=True))).content)
    assert chunks[-1]["usage"] == usage
    assert {chunk["model"] for chunk in chunks} == {"glm-4.5"}


async def test_hand_written_chunks_can_drop_envelope_keys(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.enqueue(Stream([{"object": None, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "\n"}}]}]))
    [chunk] = chunks_of((await client.post(CHAT, json=chat(stream=True))).content)
    assert list(chunk) == ["id", "created", "model", "choices"]


async def test_tool_calls_arrive_whole_by_default(mock: MockGLM, client: httpx.AsyncClient) -> None:
    calls = [("add", '{"a":2,"b":3}'), ("multiply", '{"a":2,"b":3}')]
    mock.enqueue(tool_reply(calls, reasoning="Use both tools.", text="Calling both."))
    chunks = chunks_of((await client.post(CHAT, json=chat(stream=True))).content)
    tool_chunks = [chunk for chunk in chunks if "tool_calls" in chunk["choices"][0]["delta"]]
    assert [list(chunk["choices"][0]) for chunk in tool_chunks] == [["index", "delta"]] * 2
    [first], [second] = (chunk["choices"][0]["delta"]["tool_calls"] for chunk in tool_chunks)
    assert list(first) == ["id", "index", "type", "function"]
    assert CALL_ID.fullmatch(first["id"]) and CALL_ID.fullmatch(second["id"]) and first["id"] != second["id"]
    assert (first["index"], first["type"]) == (0, "function")
    assert first["function"] == {"name": "add", "arguments": calls[0][1]}
    assert (second["index"], second["function"]) == (1, {"name": "multiply", "arguments": calls[1][1]})
    assert chunks.index(tool_chunks[0]) == len(chunks) - 3  # after reasoning and text, before the finish
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_tool_stream_sends_argument_fragments(mock: MockGLM, client: httpx.AsyncClient) -> None:
    arguments = '{"location":"Florence, Italy"}'
    mock.enqueue(tool_reply([("weather", arguments), ("weather", "{}")], tool_stream=True, chunk_size=7))
    body = chat(stream=True, tool_stream=True, tools=[WEATHER])
    chunks = chunks_of((await client.post(CHAT, json=body)).content)
    calls = [call for delta in deltas(chunks) for call in delta.get("tool_calls", [])]
    first = calls[0]
    assert list(first) == ["index", "id", "type", "function"]
    assert first["function"] == {"name": "weather", "arguments": ""}
    fragments = [call for call in calls if "id" not in call]
    assert all(list(call) == ["index", "function"] and list(call["function"]) == ["arguments"] for call in fragments)
    assert "".join(call["function"]["arguments"] for call in fragments if call["index"] == 0) == arguments
    assert "".join(call["function"]["arguments"] for call in fragments if call["index"] == 1) == "{}"


async def test_tool_call_quirks_of_2025(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.enqueue(tool_reply([("add", '{"a": 365, "b": 96}')], index_minus_one=True, finish_on_tool_chunk=True))
    chunks = chunks_of((await client.post(CHAT, json=chat(stream=True))).content)
    [tool_chunk] = [chunk for chunk in chunks if "tool_calls" in chunk["choices"][0]["delta"]]
    choice = tool_chunk["choices"][0]
    assert list(choice) == ["index", "finish_reason", "delta"] and choice["finish_reason"] == "tool_calls"
    assert choice["delta"]["tool_calls"][0]["index"] == -1
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and "usage" in chunks[-1]


@pytest.mark.parametrize("reason", ["length", "sensitive", "network_error", "model_context_window_exceeded"])
async def test_abnormal_finish_reasons(mock: MockGLM, client: httpx.AsyncClient, reason: str) -> None:
    mock.enqueue(finish_reply(reason, text="Partial answ"))
    chunks = chunks_of((await client.post(CHAT, json=chat(stream=True))).content)
    assert chunks[-1]["choices"][0]["finish_reason"] == reason
    assert ("content_filter" in chunks[-1]) == (reason == "sensitive")
    assert "".join(d.get("content", "") for d in deltas(chunks)) == "Partial answ"


async def test_trailing_usage_chunk(mock: MockGLM, client: httpx.AsyncClient) -> None:
    reply = text_reply("hi")
    reply.trailing_usage_chunk = True
    mock.enqueue(reply)
    chunks = chunks_of((await client.post(CHAT, json=chat(stream=True))).content)
    assert "usage" not in chunks[-2] and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0


async def test_stream_without_done(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.enqueue(Stream(text_reply("hi").chunks, done=False))
    payloads = sse_payloads((await client.post(CHAT, json=chat(stream=True))).content)
    assert "[DONE]" not in payloads and json.loads(payloads[-1])["choices"][0]["finish_reason"] == "stop"


# --------------------------------------------------------------------------- non-streaming


async def test_non_stream_request_gets_one_completion(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.enqueue(text_reply("Olá!", reasoning="Portuguese greeting."))
    response = await client.post(CHAT, json=chat("glm-4.7-flash", stream=False))
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert list(body) == ["choices", "created", "id", "model", "object", "request_id", "usage"]
    assert body["id"] == body["request_id"] and ID.fullmatch(body["id"])
    assert (body["model"], body["object"]) == ("glm-4.7-flash", "chat.completion")
    assert body["choices"] == [
        {
            "finish_reason": "stop",
            "index": 0,
            "message": {"content": "Olá!", "reasoning_content": "Portuguese greeting.", "role": "assistant"},
        }
    ]
    assert list(body["usage"]) == sorted(body["usage"])
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


async def test_non_stream_tool_only_completion(mock: MockGLM, client: httpx.AsyncClient) -> None:
    reply = tool_reply([("add", '{"a":2,"b":3}'), ("multiply", '{"a":2,"b":3}')], tool_stream=True, chunk_size=3)
    ids = [call["id"] for d in deltas(reply.chunks) for call in d.get("tool_calls", []) if "id" in call]
    mock.enqueue(reply)
    message = (await client.post(CHAT, json=chat())).json()["choices"][0]["message"]
    arguments = '{"a":2,"b":3}'
    assert message == {
        "content": "",
        "role": "assistant",
        "tool_calls": [
            {"function": {"arguments": arguments, "name": "add"}, "id": ids[0], "index": 0, "type": "function"},
            {"function": {"arguments": arguments, "name": "multiply"}, "id": ids[1], "index": 1, "type": "function"},
        ],
    }


async def test_non_stream_sensitive_keeps_content_filter(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.enqueue(finish_reply("sensitive"))
    body = (await client.post(CHAT, json=chat())).json()
    assert body["choices"][0]["finish_reason"] == "sensitive"
    assert body["content_filter"] == [{"role": "assistant", "level": 1}]


# --------------------------------------------------------------------------- errors and faults


async def test_error_replies_use_the_glm_envelope(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.enqueue(overloaded(), usage_limit_reached("2026-05-25 19:22:49"), content_filtered())
    mock.enqueue(Error(500, "500", "Internal Error"))
    answers = [await client.post(CHAT, json=chat(stream=True)) for _ in range(4)]
    assert [r.status_code for r in answers] == [429, 429, 400, 500]
    assert [r.json()["error"]["code"] for r in answers] == ["1305", "1308", "1301", "500"]
    assert "reset at 2026-05-25 19:22:49" in answers[1].json()["error"]["message"]
    assert list(answers[2].json()) == ["contentFilter", "error"]
    assert answers[0].headers["content-type"] == "application/json; charset=UTF-8"


async def test_in_stream_error_frame(mock: MockGLM, client: httpx.AsyncClient) -> None:
    before = text_reply("Hel").chunks[:1]
    mock.enqueue(InStreamError("1305", "The service may be temporarily overloaded", before))
    mock.enqueue(InStreamError("1302", "Rate limit reached for requests"))
    streamed = await client.post(CHAT, json=chat(stream=True))
    assert streamed.status_code == 200
    payloads = sse_payloads(streamed.content)
    assert json.loads(payloads[0])["choices"][0]["delta"]["content"] == "Hel"
    assert json.loads(payloads[-1]) == {"error": {"code": "1305", "message": overloaded().message}}
    assert "[DONE]" not in payloads
    plain = await client.post(CHAT, json=chat())
    assert (plain.status_code, plain.json()["error"]["code"]) == (200, "1302")


async def test_hang_sends_nothing_until_the_client_gives_up(mock: MockGLM, autojump_clock: MockClock) -> None:
    mock.enqueue(Hang(3600))
    headers = {"authorization": f"Bearer {DEFAULT_KEY}"}
    async with httpx.AsyncClient(base_url=mock.url, headers=headers, timeout=30) as http:
        start = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await http.post(CHAT, json=chat(stream=True))
        assert 30 <= trio.current_time() - start < 3600


async def test_hang_ends_by_dropping_the_connection(mock: MockGLM, autojump_clock: MockClock) -> None:
    mock.enqueue(Hang(5))
    headers = {"authorization": f"Bearer {DEFAULT_KEY}"}
    async with httpx.AsyncClient(base_url=mock.url, headers=headers, timeout=30) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(CHAT, json=chat(stream=True))


async def test_first_byte_delay_and_gap_use_trio_time(mock: MockGLM, autojump_clock: MockClock) -> None:
    reply = text_reply("abcdef", chunk_size=2)  # 3 content chunks + finish + [DONE]
    reply.first_byte_delay, reply.gap = 40.0, 7.0
    mock.enqueue(reply)
    headers = {"authorization": f"Bearer {DEFAULT_KEY}"}
    async with httpx.AsyncClient(base_url=mock.url, headers=headers, timeout=60) as http:
        start = trio.current_time()
        async with http.stream("POST", CHAT, json=chat(stream=True)) as response:
            assert trio.current_time() - start == pytest.approx(40.0, abs=0.5)
            await response.aread()
        assert trio.current_time() - start == pytest.approx(40.0 + 4 * 7.0, abs=0.5)


async def test_disconnect_mid_stream(mock: MockGLM, client: httpx.AsyncClient) -> None:
    reply = text_reply("abcdefgh", chunk_size=2)
    reply.disconnect_after = 2
    mock.enqueue(reply)
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", CHAT, json=chat(stream=True)) as response:
            async for data in response.aiter_raw():
                received += data
    assert [json.loads(p)["choices"][0]["delta"]["content"] for p in sse_payloads(bytes(received))] == ["ab", "cd"]


async def test_disconnect_on_a_non_stream_request(mock: MockGLM, client: httpx.AsyncClient) -> None:
    reply = text_reply("abc")
    reply.disconnect_after = 0
    mock.enqueue(reply)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(CHAT, json=chat())


async def test_merged_frames_reproduce_the_2026_bug(mock: MockGLM, client: httpx.AsyncClient) -> None:
    reply = text_reply("one two three", chunk_size=4)
    reply.merge_frames = True
    mock.enqueue(reply)
    lines = (await client.post(CHAT, json=chat(stream=True))).text.split("\n\n")
    merged = lines[1]
    assert merged.startswith('data: {"id"') and merged.count("data: ") == 2
    truncated, whole = merged[len("data: ") :].split("data: ")
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated)
    assert whole.startswith(truncated) and json.loads(whole)["choices"][0]["delta"]["content"] == "two "
    assert all(json.loads(line[len("data: ") :]) for line in lines[2:-2])


async def test_split_bytes_writes_small_pieces(mock: MockGLM) -> None:
    reply = text_reply("Olá, mundo", chunk_size=3)
    reply.split_bytes = 5
    mock.enqueue(reply)
    body = json.dumps(chat(stream=True)).encode()
    request = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEFAULT_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    stream = await trio.open_tcp_stream("127.0.0.1", int(mock.url.rsplit(":", 1)[1]))
    async with stream:
        await stream.send_all(request)
        raw = bytearray()
        while data := await stream.receive_some(65536):
            raw += data
    head, _, chunked = bytes(raw).partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    sizes, payload = [], bytearray()
    while True:
        size_line, _, chunked = chunked.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        sizes.append(size)
        payload += chunked[:size]
        chunked = chunked[size + 2 :]
    assert max(sizes) == 5
    assert "".join(d.get("content", "") for d in deltas(chunks_of(bytes(payload)))) == "Olá, mundo"


# --------------------------------------------------------------------------- connections and queueing


async def test_keep_alive_serves_many_requests_on_one_connection(mock: MockGLM, client: httpx.AsyncClient) -> None:
    for body in (chat(stream=True), chat(), chat(model="glm-9"), chat(stream=True)):
        await client.post(CHAT, json=body)
    await client.get("/api/coding/paas/v4/models")
    assert mock.connections == 1 and len(mock.requests) == 5


async def test_fail_next_then_queue_then_handler_then_default(client: httpx.AsyncClient, mock: MockGLM) -> None:
    seen: list[dict[str, Any]] = []

    def handler(body: dict[str, Any]) -> Stream:
        seen.append(body)
        return text_reply(f"handled {len(seen)}")

    mock.enqueue(text_reply("queued"))
    mock.fail_next(2, overloaded())
    statuses = [(await client.post(CHAT, json=chat())).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert mock.chat_requests[-1].json == chat()
    mock.handler = handler
    assert (await client.post(CHAT, json=chat())).json()["choices"][0]["message"]["content"] == "handled 1"
    assert seen == [chat()]
    mock.handler = None
    default = (await client.post(CHAT, json=chat())).json()["choices"][0]["message"]
    assert default["content"] and default["reasoning_content"]


async def test_fail_next_skips_requests_the_api_would_refuse(mock: MockGLM, client: httpx.AsyncClient) -> None:
    mock.fail_next(1, overloaded())
    assert (await client.post(CHAT, json=chat(model="nope"))).json()["error"]["code"] == "1211"
    assert (await client.post(CHAT, json=chat())).status_code == 429


@pytest.mark.parametrize(
    ("model", "thinking", "reasons"),
    [
        ("glm-5.1", {"type": "disabled"}, False),
        ("glm-5.3", {"type": "disabled"}, True),  # GLM-5.3 cannot stop thinking
        ("glm-4-32b-0414-128k", None, False),
    ],
)
async def test_default_reply_follows_thinking(
    client: httpx.AsyncClient, model: str, thinking: dict[str, str] | None, reasons: bool
) -> None:
    message = (await client.post(CHAT, json=chat(model, thinking=thinking))).json()["choices"][0]["message"]
    assert ("reasoning_content" in message) == reasons


async def test_every_request_is_recorded_without_showing_the_key(mock: MockGLM, client: httpx.AsyncClient) -> None:
    await client.post(CHAT, json=chat(model="unknown"), headers={"x-trace": "1"})
    await client.post(CHAT, content=b"{not json", headers={"authorization": "Bearer wrong-key-9876"})
    first, second = mock.requests
    assert (first.method, first.path, first.json, first.key) == ("POST", CHAT, chat(model="unknown"), DEFAULT_KEY)
    assert first.headers["x-trace"] == "1" and first.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert (second.json, second.key, second.body) == (None, "wrong-key-9876", b"{not json")
    assert DEFAULT_KEY not in repr(first) and "9876" not in repr(second)


# --------------------------------------------------------------------------- strictness


def with_messages(*messages: dict[str, Any], model: str = "glm-5.1") -> dict[str, Any]:
    return {"model": model, "messages": list(messages)}


USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
ASKS_TOOL = {"role": "assistant", "content": None, "tool_calls": [CALL]}
ANSWER = {"role": "tool", "tool_call_id": "call_1", "content": "40 C"}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
TEXT = {"type": "text", "text": "a"}
EMPTY_TEXT = {"type": "text", "text": ""}
OBJECT_ARGUMENTS = {"name": "weather", "arguments": {"location": "Rome"}}


def many_tools(n: int) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": f"tool_{i}", "parameters": {"type": "object"}}} for i in range(n)]


def tool_named(name: str) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}]


REJECTED: dict[str, tuple[Any, str]] = {
    "body not an object": ([USER], "1210"),
    "missing model": ({"messages": [USER]}, "1213"),
    "unknown model": (chat("glm-9"), "1211"),
    "prefixed model": (chat("zai/glm-4.6"), "1211"),
    "no messages": ({"model": "glm-5.1", "messages": []}, "1214"),
    "no user message": (with_messages({"role": "system", "content": "Be brief."}), "1214"),
    "developer role": (with_messages({"role": "developer", "content": "x"}, USER), "1214"),
    "unknown role": (with_messages({"role": "function", "content": "x"}, USER), "1214"),
    "role not a string": (with_messages({"role": ["user"], "content": "x"}), "1214"),
    "part type not a string": (with_messages({"role": "user", "content": [{"type": ["image_url"]}]}), "1214"),
    "empty text": (with_messages({"role": "user", "content": ""}), "1214"),
    "empty system text": (with_messages({"role": "system", "content": ""}, USER), "1214"),
    "empty text part": (with_messages({"role": "user", "content": [TEXT, EMPTY_TEXT]}), "1214"),
    "empty content array": (with_messages({"role": "user", "content": []}), "1214"),
    "null user content": (with_messages({"role": "user", "content": None}), "1214"),
    "unknown part type": (with_messages({"role": "user", "content": [{"type": "input_text", "text": "a"}]}), "1214"),
    "image on a text model": (with_messages({"role": "user", "content": [TEXT, IMAGE]}), "1210"),
    "image in a system message": (
        with_messages({"role": "system", "content": [IMAGE]}, USER, model="glm-4.6v"),
        "1210",
    ),
    "empty assistant": (with_messages(USER, {"role": "assistant", "content": ""}, USER), "1214"),
    "assistant without content": (with_messages(USER, {"role": "assistant"}, USER), "1214"),
    "assistant with an empty part": (with_messages(USER, {"role": "assistant", "content": [EMPTY_TEXT]}, USER), "1214"),
    "tool call without id": (
        with_messages(USER, {"role": "assistant", "tool_calls": [{**CALL, "id": ""}]}, {**ANSWER, "tool_call_id": ""}),
        "1214",
    ),
    "tool call with object arguments": (
        with_messages(USER, {"role": "assistant", "tool_calls": [{**CALL, "function": OBJECT_ARGUMENTS}]}, ANSWER),
        "1214",
    ),
    "tool result without a call": (with_messages(USER, ANSWER), "1214"),
    "tool result for another id": (with_messages(USER, ASKS_TOOL, {**ANSWER, "tool_call_id": "call_2"}), "1214"),
    "tool result answered twice": (with_messages(USER, ASKS_TOOL, ANSWER, ANSWER), "1214"),
    "tool result after a user turn": (with_messages(USER, ASKS_TOOL, ANSWER, USER, ANSWER), "1214"),
    "unanswered tool call": (with_messages(USER, ASKS_TOOL, USER), "1214"),
    "unanswered tool call at the end": (with_messages(USER, ASKS_TOOL), "1214"),
    "unanswered tool call before later turns": (
        with_messages(USER, ASKS_TOOL, USER, {"role": "assistant", "content": "ok"}, USER),
        "1214",
    ),
    "one of two calls unanswered": (
        with_messages(USER, {"role": "assistant", "tool_calls": [CALL, {**CALL, "id": "call_2"}]}, ANSWER, USER),
        "1214",
    ),
    "empty tool result": (with_messages(USER, ASKS_TOOL, {**ANSWER, "content": ""}), "1214"),
    "array tool result": (with_messages(USER, ASKS_TOOL, {**ANSWER, "content": [TEXT]}), "1214"),
    "temperature above 1": (chat(temperature=1.5), "1210"),
    "negative temperature": (chat(temperature=-0.1), "1210"),
    "top_p below 0.01": (chat(top_p=0.0), "1210"),
    "top_p above 1": (chat(top_p=1.2), "1210"),
    "max_tokens above the model max": (chat("glm-4.5", max_tokens=98305), "1210"),
    "max_tokens zero": (chat(max_tokens=0), "1210"),
    "max_tokens not an integer": (chat(max_tokens=100.0), "1210"),
    "stream not a bool": (chat(stream="true"), "1210"),
    "129 tools": (chat(tools=many_tools(129)), "1214"),
    "function name with a dot": (chat(tools=tool_named("shell.exec")), "1214"),
    "function name too long": (chat(tools=tool_named("a" * 65)), "1214"),
    "non-function tool": (chat(tools=[{"type": "local_shell"}]), "1214"),
    "tool_choice required": (chat(tools=[WEATHER], tool_choice="required"), "1210"),
    "tool_choice object": (
        chat(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "weather"}}),
        "1210",
    ),
    "tool_stream without stream": (chat(tools=[WEATHER], tool_stream=True), "1210"),
}


@pytest.mark.parametrize("name", list(REJECTED))
async def test_rejects_what_the_real_api_rejects(client: httpx.AsyncClient, name: str) -> None:
    body, code = REJECTED[name]
    response = await client.post(CHAT, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_role_and_model_messages_are_the_real_ones(client: httpx.AsyncClient) -> None:
    developer = await client.post(CHAT, json=with_messages({"role": "developer", "content": "x"}, USER))
    assert developer.json() == {"error": {"code": "1214", "message": "Incorrect role information"}}
    unknown = await client.post(CHAT, json=chat("glm-9"))
    assert unknown.json() == {"error": {"code": "1211", "message": "Unknown Model, please check the model code."}}
    empty = await client.post(CHAT, json=with_messages({"role": "user", "content": [{"type": "text", "text": ""}]}))
    assert empty.json()["error"]["message"] == "messages[0].content[0].text: cannot be empty"


ACCEPTED: dict[str, dict[str, Any]] = {
    "recorded fantasy request": {
        **chat("glm-4.7-flash", max_tokens=4000, stream=True, tool_choice="auto", tools=[WEATHER]),
        "stream_options": {"include_usage": True},
    },
    "thinking controls": chat(
        "glm-5.2", thinking={"type": "enabled", "clear_thinking": False}, reasoning_effort="high"
    ),
    "model in capitals": chat("GLM-4.7"),
    "text parts on a text model": with_messages({"role": "user", "content": [TEXT]}),
    "image on a vision model": with_messages({"role": "user", "content": [TEXT, IMAGE]}, model="glm-4.6v"),
    "tool loop with reasoning": with_messages(
        {"role": "system", "content": "Be brief."},
        USER,
        {**ASKS_TOOL, "content": "Checking.", "reasoning_content": "Need the weather."},
        ANSWER,
        {"role": "assistant", "content": "It is 40 C."},
        USER,
    ),
    "assistant empty content with calls": with_messages(USER, {**ASKS_TOOL, "content": ""}, ANSWER),
    "parallel calls answered in any order": with_messages(
        USER,
        {"role": "assistant", "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
        {**ANSWER, "tool_call_id": "call_2"},
        ANSWER,
    ),
    "limits at the edges": chat("glm-4.5", temperature=0, top_p=0.01, max_tokens=98304, tools=many_tools(128)),
    "tool_stream with stream": chat(stream=True, tool_stream=True, tools=[WEATHER]),
    "web_search tool": chat(tools=[{"type": "web_search", "web_search": {"enable": True}}]),
    "null tool_choice": chat(tool_choice=None),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
async def test_accepts_what_the_real_api_accepts(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post(CHAT, json=ACCEPTED[name])
    assert response.status_code == 200, response.text


# --------------------------------------------------------------------------- auth and routes


async def test_authentication_and_plans(mock: MockGLM) -> None:
    mock.keys = {DEFAULT_KEY: {"coding", "general"}, "coding-key-0001": {"coding"}}
    async with httpx.AsyncClient(base_url=mock.url, timeout=5) as http:

        async def code(path: str, authorization: str | None) -> tuple[int, str]:
            headers = {"authorization": authorization} if authorization is not None else {}
            response = await http.post(path, json=chat(), headers=headers)
            return response.status_code, response.json().get("error", {}).get("code", "")

        assert await code(CHAT, None) == (401, "1001")
        assert await code(CHAT, "") == (401, "1001")
        assert await code(CHAT, "Bearer not-a-key") == (401, "1002")
        assert await code(CHAT, DEFAULT_KEY) == (401, "1002")  # the scheme is required
        assert await code(CHAT, "Bearer coding-key-0001") == (200, "")
        assert await code(GENERAL_CHAT, "Bearer coding-key-0001") == (429, "1113")
        assert await code(GENERAL_CHAT, f"bearer {DEFAULT_KEY}") == (200, "")
    assert len(mock.requests) == 7


async def test_models_route(client: httpx.AsyncClient, mock: MockGLM) -> None:
    for base in ("/api/coding/paas/v4", "/api/paas/v4"):
        body = (await client.get(base + "/models")).json()
        assert body["object"] == "list"
        assert {"id": "glm-5.1", "object": "model", "created": 1766332800, "owned_by": "z-ai"} in body["data"]
    async with httpx.AsyncClient(base_url=mock.url, timeout=5) as anonymous:
        assert (await anonymous.get("/api/paas/v4/models")).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/paas/v4/v1/chat/completions", 404),
        ("POST", "/v1/chat/completions", 404),
        ("GET", "/api/paas/v4/v1/models", 404),
        ("GET", CHAT, 405),
        ("POST", "/api/paas/v4/models", 405),
        ("POST", "/api/monitor/usage/quota/limit", 405),
    ],
)
async def test_unknown_paths_and_methods(client: httpx.AsyncClient, method: str, path: str, status: int) -> None:
    response = await client.request(method, path, json=chat())
    assert response.status_code == status


async def test_quota_endpoint(mock: MockGLM) -> None:
    url = "/api/monitor/usage/quota/limit"
    async with httpx.AsyncClient(base_url=mock.url, timeout=5) as http:
        ok = (await http.get(url, headers={"authorization": DEFAULT_KEY})).json()
        assert ok["code"] == 200 and ok["success"] is True
        [limit] = ok["data"]["limits"]
        assert limit["type"] == "TOKENS_LIMIT" and limit["nextResetTime"] > 1_700_000_000_000
        mock.quota = quota_data(97, level="lite")
        bearer = (await http.get(url, headers={"authorization": f"Bearer {DEFAULT_KEY}"})).json()
        assert bearer["data"]["limits"][0]["percentage"] == 97 and bearer["data"]["level"] == "lite"
        anonymous = await http.get(url)
        assert anonymous.status_code == 200
        assert (anonymous.json()["code"], anonymous.json()["success"]) == (1001, False)
        assert (await http.get(url, headers={"authorization": "nope"})).json()["code"] == 1002
        mock.quota = None
        assert (await http.get(url, headers={"authorization": DEFAULT_KEY})).status_code == 404


async def test_urls(mock: MockGLM) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", mock.url)
    assert mock.coding_url == mock.url + "/api/coding/paas/v4"
    assert mock.general_url == mock.url + "/api/paas/v4"
    with pytest.raises(RuntimeError):
        _ = MockGLM().url


# --------------------------------------------------------------------------- lifecycle


async def test_shutdown_closes_open_connections_and_the_port() -> None:
    outcome: list[type[BaseException]] = []

    async def stuck_request(url: str, done: trio.Event) -> None:
        headers = {"authorization": f"Bearer {DEFAULT_KEY}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
            try:
                await http.post(CHAT, json=chat(stream=True))
            except httpx.HTTPError as exc:
                outcome.append(type(exc))
        done.set()

    done = trio.Event()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            async with open_mock_glm() as mock:
                mock.enqueue(Hang(3600))
                url = mock.url
                nursery.start_soon(stuck_request, url, done)
                while not mock.requests:
                    await trio.sleep(0.01)
            await done.wait()
    assert outcome and issubclass(outcome[0], httpx.RemoteProtocolError)
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", int(url.rsplit(":", 1)[1]))


async def test_standalone_script_serves_default_replies() -> None:
    command = [sys.executable, "-m", "tests.mockglm", "--port", "0", "--key", "local-key-5678"]
    root = pathlib.Path(__file__).parent.parent
    run = partial(trio.run_process, command, cwd=root, stdout=subprocess.PIPE, check=False)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(run)
            banner = b""
            while b"\n" not in banner:
                banner += await process.stdout.receive_some(1024)
            assert b"****5678" in banner and b"local-key-5678" not in banner
            coding_url = re.search(rb"coding: (\S+)", banner).group(1).decode()
            async with httpx.AsyncClient(headers={"authorization": "Bearer local-key-5678"}, timeout=10) as http:
                response = await http.post(coding_url + "/chat/completions", json=chat())
            assert response.json()["choices"][0]["message"]["content"]
            process.terminate()
