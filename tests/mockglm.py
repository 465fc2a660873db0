"""A strict stand-in for Z.ai's GLM Chat Completions API, for tests, the benchmark and e2e runs.

It speaks HTTP/1.1 itself (trio + h11) so a reply can misbehave the way the real service
does: slow first byte, long gaps, mid-stream disconnects, merged or split frames, in-stream
errors, hangs.  Request checks and reply shapes follow recorded api.z.ai traffic (2025-09 to
2026-04):

* stream frames are ``data: {json}\\n\\n`` (no ``event:`` lines), the last one ``data: [DONE]``;
* reasoning and text deltas repeat ``"role":"assistant"``; tool-call deltas carry no role;
* the finish chunk is ``{"index":0,"finish_reason":..,"delta":{"role":"assistant","content":""}}``
  with ``usage`` on the same chunk;
* errors are ``{"error":{"code":"<digits, as a string>","message":..}}``.

Usage::

    async with open_mock_glm() as mock:
        mock.enqueue(text_reply("Hi!", reasoning="A greeting."))
        ...  # point the code under test at mock.coding_url with key DEFAULT_KEY

    python -m tests.mockglm --port 8765        # standalone, default replies only
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import secrets
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any, TypeVar

import h11
import trio

from codexglm.providers.base import ModelSpec
from codexglm.providers.glm.endpoints import CODING_PATH, GENERAL_PATH
from codexglm.providers.glm.models import MODELS
from codexglm.settings import mask_secret

DEFAULT_KEY = "test-key-1234"
QUOTA_PATH = "/api/monitor/usage/quota/limit"

Chunk = dict[str, Any]

_STREAM_TYPE = "text/event-stream;charset=UTF-8"
_JSON_TYPE = "application/json; charset=UTF-8"
_PLANS = {CODING_PATH: "coding", GENERAL_PATH: "general"}
_METHODS = {"chat": "POST", "models": "GET", "quota": "GET", "search": "POST"}
SEARCH_PATH = GENERAL_PATH + "/web_search"
SEARCH_ENGINES = ("search_std", "search_pro", "search_pro_sogou", "search_pro_quark")
SEARCH_RECENCY = ("oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit")
_ENVELOPE = ("id", "created", "object", "model")
_BEIJING = 8 * 3600  # completion ids carry Beijing wall-clock time
_READ_SIZE = 65536


# --------------------------------------------------------------------------- replies


@dataclass
class Stream:
    """A successful completion, as the chunks a streaming request would receive.

    Chunks may leave out the envelope (id, created, object, model): it is filled per
    request like the real API does; an envelope key set to None is left out (2025-style
    chunks had no "object").  A ``usage`` without ``prompt_tokens`` is completed from the
    size of the request.  A non-streaming request gets the same chunks folded into one
    completion object.
    """

    chunks: list[Chunk]
    done: bool = True  # end with `data: [DONE]`
    first_byte_delay: float = 0  # seconds before the status line
    gap: float = 0  # seconds between frames
    disconnect_after: int | None = None  # drop the connection after this many frames
    merge_frames: bool = False  # the 2026 framing bug: a truncated frame glued to the next one
    split_bytes: int | None = None  # write each frame in pieces of this many bytes
    trailing_usage_chunk: bool = False  # usage in an OpenAI-style `"choices":[]` chunk instead


@dataclass(frozen=True)
class Error:
    """An HTTP error with GLM's envelope; `extra` adds top-level keys (1301: contentFilter)."""

    status: int
    code: str
    message: str
    extra: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        return {**(self.extra or {}), "error": {"code": self.code, "message": self.message}}


@dataclass
class InStreamError:
    """HTTP 200, `after_chunks` as frames, then `data: {"error":{...}}` and the end of the body."""

    code: str
    message: str
    after_chunks: list[Chunk] = field(default_factory=list)


@dataclass(frozen=True)
class Hang:
    """Send nothing at all for `seconds`, then drop the connection; `accepted`: send the
    stream's 200 headers first (a GLM that took the request and then goes silent)."""

    seconds: float
    accepted: bool = False


Reply = Stream | Error | InStreamError | Hang
MockT = TypeVar("MockT", bound="MockGLM")
Handler = Callable[[dict[str, Any]], Reply]


def overloaded() -> Error:
    """The most common transient GLM failure (429, code 1305)."""
    return Error(429, "1305", "The service may be temporarily overloaded")


def usage_limit_reached(reset_at: str) -> Error:
    """Coding Plan 5-hour quota exhausted; `reset_at` is Beijing time, "YYYY-MM-DD hh:mm:ss"."""
    return Error(429, "1308", f"Usage limit reached for 5 hour. Your limit will reset at {reset_at}")


def content_filtered() -> Error:
    """Input rejected by the safety filter (400, code 1301, top-level contentFilter)."""
    return Error(
        400,
        "1301",
        "The system has detected that the input or generated content may contain unsafe or sensitive "
        "content. Please avoid inputting prompts that are likely to produce sensitive content. "
        "Thank you for your cooperation.",
        extra={"contentFilter": [{"level": 1, "role": "user"}]},
    )


# --------------------------------------------------------------------------- builders


def text_reply(
    text: str,
    *,
    reasoning: str | None = None,
    model: str | None = None,
    usage: dict[str, Any] | None = None,
    finish_reason: str = "stop",
    chunk_size: int = 8,
) -> Stream:
    """Reasoning deltas, then text deltas, then the finish chunk (model None = echo the request)."""
    chunks = [
        *_delta_chunks("reasoning_content", reasoning, chunk_size),
        *_delta_chunks("content", text, chunk_size),
        _finish_chunk(finish_reason, usage or _completion_usage(reasoning, [text])),
    ]
    return Stream(_with_model(chunks, model))


def tool_reply(
    calls: Sequence[tuple[str, str]],
    *,
    reasoning: str | None = None,
    text: str | None = None,
    tool_stream: bool = False,
    index_minus_one: bool = False,
    finish_on_tool_chunk: bool = False,
    model: str | None = None,
    usage: dict[str, Any] | None = None,
    chunk_size: int = 8,
) -> Stream:
    """Function calls given as (name, arguments JSON text), finishing with "tool_calls".

    Without `tool_stream` each call arrives whole in one chunk; with it the first chunk has
    id + name + empty arguments and the arguments follow in fragments carrying only the
    index.  `index_minus_one` and `finish_on_tool_chunk` reproduce the 2025-09 quirks.
    """
    chunks = [*_delta_chunks("reasoning_content", reasoning, chunk_size), *_delta_chunks("content", text, chunk_size)]
    finish = "tool_calls" if finish_on_tool_chunk else None
    for position, (name, arguments) in enumerate(calls):
        call_id = "call_" + secrets.token_hex(12)
        index = -1 if index_minus_one else position
        if not tool_stream:
            function = {"name": name, "arguments": arguments}
            whole = {"id": call_id, "index": index, "type": "function", "function": function}
            chunks.append(_tool_chunk(whole, finish))
            continue
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(_tool_chunk(head, finish))
        chunks.extend(
            _tool_chunk({"index": index, "function": {"arguments": piece}}, finish)
            for piece in _pieces(arguments, chunk_size)
        )
    spoken = [text or "", *(name + arguments for name, arguments in calls)]
    chunks.append(_finish_chunk("tool_calls", usage or _completion_usage(reasoning, spoken)))
    return Stream(_with_model(chunks, model))


def finish_reply(
    reason: str,
    *,
    text: str = "",
    reasoning: str | None = None,
    model: str | None = None,
    usage: dict[str, Any] | None = None,
    chunk_size: int = 8,
) -> Stream:
    """A reply cut short: length, sensitive (with content_filter), network_error,
    model_context_window_exceeded.  Streaming GLM reports these only in finish_reason."""
    reply = text_reply(text, reasoning=reasoning, model=model, usage=usage, finish_reason=reason, chunk_size=chunk_size)
    if reason == "sensitive":
        reply.chunks[-1]["content_filter"] = [{"role": "assistant", "level": 1}]
    return reply


def quota_data(percentage: int = 12, *, reset_in: float = 3 * 3600, level: str = "pro") -> dict[str, Any]:
    """The `data` object of the quota endpoint: the 5-hour token window of a Coding Plan."""
    reset_ms = int((time.time() + reset_in) * 1000)
    return {
        "limits": [
            {"type": "TOKENS_LIMIT", "unit": 3, "number": 5, "percentage": percentage, "nextResetTime": reset_ms}
        ],
        "level": level,
    }


def _pieces(text: str, size: int) -> list[str]:
    if size < 1:
        raise ValueError("chunk_size must be at least 1")
    return [text[i : i + size] for i in range(0, len(text), size)]


def _delta_chunks(kind: str, text: str | None, size: int) -> list[Chunk]:
    pieces = _pieces(text or "", size)
    return [{"choices": [{"index": 0, "delta": {"role": "assistant", kind: piece}}]} for piece in pieces]


def _tool_chunk(call: dict[str, Any], finish: str | None) -> Chunk:
    choice: dict[str, Any] = {"index": 0}
    if finish:
        choice["finish_reason"] = finish
    choice["delta"] = {"tool_calls": [call]}
    return {"choices": [choice]}


def _finish_chunk(reason: str, usage: dict[str, Any]) -> Chunk:
    choice = {"index": 0, "finish_reason": reason, "delta": {"role": "assistant", "content": ""}}
    return {"choices": [choice], "usage": usage}


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _completion_usage(reasoning: str | None, spoken: list[str]) -> dict[str, Any]:
    """Completion-side usage; the prompt side is added per request (see `_complete_usage`)."""
    thought = _tokens(reasoning or "")
    return {
        "completion_tokens": thought + sum(_tokens(part) for part in spoken) + 1,
        "completion_tokens_details": {"reasoning_tokens": thought},
    }


def _with_model(chunks: list[Chunk], model: str | None) -> list[Chunk]:
    if model is not None:
        for chunk in chunks:
            chunk["model"] = model
    return chunks


# --------------------------------------------------------------------------- validation

_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_ROLES = ("system", "user", "assistant", "tool")
_MEDIA_PARTS = ("image_url", "video_url", "file")
_MAX_TOOLS = 128

_INVALID_PARAMETER = Error(400, "1210", "Invalid API parameter, please check the documentation.")
_UNKNOWN_MODEL = Error(400, "1211", "Unknown Model, please check the model code.")
_ILLEGAL_MESSAGES = Error(400, "1214", "The messages parameter is illegal. Please check the documentation.")
_BAD_ROLE = Error(400, "1214", "Incorrect role information")
_ILLEGAL_TOOLS = Error(400, "1214", "The tools parameter is illegal. Please check the documentation.")


def _illegal(detail: str) -> Error:
    return Error(400, "1214", detail)


def _validate(body: Any, models: Mapping[str, ModelSpec] = MODELS) -> Error | None:
    """The first reason api.z.ai would refuse this body, or None."""
    if not isinstance(body, dict):
        return _INVALID_PARAMETER
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return Error(400, "1213", "The model parameter was not received properly.")
    spec = models.get(model.lower())
    if spec is None:
        return _UNKNOWN_MODEL
    return (
        _check_messages(body.get("messages"), spec)
        or _check_parameters(body, spec)
        or _check_tools(body.get("tools"))
    )


def _in_range(value: Any, low: float, high: float) -> bool:
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def _check_parameters(body: dict[str, Any], spec: ModelSpec) -> Error | None:
    stream, tool_stream = body.get("stream"), body.get("tool_stream")
    max_tokens = body.get("max_tokens")
    checks = (
        _in_range(body.get("temperature"), 0.0, 1.0),
        _in_range(body.get("top_p"), 0.01, 1.0),
        max_tokens is None or (type(max_tokens) is int and 1 <= max_tokens <= spec.max_output),
        stream is None or isinstance(stream, bool),
        tool_stream is None or tool_stream is False or (tool_stream is True and stream is True),
        body.get("tool_choice") in (None, "auto"),
    )
    return None if all(checks) else _INVALID_PARAMETER


def _check_tools(tools: Any) -> Error | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or len(tools) > _MAX_TOOLS:
        return _ILLEGAL_TOOLS
    for tool in tools:
        if not isinstance(tool, dict):
            return _ILLEGAL_TOOLS
        kind = tool.get("type")
        if kind == "function":
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                return _ILLEGAL_TOOLS
            if not _NAME.fullmatch(function["name"]):
                return _ILLEGAL_TOOLS
        elif kind not in ("web_search", "retrieval"):
            return _ILLEGAL_TOOLS
    return None


def _check_messages(messages: Any, spec: ModelSpec) -> Error | None:
    if not isinstance(messages, list) or not messages:
        return _ILLEGAL_MESSAGES
    unanswered: set[str] = set()  # tool-call ids of the last assistant message without a result yet
    seen_user = False
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return _ILLEGAL_MESSAGES
        role = message.get("role")
        if role not in _ROLES:
            return _BAD_ROLE
        if role != "tool" and unanswered:
            return _illegal(f"messages[{i}]: tool calls {sorted(unanswered)} have no result")
        if role == "tool":
            error = _check_tool_result(i, message, unanswered)
        elif role == "assistant":
            error = _check_assistant(i, message, spec)
            unanswered = set() if error else {call["id"] for call in message.get("tool_calls") or []}
        else:
            seen_user = seen_user or role == "user"
            error = _check_content(i, message.get("content"), spec, media=role == "user")
        if error:
            return error
    if unanswered:
        return _illegal(f"messages: tool calls {sorted(unanswered)} of the last assistant message have no tool result")
    return None if seen_user else _ILLEGAL_MESSAGES


def _check_content(i: int, content: Any, spec: ModelSpec, *, media: bool) -> Error | None:
    if isinstance(content, str):
        return None if content else _illegal(f"messages[{i}].content: cannot be empty")
    if not isinstance(content, list):
        return _ILLEGAL_MESSAGES
    if not content:
        return _illegal(f"messages[{i}].content: cannot be empty")
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str) or not part["text"]:
                return _illegal(f"messages[{i}].content[{j}].text: cannot be empty")
        elif kind in _MEDIA_PARTS:
            if not (media and spec.vision):
                return _INVALID_PARAMETER
        else:
            return _ILLEGAL_MESSAGES
    return None


def _check_assistant(i: int, message: dict[str, Any], spec: ModelSpec) -> Error | None:
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list) or not all(_is_tool_call(call) for call in calls):
            return _illegal(f"messages[{i}].tool_calls is illegal")
    content = message.get("content")
    if content is None or content == "":
        return None if calls else _illegal(f"messages[{i}]: an assistant message needs content or tool_calls")
    return _check_content(i, content, spec, media=False)


def _is_tool_call(call: Any) -> bool:
    if not isinstance(call, dict) or not isinstance(call.get("id"), str) or not call["id"]:
        return False
    function = call.get("function")
    return (
        call.get("type", "function") == "function"
        and isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and isinstance(function.get("arguments"), str)
    )


def _check_tool_result(i: int, message: dict[str, Any], unanswered: set[str]) -> Error | None:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or call_id not in unanswered:
        return _illegal(f"messages[{i}]: tool_call_id does not answer a tool call of the preceding assistant message")
    unanswered.discard(call_id)
    content = message.get("content")
    if not isinstance(content, str):
        return _ILLEGAL_MESSAGES
    return None if content else _illegal(f"messages[{i}].content: cannot be empty")


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Context:
    """What the real API derives per request: ids, time, echoed model, prompt-side usage."""

    id: str
    created: int
    model: str
    prompt_tokens: int
    cached_tokens: int


def _new_id(created: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(created + _BEIJING)) + secrets.token_hex(8)


def _complete_usage(usage: Any, ctx: _Context) -> Any:
    if not isinstance(usage, dict) or "prompt_tokens" in usage:
        return usage
    completion = usage.get("completion_tokens", 0)
    full = {
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": ctx.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": ctx.cached_tokens},
    }
    full.update((k, v) for k, v in usage.items() if k not in full)
    return full


def _stamp(chunk: Chunk, ctx: _Context) -> Chunk:
    """The chunk as sent: envelope first (chunk values win), then the rest in its own order."""
    defaults = {"id": ctx.id, "created": ctx.created, "object": "chat.completion.chunk", "model": ctx.model}
    out = {key: chunk.get(key, default) for key, default in defaults.items()}
    out = {key: value for key, value in out.items() if value is not None}
    for key, value in chunk.items():
        if key not in defaults:
            out[key] = _complete_usage(value, ctx) if key == "usage" else value
    return out


def _frame(payload: Chunk) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _stream_frames(reply: Stream, ctx: _Context) -> list[bytes]:
    chunks = copy.deepcopy(reply.chunks)
    if reply.trailing_usage_chunk:
        for position, chunk in enumerate(chunks):
            if "usage" in chunk:
                chunks.insert(position + 1, {"choices": [], "usage": chunk.pop("usage")})
                break
    frames = [_frame(_stamp(chunk, ctx)) for chunk in chunks]
    if reply.done:
        frames.append(b"data: [DONE]\n\n")
    if reply.merge_frames and frames:
        # Real bug (2026): a frame cut mid-JSON runs straight into the next `data: `.  The cut
        # frame is a copy of the one that follows, so a tolerant reader loses nothing.
        target = 1 if len(frames) > 2 else 0
        frames[target] = frames[target][: len(frames[target]) // 2] + frames[target]
    return frames


def _completion_body(chunks: list[Chunk], ctx: _Context) -> dict[str, Any]:
    """Fold stream chunks into the non-streaming object (keys in the real, sorted order)."""
    head = _stamp(chunks[0] if chunks else {}, ctx)
    reasoning, content, calls = [], [], []
    by_index: dict[Any, dict[str, Any]] = {}
    finish, usage, extras = "stop", None, {}
    for chunk in chunks:
        for key, value in chunk.items():
            if key == "usage":
                usage = _complete_usage(value, ctx)
            elif key not in _ENVELOPE and key != "choices":
                extras[key] = value
        for choice in chunk.get("choices") or []:
            finish = choice.get("finish_reason") or finish
            delta = choice.get("delta") or {}
            reasoning.append(delta.get("reasoning_content") or "")
            content.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                if "id" in call or not calls:
                    entry = {
                        "function": {"arguments": function.get("arguments", ""), "name": function.get("name", "")},
                        "id": call.get("id", ""),
                        "index": len(calls),
                        "type": "function",
                    }
                    calls.append(entry)
                    by_index[call.get("index")] = entry
                else:
                    by_index.get(call.get("index"), calls[-1])["function"]["arguments"] += function.get("arguments", "")
    message: dict[str, Any] = {"content": "".join(content)}
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    message["role"] = "assistant"
    if calls:
        message["tool_calls"] = calls
    body: dict[str, Any] = {
        "choices": [{"finish_reason": finish, "index": 0, "message": message}],
        "created": head["created"],
        "id": head["id"],
        "model": head["model"],
        "object": "chat.completion",
        "request_id": head["id"],
    }
    if isinstance(usage, dict):
        body["usage"] = {key: usage[key] for key in sorted(usage)}
    body.update(extras)
    return body


# --------------------------------------------------------------------------- HTTP


class _Abort(Exception):
    """Drop the connection without finishing the response."""


class _Connection:
    """One HTTP/1.1 connection, possibly carrying several requests (keep-alive)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER)

    async def _event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.h11.receive_data(await self.stream.receive_some(_READ_SIZE))

    async def read_request(self) -> tuple[h11.Request, bytes] | None:
        request = await self._event()
        if not isinstance(request, h11.Request):
            return None
        body = bytearray()
        while True:
            event = await self._event()
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return request, bytes(body)
            else:
                return None

    async def send(self, *events: Any) -> None:
        for event in events:
            data = self.h11.send(event)
            if data:
                await self.stream.send_all(data)

    async def start(self, status: int, content_type: str, length: int | None = None) -> None:
        headers = [("content-type", content_type), ("x-log-id", _new_id(int(time.time())))]
        if length is not None:
            headers.append(("content-length", str(length)))
        await self.send(h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase))

    async def send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        await self.start(status, _JSON_TYPE, len(data))
        await self.send(h11.Data(data=data), h11.EndOfMessage())

    def next_cycle(self) -> bool:
        """Get ready for the next request on this connection; False when it must close."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False


@dataclass
class RecordedRequest:
    """One request as received (rejected ones too).  The key never shows in repr."""

    method: str
    path: str
    headers: dict[str, str] = field(repr=False)  # lower-case names
    json: Any  # parsed body, or None
    key: str | None = field(repr=False)  # the bearer token
    body: bytes = field(repr=False)


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _route(path: str) -> tuple[str, str | None]:
    """(kind, plan) for a path: kind is chat, models, quota or missing."""
    for prefix, plan in _PLANS.items():
        if path == prefix + "/chat/completions":
            return "chat", plan
        if path == prefix + "/models":
            return "models", plan
    if path == SEARCH_PATH:
        return "search", None
    return ("quota", None) if path == QUOTA_PATH else ("missing", None)


def search_hit(title: str, link: str, content: str, *, date: str = "2026-11-30") -> dict[str, Any]:
    """One `search_result` row as Z.ai's web search API returns it."""
    return {"title": title, "content": content, "link": link, "media": "Example", "icon": "", "refer": "ref_1",
            "publish_date": date}


def _check_search(body: Any) -> Error | None:
    """Z.ai's web search validation: query 1-70 characters, a known engine, count 1-50."""
    if not isinstance(body, dict):
        return _illegal("body")
    query = body.get("search_query")
    if not isinstance(query, str) or not query.strip() or len(query) > 70:
        return _illegal("search_query")
    if body.get("search_engine") not in SEARCH_ENGINES:
        return _illegal("search_engine")
    count = body.get("count", 10)
    if not isinstance(count, int) or not 1 <= count <= 50:
        return _illegal("count")
    if body.get("search_recency_filter", "noLimit") not in SEARCH_RECENCY:
        return _illegal("search_recency_filter")
    domain = body.get("search_domain_filter")
    if domain is not None and not isinstance(domain, str):
        return _illegal("search_domain_filter")
    return None


class MockGLM:
    """The mock server's state; run it with `open_mock_glm()` (or `serve`)."""

    def __init__(
        self,
        *,
        keys: dict[str, set[str]] | None = None,
        handler: Handler | None = None,
        models: Mapping[str, ModelSpec] = MODELS,
    ) -> None:
        self.keys: dict[str, set[str]] = keys if keys is not None else {DEFAULT_KEY: {"coding", "general"}}
        # The model table requests are checked against (another provider's, to stand in for it).
        self.models = models
        self.handler: Handler | None = handler
        self.quota: dict[str, Any] | None = quota_data()  # None: the quota endpoint answers 404
        self.listed: list[str] = list(models)  # what GET /models lists (new releases too)
        # Keys added with `add_key`: their plan level (None: no plan) and what each path bills.
        self.plans: dict[str, str | None] = {}
        self.billing: dict[str, dict[str, str]] = {}
        self.billed: list[tuple[str, str]] = []  # (path kind, "plan" | "cash") per served chat
        self.requests: list[RecordedRequest] = []
        self.queue: deque[Reply] = deque()
        # What the web search API finds for any query (Z.ai `search_result` rows).
        self.search_results: list[dict[str, Any]] = [
            search_hit("Example result", "https://example.org/result", "The example page says hello.")
        ]
        self.connections = 0  # TCP connections accepted so far
        self.usage_sent: list[dict[str, Any]] = []  # every usage object that reached a client, in order
        self._failures: deque[Reply] = deque()
        self._prompts: dict[str | None, str] = {}  # last prompt per key, for cached_tokens
        self._port: int | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the mock GLM server is not running")
        return f"http://127.0.0.1:{self._port}"

    @property
    def coding_url(self) -> str:
        return self.url + CODING_PATH

    @property
    def general_url(self) -> str:
        return self.url + GENERAL_PATH

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if self._route(r.path)[0] == "chat"]

    def add_key(self, key: str, key_type: str, *, cash: bool = True, level: str = "pro") -> None:
        """A key of one of Z.ai's key types (docs.z.ai api-key-management notice, 2026-10-16).

        Standard keys pay cash on both paths and have no plan; Coding Plan and Team Plan keys
        pay plan quota on both; Compatible keys (older) pay plan quota on the Coding Plan path
        and cash on the general one, `compatible-payg` being one of an account without a
        plan.  A path that would pay cash the account lacks (CASH false) answers 1113, as a
        path a key has no plan for does."""
        plan_level = {"standard": None, "compatible-payg": None, "team-plan": "team"}.get(key_type, level)
        pays = {
            "standard": {"coding": "cash", "general": "cash"},
            "coding-plan": {"coding": "plan", "general": "plan"},
            "team-plan": {"coding": "plan", "general": "plan"},
            "compatible": {"coding": "plan", "general": "cash"},
            "compatible-payg": {"general": "cash"},
        }[key_type]
        self.plans[key] = plan_level
        self.billing[key] = pays
        self.keys[key] = {path for path, kind in pays.items() if kind == "plan" or cash}

    @property
    def spent_cash(self) -> bool:
        return any(kind == "cash" for _, kind in self.billed)

    def enqueue(self, *replies: Reply) -> None:
        """Replies for the next chat completions, in order."""
        self.queue.extend(replies)

    def fail_next(self, n: int, reply: Reply) -> None:
        """Answer the next `n` valid chat completions with `reply`, before the queue."""
        self._failures.extend([reply] * n)

    async def serve(
        self, *, port: int = 0, task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen on 127.0.0.1:`port` until cancelled; cancellation closes every connection."""
        listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
        self._port = listeners[0].socket.getsockname()[1]
        await trio.serve_listeners(self._handle_connection, listeners, task_status=task_status)

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        connection = _Connection(stream)
        try:
            while True:
                request = await connection.read_request()
                if request is None:
                    return
                await self._dispatch(connection, *request)
                if not connection.next_cycle():
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, _Abort):
            return  # the client went away, spoke garbage, or we cut it off on purpose

    async def _dispatch(self, connection: _Connection, request: h11.Request, body: bytes) -> None:
        path = request.target.decode("latin-1").split("?", 1)[0]
        method = request.method.decode("latin-1")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.headers}
        record = RecordedRequest(method, path, headers, _parse_json(body), _bearer(headers.get("authorization")), body)
        self.requests.append(record)
        kind, plan = self._route(path)
        if kind == "missing":
            return await connection.send_json(404, {"error": {"code": "404", "message": f"Not Found: {path}"}})
        if method != _METHODS[kind]:
            refusal = {"error": {"code": "405", "message": f"Method {method} not allowed"}}
            return await connection.send_json(405, refusal)
        if kind == "quota":
            return await self._send_quota(connection, headers.get("authorization"))
        refusal = self._authorize(headers.get("authorization"), record.key, plan if kind == "chat" else None)
        if refusal is not None:
            return await connection.send_json(refusal.status, refusal.body())
        if kind == "models":
            return await connection.send_json(200, self._models_body())
        if kind == "search":
            return await self._search(connection, record)
        model = record.json.get("model") if isinstance(record.json, dict) else None
        spec = self.models.get(model) if isinstance(model, str) else None
        if record.key in self.billing and plan is not None and not (spec is not None and spec.price is None):
            self.billed.append((plan, self.billing[record.key][plan]))  # free models cost nothing
        await self._chat(connection, record)

    def _authorize(self, header: str | None, key: str | None, plan: str | None) -> Error | None:
        if not (header or "").strip():
            return Error(401, "1001", "Authentication parameter not received in Header, unable to authenticate")
        if key is None or key not in self.keys:
            return Error(
                401,
                "1002",
                "Authorization Token is invalid, please ensure that the Authorization Token is correctly provided.",
            )
        if plan is not None and plan not in self.keys[key]:
            return Error(429, "1113", "Insufficient balance or no resource package. Please recharge.")
        return None

    @property
    def search_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == SEARCH_PATH]

    async def _search(self, connection: _Connection, record: RecordedRequest) -> None:
        refusal = _check_search(record.json)
        if refusal is not None:
            return await connection.send_json(refusal.status, refusal.body())
        created = int(time.time())
        results = self.search_results[: record.json.get("count", 10)]
        body = {"id": _new_id(created), "created": created, "request_id": _new_id(created),
                "search_intent": [{"query": record.json["search_query"], "intent": "SEARCH_ALL", "keywords": ""}],
                "search_result": results}
        await connection.send_json(200, body)

    def _models_body(self) -> dict[str, Any]:
        data = [{"id": model, "object": "model", "created": 1766332800, "owned_by": "z-ai"} for model in self.listed]
        return {"object": "list", "data": data}

    async def _send_quota(self, connection: _Connection, header: str | None) -> None:
        # The monitor endpoint answers 200 even when authentication fails; it takes the key
        # with or without the "Bearer " prefix.
        if self.quota is None:
            return await connection.send_json(404, {"error": {"code": "404", "message": f"Not Found: {QUOTA_PATH}"}})
        token = (header or "").strip()
        token = _bearer(token) or token
        if not token:
            missing = "Authentication parameter not received in Header, unable to authenticate"
            body = {"code": 1001, "msg": missing, "success": False}
        elif token not in self.keys:
            body = {"code": 1002, "msg": "Authorization Token is invalid", "success": False}
        elif token in self.plans and self.plans[token] is None:
            # What a key without a Coding Plan gets ("this user has no coding plan").
            body = {"code": 500, "msg": "当前用户不存在coding plan", "success": False}
        elif token in self.plans:
            body = {"code": 200, "msg": "Operation successful", "data": {**self.quota, "level": self.plans[token]},
                    "success": True}
        else:
            body = {"code": 200, "msg": "Operation successful", "data": self.quota, "success": True}
        await connection.send_json(200, body)

    async def _chat(self, connection: _Connection, record: RecordedRequest) -> None:
        body = record.json
        refusal = self._validate(body)
        if refusal is not None:
            return await connection.send_json(refusal.status, refusal.body())
        reply = self._next_reply(body)
        if isinstance(reply, Hang):
            if reply.accepted:
                await connection.start(200, _STREAM_TYPE)
            await trio.sleep(reply.seconds)
            raise _Abort
        if isinstance(reply, Error):
            return await connection.send_json(reply.status, reply.body())
        created = int(time.time())
        prompt_tokens, cached_tokens = self._prompt_usage(record.key, body)
        ctx = _Context(_new_id(created), created, body["model"], prompt_tokens, cached_tokens)
        streaming = body.get("stream") is True
        if isinstance(reply, InStreamError):
            await self._send_in_stream_error(connection, reply, ctx, streaming)
        elif streaming:
            await self._send_stream(connection, reply, ctx, body)
        else:
            await self._send_completion(connection, reply, ctx, body)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self._failures:
            return self._failures.popleft()
        if self.queue:
            return self.queue.popleft()
        if self.handler is not None:
            return self.handler(body)
        return self._default_reply(body)

    # What a sibling upstream (tests/mockproviders.py) does differently: routes, checks,
    # the default answer and the wire shape of its replies.

    def _route(self, path: str) -> tuple[str, str | None]:
        return _route(path)

    def _validate(self, body: Any) -> Error | None:
        return _validate(body, self.models)

    def _default_reply(self, body: dict[str, Any]) -> Reply:
        return _default_reply(body, self.models)

    def _stream_frames(self, reply: Stream, ctx: _Context, body: dict[str, Any]) -> list[bytes]:
        return _stream_frames(reply, ctx)

    def _completion_body(self, reply: Stream, ctx: _Context, body: dict[str, Any]) -> dict[str, Any]:
        return _completion_body(reply.chunks, ctx)

    def _prompt_usage(self, key: str | None, body: dict[str, Any]) -> tuple[int, int]:
        """Prompt tokens from the request size; cached tokens from the prefix shared with the
        key's previous request (GLM caches prompt prefixes implicitly)."""
        prompt = json.dumps([body.get("tools") or [], body["messages"]], ensure_ascii=False, sort_keys=True)
        previous = self._prompts.get(key, "")
        self._prompts[key] = prompt
        tokens = max(1, _tokens(prompt))
        cached = min(len(os.path.commonprefix([previous, prompt])) // 4, tokens - 1)
        return tokens, cached

    async def _send_stream(self, connection: _Connection, reply: Stream, ctx: _Context, body: dict[str, Any]) -> None:
        frames = self._stream_frames(reply, ctx, body)
        await trio.sleep(reply.first_byte_delay)
        await connection.start(200, _STREAM_TYPE)
        for sent, frame in enumerate(frames):
            if sent == reply.disconnect_after:
                raise _Abort
            if sent and reply.gap:
                await trio.sleep(reply.gap)
            size = reply.split_bytes or len(frame)
            for start in range(0, len(frame), size):
                await connection.send(h11.Data(data=frame[start : start + size]))
            self._note_usage(_parse_json(frame.removeprefix(b"data: ")))
        if reply.disconnect_after is not None and reply.disconnect_after >= len(frames):
            raise _Abort
        await connection.send(h11.EndOfMessage())

    def _note_usage(self, payload: Any) -> None:
        if isinstance(payload, dict) and isinstance(payload.get("usage"), dict):
            self.usage_sent.append(payload["usage"])

    async def _send_completion(self, connection: _Connection, reply: Stream, ctx: _Context, body: dict[str, Any]) -> None:
        await trio.sleep(reply.first_byte_delay)
        if reply.disconnect_after is not None:
            await connection.start(200, _JSON_TYPE)
            raise _Abort
        completion = self._completion_body(reply, ctx, body)
        await connection.send_json(200, completion)
        self._note_usage(completion)

    async def _send_in_stream_error(
        self, connection: _Connection, reply: InStreamError, ctx: _Context, streaming: bool
    ) -> None:
        error = {"error": {"code": reply.code, "message": reply.message}}
        if not streaming:
            return await connection.send_json(200, error)
        await connection.start(200, _STREAM_TYPE)
        for chunk in reply.after_chunks:
            stamped = _stamp(chunk, ctx)
            await connection.send(h11.Data(data=_frame(stamped)))
            self._note_usage(stamped)
        await connection.send(h11.Data(data=_frame(error)), h11.EndOfMessage())


def _default_reply(body: dict[str, Any], models: Mapping[str, ModelSpec] = MODELS) -> Stream:
    """A short answer, with reasoning unless the request turned thinking off."""
    spec = models[body["model"].lower()]
    thinking = body.get("thinking")
    disabled = isinstance(thinking, dict) and thinking.get("type") == "disabled" and spec.thinking != "forced"
    reasoning = "The user wrote to me. A short, friendly answer will do."
    silent = disabled or spec.thinking == "none"
    return text_reply("Hello! This is the mock GLM server.", reasoning=None if silent else reasoning)


@asynccontextmanager
async def open_mock_glm(
    *, keys: dict[str, set[str]] | None = None, handler: Handler | None = None, models: Mapping[str, ModelSpec] = MODELS
) -> AsyncIterator[MockGLM]:
    """Run a mock GLM server on 127.0.0.1 (free port) for the duration of the block."""
    async with serving(MockGLM(keys=keys, handler=handler, models=models)) as mock:
        yield mock


@asynccontextmanager
async def serving(mock: MockT) -> AsyncIterator[MockT]:
    """Run MOCK (the GLM mock or a sibling) on a free loopback port for the block."""
    async with trio.open_nursery() as nursery:
        await nursery.start(mock.serve)
        try:
            yield mock
        finally:
            nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- standalone


async def _serve_forever(port: int, keys: list[str]) -> None:
    mock = MockGLM(keys={key: {"coding", "general"} for key in keys})
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(mock.serve, port=port))
        shown = ", ".join(mask_secret(key) for key in keys)
        urls = f"{mock.url}  coding: {mock.coding_url}  general: {mock.general_url}"
        print(f"mock GLM on {urls}  keys: {shown}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mockglm", description="Serve the mock GLM API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--key", action="append", help=f"accepted API key, repeatable (default: {DEFAULT_KEY})")
    args = parser.parse_args(argv)
    try:
        trio.run(_serve_forever, args.port, args.key or [DEFAULT_KEY])
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
