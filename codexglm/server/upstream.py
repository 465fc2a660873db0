"""Talking to the provider: one pooled HTTP client, attempts with retries, keys and endpoint choice.

A `Call` is one client request's trip upstream.  `Call.open()` returns a 200 response
whose body is not read yet; any failure before that (connection errors, HTTP errors) is
classified and handed to `Call.recover()`, which decides: switch endpoint (auto mode, a
plan-mismatch code), rotate key (rate limit, auth), back off and retry (transient), or give up by
raising `UpstreamFailure`.  Callers that see a failure later but before anything reached
their client (an error frame as the first event, a read error) call `recover()` too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import random
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, cast

import httpx
import trio

from .. import __version__
from ..providers import Provider
from ..settings import Settings
from ..translate import (
    UpstreamError,
    classify_error,
    codec,
    is_error_document,
    transport_error,
)
from . import pool
from .failures import answer_too_large_error, no_key_error
from .keys import KeyPool

# Exponential backoff between retries, before jitter (seconds).
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 8.0
# An error body is read only this far: enough for any GLM message, bounded for HTML pages.
_ERROR_BODY_CAP = 64 * 1024
# The longest Retry-After the proxy honours (and tells Codex); beyond it a hint is absurd.
RETRY_AFTER_CAP = 3600.0
# A stream whose first byte missed `first_byte_timeout` is tried this many more times, at
# once: a silent upstream is not one a backoff revives.
FIRST_BYTE_RETRIES = 1
# The `response.failed` code Codex shows as is and does not retry (protocol.md §4.3).
FINAL_CODEX_CODE = "invalid_prompt"
# Bounds on reading the tail of a finished stream to keep its connection (see `drain`).
_DRAIN_SECONDS = 0.5
_DRAIN_BYTES = 64 * 1024


def _sent_tracer(on_sent: Callable[[], None]) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpcore `trace` extension calling ON_SENT when the request body has been written."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_body.complete"):
            on_sent()

    return trace


def upstream_json(body: dict[str, Any]) -> bytes:
    """The body the upstream gets: compact UTF-8 JSON; a lone surrogate becomes "?"."""
    return codec.dumps(body)


class FirstByteTimeout(httpx.ReadTimeout):
    """The upstream took the request and then sent nothing within `first_byte_timeout`.

    A read timeout of its own: without it a silent upstream holds a stream (fed with
    keep-alives, so Codex never gives up) for the whole `read_timeout`."""


class UpstreamFailure(Exception):
    """The upstream could not serve the request; `error` says why and what Codex should see."""

    def __init__(self, error: UpstreamError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class CallStats:
    """What the request log records about the upstream side of one request."""

    attempts: int = 0
    provider: str = ""  # the provider the request was routed to
    endpoint: str = ""
    key: int | None = None  # 1-based position of the key used (never the key itself)
    latency: float | None = None  # seconds from the last send to its response headers
    glm_code: str | None = None  # of the last upstream error code, even if a retry then succeeded


class Upstream:
    """Shared by all requests of one proxy: client, key pool, endpoint memory, limits."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.provider = settings.upstream
        self.endpoints: list[tuple[str, str]] = settings.endpoints()
        self.keys = KeyPool(settings.api_keys)
        # Auto mode: the endpoint (index into `endpoints`) that last worked for each key; a team
        # gateway puts a map here that its instances share (team/endpoints.py).
        self.endpoint_of: MutableMapping[str, int] = {}
        self.limiter = trio.CapacityLimiter(max(1, settings.max_concurrency))
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        # identity: bodies are relayed as raw bytes, so they must not arrive compressed.
        self.headers = {"User-Agent": f"codexglm/{__version__}", "Accept-Language": "en-US,en", "Accept-Encoding": "identity"}
        self._timeout = timeout.as_dict()
        self._targets: dict[str, tuple[httpx.URL, httpx.AsyncBaseTransport]] = {}
        pool.install()  # httpcore's pool bookkeeping, linear in its connections
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=settings.max_concurrency + 8,
                max_keepalive_connections=settings.max_concurrency,
                keepalive_expiry=60.0,
            ),
            headers=self.headers,
        )

    def call(self, path: str, payload: bytes, *, stream: bool, on_sent: Callable[[], None] | None = None) -> Call:
        """A call to PATH; ON_SENT is told each time an attempt's request has been written."""
        return Call(self, path, payload, stream=stream, on_sent=on_sent)

    async def send(
        self, url: str, payload: bytes, headers: dict[str, str], *, on_sent: Callable[[], None] | None = None
    ) -> httpx.Response:
        """POST PAYLOAD to URL, the response's body unread: straight to the transport httpx
        would pick (a proxy from the environment included), with the URL parsed once.  The
        client's own layers (auth, redirects, cookies, hooks) have nothing to do here and
        cost a fifth of a millisecond per request.  ON_SENT is called once the request is
        written (from httpcore's trace hook; a transport without one never calls it)."""
        target = self._targets.get(url)
        if target is None:
            parsed = httpx.URL(url)
            target = self._targets[url] = (parsed, self.client._transport_for_url(parsed))
        parsed, transport = target
        extensions: dict[str, Any] = {"timeout": self._timeout}
        if on_sent is not None:
            extensions["trace"] = _sent_tracer(on_sent)
        request = httpx.Request("POST", parsed, content=payload, headers={**self.headers, **headers}, extensions=extensions)
        response = await transport.handle_async_request(request)
        response.request = request
        return response

    def endpoint_index(self, key: str) -> int:
        return self.endpoint_of.get(key, 0)

    def remember_endpoint(self, key: str, index: int) -> None:
        if self.settings.endpoint_mode == "auto":
            self.endpoint_of[key] = index

    def may_switch(self, current: int, target: int) -> bool:
        """May the fallback move a request from endpoint CURRENT to TARGET (billing safety)?"""
        source, destination = self.endpoints[current][0], self.endpoints[target][0]
        return self.provider.fallback_allowed(self.settings.key_type, source, destination, paid=self.settings.paid_fallback)

    def unpaid_switch_note(self, error: UpstreamError, current: int) -> UpstreamError:
        """ERROR, saying so when a fallback was left out because it would have spent cash."""
        refused = [label for index, (label, _) in enumerate(self.endpoints) if not self.may_switch(current, index)]
        if self.settings.endpoint_mode != "auto" or not refused:
            return error
        note = (
            f" codexglm did not retry on the {', '.join(refused)} endpoint: with a key of type "
            f"{self.settings.key_type} it spends your cash balance. Run `codexglm login` to detect the key type, "
            "or allow it with `codexglm config set paid_fallback true`."
        )
        return dataclasses.replace(error, message=error.message + note)

    async def aclose(self) -> None:
        await self.client.aclose()


class Call:
    """One client request's attempts upstream; also an async context manager that frees
    the concurrency slot and any open response on exit."""

    def __init__(
        self, upstream: Upstream, path: str, payload: bytes, *, stream: bool, on_sent: Callable[[], None] | None = None
    ) -> None:
        self._up = upstream
        self._on_sent = on_sent
        self._path = path
        self._payload = payload
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        self.stats = CallStats(provider=upstream.provider.name)
        self._slot = False
        self._started: float | None = None
        self._retries = 0
        self._key: str | None = None
        self._dead_keys: set[str] = set()
        # Per key: endpoint indexes this request has found wanting (auto mode).
        self._tried: dict[str, set[int]] = {}
        self._endpoint: dict[str, int] = {}
        self._response: httpx.Response | None = None
        self._stream = stream
        self._first_byte_by: float | None = None  # deadline for the current attempt's first byte
        self._silent = False  # the last attempt missed it
        self._silences = 0

    async def __aenter__(self) -> Call:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the open response and free the slot; safe to call more than once."""
        try:
            await self.release_response()
        finally:
            if self._slot:
                self._slot = False
                self._up.limiter.release_on_behalf_of(self)

    async def open(self) -> httpx.Response:
        """A 200 response with its body unread, after as many attempts as policy allows."""
        if not self._slot:
            try:  # a free slot is taken without a trip through the scheduler
                self._up.limiter.acquire_on_behalf_of_nowait(self)
            except trio.WouldBlock:
                await self._up.limiter.acquire_on_behalf_of(self)
            self._slot = True
        if self._started is None:
            self._started = trio.current_time()
        while True:
            key = self._pick_key()
            index = self._endpoint.get(key, self._up.endpoint_index(key))
            label, base = self._up.endpoints[index]
            self._key = key
            self.stats.attempts += 1
            self.stats.endpoint = label
            self.stats.key = self._up.keys.index(key)
            sent = trio.current_time()
            if self._stream:
                self._first_byte_by = sent + self._up.settings.first_byte_timeout
            url = base + self._path
            try:
                response = None
                with trio.move_on_at(self._first_byte_by if self._first_byte_by is not None else math.inf):
                    headers = {**self._headers, "Authorization": f"Bearer {key}"}
                    response = await self._up.send(url, self._payload, headers, on_sent=self._on_sent)
                if response is None:  # the first-byte deadline passed first
                    raise self._missed_first_byte(httpx.Request("POST", url))
            except httpx.TransportError as exc:
                error = transport_failure(self._up.provider, exc)
            else:
                self.stats.latency = trio.current_time() - sent
                if response.status_code == 200:
                    self._response = response
                    self._up.remember_endpoint(key, index)
                    return response
                error = await _read_error(self._up.provider, response)
            await self.recover(error)

    def _missed_first_byte(self, request: httpx.Request) -> FirstByteTimeout:
        self._silent = True
        wait = self._up.settings.first_byte_timeout
        return FirstByteTimeout(f"{self.stats.endpoint} endpoint, waited {wait:g} s", request=request)

    @contextlib.asynccontextmanager
    async def chunks(self, response: httpx.Response) -> AsyncIterator[AsyncIterator[bytes]]:
        """The raw body of RESPONSE; a first byte later than this attempt's deadline raises
        FirstByteTimeout (the stream is then given up, and retried by `recover`)."""
        async with raw_chunks(response) as body:
            yield self._first_byte_bounded(body, response.request)

    async def _first_byte_bounded(self, body: AsyncIterator[bytes], request: httpx.Request) -> AsyncIterator[bytes]:
        # SSE comments (an upstream's own pings) carry no data: they do not count as the first byte.
        deadline, self._first_byte_by = self._first_byte_by, None
        while deadline is not None:
            chunk = None
            with trio.move_on_at(deadline):
                chunk = await anext(body, b"")
            if chunk is None:
                raise self._missed_first_byte(request)
            if not chunk:
                return
            if b"data" in chunk:
                deadline = None
            yield chunk
        async for chunk in body:
            yield chunk

    async def json(self) -> dict[str, Any]:
        """The whole JSON body of a non-streaming request; in-body errors are retried too."""
        while True:
            response = await self.open()
            try:
                outcome = await read_document(self._up.provider, response, self._up.settings.max_answer_bytes)
            except httpx.TransportError as exc:
                outcome = transport_failure(self._up.provider, exc)
            finally:
                await self.release_response()
            if isinstance(outcome, dict):
                return outcome
            await self.recover(outcome)

    async def release_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            with trio.CancelScope(shield=True):
                await response.aclose()

    async def recover(self, error: UpstreamError) -> None:
        """Get ready for the next attempt after `error`, or raise UpstreamFailure."""
        await self.release_response()
        self.stats.glm_code = error.glm_code
        key = self._key
        assert key is not None, "recover() follows an attempt"
        if self._silent:
            self._silent = False
            self._silences += 1
            if self._silences > FIRST_BYTE_RETRIES:
                # Codex retries other stream failures itself (stream_max_retries), each
                # costing two more silent waits; this code ends the turn with the message.
                raise UpstreamFailure(dataclasses.replace(error, codex_code=FINAL_CODEX_CODE, retryable=False))
            return
        if error.switch_endpoint:
            if self._switch_endpoint(key):
                return
            error = self._up.unpaid_switch_note(error, self._endpoint.get(key, self._up.endpoint_index(key)))
        if error.rotate_key:
            self._up.keys.cool_down(key, error.retry_after or self._up.settings.key_cooldown)
            if not error.retryable:
                self._dead_keys.add(key)
            if self._fresh_key_available():
                return
        if not error.retryable or not self._live_keys():
            raise UpstreamFailure(error)
        self._retries += 1
        if self._retries >= self._up.settings.max_attempts:
            raise UpstreamFailure(error)
        delay = _backoff(self._retries, error.retry_after)
        assert self._started is not None
        if trio.current_time() + delay - self._started > self._up.settings.retry_budget:
            raise UpstreamFailure(error)
        await trio.sleep(delay)

    def _pick_key(self) -> str:
        key = self._up.keys.pick(exclude=self._dead_keys)
        if key is None:
            raise UpstreamFailure(no_key_error(self._up.provider))
        return key

    def _live_keys(self) -> bool:
        return self._up.keys.pick(exclude=self._dead_keys) is not None

    def _fresh_key_available(self) -> bool:
        """Is there a usable key that is not cooling down (so rotating beats waiting)?"""
        key = self._up.keys.pick(exclude=self._dead_keys)
        return key is not None and key != self._key and self._up.keys.cooling_until(key) <= trio.current_time()

    def _switch_endpoint(self, key: str) -> bool:
        """Auto mode: move this key to an endpoint it has not failed on in this request."""
        if self._up.settings.endpoint_mode != "auto":
            return False
        current = self._endpoint.get(key, self._up.endpoint_index(key))
        tried = self._tried.setdefault(key, set())
        tried.add(current)
        for index in range(len(self._up.endpoints)):
            if index not in tried and self._up.may_switch(current, index):
                self._endpoint[key] = index
                return True
        return False


async def read_document(provider: Provider, response: httpx.Response, limit: int) -> dict[str, Any] | UpstreamError:
    """A non-streamed answer's document, or the error it is (carried, malformed, too large)."""
    body = await read_capped(response, limit)
    return json_document(provider, body) if body is not None else answer_too_large_error(provider, limit)


async def read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past LIMIT bytes (nothing more is read)."""
    body = bytearray()
    async with raw_chunks(response) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                return None
    return bytes(body)


def raw_chunks(response: httpx.Response) -> contextlib.aclosing[AsyncGenerator[bytes, None]]:
    """`response.aiter_raw()`, closed on exit (httpx types it as a plain iterator)."""
    return contextlib.aclosing(cast(AsyncGenerator[bytes, None], response.aiter_raw()))


async def drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what is left of a body the caller is done with (after `[DONE]` that is just
    the end of the chunked encoding), so its connection goes back to the pool instead of
    being closed: with TLS to Z.ai a new connection costs a handshake per request."""
    left = _DRAIN_BYTES
    with trio.move_on_after(_DRAIN_SECONDS), contextlib.suppress(httpx.TransportError):
        async for chunk in chunks:
            left -= len(chunk)
            if left < 0:
                return


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and members of exception groups."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [e for e in (current.__cause__, current.__context__) if e is not None]
        stack += list(getattr(current, "exceptions", ()) or ())


# What each kind of transport failure is called; {upstream} names who failed.
_TRANSPORT_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (FirstByteTimeout, "{upstream} accepted the request and then sent nothing"),
    (httpx.ConnectTimeout, "connection timed out"),
    (httpx.PoolTimeout, "no free upstream connection"),
    (httpx.WriteTimeout, "sending the request timed out"),
    (httpx.ReadTimeout, "no data from {upstream} within the read timeout"),
    (httpx.ConnectError, "connection failed"),
    (httpx.RemoteProtocolError, "{upstream} closed the connection unexpectedly"),
    (httpx.ReadError, "the connection to {upstream} broke"),
    (httpx.UnsupportedProtocol, "the URL is not http(s)"),
)


# What below HTTP failed (`UpstreamError.cause`): server/blame.py names the settings behind each.
UNREACHABLE, CONNECT_TIMEOUT, FIRST_BYTE, READ_TIMEOUT = "unreachable", "connect_timeout", "first_byte", "read_timeout"
_CAUSES: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str], ...] = (
    (FirstByteTimeout, FIRST_BYTE),
    (httpx.ConnectTimeout, CONNECT_TIMEOUT),
    ((httpx.ReadTimeout, httpx.WriteTimeout), READ_TIMEOUT),
    ((httpx.ConnectError, httpx.UnsupportedProtocol), UNREACHABLE),
)


def transport_failure(provider: Provider, exc: BaseException) -> UpstreamError:
    """The failure an exception below the answer means: a transport error, named by
    `describe_transport_error`, or a broken event stream, in its own words."""
    reason = describe_transport_error(exc, provider.model_family) if isinstance(exc, httpx.TransportError) else str(exc)
    return transport_error(provider, reason, next((cause for kind, cause in _CAUSES if isinstance(exc, kind)), ""))


def transport_root_cause(exc: BaseException) -> str | None:
    """The cause below HTTP a user can act on: DNS, TLS, refused, unreachable."""
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message or 'verification failed'})"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if getattr(cause, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "network unreachable"
    return None


def describe_transport_error(exc: BaseException, upstream: str = "the upstream") -> str:
    """One line for a failure below HTTP: what failed, and why where the cause is known
    ("connection failed (DNS lookup failed)").  No URL is quoted: keys only travel in headers."""
    cause = transport_root_cause(exc)
    for kind, text in _TRANSPORT_FAILURES:
        if isinstance(exc, kind):
            what = text.format(upstream=upstream)
            detail = cause or str(exc).strip()
            return f"{what} ({detail})" if detail and detail != what else what
    if cause is not None:
        return cause
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _read_error(provider: Provider, response: httpx.Response) -> UpstreamError:
    """Classify a non-200 answer from its (bounded) body and any Retry-After hint."""
    body = bytearray()
    try:
        async with raw_chunks(response) as chunks:
            async for chunk in chunks:
                body += chunk
                if len(body) >= _ERROR_BODY_CAP:
                    break
    except httpx.TransportError:
        pass  # classify what arrived; the status alone is informative
    finally:
        await response.aclose()
    hint = _retry_after(response.headers.get("retry-after"))
    return classify_error(provider, response.status_code, bytes(body), now=datetime.now(timezone.utc), retry_after=hint)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header, within [0, RETRY_AFTER_CAP]; None if malformed.

    RFC 9110 §10.2.3 allows only delta-seconds (digits) or an HTTP-date: `inf`, `1e400`,
    `-5` or `NaN` are not hints, and an absurd delay is capped rather than obeyed."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), RETRY_AFTER_CAP)  # float(): no int-from-str digit limit
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()), RETRY_AFTER_CAP)


def json_document(provider: Provider, raw: bytes) -> dict[str, Any] | UpstreamError:
    """A completion document, or the error it carries (some upstreams answer 200 + error body)."""
    try:
        document = codec.loads(raw)
    except ValueError:
        return transport_error(provider, "the answer is not JSON")
    if not isinstance(document, dict):
        return transport_error(provider, "the answer is JSON but not an object")
    if is_error_document(document):
        return classify_error(provider, 200, document, now=datetime.now(timezone.utc))
    return document


def _backoff(retry: int, hint: float | None) -> float:
    """Jittered exponential backoff; a server hint, when given, is the floor."""
    delay: float = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (retry - 1)) * random.uniform(0.5, 1.0)
    if hint is not None:
        delay = max(delay, hint * random.uniform(1.0, 1.1))
    return delay
