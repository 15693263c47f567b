"""The schema, composed from feature modules, with limits and safe error handling."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

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
from strawberry.types import ExecutionContext

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from yorisoi.graphql.access_grants import AccessGrantMutation, AccessGrantQuery
from yorisoi.graphql.agencies import AgencyMutation, AgencyQuery
from yorisoi.graphql.case_lifecycle import CaseLifecycleMutation
from yorisoi.graphql.case_meetings import CaseMeetingMutation, CaseMeetingQuery
from yorisoi.graphql.cases import CaseQuery
from yorisoi.graphql.complaints import ComplaintMutation, ComplaintQuery
from yorisoi.graphql.compliance import ComplianceQuery
from yorisoi.graphql.consent import ConsentMutation, ConsentQuery
from yorisoi.graphql.consultations import ConsultationMutation
from yorisoi.graphql.contractor_work import ContractorWorkQuery
from yorisoi.graphql.contracts import ContractMutation
from yorisoi.graphql.data_subject import DataSubjectMutation, DataSubjectQuery
from yorisoi.graphql.errors import ApiError
from yorisoi.graphql.execution import PlainFieldsExecutor
from yorisoi.graphql.file_register import FileRegisterQuery
from yorisoi.graphql.household_corrections import HouseholdCorrectionMutation
from yorisoi.graphql.operations import OperationsQuery
from yorisoi.graphql.oversight import OversightQuery
from yorisoi.graphql.personal_reads import PersonalReads
from yorisoi.graphql.records import RecordsMutation, RecordsQuery
from yorisoi.graphql.referrals import ReferralMutation, ReferralQuery
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
            DataSubjectQuery, FileRegisterQuery, StatisticsQuery, RecordsQuery, ComplianceQuery):
    pass


@strawberry.type
class Mutation(ConsultationMutation, CaseLifecycleMutation, SupportNoteMutation, ThemeMutation,
               ConsentMutation, CaseMeetingMutation, RepresentativeMeetingMutation, AgencyMutation,
               ReferralMutation, ResourceMutation, ComplaintMutation, SiteMutation,
               StaffMutation, ContractMutation, AccessGrantMutation,
               HouseholdCorrectionMutation,
               DataSubjectMutation, RecordsMutation):
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
            # operation_type raises when the document did not parse.
            if context.graphql_document is not None:
                span.set_attribute("graphql.operation.type", context.operation_type.value)
            errors = context.result.errors if context.result else None
            span.set_attribute("yorisoi.graphql.errors", len(errors or []))


def without_values(message: str) -> str:
    """GraphQL's request errors without the values they quote.

    graphql-core quotes what was sent ("… has invalid value.household: Expected
    … found: {'name': '…'}", "Int cannot represent non-integer value: '…'"),
    which can be a family's name.  Keep the path and the kind of problem; cut
    at the first quoted value and at any ``found …`` tail.
    """
    message = re.split(r",?\s*found\b", message, maxsplit=1)[0]
    message = re.split(r":\s*(?=['\"{\[\d<-]|true\b|false\b|null\b)", message, maxsplit=1)[0]
    return message.rstrip(". ") + "."


class SafeErrors(MaskErrors):
    """Our own errors pass; request errors lose quoted values; anything else is masked."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        safe = []
        for error in errors:
            original = error.original_error
            if isinstance(original, ApiError):
                safe.append(error)
            elif original is not None and not isinstance(original, GraphQLError):
                safe.append(self.anonymise_error(error))  # a bug: its text may carry values
            else:
                safe.append(GraphQLError(without_values(error.message), nodes=error.nodes,
                                         source=error.source, positions=error.positions,
                                         path=error.path, extensions=error.extensions))
        return safe


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
