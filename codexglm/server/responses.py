"""POST /v1/responses: Codex's requests, answered through the translation core.

Streaming answers start at once (`response.created`, written while the request travels
upstream, 50 ms after arrival at the latest), so Codex's idle timer is fed with real
events while the proxy queues, retries or waits for the model's first token.  Failures
before any output reached Codex are retried upstream, transparently; after that, or when
retrying is pointless, the stream ends with one `response.failed` carrying the mapped
code, never with a dropped connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import httpx
import trio

from ..translate import (
    ChatRequest,
    StreamTranslator,
    UpstreamError,
    classify_error,
    codec,
    encode_sse,
    is_error_document,
    translate_completion,
    transport_error,
)
from ..translate.images import notice_events
from ..translate.sse import SSEDecoder, SSEError
from .failures import answer_too_large_error, internal_error, shutdown_error
from .proxy import Proxy, RequestRecord, log
from .streaming import EventStream, Sink
from .upstream import Call, Upstream, UpstreamFailure, drain, read_document, transport_failure

CHAT_PATH = "/chat/completions"
# `response.created` waits this long at most for the upstream request to be written (then it
# goes out while GLM thinks, off the path to the first text).
_OPENING_WAIT = 0.05
# Bound on delivering the terminal event during shutdown (the client may be gone).
_FINAL_SEND_SECONDS = 1.0
Events = list[dict[str, Any]]


def response_id(record: RequestRecord) -> str:
    """The Responses id of a request's answer: its log id, so the two can be matched."""
    return f"resp_{record.id.removeprefix('req_')}"


class ResponsesStream:
    """One streamed answer.  Each upstream attempt gets a fresh translator; the proxy
    numbers the events itself so the sequence stays continuous across attempts."""

    def __init__(
        self,
        proxy: Proxy,
        upstream: Upstream,
        chat: ChatRequest,
        payload: bytes,
        record: RequestRecord,
        *,
        notice: str | None = None,
    ) -> None:
        self._proxy = proxy
        self._upstream = upstream
        # A line of the proxy's own for Codex to show first (an image was described).
        self._notice = notice
        self._provider = upstream.provider
        self._chat = chat
        self._payload = payload
        self._record = record
        self._translator = self._new_translator()
        self._seq = 0
        self._sent = False  # whether the current attempt has sent the client anything

    def body(self) -> EventStream:
        self._record.streaming_handoff = True
        opening = self._translator.start() + (notice_events(self._notice) if self._notice else [])
        return EventStream(
            self._produce,
            keepalive=self._heartbeat,
            interval=self._proxy.settings.keepalive_interval,
            finish=self._finish,
            opening=self._encode(opening),
            opening_wait=_OPENING_WAIT,
        )

    def _new_translator(self) -> StreamTranslator:
        return StreamTranslator(self._chat.context, response_id=response_id(self._record), first_index=int(bool(self._notice)))

    def _restart(self) -> None:
        """A fresh translator for the next attempt (the failed one may hold partial state)."""
        self._translator = self._new_translator()
        self._translator.start()  # the client already has created/in_progress

    def _encode(self, events: Events) -> bytes:
        frames = []
        for event in events:
            self._seq += 1
            event["sequence_number"] = self._seq
            frames.append(encode_sse(event))
        return b"".join(frames)

    def _fail(self, error: UpstreamError) -> Events:
        """The terminal `response.failed`, naming where the settings behind ERROR were set."""
        return self._translator.fail(self._proxy.explain(error, self._record))

    def _heartbeat(self) -> bytes:
        return self._encode(self._translator.heartbeat())

    async def _produce(self, send: Sink) -> None:
        try:
            with self._proxy.lifecycle.guard() as scope:
                await self._attempts(send)
            if scope.cancelled_caught:
                await self._send(send, self._translator.fail(shutdown_error()))
        except Exception as exc:  # a bug must still end the stream properly
            log.exception("responses stream %s failed", self._record.id)
            await self._send(send, self._translator.fail(internal_error(exc)))

    async def _attempts(self, send: Sink) -> None:
        async with self._upstream.call(CHAT_PATH, self._payload, stream=True, on_sent=send.release) as call:
            self._record.call = call.stats
            while True:
                try:
                    response = await call.open()
                    retry = await self._pump(call, response, send)
                    if retry is None:
                        return
                    self._restart()
                    await call.recover(retry)
                except UpstreamFailure as failure:
                    await self._send(send, self._fail(failure.error))
                    return

    async def _pump(self, call: Call, response: httpx.Response, send: Sink) -> UpstreamError | None:
        """Relay one upstream answer.  Returns the error to retry on when it failed before
        any of this attempt's output was sent; None once the answer is finished (either way)."""
        self._sent = False
        try:
            if response.headers.get("content-type", "").startswith("application/json"):
                # Not a stream after all: an upstream can answer 200 with a plain JSON error body.
                document = await read_document(self._provider, response, self._proxy.settings.max_answer_bytes)
                if not isinstance(document, dict):
                    return document
                await self._send(send, self._translator.feed(document) + self._translator.feed_done())
                return None
            async with call.chunks(response) as chunks:
                return await self._relay(chunks, send)
        except (httpx.TransportError, SSEError) as exc:
            error = transport_failure(self._provider, exc)
            if not self._sent:
                return error
            await self._send(send, self._fail(error))
            return None

    async def _relay(self, chunks: AsyncIterator[bytes], send: Sink) -> UpstreamError | None:
        translator = self._translator
        decoder = SSEDecoder()
        limit, received = self._proxy.settings.max_answer_bytes, 0
        async for raw in chunks:
            received += len(raw)
            if received > limit:
                await self._send(send, self._fail(answer_too_large_error(self._provider, limit)))
                return None
            events: Events = []
            for payload in decoder.feed(raw):
                failure = self._translate(payload, events)
                if failure is not None:
                    return failure
            await self._send(send, events)
            if translator.finished:
                # Before the client's body ends, so its next request finds the connection pooled.
                await drain(chunks)
                return None
        events = []
        for payload in decoder.close():
            failure = self._translate(payload, events)
            if failure is not None:
                return failure
        nothing_sent = not self._sent and not events
        events += translator.end_of_stream()
        if nothing_sent and translator.outcome == "failed" and translator.error_code == "server_error":
            # Cut short before anything reached Codex: as good as a failed connection.
            return transport_error(self._provider, "the stream closed before the answer was finished")
        await self._send(send, events)
        return None

    def _translate(self, payload: str, events: Events) -> UpstreamError | None:
        """Feed one upstream payload.  An error frame that arrives before any output of
        this attempt is returned instead, so the attempt can be retried."""
        translator = self._translator
        if payload == "[DONE]":
            events += translator.feed_done()
            return None
        try:
            chunk = codec.loads(payload)
        except ValueError:
            return None  # like Codex: an unparseable data line is skipped
        if not isinstance(chunk, dict):
            return None
        if not self._sent and not events and is_error_document(chunk):
            return classify_error(self._provider, 200, chunk, now=datetime.now(timezone.utc))
        events += translator.feed(chunk)
        return None

    async def _send(self, send: Sink, events: Events) -> None:
        if not events:
            return
        self._sent = True
        if not self._translator.finished:
            await send.send(self._encode(events))
            if self._record.first_output is None and self._translator.emitted_output:
                self._record.first_output = trio.current_time()
                send.batch()  # the first text went out at once; the rest may be coalesced
            return
        if self._record.first_output is None and self._translator.emitted_output:
            self._record.first_output = trio.current_time()
        response = events[-1].get("response")
        if isinstance(response, dict):
            error = response.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                error["message"] = self._proxy.redact(error["message"])  # an upstream may echo a key
            self._proxy.log_body(self._record, "response", response)
        # The terminal event must reach Codex even when the proxy is shutting down.
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + _FINAL_SEND_SECONDS
            await send.send(self._encode(events))

    async def _finish(self, completed: bool) -> None:
        record = self._record
        translator = self._translator
        record.status = 200
        record.usage = translator.usage
        record.error = translator.error_code
        if self._proxy.lifecycle.stopping and translator.outcome != "completed":
            record.outcome = "shutdown"
        elif translator.finished:
            record.outcome = translator.outcome
        else:
            record.outcome = "disconnected" if not completed else "failed"
        self._proxy.finish(record)


async def complete(
    proxy: Proxy, upstream: Upstream, chat: ChatRequest, payload: bytes, record: RequestRecord
) -> dict[str, Any]:
    """A non-streaming answer: the Responses `response` object."""
    completion = await fetch_json(proxy, upstream.call(CHAT_PATH, payload, stream=False), record)
    response = translate_completion(completion, chat.context, response_id=response_id(record))
    record.usage = response.get("usage")
    record.outcome = str(response.get("status") or "")
    error = response.get("error")
    record.error = error.get("code") if isinstance(error, dict) else None
    return response


async def fetch_json(proxy: Proxy, call: Call, record: RequestRecord) -> dict[str, Any]:
    """The upstream JSON document for a non-streaming request, or UpstreamFailure."""
    async with call:
        record.call = call.stats
        with proxy.lifecycle.guard() as scope:
            return await call.json()
    assert scope.cancelled_caught
    raise UpstreamFailure(shutdown_error())
