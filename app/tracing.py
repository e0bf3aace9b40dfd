"""OpenTelemetry tracing, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

The packages are the optional `otel` extra (`pip install 'clientdesk[otel]'`) and are imported
only when tracing is on, so an installation without them pays nothing. Spans: one per GraphQL
operation and resolver (Strawberry's OpenTelemetryExtension) and one per SQL statement
(asyncpg instrumentation), sent over OTLP/HTTP by a background batch processor.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from app.settings import Settings

# Every module that tracing imports (below and in Strawberry's extension): what the `otel`
# extra and requirements.lock must provide.
TRACING_MODULES = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.instrumentation.asyncpg",
    "opentelemetry.sdk.resources",
    "opentelemetry.sdk.trace",
    "opentelemetry.sdk.trace.export",
    "strawberry.extensions.tracing.opentelemetry",
)


def missing_tracing_packages(settings: Settings) -> str | None:
    """Why tracing, when it is on, cannot work here (an ImportError's message); else None."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    try:
        for module in TRACING_MODULES:
            importlib.import_module(module)
    except ImportError as error:
        return str(error)
    return None


def tracing_extensions(settings: Settings) -> list[Any]:
    """The schema extensions that trace GraphQL; none when tracing is off."""
    if not settings.otel_exporter_otlp_endpoint:
        return []
    provider = tracer_provider(settings.otel_exporter_otlp_endpoint, settings.otel_service_name)
    from strawberry.extensions.tracing import OpenTelemetryExtension

    return [functools.partial(OpenTelemetryExtension, tracer_provider=provider)]


@functools.cache
def tracer_provider(endpoint: str, service_name: str) -> Any:
    """One provider per process and endpoint; asyncpg is instrumented with it once."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    return provider
