"""Case queries: the case list (keyset pages with totalCount) and one case."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date
from typing import Annotated

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from yorisoi.domain.japanese_dates import parse_typed_date
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import api_error
from yorisoi.projections.reception_lookup import case_id_for_number
from yorisoi.graphql.validation import Checker
from yorisoi.projections.case_queries import (
    CaseRecord,
    ConsultationRecord,
    HouseholdRecord,
)
from yorisoi.projections.case_search import CaseFilter as CaseFilterValue

MAX_PAGE_SIZE = 100


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@strawberry.type
class Guardian:
    name: str
    relationship: str
    reading: str | None = strawberry.field(default=None, description="フリガナ, as typed")
    phone: str | None = None

    @classmethod
    def from_dict(cls, g: dict[str, str | None]) -> Guardian:
        # Households recorded before readings and phones were captured have neither key.
        return cls(name=g["name"] or "", relationship=g["relationship"] or "",
                   reading=g.get("reading"), phone=g.get("phone"))


@strawberry.type
class Child:
    name: str
    birth_date: str
    reading: str | None = strawberry.field(default=None, description="フリガナ, as typed")

    @classmethod
    def from_dict(cls, c: dict[str, str | None]) -> Child:
        return cls(name=c["name"] or "", birth_date=c["birth_date"] or "",
                   reading=c.get("reading"))


@strawberry.type(description="The people a case is about. Personal data: every read is attributable.")
class Household:
    id: strawberry.ID
    guardians: list[Guardian] | None
    children: list[Child] | None
    pregnancy_due_date: str | None
    disposed: bool = strawberry.field(description="True once the household's data key is destroyed.")
    masked: bool = strawberry.field(
        default=False,
        description="True when your role may not see personal fields: they are null. A compliance "
                    "auditor may record a break-glass reason (breakGlass) to see one case's.")

    @classmethod
    def from_record(cls, r: HouseholdRecord) -> Household:
        return cls(
            id=strawberry.ID(r.household_id),
            guardians=None if r.guardians is None else [Guardian.from_dict(g)
                                                        for g in r.guardians],
            children=None if r.children is None else [Child.from_dict(c) for c in r.children],
            pregnancy_due_date=r.pregnancy_due_date, disposed=r.disposed, masked=r.masked)


@strawberry.type(description="One correction of a consultation: the original stays in the log.")
class ConsultationCorrection:
    fields: list[str] = strawberry.field(description="Names of the corrected fields")
    reason: str | None
    corrected_by: str | None
    corrected_role: str | None
    corrected_at: str


@strawberry.type
class Consultation:
    id: strawberry.ID
    occurred_on: str
    channel: str
    themes: list[str]
    asked: str | None
    wishes: str | None
    direction: str | None
    outer_situation: str | None = strawberry.field(description="外的状況")
    inner_situation: str | None = strawberry.field(description="内的状況")
    child_rearing_situation: str | None = strawberry.field(description="子育ての状況")
    site_id: str
    contract_id: str | None
    recorded_by: str | None
    recorded_role: str | None
    recorded_at: str
    correction_count: int
    version: int = strawberry.field(description="Send it back as expectedVersion when correcting")
    corrections: list[ConsultationCorrection] = strawberry.field(
        description="Oldest first; the values above are the corrected ones")

    @classmethod
    def from_record(cls, r: ConsultationRecord) -> Consultation:
        return cls(id=strawberry.ID(r.consultation_id), occurred_on=r.occurred_on,
                   channel=r.channel, themes=r.themes, asked=r.asked, wishes=r.wishes,
                   direction=r.direction, outer_situation=r.outer_situation,
                   inner_situation=r.inner_situation,
                   child_rearing_situation=r.child_rearing_situation, site_id=r.site_id,
                   contract_id=r.contract_id, recorded_by=r.recorded_by,
                   recorded_role=r.recorded_role, recorded_at=r.recorded_at,
                   correction_count=len(r.corrections), version=1 + len(r.corrections),
                   corrections=[ConsultationCorrection(
                       fields=c.get("fields") or [], reason=c.get("reason"),
                       corrected_by=c.get("corrected_by"),
                       corrected_role=c.get("corrected_role"),
                       corrected_at=c.get("corrected_at") or "") for c in r.corrections])


def _loaders(info: Info[YorisoiContext, None], municipality_code: str) -> dict[str, DataLoader]:
    """Per-request, per-municipality loaders: one query per page, not per case."""
    ctx = info.context
    key = f"loaders:{municipality_code}"
    if key not in ctx.__dict__:
        runtimes = ctx.services.runtimes

        def households(ids: list[str]) -> list[HouseholdRecord | None]:
            with runtimes.lease(municipality_code) as rt:
                found = rt.cases.households(ids)
            return [found.get(i) for i in ids]

        def consultations(ids: list[str]) -> list[list[ConsultationRecord]]:
            with runtimes.lease(municipality_code) as rt:
                found = rt.cases.consultations(ids)
            return [found.get(i, []) for i in ids]

        ctx.__dict__[key] = {
            "households": DataLoader(lambda ids: asyncio.to_thread(households, ids)),
            "consultations": DataLoader(lambda ids: asyncio.to_thread(consultations, ids)),
        }
    return ctx.__dict__[key]


@strawberry.type(description="A household's case file, kept by the municipality.")
class Case:
    id: strawberry.ID
    municipality_code: str
    status: str
    site_id: str
    contract_id: str | None
    opened_on: str
    last_activity_on: str
    consultation_count: int
    themes: list[str]
    closed_on: str | None = strawberry.field(description="Retention is counted from this date")
    closure_reason: str | None
    council_case: bool = strawberry.field(description="Handled by the 要保護児童対策地域協議会")
    version: int = strawberry.field(description="Send it back as expectedVersion to detect stale edits")
    household_id: strawberry.Private[str]
    reception_number: str | None = strawberry.field(
        default=None, description="受付番号 (e.g. R8-000123: 令和8年度's 123rd case of the "
                                  "municipality); accepted wherever a caseId is. Null for cases "
                                  "opened before numbers were given.")

    @classmethod
    def from_record(cls, r: CaseRecord) -> Case:
        return cls(id=strawberry.ID(r.case_id), municipality_code=r.municipality_code,
                   status=r.status, site_id=r.site_id, contract_id=r.contract_id,
                   opened_on=r.opened_on, last_activity_on=r.last_activity_on,
                   consultation_count=r.consultation_count, themes=r.themes,
                   closed_on=r.closed_on, closure_reason=r.closure_reason,
                   council_case=r.council_case, version=r.version,
                   household_id=r.household_id, reception_number=r.reception_number)

    @strawberry.field
    async def household(self, info: Info[YorisoiContext, None]) -> Household | None:
        record = await _loaders(info, self.municipality_code)["households"].load(self.household_id)
        return Household.from_record(record) if record else None

    @strawberry.field
    async def consultations(self, info: Info[YorisoiContext, None]) -> list[Consultation]:
        records = await _loaders(info, self.municipality_code)["consultations"].load(str(self.id))
        return [Consultation.from_record(r) for r in records]

    @strawberry.field(description="What happened in the case, newest first (keyset pages).")
    async def timeline(
        self, info: Info[YorisoiContext, None], first: int = 20, after: str | None = None,
    ) -> Annotated["TimelineConnection", strawberry.lazy("yorisoi.graphql.support_notes")]:  # noqa: F821, UP037
        from yorisoi.graphql.support_notes import case_timeline

        return await case_timeline(info, self.municipality_code, str(self.id), first=first,
                                   after=after)


@strawberry.type
class CaseEdge:
    cursor: str
    node: Case


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class CaseConnection:
    total_count: int
    edges: list[CaseEdge]
    page_info: PageInfo

    @strawberry.field(
        description="The page's nodes in order: the edges' nodes, without their cursors.")
    def nodes(self) -> list[Case]:
        return [edge.node for edge in self.edges]


@strawberry.input(description="Narrows the case list; every condition given must hold.")
class CaseFilter:
    text: str | None = strawberry.field(default=None, description=(
        "Words that must each match: part of a guardian's or child's name (variant kanji "
        "folded: 高橋 finds 髙橋) or reading (hiragana, katakana or half-width), a phone "
        "number (hyphens or not), a child's birth date (令和6年4月1日, R6.4.1, 2024/4/1, "
        "2024-04-01) or a case number (the id, its first 8 characters, the reception "
        "number). Personal values need a role with the need to know; each such search is "
        "recorded in the access log (the kinds of value and the number found, never the text)."))
    status: str | None = strawberry.field(default=None, description="opened, active or closed")
    site_id: str | None = None
    theme: str | None = strawberry.field(default=None, description="A theme code")
    staff: str | None = strawberry.field(default=None, description=(
        "A user id: cases where they recorded a consultation or own a task"))
    opened_from: str | None = strawberry.field(default=None, description=(
        "Opened on or after (YYYY-MM-DD or 令和6年4月1日)"))
    opened_to: str | None = strawberry.field(default=None, description="Opened on or before")
    has_overdue_tasks: bool | None = strawberry.field(default=None, description=(
        "true: cases with an open task past its due date; false: cases without one"))


_STATUSES = ("opened", "active", "closed")
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def checked_filter(checker: Checker, given: CaseFilter | None) -> CaseFilterValue | None:
    """The filter, or its shape problems in ``checker`` (values are never echoed)."""
    if given is None:
        return None
    if given.status is not None and given.status not in _STATUSES:
        checker.bad("filter.status", "The status is one of opened, active or closed.",
                    "状態は opened・active・closed のいずれかを指定してください。")
    if given.theme is not None and not _CODE.match(given.theme):
        checker.bad("filter.theme", "Not a theme code.", "テーマコードの形式が正しくありません。")
    for field, value in (("filter.siteId", given.site_id), ("filter.staff", given.staff),
                         ("filter.text", given.text)):
        if value is not None and any(ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF
                                     for ch in value):
            checker.bad(field, "Control characters are not allowed.",
                        "制御文字は使用できません。")

    def day(field: str, value: str | None) -> date | None:
        if value is None or not value.strip():
            return None
        parsed = parse_typed_date(value)
        if parsed is None:
            checker.bad(field, "Not a date: use YYYY-MM-DD or 令和6年4月1日.",
                        "日付の形式が正しくありません（YYYY-MM-DD または 令和6年4月1日）。")
        return parsed

    return CaseFilterValue(
        text=checker.text("filter.text", given.text, 100) or None, status=given.status,
        site_id=checker.text("filter.siteId", given.site_id, 64) or None, theme=given.theme,
        staff=checker.text("filter.staff", given.staff, 255) or None,
        opened_from=day("filter.openedFrom", given.opened_from),
        opened_to=day("filter.openedTo", given.opened_to),
        has_overdue_tasks=given.has_overdue_tasks)


@strawberry.type
class CaseQuery:
    @strawberry.field(description="Cases of a municipality the caller may see, most recent activity first.")
    async def cases(
        self, info: Info[YorisoiContext, None],
        municipality_code: Annotated[str | None, strawberry.argument(
            description="Defaults to the caller's own municipality; contractors must name one.")] = None,
        first: int = 20, after: str | None = None,
        filter: Annotated[CaseFilter | None, strawberry.argument(  # noqa: A002
            description="Search and filters; totalCount and the pages follow them.")] = None,
    ) -> CaseConnection:
        from yorisoi.projections.case_queries import encode_cursor

        if not 1 <= first <= MAX_PAGE_SIZE:  # the typed page_size_invalid error, as every list
            from yorisoi.graphql.paging import PageSizeInvalidError
            raise PageSizeInvalidError

        checker = Checker.of(info)
        wanted = checked_filter(checker, filter)

        def run() -> CaseConnection:
            checker.raise_if_any()
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = rt.cases.page(grant.scope, first=first, after=after, filter=wanted)
            return CaseConnection(
                total_count=page.total_count,
                edges=[CaseEdge(cursor=encode_cursor(c), node=Case.from_record(c))
                       for c in page.cases],
                page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor))

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # expected errors become typed GraphQL errors
            raise api_error(exc) from None

    @strawberry.field(description="One case, or null when it does not exist or is not visible.")
    async def case(self, info: Info[YorisoiContext, None], id: strawberry.ID,
                   municipality_code: str | None = None) -> Case | None:
        def run() -> Case | None:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                # A reception number (R8-000123) names a case as well as its id does.
                case_id = str(id) if _is_uuid(str(id)) else case_id_for_number(
                    rt.casework.database, grant.scope, str(id))
                record = rt.cases.get(grant.scope, case_id) if case_id else None
            return Case.from_record(record) if record else None

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:
            raise api_error(exc) from None
