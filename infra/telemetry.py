"""OpenTelemetry: traces with the tenant on every span and never personal data.

(Metrics — requests, lags, pools, outages — are in ``infra/metrics.py``.)

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
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Status

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


# What an exception event may keep: its class, never its message or stack trace
# (a message can quote a value — a syntax error quotes the document, a database
# error the row — and a stack trace's source lines can hold one too).
_EXCEPTION_KEEPS = ("exception.type", "exception.escaped")


def _scrubbed_event(event: Event) -> Event:
    if event.name != "exception":
        return event
    attributes = {k: v for k, v in (event.attributes or {}).items() if k in _EXCEPTION_KEEPS}
    return Event("exception", attributes, event.timestamp)


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    """The span as exported: exception events and the error status without their text.

    The SDK records an exception escaping a span as an event with its message and
    stack trace, and sets the status description to ``"<Type>: <message>"``; the
    type is kept, the text is not.
    """
    description = span.status.description
    if not description and not any(e.name == "exception" for e in span.events):
        return span
    status = span.status
    if description:
        status = Status(status.status_code, description.split(":", 1)[0][:100])
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=span.attributes, events=[_scrubbed_event(e) for e in span.events],
        links=span.links, kind=span.kind, status=status, start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope)


class ScrubbingProcessor(SpanProcessor):
    """Hands every exporter's processor the ``scrubbed`` span."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(scrubbed(span))

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RecordingWhenExported(sampling.Sampler):
    """Spans are recorded only once something will receive them.

    With no exporter (``OTEL_TRACES_EXPORTER`` unset or ``none``) a full SDK span —
    attributes, events, timings — was built for every stage of every request and
    dropped at its end: ~8% of a mutation's CPU on the event loop and in the command's
    thread (py-spy, GIL-held samples).  Until a processor is added, every span is
    *dropped at its start* instead: it keeps a valid trace id, which children inherit,
    so the trace ids stamped on events and access-log entries are still there to
    correlate.  With a processor, ``sampler`` decides (the standard
    ``OTEL_TRACES_SAMPLER``; every span by default).
    """

    def __init__(self, sampler: sampling.Sampler) -> None:
        self.sampler = sampler
        self.exported = False

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Any = None, links: Any = None,
                      trace_state: Any = None) -> sampling.SamplingResult:
        chosen = self.sampler if self.exported else sampling.ALWAYS_OFF
        return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links,
                                    trace_state)

    def get_description(self) -> str:
        return f"RecordingWhenExported{{{self.sampler.get_description()}}}"


def _sampler_from_env() -> sampling.Sampler:
    try:  # the SDK's reading of OTEL_TRACES_SAMPLER / _ARG (not a public function)
        return sampling._get_from_env_or_default()  # noqa: SLF001
    except AttributeError:  # pragma: no cover - a later SDK without it
        return sampling.DEFAULT_ON


def configure_telemetry(extra_processor: SpanProcessor | None = None) -> TracerProvider:
    """Install the process's tracer provider once (tests may add an in-memory processor).

    Every processor, the tests' included, sees spans through ``ScrubbingProcessor``;
    spans are recorded only from the first processor on (``RecordingWhenExported``) —
    all of them when that processor is a test's (``extra_processor``).
    """
    global _configured
    if _configured is None:
        sampler = RecordingWhenExported(_sampler_from_env())
        provider = TracerProvider(sampler=sampler, resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "yorisoi")}))
        exporter = _exporter_from_env()
        if exporter is not None:
            provider.add_span_processor(ScrubbingProcessor(BatchSpanProcessor(exporter)))
            sampler.exported = True
        trace.set_tracer_provider(provider)
        _configured = provider
    if extra_processor is not None:
        _configured.add_span_processor(ScrubbingProcessor(extra_processor))
        sampler = _configured.sampler
        if isinstance(sampler, RecordingWhenExported) and not sampler.exported:
            # A test's or a profile's processor: it wants every span, also under a span
            # begun before it was added (dropped then, so a parent-based sampler would
            # drop its children too).
            sampler.sampler, sampler.exported = sampling.ALWAYS_ON, True
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
    if request_state is not None:
        # The request's metrics label it by the municipality it worked for (infra/metrics.py).
        request_state.metrics_tenant = grant.municipality_code
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
