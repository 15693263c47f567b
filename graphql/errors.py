"""Typed, bilingual errors for the API, and the one place that maps exceptions to them.

Mutations return these as members of their result unions; queries raise
``ApiError``, a GraphQL error whose ``extensions`` carry the same code and
Japanese message.  Neither ever echoes what the user typed.
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from eventsourcing.persistence import IntegrityError

from graphql import GraphQLError
from yorisoi.domain.errors import DomainError, StaleVersionError
from yorisoi.infra.identity import AuthenticationError
from yorisoi.infra.outages import ServiceUnavailableError, unavailable
from yorisoi.projections.case_queries import CursorInvalidError
from yorisoi.services.personal_data import HouseholdKeyDestroyedError
from yorisoi.tenants.access import AccessDeniedError


@strawberry.interface(description="An error the user can act on.")
class UserError:
    code: str
    message: str
    message_ja: str


@strawberry.type(description="One field's problem.")
class FieldError:
    field: str
    code: str
    message: str
    message_ja: str


@strawberry.type(description="The input was not valid; nothing was written.")
class ValidationError(UserError):
    field_errors: list[FieldError]


@strawberry.type(description="The caller may not do this; nothing was written.")
class NotAuthorizedError(UserError):
    pass


@strawberry.type(description="The record does not exist or is not visible to the caller.")
class NotFoundError(UserError):
    pass


@strawberry.type(description="Someone else changed the record (since it was read, or at the same "
                               "time); nothing was written. Reload and retry.")
class ConflictError(UserError):
    retryable: bool = True
    current_version: int | None = strawberry.field(
        default=None, description="The record's version now, when known: retry with it as "
                                  "expectedVersion after reloading. Null when a write raced at "
                                  "the same moment (reload to learn it).")


class InputErrors(Exception):
    """Several field problems found at the edge, reported together."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__("invalid input")
        self.errors = list(errors)


def _field_error(error: DomainError) -> FieldError:
    return FieldError(field=error.field or "input", code=error.code, message=error.message,
                      message_ja=error.message_ja)


def validation_error(errors: Sequence[DomainError]) -> ValidationError:
    return ValidationError(
        code="validation_failed", message="Some values are not valid; nothing was saved.",
        message_ja="入力内容に誤りがあります。保存されていません。",
        field_errors=[_field_error(e) for e in errors])


def user_error(exc: Exception) -> UserError:
    """Map an expected exception to its API error; anything else is a bug and re-raised."""
    if isinstance(exc, InputErrors):
        return validation_error(exc.errors)
    if isinstance(exc, StaleVersionError):
        # One conflict voice: a stale expectedVersion and a concurrent write are both
        # retryable conflicts; the stale one also says the version to retry with.
        return ConflictError(code=exc.code, message=exc.message, message_ja=exc.message_ja,
                             retryable=True, current_version=exc.current_version)
    if isinstance(exc, DomainError) and exc.not_found:
        # Absent and out of reach answer alike, so existence is never disclosed.
        return NotFoundError(code=exc.code, message=exc.message, message_ja=exc.message_ja)
    if isinstance(exc, DomainError):
        return validation_error([exc])
    if isinstance(exc, (AccessDeniedError, AuthenticationError, HouseholdKeyDestroyedError)):
        return NotAuthorizedError(code=exc.code, message=exc.message, message_ja=exc.message_ja)
    if isinstance(exc, IntegrityError):
        return ConflictError(code="concurrent_change",
                             message="The record was changed at the same time; please retry.",
                             message_ja="同時に更新されました。もう一度お試しください。",
                             retryable=True,
                             current_version=getattr(exc, "current_version", None))
    raise exc


class ApiError(GraphQLError):
    """A user-facing error raised by a query."""

    def __init__(self, code: str, message: str, message_ja: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": code, "messageJa": message_ja,
                                              **extensions})


def service_unavailable(error: ServiceUnavailableError) -> ApiError:
    """``service_unavailable``: a dependency is down; nothing was written; retry later.

    Never says which dependency nor why (the driver's text names hosts): the client
    needs to know only that the same request may succeed in ``retryAfterSeconds``.
    """
    return ApiError(error.code, error.message, error.message_ja, retryable=True,
                    retryAfterSeconds=error.retry_after)


def api_error(exc: Exception) -> ApiError:
    """Map an expected exception raised by a query; anything else is re-raised."""
    down = unavailable(exc)
    if down is not None:
        return service_unavailable(down)
    if isinstance(exc, (AccessDeniedError, AuthenticationError, CursorInvalidError)):
        return ApiError(exc.code, exc.message, exc.message_ja)
    if isinstance(exc, DomainError):
        return ApiError(exc.code, exc.message, exc.message_ja)
    if isinstance(exc, InputErrors) and exc.errors:
        # A query's arguments checked with Checker (raise_if_any): the first problem.
        first = exc.errors[0]
        return ApiError(first.code, first.message, first.message_ja)
    raise exc
