"""Compliance queries for compliance auditors ("audit.read"): metadata of changes and reads.

Who saw or changed what, when and why — a record's history, a person's
activity, break-glass uses, reads after hours, bulk reads, exports — and
never a personal value: event names, record ids, field *names*, actors,
roles, organisations, times, reasons, request and trace ids
(projections/compliance.py).  Every list is a keyset page with a total.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, time, timedelta
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.domain.errors import NotFoundDomainError
from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import read
from yorisoi.graphql.compliance_types import (
    AfterHoursConnection,
    AfterHoursRead,
    AfterHoursReadEdge,
    AuditActivity,
    AuditExportConnection,
    AuditExportEdge,
    AuditItemEdge,
    AuditRecordHistory,
    AuditView,
    BreakGlassUse,
    BreakGlassUseConnection,
    BreakGlassUseEdge,
    BulkAccess,
    BulkAccessConnection,
    BulkAccessEdge,
    BusinessHoursInput,
    audit_export,
    audit_item,
)
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import municipal_closed_days

JST_OFFSET = timedelta(hours=9)  # Japan has no daylight saving time
from yorisoi.projections import compliance as c

_Code = Annotated[str | None, strawberry.argument(
    description="Defaults to the caller's own municipality.")]
_Since = Annotated[str | None, strawberry.argument(
    description="YYYY-MM-DD (Japan time) or ISO 8601; default depends on the query")]
_Until = Annotated[str | None, strawberry.argument(
    description="YYYY-MM-DD (that whole day, Japan time) or ISO 8601; default now")]
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")


class RecordNotFoundError(NotFoundDomainError):
    code = "record_not_found"
    message = "Nothing is recorded under this id in this municipality."
    message_ja = "このIDの記録はこの市町村にありません。"


# --------------------------------------------------------------------------- resolvers


def _first(first: int) -> int:
    # The same typed page_size_invalid error as every list (graphql/paging.py).
    return min(paging.page_size(first), c.MAX_PAGE)


def _hours(check: Checker, given: BusinessHoursInput | None) -> c.BusinessHours:
    given = given or BusinessHoursInput()
    clocks = []
    for name, value in (("hours.start", given.start), ("hours.end", given.end)):
        if not _HHMM.fullmatch(value):
            check.bad(name, "Use HH:MM (00:00–24:00).", "HH:MM 形式（00:00〜24:00）で指定してください。")
            value = "00:00"
        clocks.append(None if value == "24:00" else time.fromisoformat(value))
    start, end = clocks[0] or time(0), clocks[1]
    if end is not None and end <= start:
        check.bad("hours.end", "The end must be after the start.", "終了時刻は開始時刻より後にしてください。")
    check.count("hours.holidays", given.holidays, 400)
    holidays = {check.day("hours.holidays", d) for d in given.holidays[:400]}
    return c.BusinessHours(start=start, end=end, weekends_closed=given.weekends_closed,
                           holidays=frozenset(d for d in holidays if isinstance(d, date)))


def _page_info(page: c.Page[Any]) -> PageInfo:
    return PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor)


@strawberry.type
class ComplianceQuery:
    @strawberry.field(description="A record's changes and reads, newest first (compliance "
                                  "auditors). For a case: its household's records and reads.")
    async def audit_record_history(
            self, info: Info[YorisoiContext, None], record_id: strawberry.ID,
            municipality_code: _Code = None, first: int = 50,
            after: str | None = None) -> AuditRecordHistory:
        size = _first(first)  # before anything, as on every list

        def run() -> AuditRecordHistory:
            grant = info.context.authorize("audit.read", municipality_code)
            check = Checker.of(info)
            rid = check.record_id("recordId", str(record_id))
            check.raise_if_any()
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                found = c.ComplianceQueries(rt.casework.database).record_history(
                    rid, first=size, after=after)
            if found is None:
                raise RecordNotFoundError(field="recordId")
            page = found.page
            return AuditRecordHistory(
                record_id=strawberry.ID(found.record_id), record_kind=found.record_kind,
                household_id=found.household_id, total_count=page.total_count,
                change_count=page.counts["changes"], view_count=page.counts["views"],
                edges=[AuditItemEdge(cursor=k, node=audit_item(x)) for k, x in page.edges],
                page_info=_page_info(page))

        return await read(run)

    @strawberry.field(description="The changes a person stored and the reads they made in a "
                                  "period (default: the last 30 days), newest first.")
    async def audit_person_activity(
            self, info: Info[YorisoiContext, None],
            actor: Annotated[str, strawberry.argument(description="The person's subject (sub)")],
            municipality_code: _Code = None, since: _Since = None, until: _Until = None,
            first: int = 50, after: str | None = None) -> AuditActivity:
        size = _first(first)  # before anything, as on every list

        def run() -> AuditActivity:
            grant = info.context.authorize("audit.read", municipality_code)
            check = Checker.of(info)
            who = check.required("actor", actor, 200)
            check.raise_if_any()
            period = c.window(since, until, default_days=30, max_days=366)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = c.ComplianceQueries(rt.casework.database).person_activity(
                    who.strip(), period, first=size, after=after)
            return AuditActivity(
                actor=who.strip(), since=period.low, until=period.high,
                total_count=page.total_count, change_count=page.counts["changes"],
                view_count=page.counts["views"],
                edges=[AuditItemEdge(cursor=k, node=audit_item(x)) for k, x in page.edges],
                page_info=_page_info(page))

        return await read(run)

    @strawberry.field(description="Break-glass uses, newest first, with the reads under each.")
    async def audit_break_glass_uses(
            self, info: Info[YorisoiContext, None], municipality_code: _Code = None,
            actor: str | None = None, case_id: strawberry.ID | None = None,
            since: _Since = None, until: _Until = None, first: int = 50,
            after: str | None = None) -> BreakGlassUseConnection:
        size = _first(first)  # before anything, as on every list

        def run() -> BreakGlassUseConnection:
            grant = info.context.authorize("audit.read", municipality_code)
            check = Checker.of(info)
            case = check.case_id(case_id)
            check.text("actor", actor, 200)
            check.raise_if_any()
            period = (c.window(since, until, default_days=366, max_days=3660)
                      if since or until else None)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = c.ComplianceQueries(rt.casework.database).break_glass_uses(
                    actor=actor, case_id=str(case) if case else None, period=period,
                    first=size, after=after)
            return BreakGlassUseConnection(
                total_count=page.total_count,
                edges=[BreakGlassUseEdge(cursor=k, node=BreakGlassUse(**vars(u)))
                       for k, u in page.edges],
                page_info=_page_info(page))

        return await read(run)

    @strawberry.field(description="Reads of personal data outside business hours (Japan time) "
                                  "in a period (default: the last 30 days), newest first.")
    async def audit_after_hours(
            self, info: Info[YorisoiContext, None], municipality_code: _Code = None,
            since: _Since = None, until: _Until = None, hours: BusinessHoursInput | None = None,
            first: int = 50, after: str | None = None) -> AfterHoursConnection:
        size = _first(first)  # before anything, as on every list

        def run() -> AfterHoursConnection:
            grant = info.context.authorize("audit.read", municipality_code)
            check = Checker.of(info)
            business = _hours(check, hours)
            check.raise_if_any()
            period = c.window(since, until, default_days=30, max_days=366)
            if hours is None or hours.public_holidays_closed:
                business = replace(business, holidays=business.holidays | municipal_closed_days(
                    (period.since + JST_OFFSET).date(), (period.until + JST_OFFSET).date()))
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = c.ComplianceQueries(rt.casework.database).after_hours(
                    period, business, first=size, after=after)
            return AfterHoursConnection(
                since=period.low, until=period.high, total_count=page.total_count,
                edges=[AfterHoursReadEdge(cursor=k, node=AfterHoursRead(
                    read=AuditView.of(r.view), local_time=r.local_time, outside=r.outside))
                    for k, r in page.edges],
                page_info=_page_info(page))

        return await read(run)

    @strawberry.field(description="People who read more than `threshold` distinct households "
                                  "within `windowMinutes`, in a period (default: the last 7 "
                                  "days; at most 92), most households first.")
    async def audit_bulk_access(
            self, info: Info[YorisoiContext, None], municipality_code: _Code = None,
            since: _Since = None, until: _Until = None, threshold: int = 20,
            window_minutes: int = 60, first: int = 50,
            after: str | None = None) -> BulkAccessConnection:
        size = _first(first)  # before anything, as on every list

        def run() -> BulkAccessConnection:
            grant = info.context.authorize("audit.read", municipality_code)
            check = Checker.of(info)
            if not 1 <= threshold <= 100_000:
                check.bad("threshold", "Between 1 and 100000.", "1〜100000の範囲で指定してください。")
            if not 1 <= window_minutes <= 7 * 24 * 60:
                check.bad("windowMinutes", "Between 1 minute and 7 days.",
                          "1分〜7日の範囲で指定してください。")
            check.raise_if_any()
            period = c.window(since, until, default_days=7, max_days=92)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = c.ComplianceQueries(rt.casework.database).bulk_access(
                    period, threshold=threshold, window_minutes=window_minutes, first=size,
                    after=after)
            return BulkAccessConnection(
                since=period.low, until=period.high, total_count=page.total_count,
                edges=[BulkAccessEdge(cursor=k, node=BulkAccess(
                    **{**vars(b), "roles": list(b.roles),
                       "organisations": list(b.organisations)})) for k, b in page.edges],
                page_info=_page_info(page))

        return await read(run)

    @strawberry.field(description="Exports made — disclosure exports (grouped per request) and "
                                  "disposal certificates — in a period (default: the last 366 "
                                  "days), newest first.")
    async def audit_exports(
            self, info: Info[YorisoiContext, None], municipality_code: _Code = None,
            since: _Since = None, until: _Until = None, first: int = 50,
            after: str | None = None) -> AuditExportConnection:
        size = _first(first)  # before anything, as on every list

        def run() -> AuditExportConnection:
            grant = info.context.authorize("audit.read", municipality_code)
            period = c.window(since, until, default_days=366, max_days=3660)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = c.ComplianceQueries(rt.casework.database).exports(
                    period, first=size, after=after)
            return AuditExportConnection(
                since=period.low, until=period.high, total_count=page.total_count,
                export_count=page.counts["exports"],
                certificate_count=page.counts["certificates"],
                edges=[AuditExportEdge(cursor=k, node=audit_export(x)) for k, x in page.edges],
                page_info=_page_info(page))

        return await read(run)
