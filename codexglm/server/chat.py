"""POST /v1/chat/completions: a pass-through for other OpenAI-compatible clients.

The body goes upstream unchanged except for the model name (mapped like Codex's) and the
key.  Unlike the Responses path, the upstream status is awaited before answering, so
such clients see real HTTP errors (429, 401, ...) after the proxy's own retries.  Streams
are re-framed through the SSE decoder, which repairs merged frames; a failure after
the stream started becomes a final `data: {"error": ...}` frame.
"""

from __future__ import annotations

from typing import Any

import httpx
import trio

from ..providers import Provider
from ..translate import UpstreamError, codec, error_body, is_error_document
from ..translate.sse import SSEDecoder, SSEError
from .failures import shutdown_error
from .proxy import Proxy, RequestRecord
from .responses import CHAT_PATH, fetch_json
from .streaming import EventStream, Sink
from .upstream import Call, Upstream, UpstreamFailure, transport_failure, upstream_json

KEEPALIVE = b": keep-alive\n\n"


class BadChatRequest(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.body = error_body(message, param=param)


def prepare(proxy: Proxy, body: dict[str, Any], record: RequestRecord) -> tuple[Upstream, bytes, bool]:
    """Validate the little the proxy relies on, route and map the model; (upstream, payload, stream)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadChatRequest("`messages` is required and must be a non-empty array", "messages")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadChatRequest("`model` must be a string", "model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadChatRequest("`stream` must be a boolean", "stream")
    route, routed = proxy.route(model or "")
    options = route.options
    body["model"] = options.provider.resolve_model(routed, options.default_model, options.model_map)
    record.model_in, record.model_out, record.stream = model, body["model"], stream
    payload = upstream_json(body)
    proxy.log_body(record, "upstream_request", payload)
    return route.upstream, payload, stream


async def complete(proxy: Proxy, upstream: Upstream, payload: bytes, record: RequestRecord) -> dict[str, Any]:
    document = await fetch_json(proxy, upstream.call(CHAT_PATH, payload, stream=False), record)
    usage = document.get("usage")
    record.usage = usage if isinstance(usage, dict) else None
    record.outcome = "completed"
    return document


async def open_stream(proxy: Proxy, upstream: Upstream, payload: bytes, record: RequestRecord) -> EventStream:
    """Open the upstream stream (raises UpstreamFailure) and wrap it as the response body."""
    call = upstream.call(CHAT_PATH, payload, stream=True)
    record.call = call.stats
    try:
        with proxy.lifecycle.guard() as scope:
            response = await call.open()
        if scope.cancelled_caught:
            raise UpstreamFailure(shutdown_error())
    except BaseException:
        await call.aclose()
        raise
    relay = _Relay(proxy, upstream.provider, call, response, record)
    record.streaming_handoff = True
    return EventStream(
        relay.produce, keepalive=lambda: KEEPALIVE, interval=proxy.settings.keepalive_interval, finish=relay.finish
    )


class _Relay:
    def __init__(self, proxy: Proxy, provider: Provider, call: Call, response: httpx.Response, record: RequestRecord) -> None:
        self._proxy = proxy
        self._provider = provider
        self._call = call
        self._response = response
        self._record = record
        self._done = False
        self._error: UpstreamError | None = None

    async def produce(self, send: Sink) -> None:
        decoder = SSEDecoder()
        with self._proxy.lifecycle.guard() as scope:
            try:
                async with self._call.chunks(self._response) as chunks:
                    async for raw in chunks:
                        frames = self._frames(decoder.feed(raw))
                        if frames:
                            await send.send(frames)
                            if self._record.first_output is not None:
                                send.batch()
                tail = self._frames(decoder.close())
                if tail:
                    await send.send(tail)
            except (httpx.TransportError, SSEError) as exc:
                await self._fail(send, transport_failure(self._provider, exc))
        if scope.cancelled_caught:
            await self._fail(send, shutdown_error())

    def _frames(self, payloads: list[str]) -> bytes:
        out = []
        for payload in payloads:
            if payload == "[DONE]":
                self._done = True
            elif '"usage"' in payload or '"error"' in payload:
                self._note(payload)
                payload = self._proxy.redact(payload)  # GLM may echo a key in an error
            if self._record.first_output is None and '"delta"' in payload:
                self._record.first_output = trio.current_time()
            out.append(b"data: " + payload.replace("\n", "\ndata: ").encode() + b"\n\n")
        return b"".join(out)

    def _note(self, payload: str) -> None:
        try:
            chunk = codec.loads(payload)
        except ValueError:
            return
        if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
            self._record.usage = chunk["usage"]
        if is_error_document(chunk):
            error = chunk["error"]
            code = error.get("code") if isinstance(error, dict) else None
            self._record.error = str(code) if code is not None else "upstream_error"

    async def _fail(self, send: Sink, error: UpstreamError) -> None:
        self._error = error
        await send.send(b"data: " + codec.dumps(self._proxy.error_body(error)) + b"\n\n")

    async def finish(self, completed: bool) -> None:
        await self._call.aclose()
        record = self._record
        record.status = 200
        if self._error is not None:
            record.outcome, record.error = (
                ("shutdown" if self._error.kind == "shutdown" else "failed"),
                self._error.codex_code,
            )
        elif not completed:
            record.outcome = "disconnected"
        elif record.error is not None:
            record.outcome = "failed"
        else:
            record.outcome = "completed" if self._done else "incomplete"
        self._proxy.finish(record)
