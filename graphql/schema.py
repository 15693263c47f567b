"""The schema, composed from feature modules, with limits and safe error handling."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import strawberry
from opentelemetry import trace
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext, ExecutionResult

from graphql import GraphQLError, GraphQLSyntaxError
from graphql.validation import NoSchemaIntrospectionCustomRule
from yorisoi.graphql.access_grants import AccessGrantMutation, AccessGrantQuery
from yorisoi.graphql.agencies import AgencyMutation, AgencyQuery
from yorisoi.graphql.case_lifecycle import CaseLifecycleMutation
from yorisoi.graphql.case_meetings import CaseMeetingMutation, CaseMeetingQuery
from yorisoi.graphql.case_numbers import CaseNumbers
from yorisoi.graphql.cases import CaseQuery
from yorisoi.graphql.complaints import ComplaintMutation, ComplaintQuery
from yorisoi.graphql.compliance import ComplianceQuery
from yorisoi.graphql.consent import ConsentMutation, ConsentQuery
from yorisoi.graphql.consultations import ConsultationMutation
from yorisoi.graphql.contractor_work import ContractorWorkQuery
from yorisoi.graphql.contracts import ContractMutation
from yorisoi.graphql.data_subject import DataSubjectMutation, DataSubjectQuery
from yorisoi.graphql.errors import ApiError, service_unavailable
from yorisoi.infra.outages import unavailable
from yorisoi.graphql.execution import PlainFieldsExecutor
from yorisoi.graphql.file_register import FileRegisterQuery
from yorisoi.graphql.household_corrections import HouseholdCorrectionMutation
from yorisoi.graphql.operations import OperationsQuery
from yorisoi.graphql.outreach import OutreachMutation, OutreachQuery
from yorisoi.graphql.oversight import OversightQuery
from yorisoi.graphql.personal_reads import PersonalReads
from yorisoi.graphql.records import RecordsMutation, RecordsQuery
from yorisoi.graphql.referrals import ReferralMutation, ReferralQuery
from yorisoi.graphql.reports import ReportMutation, ReportQuery
from yorisoi.graphql.representative_meetings import (
    RepresentativeMeetingMutation,
    RepresentativeMeetingQuery,
)
from yorisoi.graphql.resources import ResourceMutation, ResourceQuery
from yorisoi.graphql.sites import SiteMutation, SiteQuery
from yorisoi.graphql.staff import StaffMutation, StaffQuery
from yorisoi.graphql.statistics import StatisticsQuery
from yorisoi.graphql.support_notes import SupportNoteMutation
from yorisoi.graphql.tasks import TaskQuery
from yorisoi.graphql.themes import ThemeMutation, ThemeQuery

SDL_PATH = Path(__file__).with_name("schema.graphql")
_log = logging.getLogger("yorisoi.graphql")
_tracer = trace.get_tracer("yorisoi.graphql")


@strawberry.type
class Query(CaseQuery, ThemeQuery, ConsentQuery, CaseMeetingQuery, RepresentativeMeetingQuery,
            TaskQuery, ReferralQuery, AgencyQuery, ResourceQuery, ComplaintQuery, SiteQuery,
            StaffQuery, OversightQuery, ContractorWorkQuery, AccessGrantQuery,
            OperationsQuery,
            DataSubjectQuery, FileRegisterQuery, StatisticsQuery, RecordsQuery, ComplianceQuery,
            OutreachQuery, ReportQuery):
    pass


@strawberry.type
class Mutation(ConsultationMutation, CaseLifecycleMutation, SupportNoteMutation, ThemeMutation,
               ConsentMutation, CaseMeetingMutation, RepresentativeMeetingMutation, AgencyMutation,
               ReferralMutation, ResourceMutation, ComplaintMutation, SiteMutation,
               StaffMutation, ContractMutation, AccessGrantMutation,
               HouseholdCorrectionMutation,
               DataSubjectMutation, RecordsMutation, OutreachMutation, ReportMutation):
    pass


class OperationSpan(SchemaExtension):
    """One span per operation: its name and type, never its variables or arguments.

    (strawberry's own OpenTelemetry extension records resolver arguments, which
    would put personal data into traces.)  An error is recorded by its kind and
    position only: OpenTelemetry's own exception event would carry the message,
    and a syntax error's message quotes the document — a name typed inline with it.
    """

    def on_operation(self) -> Iterator[None]:
        with _tracer.start_as_current_span("graphql.operation", record_exception=False,
                                           set_status_on_exception=False) as span:
            try:
                yield
            except BaseException as error:
                _record_error(span, error)
                raise
            context = self.execution_context
            span.set_attribute("graphql.operation.name", context.operation_name or "")
            # operation_type raises when the document did not parse.
            if context.graphql_document is not None:
                span.set_attribute("graphql.operation.type", context.operation_type.value)
            errors = context.result.errors if context.result else None
            span.set_attribute("yorisoi.graphql.errors", len(errors or []))
            if errors:
                _record_error(span, errors[0])


def error_kind(error: BaseException) -> str:
    """What went wrong, as a word from a fixed list (never the message)."""
    original = getattr(error, "original_error", None)
    if isinstance(error, GraphQLSyntaxError):
        return "syntax"
    if isinstance(original, ApiError) or isinstance(error, ApiError):
        return "refused"
    if isinstance(error, GraphQLError) and (original is None
                                            or isinstance(original, GraphQLError)):
        return "syntax" if error.message.startswith("Syntax Error") else "request"
    return "unexpected"


def _record_error(span: trace.Span, error: BaseException) -> None:
    span.set_attribute("yorisoi.graphql.error.kind", error_kind(error))
    locations = getattr(error, "locations", None) or []
    if locations:
        span.set_attribute("yorisoi.graphql.error.line", locations[0].line)
        span.set_attribute("yorisoi.graphql.error.column", locations[0].column)
    span.set_status(trace.StatusCode.ERROR)


def syntax_error_message(message: str) -> str:
    """A syntax error named by its kind, without the text it quotes.

    graphql-core quotes the token it met ("Expected Name, found String '山田'"), the
    character ("Unexpected character: U+5C71") or the escape it could not read;
    the kind of problem and the error's position (``locations``) remain.
    """
    prefix = "Syntax Error: "
    rest = message.removeprefix(prefix)
    rest = re.split(r"['\"(]|:\s", rest, maxsplit=1)[0].rstrip(" ,.:")
    rest = re.sub(r",?\s*found$", "", rest)
    return f"{prefix}{rest or 'Invalid document'}."


def without_values(message: str) -> str:
    """GraphQL's request errors without the values they quote.

    graphql-core quotes what was sent ("… has invalid value.household: Expected
    … found: {'name': '…'}", "Int cannot represent non-integer value: '…'"),
    which can be a family's name.  Keep the path and the kind of problem; cut
    at the first quoted value and at any ``found …`` tail.
    """
    if message.startswith("Syntax Error"):
        return syntax_error_message(message)
    message = re.split(r",?\s*found\b", message, maxsplit=1)[0]
    message = re.split(r":\s*(?=['\"{\[\d<-]|true\b|false\b|null\b)", message, maxsplit=1)[0]
    return message.rstrip(". ") + "."


MASKED = "Unexpected error."


def safe_error(error: GraphQLError) -> GraphQLError:
    """Our own errors pass; request errors lose quoted values; anything else is masked.

    Idempotent: an error made safe stays as it is when made safe again.
    """
    original = error.original_error
    if isinstance(original, ApiError):
        return error
    down = unavailable(original) if original is not None else None
    if down is not None:  # an outage met anywhere (an extension, a field): typed, retryable
        typed = service_unavailable(down)
        return GraphQLError(typed.message, nodes=error.nodes, source=error.source,
                            positions=error.positions, path=error.path,
                            original_error=typed, extensions=typed.extensions)
    if original is not None and not isinstance(original, GraphQLError):
        # A bug: its text may carry values.
        return GraphQLError(MASKED, nodes=error.nodes, source=error.source,
                            positions=error.positions, path=error.path)
    return GraphQLError(without_values(error.message), nodes=error.nodes,
                        source=error.source, positions=error.positions,
                        path=error.path, extensions=error.extensions)


class SafeErrors(MaskErrors):
    """``safe_error`` on every error of a result."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [safe_error(error) for error in errors]


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

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        # An error raised through the extensions (a syntax error from the parser
        # cache, say) is answered past SafeErrors, which runs after the operation.
        return _made_safe(await super().execute(*args, **kwargs))

    def execute_sync(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        return _made_safe(super().execute_sync(*args, **kwargs))


def _made_safe(result: ExecutionResult) -> ExecutionResult:
    if getattr(result, "errors", None):
        result.errors = [safe_error(error) for error in result.errors]
    return result


def build_schema(*, production: bool, max_depth: int = 10) -> strawberry.Schema:
    # The limits' validation rules are made once, so every request validates with
    # the same rule objects and ValidationCache can answer a known document from
    # its cache (parse and validation were ~25% of a case-list request).
    rules = [*QueryDepthLimiter(max_depth=max_depth).validation_rules,
             *MaxAliasesLimiter(max_alias_count=15).validation_rules]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions = [
        OperationSpan,
        PersonalReads,
        CaseNumbers,  # reception numbers accepted as caseId
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=2000),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        SafeErrors,
    ]
    # Objects whose selected fields are all plain attributes are completed in one loop
    # (graphql/execution.py); the results, errors and SDL are graphql-core's.
    return YorisoiSchema(query=Query, mutation=Mutation, extensions=extensions,
                         execution_context_class=PlainFieldsExecutor)


def published_sdl() -> str:
    """The SDL as published for contractors (kept in the repository, diffed in tests)."""
    return build_schema(production=False).as_str() + "\n"
