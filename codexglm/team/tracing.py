"""Optional OpenTelemetry traces (`pip install 'codexglm[otel]'`), one span per upstream request.

Off unless the extra is installed and the standard `OTEL_*` environment asks for traces
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER=otlp`);
the SDK reads the rest (service name, headers, sampler) itself.  Spans follow the GenAI
semantic conventions and are written after the fact from the finished request's record,
so tracing adds nothing to the request path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from ..ledger.entry import OK, UsageEntry

_WANTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracer_from_env(env: Mapping[str, str] | None = None) -> Any | None:
    """An OTLP-exporting tracer when the environment asks for one and the extra is installed."""
    environ = os.environ if env is None else env
    if not any(environ.get(name) for name in _WANTS) and environ.get("OTEL_TRACES_EXPORTER") != "otlp":
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "codexglm")}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider.get_tracer("codexglm")


def record_span(tracer: Any, entry: UsageEntry, duration_s: float) -> None:
    """One CLIENT span `chat MODEL` for ENTRY, ending now and lasting DURATION_S."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    end = time.time_ns()
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": entry.provider,
        "gen_ai.request.model": entry.model,
        "gen_ai.response.model": entry.model,
        "gen_ai.usage.input_tokens": entry.input_tokens,
        "gen_ai.usage.output_tokens": entry.output_tokens,
        "codexglm.endpoint": entry.endpoint,
        "codexglm.retries": entry.retries,
    }
    if entry.member:
        attributes["codexglm.member"] = entry.member
    if entry.session_id:
        attributes["gen_ai.conversation.id"] = entry.session_id
    span = tracer.start_span(
        f"chat {entry.model}", kind=SpanKind.CLIENT, start_time=end - int(duration_s * 1e9), attributes=attributes
    )
    if entry.outcome != OK:
        span.set_attribute("error.type", entry.outcome)
        span.set_status(Status(StatusCode.ERROR, entry.outcome))
    span.end(end_time=end)
