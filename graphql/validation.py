"""Edge checks of GraphQL input: shapes, lengths and dates, all problems reported at once."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import TYPE_CHECKING

import strawberry
from strawberry.types import Info

from yorisoi.domain.errors import DomainError, InvalidInputError
from yorisoi.domain.japanese_dates import parse_typed_date
from yorisoi.domain.reception_numbers import parse_reception_number
from yorisoi.graphql.errors import InputErrors

if TYPE_CHECKING:
    from yorisoi.graphql.context import YorisoiContext

# date.fromisoformat alone also takes week dates such as 2026-W01-1.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Checker:
    """Collects every shape problem of an input at once (the edge check)."""

    def __init__(self, max_text: int) -> None:
        self.max_text = max_text
        self.errors: list[DomainError] = []

    @classmethod
    def of(cls, info: Info[YorisoiContext, None]) -> Checker:
        """A checker with the deployment's text limit."""
        return cls(info.context.services.settings.max_text_length)

    def bad(self, field: str, message: str, message_ja: str) -> None:
        self.errors.append(InvalidInputError(field=field, message=message, message_ja=message_ja))

    def text(self, field: str, value: str | None, limit: int | None = None) -> str:
        limit = limit or self.max_text
        if value is not None and len(value) > limit:
            self.bad(field, f"Too long: at most {limit} characters.",
                      f"{limit}文字以内で入力してください。")
        return value or ""

    def required(self, field: str, value: str, limit: int | None = None) -> str:
        if not value.strip():
            self.bad(field, "This field is required.", "必須項目です。")
        return self.text(field, value, limit)

    def day(self, field: str, value: str | None) -> date | None:
        """A date as ISO (YYYY-MM-DD) or as people write it: 令和6年4月1日, R6.4.1, 2024/4/1,
        full-width digits — one parser for the API, the console and the CLI."""
        if value is None:
            return None
        try:
            # fromisoformat alone also takes week dates such as 2026-W01-1.
            if _ISO_DATE.fullmatch(value):
                return date.fromisoformat(value)
        except ValueError:
            pass
        else:
            typed = parse_typed_date(value) if len(value) <= 40 else None
            if typed is not None:
                return typed
        self.bad(field, "Not a date: use YYYY-MM-DD (令和6年4月1日, R6.4.1 and 2024/4/1 "
                        "are read too).",
                  "日付の形式が正しくありません（YYYY-MM-DD、令和6年4月1日、R6.4.1、2024/4/1 など）。")
        return None

    def count(self, field: str, items: list, limit: int) -> None:
        if len(items) > limit:
            self.bad(field, f"At most {limit} entries.", f"{limit}件以内にしてください。")

    def case_id(self, value: strawberry.ID | None) -> uuid.UUID | None:
        """A case id, or the id of the case a reception number (受付番号) names.

        A number the caller cannot see resolves to an id no case has: the
        command then answers case_not_found, as for an unknown id.
        """
        if value is None:
            return None
        try:
            return uuid.UUID(str(value))
        except ValueError:
            pass
        if parse_reception_number(str(value)) is not None:
            from yorisoi.graphql.case_numbers import case_for_number

            return case_for_number(str(value))
        self.bad("caseId", "Not a case id or reception number (e.g. R8-000123).",
                  "ケースIDまたは受付番号（例: R8-000123）の形式が正しくありません。")
        return None

    def record_id(self, field: str, value: str | None) -> uuid.UUID | None:
        """The id of a record other than a case (meeting, referral, agency…)."""
        if value is None:
            return None
        try:
            return uuid.UUID(str(value))
        except ValueError:
            self.bad(field, "Not an id.", "IDの形式が正しくありません。")
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise InputErrors(self.errors)
