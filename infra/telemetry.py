"""OpenTelemetry: traces with the tenant on every span and never personal data.

Spans are made by our own code (HTTP middleware, GraphQL extension, SQL door,
recorders, storage, commands, projection batches) with attributes from a
short list of names — ids, counts, codes — never request bodies, variables or
resolver arguments.  The exporter is chosen by the standard ``OTEL_*``
variables (``OTEL_TRACES_EXPORTER=otlp|console|none``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

_configured: TracerProvider | None = None


def _exporter_from_env() -> SpanExporter | None:
    name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError as error:  # optional dependency for deployments
            raise RuntimeError("install opentelemetry-exporter-otlp-proto-http for OTLP") from error
        return OTLPSpanExporter()
    return None


def configure_telemetry(extra_processor: SpanProcessor | None = None) -> TracerProvider:
    """Install the process's tracer provider once (tests may add an in-memory processor)."""
    global _configured
    if _configured is None:
        provider = TracerProvider(resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "yorisoi")}))
        exporter = _exporter_from_env()
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _configured = provider
    if extra_processor is not None:
        _configured.add_span_processor(extra_processor)
    return _configured


def in_memory_exporter():  # noqa: ANN201 - test helper
    """An in-memory exporter attached to the process's provider (for tests)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    configure_telemetry(SimpleSpanProcessor(exporter))
    return exporter


_tracer = trace.get_tracer("yorisoi")


@contextmanager
def command_span(name: str, tenant: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span for one command or job, tagged with its tenant."""
    with _tracer.start_as_current_span(
        name, attributes={"yorisoi.tenant": tenant, **attributes}
    ) as span:
        yield span


def tag_tenant(span: trace.Span | None, request_state: Any, grant: Any) -> None:
    """Put the tenant's space on the current span and on the request's HTTP span.

    Every span names the tenant the same way as the SQL and command spans do:
    by its space (``t_<code>``), the unit of isolation.
    """
    space = f"t_{grant.municipality_code}"
    if span is not None:
        span.set_attribute("yorisoi.tenant", space)
    # The HTTP span was opened before anyone knew the tenant.
    http_span = getattr(request_state, "span", None)
    if http_span is not None:
        http_span.set_attribute("yorisoi.tenant", space)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def client_request_id(value: str | None) -> str:
    """The caller's X-Request-ID if it is a plain id; otherwise a fresh one.

    It is stamped on every stored event, unencrypted: free text there could
    carry personal data that crypto-shredding would never reach.
    """
    if value and _REQUEST_ID.fullmatch(value):
        return value
    return str(uuid.uuid4())


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits (stamped on events), if there is a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
