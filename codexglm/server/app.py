"""The Quart-Trio application: routes, the Host and bearer-token guards, OpenAI-shaped errors.

Every answer the proxy gives on its own is an OpenAI error body
(`{"error": {"message", "type", "code"}}`), including 404/405/413 and unexpected
exceptions: Codex shows error bodies to the user, and a traceback or an HTML page would
be noise at best and a leak at worst.

Codex's own requests (`POST /v1/responses` to a personal proxy, allowed in by the guard)
are served below Quart's request context, which cost a third of a millisecond of their
time to first text; they are answered by the same functions as the route Quart keeps for
a team gateway's requests.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import trio
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    Scope,
    WebsocketScope,
)
from quart import Response, g, request
from quart.typing import ResponseTypes
from quart.utils import encode_headers
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection
from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadHost, HTTPException, RequestEntityTooLarge, RequestTimeout

from ..codex.origin import request_origin
from ..codex.search import SearchRequestError, parse_search_request
from ..ledger.store import LedgerError
from ..ledger.writer import GATHER_SECONDS, Ledger
from ..providers import get_provider, model_slug
from ..settings import Settings
from ..team import dashboard
from ..team.gate import Gate, Refusal
from ..team.metrics import CONTENT_TYPE as METRICS_TYPE
from ..translate import ChatRequest, RequestError, build_chat_request, codec, error_body
from ..translate.images import notice_item
from . import chat, responses
from .blame import REQUEST_TOO_LARGE, clause, responsible
from .encoding import EncodingError, decode_body
from .failures import internal_error, shutdown_error
from .proxy import HEALTH_PATH, Proxy, RequestRecord, Route, log
from .search import billing_note
from .streaming import CONNECTION, EventStream
from .upstream import UpstreamFailure, upstream_json
from .vision import ImageDescriber, prepare_images

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_HOST: frozenset[str] = frozenset({"*"})
_BAD_HOST = error_body(
    "Host header not allowed: this proxy only answers on its loopback address.", "permission_error", "invalid_host"
)
_BAD_TOKEN = error_body(
    "Missing or wrong bearer token for the codexglm proxy.", "authentication_error", "invalid_api_key"
)
_AMBIGUOUS_LENGTH = error_body(
    "A request may not carry both Content-Length and Transfer-Encoding.", code="invalid_framing"
)
_NO_WEBSOCKET = error_body(
    "This proxy does not speak WebSocket; send the request as plain HTTP.", code="websocket_not_supported"
)
# RFC 6750 §3: a 401 names the scheme the client has to use.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="codexglm"'}
_BAD_ADMIN = error_body(
    "This needs the gateway's admin token (CODEXGLM_ADMIN_TOKEN when `serve` started).",
    "authentication_error",
    "invalid_admin_token",
)
METRICS_PATH, DASHBOARD_PATH, READY_PATH = "/metrics", "/dashboard", "/readyz"
MEMBER_USAGE_PATH = "/v1/codexglm/usage"
RESPONSES_PATHS = frozenset({"/v1/responses", "/responses"})
# /healthz names paths and upstream URLs: admins only; load balancers use /readyz.
ADMIN_PATHS = frozenset({METRICS_PATH, DASHBOARD_PATH, HEALTH_PATH})
OPEN_PATHS = frozenset({READY_PATH})
# A lone surrogate (`"\\ud800"`) parses, but cannot be sent as the UTF-8 JSON requires.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Where a body can hold one: a `\uD8xx`-style escape, the UTF-8 form of a surrogate (json
# decodes bytes with "surrogatepass"), or a UTF-16/32 body (NUL bytes).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_UTF8 = re.compile(rb"\xed[\xa0-\xbf]")
_TOO_DEEP = error_body("The request body is nested too deeply.", code="invalid_json")
# How long a member's usage answer waits for its rows to reach the database.
_SETTLE_SECONDS = 2.0
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ApiError(Exception):
    """Answer the current request with an OpenAI error body."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        *,
        outcome: str = "rejected",
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(body["error"]["message"])
        self.status = status
        self.body = body
        self.outcome = outcome
        self.retry_after = retry_after
        self.headers = headers or {}


class _Connection(TrioASGIHTTPConnection):
    async def _send_response(self, send: ASGISendCallable, response: ResponseTypes) -> None:
        await _send_answer(send, response, super()._send_response)


PlainSender = Callable[[ASGISendCallable, ResponseTypes], Awaitable[None]]


async def _send_answer(send: ASGISendCallable, response: ResponseTypes, send_plain: PlainSender) -> None:
    """RESPONSE over SEND with merged writes: a stream body by `_send_stream`, any other by SEND_PLAIN."""
    body = getattr(response, "response", None)
    merged = _merged_sends(send)
    try:
        if isinstance(body, EventStream):
            await _send_stream(merged, response, body)
        else:
            await send_plain(merged, response)
    finally:
        # A stream body owns an upstream connection and a concurrency slot; if the client
        # left before the body was even entered, nothing else would release them.
        if isinstance(body, EventStream):
            await body.discard()


def _merged_sends(send: ASGISendCallable) -> ASGISendCallable:
    """SEND, with a response's head held for its first chunk and the last chunk written
    with the end of the body (one socket write each), and the end shielded.

    Hypercorn handles the last body message by recycling the connection, which also queues
    `http.disconnect` for this request; quart-trio then cancels this task mid-send, the
    keep-alive idle timer is never restarted, and every idle client connection holds up
    shutdown for the whole graceful timeout."""
    connection = CONNECTION.get()  # None: served without our hypercorn hooks

    async def send_merged(message: ASGISendEvent) -> None:
        if message["type"] != "http.response.body":
            if connection is not None:
                connection.hold()
            await send(message)
            return
        if message.get("more_body", False):
            if message.get("body"):  # an empty one would write the head before its first chunk
                await send(message)
                if connection is not None:
                    await connection.release()
            return
        with trio.CancelScope(shield=True):
            if connection is not None:
                connection.hold()
            await send(message)
            if connection is not None:
                await connection.release()

    return send_merged


async def _send_stream(send: ASGISendCallable, response: ResponseTypes, body: EventStream) -> None:
    """A stream body's head, its writes as the producer makes them, and the end with its last bytes.

    A body with an opening sends its head with the opening's write: the producer puts its
    request upstream before the head is even encoded (the opening waits for that anyway),
    which takes the head's cost off the path to the first text."""
    head_sent = False

    async def send_head() -> None:
        nonlocal head_sent
        head_sent = True
        head = {"type": "http.response.start", "status": response.status_code, "headers": encode_headers(response.headers)}
        await send(cast(HTTPResponseStartEvent, head))

    if not body.opening:
        await send_head()
        connection = CONNECTION.get()
        if connection is not None:
            await connection.release()  # nothing to join the head: a pass-through waits for GLM

    async def write(data: bytes) -> None:
        if not head_sent:
            await send_head()
        await send(HTTPResponseBodyEvent(type="http.response.body", body=data, more_body=True))

    last = await body.deliver(write)
    if not head_sent:
        await send_head()
    await send(HTTPResponseBodyEvent(type="http.response.body", body=last, more_body=False))
    await body.discard(completed=True)


async def _send_data(send: ASGISendCallable, response: ResponseTypes) -> None:
    """A response with a body in memory (the JSON answers served below Quart), in one message."""
    assert isinstance(response, Response)
    data = await response.get_data(as_text=False)
    head = {"type": "http.response.start", "status": response.status_code, "headers": encode_headers(response.headers)}
    await send(cast(HTTPResponseStartEvent, head))
    await send(HTTPResponseBodyEvent(type="http.response.body", body=data, more_body=False))


def _scope_headers(scope: HTTPScope | WebsocketScope) -> Headers:
    return Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])


async def _cancel_on_disconnect(receive: ASGIReceiveCallable, scope: trio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


class ProxyApp(QuartTrio):
    asgi_http_class = _Connection
    proxy: Proxy
    # A Responses request's answer from its headers and decoded body (set by create_app).
    answer_responses: Callable[[RequestRecord, Headers, bytes], Awaitable[Response]]
    bearer: bytes  # the Authorization header value a client must send
    gate: Gate | None = None  # a team gateway: member keys replace the one token
    admin_bearer: bytes | None = None  # the admin surface's (/metrics, /dashboard) header value

    def refusal(self, headers: Headers, target: bytes) -> ApiError | None:
        """Why a request may not be served at all (framing, Host, token), or None."""
        if "Content-Length" in headers and "Transfer-Encoding" in headers:
            # RFC 9112 §6.1: a smuggling attempt; answer and close, never read on.
            return ApiError(400, _AMBIGUOUS_LENGTH, headers={"Connection": "close"})
        if not _host_allowed(self.proxy.hosts, _authority(headers, target)):
            return ApiError(403, _BAD_HOST)
        if self.gate is None and not hmac.compare_digest(headers.get("Authorization", "").encode(), self.bearer):
            return ApiError(401, _BAD_TOKEN, headers=_CHALLENGE)
        return None

    async def admit_member(self, path: str, headers: Headers) -> None:
        """A team gateway's guard: admin paths need the admin token, the rest a member key
        (kept in `g.member`); readiness is open, for load balancers."""
        if self.gate is None or path in OPEN_PATHS:
            return
        given = headers.get("Authorization", "")
        if path in ADMIN_PATHS:
            if self.admin_bearer is None or not hmac.compare_digest(given.encode(), self.admin_bearer):
                raise ApiError(401, _BAD_ADMIN, headers=_CHALLENGE)
            return
        key = given.removeprefix("Bearer ").strip()
        try:
            g.member = await self.gate.member(key)
        except Refusal as refusal:
            raise ApiError(refusal.status, refusal.body, headers=_CHALLENGE) from None

    async def asgi_app(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "websocket":
            await self._refuse_websocket(scope, send)
            return
        headers = self._fast_path_headers(scope) if scope["type"] == "http" else None
        if headers is not None:
            await self._serve_responses(cast(HTTPScope, scope), headers, receive, send)
        else:
            await super().asgi_app(scope, receive, send)

    def _fast_path_headers(self, scope: Scope) -> Headers | None:
        """The headers of a request `_serve_responses` takes: a Responses POST to a personal
        proxy that is allowed in and declares no body over the limit.  None for the rest,
        which Quart serves (a gateway's members, and every refusal, so each is answered in
        one place)."""
        scope = cast(HTTPScope, scope)
        if scope["method"] != "POST" or scope["path"] not in RESPONSES_PATHS or self.gate is not None:
            return None
        headers = _scope_headers(scope)
        length = headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > self.proxy.settings.max_body_bytes:
            return None
        return headers if self.refusal(headers, scope.get("raw_path", b"/")) is None else None

    async def _serve_responses(
        self, scope: HTTPScope, headers: Headers, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """POST /v1/responses below Quart, whose request context costs about 0.3 ms of the time
        to first text.  It answers what the Quart route would, through the same functions;
        like quart-trio, it stops the answer when the client disconnects."""
        proxy, path = self.proxy, scope["path"]
        limit = proxy.settings.max_body_bytes
        record = proxy.begin(path)
        try:
            chunks, size = [], 0
            with trio.move_on_after(self.config["BODY_TIMEOUT"]) as body_wait:
                while size <= limit:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = cast(bytes, message.get("body", b""))
                    chunks.append(chunk)
                    size += len(chunk)
                    if not message.get("more_body", False):
                        break
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_disconnect, receive, nursery.cancel_scope)
                if body_wait.cancelled_caught:
                    response = _http_error_response(RequestTimeout(), proxy.settings, "POST", path)
                elif size > limit:
                    response = _http_error_response(RequestEntityTooLarge(), proxy.settings, "POST", path)
                else:
                    response = await self._answer(record, headers, b"".join(chunks), path)
                response.headers["x-request-id"] = record.id
                record.status = response.status_code
                await _send_answer(send, response, _send_data)
                nursery.cancel_scope.cancel()
        finally:
            _finish_record(proxy, record)

    async def _answer(self, record: RequestRecord, headers: Headers, raw: bytes, path: str) -> Response:
        try:
            raw = await _decoded_body(self.proxy, record, raw, headers.get("Content-Encoding"))
            return await self.answer_responses(record, headers, raw)
        except ApiError as exc:
            return _api_error_response(exc, record)
        except Exception as exc:
            return _unexpected_response(exc, "POST", path)

    async def _refuse_websocket(self, scope: WebsocketScope, send: ASGISendCallable) -> None:
        # Never a 101: the guard answers first, and past it there is no WebSocket route.
        headers = _scope_headers(scope)
        refusal = self.refusal(headers, scope["raw_path"]) or ApiError(400, _NO_WEBSOCKET)
        record = self.proxy.begin(scope["path"])
        record.status, record.outcome, record.error = refusal.status, refusal.outcome, refusal.body["error"]["code"]
        body = json.dumps(refusal.body, separators=(",", ":")).encode()
        fields = {**refusal.headers, "Content-Type": "application/json", "x-request-id": record.id}
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refusal.status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in fields.items()],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
        self.proxy.finish(record)

    def create_url_adapter(self, request: Any) -> Any:
        try:
            return super().create_url_adapter(request)
        except BadHost:
            # A Host werkzeug cannot even encode (`a..b`): route on a placeholder name so
            # the host guard answers 403 like for any other foreign Host, not a bare 500.
            return self.url_map.bind("invalid.host", path_info=request.path, default_method=request.method)


def create_app(
    settings: Settings,
    token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ledger: Ledger | None = None,
    gate: Gate | None = None,
    admin_token: str | None = None,
) -> ProxyApp:
    """The proxy as an ASGI app; `transport` replaces the network (tests); `ledger`
    records usage (default: one from the settings); `gate` makes it a team gateway."""
    app = ProxyApp("codexglm")
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        RESPONSE_TIMEOUT=None,  # streams last as long as GLM thinks
        BODY_TIMEOUT=60,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    proxy = app.proxy = Proxy(settings, token, transport=transport, ledger=ledger)
    app.bearer = f"Bearer {token}".encode()
    app.gate = proxy.gate = gate
    app.admin_bearer = f"Bearer {admin_token or token}".encode() if admin_token or gate is None else None
    describer = ImageDescriber(proxy, settings.describer) if settings.describer is not None else None

    @app.before_request
    async def _guard() -> None:
        g.record = proxy.begin(request.path)
        refusal = app.refusal(request.headers, request.scope.get("raw_path", b"/"))
        if refusal is not None:
            raise refusal
        await app.admit_member(request.path, request.headers)

    @app.after_request
    async def _tag(response: Response) -> Response:
        record: RequestRecord = g.record
        response.headers["x-request-id"] = record.id
        record.status = response.status_code
        return response

    @app.teardown_request
    async def _done(exc: BaseException | None) -> None:
        record: RequestRecord | None = g.get("record")
        if record is not None:
            _finish_record(proxy, record)

    async def answer_responses(record: RequestRecord, headers: Headers, raw: bytes) -> Response:
        """A Responses request's answer, from its headers and (decoded) body."""
        record.origin = request_origin(headers)
        size = len(raw)
        body = await _off_loop(size, _parse_body, raw)
        body, notice = await prepare_images(proxy, describer, body, record.origin)
        route, requested = _route(proxy, body)
        chat_request, payload = await _off_loop(size, _translate, body, route, requested)
        record.model_in, record.model_out, record.stream = (
            chat_request.requested_model,
            chat_request.model,
            chat_request.stream,
        )
        proxy.log_body(record, "upstream_request", payload)
        await _admit(app, record)
        if chat_request.stream:
            stream = responses.ResponsesStream(proxy, route.upstream, chat_request, payload, record, notice=notice)
            # The Coding Plan's usage windows, for Codex's /status (last known; never waited for).
            limits = proxy.quota.headers()
            return _event_stream(stream.body(), limits)
        try:
            answer = await responses.complete(proxy, route.upstream, chat_request, payload, record)
        except UpstreamFailure as failure:
            raise _upstream_error(proxy, failure, record) from None
        if notice is not None and isinstance(answer.get("output"), list):
            answer["output"].insert(0, notice_item(notice))
        proxy.log_body(record, "response", answer)
        return _json(200, answer)

    app.answer_responses = answer_responses

    @app.post("/v1/responses")
    @app.post("/responses")
    async def _responses() -> Response:
        # What the fast path (ProxyApp._serve_responses) leaves to Quart: a team gateway's
        # requests, and those its guard refuses.
        record: RequestRecord = g.record
        return await answer_responses(record, request.headers, await _raw_body(proxy, record))

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def _chat_completions() -> Response:
        record: RequestRecord = g.record
        body, _ = await _json_body(proxy, record)
        try:
            upstream, payload, stream = chat.prepare(proxy, body, record)
        except chat.BadChatRequest as exc:
            raise ApiError(400, exc.body) from None
        await _admit(app, record)
        try:
            if stream:
                return _event_stream(await chat.open_stream(proxy, upstream, payload, record))
            return _json(200, await chat.complete(proxy, upstream, payload, record))
        except UpstreamFailure as failure:
            raise _upstream_error(proxy, failure, record) from None

    @app.post("/v1/alpha/search")
    @app.post("/alpha/search")
    async def _alpha_search() -> Response:
        record: RequestRecord = g.record
        body, _ = await _json_body(proxy, record)
        if not proxy.search.enabled:
            raise ApiError(403, error_body(billing_note(settings) + ".", "permission_error", "web_search_disabled"))
        try:
            commands = parse_search_request(body)
        except SearchRequestError as exc:
            raise ApiError(400, error_body(exc.message, param=exc.param)) from None
        await _admit(app, record)  # a search names no model: budget, rate and streams still apply
        with proxy.lifecycle.guard():
            return _json(200, await proxy.search.answer(commands, request_origin(request.headers)))
        raise ApiError(503, proxy.error_body(shutdown_error()))

    @app.get("/v1/models")
    @app.get("/models")
    async def _models() -> Response:
        data = [
            {"id": slug, "object": "model", "created": 0, "owned_by": owner} for slug, owner in _model_listing(settings)
        ]
        return _json(200, {"object": "list", "data": data})

    @app.get(HEALTH_PATH)
    async def _healthz() -> Response:
        return _json(200, proxy.health())

    @app.get(READY_PATH)
    async def _ready() -> Response:
        # Ready: serving, and (for a team gateway) its database answers.
        problem = "stopping" if proxy.lifecycle.stopping else await app.gate.ready() if app.gate else None
        return _json(503 if problem else 200, {"status": "not ready", "reason": problem} if problem else {"status": "ready"})

    @app.get(MEMBER_USAGE_PATH)
    async def _member_usage() -> Response:
        # A member's own usage since a moment: what their launcher's exit line shows.
        if app.gate is None:
            raise ApiError(404, error_body("Member usage is part of the team gateway.", code="not_found"))
        try:
            since = float(request.args.get("since", "0"))
        except ValueError:
            raise ApiError(400, error_body("`since` must be unix seconds.", param="since")) from None
        # The rows of the member's last requests may still be queued for the database: this
        # worker's are written now; another worker's writer holds them at most one gathering.
        await trio.to_thread.run_sync(proxy.ledger.settle, _SETTLE_SECONDS)
        if proxy.worker is not None:
            await trio.sleep(GATHER_SECONDS)
        try:
            totals, session = await trio.to_thread.run_sync(app.gate.store.db.member_run, g.member.name, since)
        except LedgerError as exc:
            raise ApiError(503, error_body(f"The team database is unavailable: {exc}", "server_error", "database_unavailable")) from None
        return _json(200, {"member": g.member.name, "totals": dataclasses.asdict(totals), "session_id": session})

    @app.get(METRICS_PATH)
    async def _metrics() -> Response:
        return Response(proxy.metrics.render(), status=200, content_type=METRICS_TYPE)

    @app.get(DASHBOARD_PATH)
    async def _dashboard() -> Response:
        if app.gate is None:
            raise ApiError(404, error_body("The dashboard is part of the team gateway (`codexglm serve --team`).", code="not_found"))
        try:
            data = await trio.to_thread.run_sync(dashboard.collect, app.gate.store)
        except LedgerError as exc:
            raise ApiError(503, error_body(f"The team database is unavailable: {exc}", "server_error", "database_unavailable")) from None
        return Response(dashboard.render(data), status=200, content_type="text/html; charset=utf-8")

    @app.errorhandler(ApiError)
    async def _api_error(exc: ApiError) -> Response:
        return _api_error_response(exc, g.record)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        return _http_error_response(exc, settings, request.method, request.path)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        return _unexpected_response(exc, request.method, request.path)

    @app.after_serving
    async def _close() -> None:
        await proxy.aclose()
        await proxy.search.aclose()
        if proxy.reqlog is not None:
            proxy.reqlog.close()
        # The windows as last fetched, which may be newer than the last request's; then the
        # last rows are written, blocking at most a second: nothing else runs any more.
        proxy.ledger.note_windows(proxy.quota.windows)
        proxy.ledger.close()

    return app


# Bodies above this are parsed and translated in a worker thread: a 300,000-item history
# takes seconds, and the loop must keep serving streams (and their keep-alives) meanwhile.
_OFF_LOOP_BYTES = 1024 * 1024
_Result = TypeVar("_Result")


async def _off_loop(size: int, work: Callable[..., _Result], *args: Any) -> _Result:
    if size <= _OFF_LOOP_BYTES:
        return work(*args)
    return await trio.to_thread.run_sync(work, *args)


async def _admit(app: ProxyApp, record: RequestRecord) -> None:
    """A team gateway's limits for the member, before anything goes upstream."""
    if app.gate is None:
        return
    member = g.member
    record.member = member.name
    try:
        record.lease = await app.gate.admit(member, record.model_out or "")
    except Refusal as refusal:
        raise ApiError(refusal.status, refusal.body, retry_after=refusal.retry_after) from None


def _model_listing(settings: Settings) -> list[tuple[str, str]]:
    """(slug, owner) of every model served: the default model first, then each provider's."""
    listing = {settings.default_model: settings.upstream.model_owner}
    for name in settings.provider_names():
        provider = get_provider(name)
        models = [*provider.models, *settings.discovered_models.get(name, ())]
        listing.update((model_slug(name, model, settings.provider), provider.model_owner) for model in models)
    return list(listing.items())


def _route(proxy: Proxy, body: Any) -> tuple[Route, str | None]:
    """The provider route of the model a Responses body asks for, and the name Codex sent;
    the body's model becomes the name that provider knows (`deepseek/x` -> `x`)."""
    requested = body.get("model") if isinstance(body, dict) else None
    if not isinstance(requested, str) or not requested.strip():
        return proxy.routes[proxy.settings.provider], None  # the translator names the problem
    route, body["model"] = proxy.route(requested)
    return route, requested


def _translate(body: dict[str, Any], route: Route, requested: str | None) -> tuple[ChatRequest, bytes]:
    try:
        chat_request = build_chat_request(body, route.options)
        if requested is not None:
            chat_request.requested_model = chat_request.context.requested_model = requested
        return chat_request, upstream_json(chat_request.body)
    except RequestError as exc:
        raise ApiError(400, error_body(exc.message, param=exc.param)) from None
    except RecursionError:
        raise ApiError(400, _TOO_DEEP) from None


async def _json_body(proxy: Proxy, record: RequestRecord) -> tuple[Any, int]:
    """The request's JSON object and its size in bytes."""
    raw = await _raw_body(proxy, record)
    return await _off_loop(len(raw), _parse_body, raw), len(raw)


async def _raw_body(proxy: Proxy, record: RequestRecord) -> bytes:
    """The request's body, decoded (Content-Encoding) and logged."""
    raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    return await _decoded_body(proxy, record, raw, request.headers.get("Content-Encoding"))


async def _decoded_body(proxy: Proxy, record: RequestRecord, raw: bytes, coding: str | None) -> bytes:
    if coding:
        raw = await _off_loop(len(raw), _decoded, raw, coding, proxy.settings)
    proxy.log_body(record, "request", raw)
    return raw


def _decoded(raw: bytes, coding: str, settings: Settings) -> bytes:
    try:
        return decode_body(raw, coding, settings.max_body_bytes)
    except EncodingError as exc:
        where = clause(settings, responsible(REQUEST_TOO_LARGE)) if exc.status == 413 else ""
        raise ApiError(exc.status, error_body(f"{exc.message} {where}".rstrip(), code=exc.code)) from None


def _parse_body(raw: bytes) -> dict[str, Any]:
    body = codec.loads_fast(raw)
    if isinstance(body, dict):
        return body  # strict UTF-8 JSON: no lone surrogate, no number out of range
    if body is not codec.REFUSED:
        raise ApiError(400, error_body("The request body must be a JSON object.", code="invalid_json"))
    # The standard library decides, and words the error.
    out_of_range: list[float] = []
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_float=_float_noting(out_of_range))
    except ValueError as exc:
        raise ApiError(400, error_body(f"The request body is not valid JSON ({exc}).", code="invalid_json")) from None
    except RecursionError:
        raise ApiError(400, _TOO_DEEP) from None
    if not isinstance(body, dict):
        raise ApiError(400, error_body("The request body must be a JSON object.", code="invalid_json"))
    # The walk that names the field costs several parses: only a body that can hold such a
    # value pays for it.
    unsendable = _unsendable(body) if out_of_range or _may_hold_surrogate(raw) else None
    if unsendable is not None:
        path, what = unsendable
        raise ApiError(400, error_body(f"{path} {what}, which JSON cannot carry.", code="invalid_json", param=path))
    return body


def _unsendable(body: dict[str, Any]) -> tuple[str, str] | None:
    """The first value GLM would get as non-strict JSON (RFC 8259): (its path, what it is).

    `1e999` parses to infinity and `"\\ud800"` to a lone surrogate; forwarded, they become
    `Infinity` and invalid UTF-8.  Iterative, so a deep body cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return path, "is a number out of range"
        if isinstance(value, str) and _SURROGATE.search(value):
            return path, "contains a lone UTF-16 surrogate"
        if isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):  # not named: the name itself is unprintable
                    return path or "The request body", "has a key with a lone UTF-16 surrogate"
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _may_hold_surrogate(raw: bytes) -> bool:
    # Substring tests first: they scan at memchr speed, a regex with alternatives does not.
    return (
        b"\x00" in raw
        or (b"\\u" in raw and _SURROGATE_ESCAPE.search(raw) is not None)
        or (b"\xed" in raw and _SURROGATE_UTF8.search(raw) is not None)
    )


def _float_noting(out_of_range: list[float]) -> Callable[[str], float]:
    """json's float parser, also noting numbers too large for a float (`1e999`)."""

    def parse(text: str) -> float:
        number = float(text)
        if not math.isfinite(number):
            out_of_range.append(number)
        return number

    return parse


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON (and GLM) do not.
    raise ValueError(f"{name} is not a JSON number")


def _json(status: int, body: dict[str, Any]) -> Response:
    data = codec.dumps(body)
    return Response(data, status=status, content_type="application/json")


def _event_stream(body: EventStream, extra_headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=200, headers={**_SSE_HEADERS, **(extra_headers or {})})
    response.timeout = None
    return response


def _upstream_error(proxy: Proxy, failure: UpstreamFailure, record: RequestRecord) -> ApiError:
    error = failure.error
    # Clients that honour Retry-After (Codex among them) wait for rate limits, not quota resets.
    hint = error.retry_after if error.retryable else None
    return ApiError(error.http_status, proxy.error_body(error, record), outcome="failed", retry_after=hint)


def _finish_record(proxy: Proxy, record: RequestRecord) -> None:
    """A request's record, finished with its outcome, unless a stream body finishes it."""
    if record.streaming_handoff:
        return
    if record.status is None:
        record.outcome = record.outcome or "disconnected"
    elif not record.outcome:
        record.outcome = "completed" if record.status < 400 else "error" if record.status >= 500 else "rejected"
    proxy.finish(record)


def _api_error_response(exc: ApiError, record: RequestRecord) -> Response:
    record.outcome = exc.outcome
    record.error = exc.body["error"].get("code")
    response = _json(exc.status, exc.body)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(exc.retry_after))
    response.headers.update(exc.headers)
    return response


def _http_error_response(exc: HTTPException, settings: Settings, method: str, path: str) -> Response:
    status = exc.code or 500
    message, code = _http_error_text(status, exc, settings, method, path)
    response = _json(status, error_body(message, "invalid_request_error" if status < 500 else "server_error", code))
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


def _unexpected_response(exc: Exception, method: str, path: str) -> Response:
    log.error("unhandled error in %s %s", method, path, exc_info=exc)
    return _json(500, error_body(internal_error(exc).message, "server_error", "internal_error"))


def _http_error_text(status: int, exc: HTTPException, settings: Settings, method: str, path: str) -> tuple[str, str]:
    if status == 404:
        return f"Unknown path: {method} {path}", "not_found"
    if status == 405:
        return f"Method {method} is not allowed on {path}.", "method_not_allowed"
    if status == 413:
        where = clause(settings, responsible(REQUEST_TOO_LARGE))
        return (
            f"The request body is larger than the proxy's limit of {settings.max_body_bytes} bytes. {where}".rstrip(),
            "request_too_large",
        )
    return exc.description or exc.name, exc.name.lower().replace(" ", "_")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """Host headers the proxy answers to once bound.

    On loopback only its own loopback names: anything else is DNS rebinding (a web page
    steering a browser at the local proxy).  Bound to a network address (a team box, which
    requires a token), clients reach it by any name a load balancer or DNS gives it, and
    the token is the guard.
    """
    if host and host not in ("127.0.0.1", "::1", "localhost"):
        return ANY_HOST
    return frozenset(f"{name}:{port}".lower() for name in _LOOPBACK_NAMES)


def _authority(headers: Headers, target: bytes) -> str:
    """The host a request is for: an absolute-form target's authority wins over Host
    (RFC 9112 §3.2.2), so `GET http://evil.example/...` cannot slip past the Host guard."""
    if target.startswith(b"/"):
        return headers.get("Host", "")
    return urlsplit(target.decode("latin-1")).netloc


def _host_allowed(allowed: frozenset[str] | None, host: str) -> bool:
    host = host.strip().lower()
    if allowed is ANY_HOST:
        return True
    if allowed is not None:
        return host in allowed
    # Not bound by serve() (tests on create_app): any port, loopback names only.
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in _LOOPBACK_NAMES
