"""The schema, composed from feature modules, with limits and safe error handling."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from opentelemetry import trace
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from yorisoi.graphql.cases import CaseQuery
from yorisoi.graphql.consultations import ConsultationMutation

SDL_PATH = Path(__file__).with_name("schema.graphql")
_log = logging.getLogger("yorisoi.graphql")
_tracer = trace.get_tracer("yorisoi.graphql")


@strawberry.type
class Query(CaseQuery):
    pass


@strawberry.type
class Mutation(ConsultationMutation):
    pass


class OperationSpan(SchemaExtension):
    """One span per operation: its name and type, never its variables or arguments.

    (strawberry's own OpenTelemetry extension records resolver arguments, which
    would put personal data into traces.)
    """

    def on_operation(self) -> Iterator[None]:
        with _tracer.start_as_current_span("graphql.operation") as span:
            yield
            context = self.execution_context
            span.set_attribute("graphql.operation.name", context.operation_name or "")
            if context.operation_type is not None:
                span.set_attribute("graphql.operation.type", context.operation_type.value)
            errors = context.result.errors if context.result else None
            span.set_attribute("yorisoi.graphql.errors", len(errors or []))


def _mask(error: GraphQLError) -> bool:
    # Our own errors (ApiError) and GraphQL's validation and coercion errors speak
    # to the user; anything
    # else is a bug whose text might carry values, so it is masked.
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class YorisoiSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        # Log the kind of error only: messages of unexpected errors can carry values.
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, GraphQLError):
                continue
            _log.error("graphql resolver failed: %s at %s", type(original).__name__,
                       ".".join(str(p) for p in error.path or []))


def build_schema(*, production: bool, max_depth: int = 10) -> strawberry.Schema:
    extensions = [
        OperationSpan,
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=15),
        lambda: MaxTokensLimiter(max_token_count=2000),
        lambda: MaskErrors(should_mask_error=_mask),
    ]
    if production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return YorisoiSchema(query=Query, mutation=Mutation, extensions=extensions)


def published_sdl() -> str:
    """The SDL as published for contractors (kept in the repository, diffed in tests)."""
    return build_schema(production=False).as_str() + "\n"
