"""/metrics in Prometheus's text format, with the standard client library.

One registry per app (tests run several proxies in one process).  Fed from
`Proxy.finish`, which sees every request once: requests, tokens and errors by provider,
model and member; the upstream latency; streams in flight read live.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..ledger.entry import OK, TOKEN_FIELDS, UsageEntry

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LABELS = ("provider", "model", "member")
# Upstream latency to the first byte: from a fast refusal to GLM thinking for minutes.
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self, in_flight: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "codexglm_requests", "Requests that went upstream, by outcome", (*_LABELS, "outcome"), registry=self.registry
        )
        self.tokens = Counter("codexglm_tokens", "Tokens used, by kind", (*_LABELS, "kind"), registry=self.registry)
        self.errors = Counter(
            "codexglm_errors", "Requests that did not end ok, by error code", (*_LABELS, "code"), registry=self.registry
        )
        self.cost = Counter("codexglm_cost_usd", "Estimated cost at list prices", _LABELS, registry=self.registry)
        self.latency = Histogram(
            "codexglm_upstream_latency_seconds",
            "Time from sending a request upstream to its first byte",
            ("provider", "model"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.streams = Gauge("codexglm_streams_in_flight", "Requests being served now", registry=self.registry)
        self.streams.set_function(in_flight)

    def observe(self, entry: UsageEntry, latency: float | None) -> None:
        labels = (entry.provider, entry.model, entry.member or "")
        self.requests.labels(*labels, "ok" if entry.outcome == OK else "error").inc()
        for kind in TOKEN_FIELDS:
            count = getattr(entry, kind)
            if count:
                self.tokens.labels(*labels, kind.removesuffix("_tokens")).inc(count)
        if entry.outcome != OK:
            self.errors.labels(*labels, entry.outcome).inc()
        if entry.cost_usd:
            self.cost.labels(*labels).inc(entry.cost_usd)
        if latency is not None:
            self.latency.labels(entry.provider, entry.model).observe(latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)
