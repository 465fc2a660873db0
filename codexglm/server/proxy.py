"""What all requests of one proxy share, and the per-request record that ends in the log."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from .. import __version__
from ..codex.origin import RequestOrigin
from ..ledger.entry import OK, UsageEntry, estimate_cost, tokens_of
from ..ledger.writer import Ledger
from ..providers import Provider, route_model
from ..providers.base import UNKNOWN_KEY_TYPE
from ..settings import Settings
from ..team.gate import Gate
from ..team.metrics import Metrics
from ..team.tracing import record_span, tracer_from_env
from ..translate import TranslateOptions, UpstreamError, codec
from .blame import Attempt, explain
from .lifecycle import Lifecycle
from .quota import QuotaMonitor
from .reqlog import Redactor, RequestLog, ServerLog
from .search import WebSearch
from .upstream import CallStats, Upstream

# Logger for the proxy's own diagnostics (tracebacks, hypercorn messages).  `serve()`
# routes it to server.log in the log directory, never to the terminal Codex draws on.
log = logging.getLogger("codexglm.server")
HEALTH_PATH = "/healthz"


@dataclass
class RequestRecord:
    """One request as it will appear in the request log."""

    id: str
    path: str
    started: float  # trio.current_time()
    model_in: str | None = None
    model_out: str | None = None
    stream: bool | None = None
    status: int | None = None
    outcome: str = ""
    error: str | None = None  # the error code the client saw
    call: CallStats | None = None
    first_output: float | None = None  # trio.current_time() when output first reached the client
    usage: dict[str, Any] | None = None
    bodies: dict[str, str] = field(default_factory=dict)
    streaming_handoff: bool = False  # a stream body finishes this record, not the request
    origin: RequestOrigin | None = None  # the Codex session and thread it came from
    member: str | None = None  # a team gateway's member
    lease: str | None = None  # the member's stream lease, released when the request ends

    def fields(self, now: float) -> dict[str, Any]:
        call = self.call or CallStats()
        record: dict[str, Any] = {
            "id": self.id,
            "path": self.path,
            "model_in": self.model_in,
            "model_out": self.model_out,
            "stream": self.stream,
            "provider": call.provider or None,
            "endpoint": call.endpoint or None,
            "key": call.key,
            "status": self.status,
            "outcome": self.outcome,
            "error": self.error,
            "glm_code": call.glm_code,
            "attempts": call.attempts,
            "upstream_latency_ms": _ms(call.latency),
            "ttft_ms": _ms(None if self.first_output is None else self.first_output - self.started),
            "duration_ms": _ms(now - self.started),
            "usage": self.usage,
        }
        record.update(self.bodies)
        return record

    def usage_entry(self, provider: Provider, now: float, key_type: str = UNKNOWN_KEY_TYPE) -> UsageEntry | None:
        """The usage ledger's row for this request, or None if it never went upstream;
        KEY_TYPE decides whether a plan or cash paid for it where the provider has key types."""
        call = self.call
        if call is None or call.attempts == 0:
            return None
        model = self.model_out or ""
        tokens = tokens_of(self.usage)
        origin = self.origin or RequestOrigin()
        return UsageEntry(
            time=time.time(),
            provider=provider.name,
            model=model,
            endpoint=call.endpoint,
            session_id=origin.session_id,
            thread_id=origin.thread_id,
            turn_id=origin.turn_id,
            kind=origin.kind,
            **tokens,
            cost_usd=estimate_cost(
                provider.lookup(model), tokens["input_tokens"], tokens["cached_input_tokens"], tokens["output_tokens"]
            ),
            plan=provider.plan_pays(key_type, call.endpoint),
            ttft_ms=_ms(None if self.first_output is None else self.first_output - self.started),
            duration_ms=_ms(now - self.started),
            retries=max(0, call.attempts - 1),
            outcome=OK if self.outcome == "completed" else self.error or self.outcome or "error",
            member=self.member,
            conversation=origin.conversation,
        )


@dataclass
class Route:
    """Where requests for one provider's models go: its upstream and its translation options."""

    upstream: Upstream
    options: TranslateOptions


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class Proxy:
    def __init__(
        self,
        settings: Settings,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        self._transport = transport
        # One route per provider the user has a key for; others are added when asked for
        # (their requests then fail with that provider's "no key" message).
        self.routes: dict[str, Route] = {name: self._new_route(name) for name in settings.provider_names()}
        self._known = settings.known_models()
        self.upstream = self.routes[settings.provider].upstream
        self.quota = QuotaMonitor(settings, self.upstream.client, self.upstream.keys)
        other_keys = (key for access in settings.other_providers.values() for key in access.api_keys)
        self.redact = Redactor((*settings.api_keys, *other_keys, token))
        self.reqlog = RequestLog.from_settings(settings, self.redact)
        self.ledger = ledger if ledger is not None else Ledger.from_settings(settings)
        self.search = WebSearch(settings, self.upstream.client, self.upstream.keys, self.redact, self.ledger)
        self.server_log: ServerLog | None = None  # set by serve(), which owns the handler
        self.lifecycle = Lifecycle()
        # Host headers accepted; None until serve() knows the bound port (then exact).
        self.hosts: frozenset[str] | None = None
        self.started_wall = time.monotonic()
        self.in_flight = 0
        self.outcomes: Counter[str] = Counter()
        self.gate: Gate | None = None  # set by create_app for a team gateway
        self.worker: int | None = None  # which of `serve --workers N` this is (set by serve())
        self.metrics = Metrics(lambda: max(0, self.in_flight - 1))  # read from within /metrics
        self.tracer = tracer_from_env()  # OpenTelemetry, when the extra is installed and OTEL_* asks

    def _new_route(self, name: str) -> Route:
        settings = self.settings.for_provider(name)
        return Route(Upstream(settings, transport=self._transport), settings.translate_options())

    def route(self, requested: str) -> tuple[Route, str]:
        """The route for a requested model name, and the name its provider resolves.

        A `model_map` entry is applied first, so it may point at another provider's model
        (`{"gpt-5.4-mini": "deepseek/deepseek-v4-flash"}`)."""
        mapped = next((v for k, v in self.settings.model_map.items() if k.lower() == requested.strip().lower()), requested)
        discovered = self.settings.discovered_models
        name, model = route_model(mapped, self._known, self.settings.provider)
        if name == self.settings.provider:
            default = self.routes[name].options
            if default.provider.resolve_model(model, default.default_model, default.model_map) == default.default_model:
                # Codex's own slugs land on default_model, which may name another provider's model.
                name, model = route_model(default.default_model, self._known, name)
        if name not in self.routes:
            self.routes[name] = self._new_route(name)
        route = self.routes[name]
        listed = {m.lower() for m in discovered.get(name, ())}
        chosen = model.strip().lower() != mapped.strip().lower() or model.strip().lower() in listed
        if chosen and route.options.provider.lookup(model) is None:
            # Chosen as PROVIDER/MODEL, or listed by the provider: sent as asked, never
            # replaced by the default model because the table does not know it yet.
            explicit = {**route.options.model_map, model: model.strip()}
            route = Route(route.upstream, dataclasses.replace(route.options, model_map=explicit))
        return route, model

    async def aclose(self) -> None:
        for route in self.routes.values():
            await route.upstream.aclose()

    def begin(self, path: str) -> RequestRecord:
        self.in_flight += 1
        return RequestRecord(id=f"req_{secrets.token_hex(12)}", path=path, started=trio.current_time())

    def finish(self, record: RequestRecord) -> None:
        self.in_flight -= 1
        if record.lease is not None and self.gate is not None:
            self.gate.release(record.lease)
        if record.path == HEALTH_PATH:
            return  # polled by tools; it would drown the log
        self.outcomes[record.outcome or "unknown"] += 1
        now = trio.current_time()
        if self.reqlog is not None:
            self.reqlog.write(record.fields(now))
        routed = self.routes.get(record.call.provider) if record.call is not None else None
        upstream = routed.upstream if routed is not None else self.upstream
        entry = record.usage_entry(upstream.provider, now, upstream.settings.key_type)
        if entry is not None:
            self.ledger.record(entry, self.quota.windows)
            self.metrics.observe(entry, record.call.latency if record.call else None)
            if self.tracer is not None:
                record_span(self.tracer, entry, now - record.started)

    def health(self) -> dict[str, Any]:
        """The /healthz document (asked for from within a request, which it leaves out)."""
        upstream = self.upstream
        in_flight = self.in_flight - 1
        return {
            "status": "stopping" if self.lifecycle.stopping else "ok",
            "version": __version__,
            "worker": {"index": self.worker, "pid": os.getpid()},
            "upstream": {
                "base_url": _public_url(upstream.endpoints[0][1]),
                "endpoints": [{"label": label, "url": _public_url(url)} for label, url in upstream.endpoints],
                "endpoint_mode": self.settings.endpoint_mode,
                "keys": len(upstream.keys),
                "keys_cooling": upstream.keys.cooling(),
                "in_use": upstream.limiter.borrowed_tokens,
                "max_concurrency": upstream.limiter.total_tokens,
            },
            # Every provider requests were routed to (the default first).
            "providers": list(self.routes),
            "uptime_s": round(time.monotonic() - self.started_wall, 3),
            "requests": {"total": sum(self.outcomes.values()) + in_flight, "in_flight": in_flight, **self.outcomes},
            "request_log": {
                "path": str(self.reqlog.path) if self.reqlog else None,
                "error": self.reqlog.error if self.reqlog else None,
            },
            "server_log": {
                "path": str(self.server_log.path) if self.server_log else None,
                "error": self.server_log.error if self.server_log else None,
            },
            "usage_ledger": {"error": self.ledger.error, "dropped": self.ledger.dropped},
        }

    def error_body(self, error: UpstreamError, record: RequestRecord | None = None) -> dict[str, Any]:
        """The OpenAI error body for a client, with any secret the upstream echoed back masked
        and, for RECORD's failure, where the settings behind it were set."""
        body = (self.explain(error, record) if record is not None else error).to_error_body()
        body["error"]["message"] = self.redact(body["error"]["message"])
        return body

    def explain(self, error: UpstreamError, record: RequestRecord) -> UpstreamError:
        """ERROR naming the settings that plausibly caused it and where each was set
        (server/blame.py), judged by the settings of the provider RECORD's request went to.
        Not on a team gateway: its members cannot change its settings, nor see its files."""
        if self.gate is not None:
            return error
        call = record.call or CallStats()
        route = self.routes.get(call.provider)
        settings = route.upstream.settings if route is not None else self.settings
        return explain(error, settings, Attempt(call.endpoint, call.key, record.model_in, record.model_out))

    def log_body(self, record: RequestRecord, name: str, body: bytes | dict[str, Any]) -> None:
        if self.reqlog is None or not self.settings.log_bodies:
            return
        text = body if isinstance(body, bytes) else codec.dumps(body)
        record.bodies[name] = self.reqlog.body(text)


def _public_url(url: str) -> str:
    """A URL without any user:password part."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url
