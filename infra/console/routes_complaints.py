"""Complaints and requests (苦情・要望, guideline §6(2)), and representative meetings (代表者会議).

The complaint officers' pages: the board (cards open the complaint), intake of a new
complaint, and the complaint page with each step of its procedure as a form shown only
to the officer who may take it — report to the resolution officer (the intake
officer: ``complaint.report``), discussion, outcome, outcome report, the anonymised
summary, publication, escalation to the prefecture's 運営適正化委員会 and closure
(the resolution officer: ``complaint.resolve``).  Every step runs through the API's
``execute`` with the same service command (``complaint_step``), so the order of the
steps, their dates and the summary's anonymity check are the domain's, not a copy.

The complaint's own timeline is read from its events with their personal fields
withheld (no envelope is opened): the steps, their dates and the role that took them.

Representative meetings: the list and the record form; theme counts only, never a case.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from yorisoi.domain.complaints import (
    CHANNELS,
    DEFAULT_DEADLINES,
    KINDS,
    OUTCOMES,
    REPORT_METHODS,
    ComplaintAnonymousIdentityError,
    ComplaintComplainantMissingError,
    ComplaintContentMissingError,
    ComplaintNotFoundError,
)
from yorisoi.domain.representative_meetings import MIN_THEME_COUNT
from yorisoi.domain.vocabulary import AGENCY_KINDS
from yorisoi.graphql.complaints import Complaint
from yorisoi.graphql.errors import UserError
from yorisoi.graphql.representative_meetings import (
    MAX_ATTENDEES,
    MAX_ITEMS,
    MAX_NAME,
    RepresentativeMeeting,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import dates, i18n
from yorisoi.infra.console.routes_cases import site_choices
from yorisoi.infra.console.web import PREFIX, Console, FormErrors, PageError, console, form_values
from yorisoi.projections.case_queries import CursorInvalidError
from yorisoi.projections.complaints_view import ComplaintQueries, complaint_cursor
from yorisoi.projections.meeting_queries import MeetingQueries
from yorisoi.services.complaints import NewComplaint
from yorisoi.services.event_mapper import event_metadata
from yorisoi.services.meetings import RecordRepresentativeMeeting
from yorisoi.services.personal_access import is_masked
from yorisoi.tenants.access import Action, Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]
PAGE = 25
STEPS = ("received", "reported", "in_discussion", "outcome_recorded", "outcome_reported",
         "published", "closed")
NAME_LIMIT = 200  # as receiveComplaint: complainant's name and contact
SUMMARY_LIMIT = 2000  # as publishComplaintSummary
ATTENDEE_ROWS = 5  # empty rows offered on the representative meeting form


def _queries(rt: TenantRuntime) -> ComplaintQueries:
    return ComplaintQueries(rt.casework.database, rt.casework.keyring)


def _complaint_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, ComplaintNotFoundError.message, ComplaintNotFoundError.message_ja,
                        ComplaintNotFoundError.code) from None


def _names(con: Con, code: str, items: list[Complaint]) -> dict[str, str]:
    """Sites' and contractors' names (people see names, never ids)."""
    registry = con.services.directory.registry
    names: dict[str, str] = {}
    for c in items:
        if c.site_id and c.site_id not in names:
            site = registry.site(code, c.site_id)
            names[c.site_id] = site.name if site else i18n.text("complaints.site_unknown",
                                                                 con.lang)
        if c.contractor_id and c.contractor_id not in names:
            org = registry.tenant(c.contractor_id)
            names[c.contractor_id] = org.name if org else i18n.text("complaints.site_unknown",
                                                                     con.lang)
    return names


def _due(c: Complaint, lang: str) -> str:
    """The deadline in words: 「期限 令和8年12月14日（あと7日）」 or 「…（3日超過）」."""
    if not c.due_on:
        return ""
    days = (date.fromisoformat(c.due_on) - japan_today()).days
    when = dates.show_date(c.due_on, lang)
    if days < 0:
        return i18n.text("complaints.due_over", lang, day=when, n=-days)
    if days == 0:
        return i18n.text("complaints.due_today", lang, day=when)
    return i18n.text("complaints.due_left", lang, day=when, n=days)


# --------------------------------------------------------------------------- the board


@router.get("/complaints", response_class=HTMLResponse)
async def complaints(con: Con, code: str, step: str = "", overdue: str = "",
                     after: str | None = None) -> HTMLResponse:
    """The complaints board (苦情・要望), most recently received first; overdue flagged."""
    overdue_only = overdue == "true"  # text, so a hand-edited value is not a raw 422

    def load(rt: TenantRuntime, grant: Grant) -> Any:
        try:
            page = _queries(rt).board(
                grant.scope, first=PAGE, after=after, step=step if step in STEPS else None,
                overdue_only=overdue_only)
        except CursorInvalidError as error:  # a hand-edited address: a page, not a 500
            raise PageError(400, error.message, error.message_ja, error.code) from None
        return page, [Complaint.from_record(r) for r in page.items]

    page, items = await con.read("complaint.read", code, load)
    next_cursor = complaint_cursor(page.items[-1]) if page.has_next_page and page.items else None
    return con.page("complaints.html", code=code, items=items, total=page.total_count,
                    steps=STEPS, filters={"step": step, "overdue": overdue_only},
                    next_cursor=next_cursor, names=_names(con, code, items),
                    due={c.id: _due(c, con.lang) for c in items},
                    may_intake=await con.may("complaint.intake", code),
                    may_configure=await con.may("complaint.configure", code))


# --------------------------------------------------------------------------- intake


async def _intake_form(con: Con, code: str, values: dict[str, Any],
                       errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    sites = await con.read("complaint.intake", code,
                           lambda rt, grant: site_choices(con, rt, code))
    return con.page("complaints_new.html", status=status, code=code, sites=sites,
                    values=values, errors=errors or FormErrors(),
                    kinds=[(k, i18n.label("complaint_kind", k, con.lang)) for k in KINDS],
                    channels=[(k, i18n.label("complaint_channel", k, con.lang))
                              for k in CHANNELS])


@router.get("/complaints/new", response_class=HTMLResponse)
async def new_complaint(con: Con, code: str) -> HTMLResponse:
    return await _intake_form(con, code, {"receivedOn": japan_today().isoformat(),
                                          "kind": "complaint"})


@router.post("/complaints/new")
async def receive(con: Con, code: str) -> Response:
    """Receive a complaint: every error of the form at once, the domain's words."""
    form = await con.form()
    check = con.checker()  # the same checks as receiveComplaint, and the domain's rules up front
    offered = await con.read("complaint.intake", code,
                             lambda rt, grant: site_choices(con, rt, code))
    site_id = check.required("siteId", str(form.get("siteId", "")), 100)
    if site_id and site_id not in dict(offered):
        # Not one of the person's sites: said next to the field, with the form's other errors.
        check.bad("siteId", "Choose a site from the list.", "実施場所を一覧から選んでください。")
        site_id = ""
    kind = str(form.get("kind", ""))
    if kind not in KINDS:
        check.bad("kind", "Choose complaint or request.", "苦情か要望かを選んでください。")
    channel = str(form.get("channel", ""))
    if channel not in CHANNELS:
        check.bad("channel", "Choose how it was received.", "受付方法を選んでください。")
    received_on = check.day("receivedOn", str(form.get("receivedOn", "")))
    if received_on is not None and received_on > japan_today():
        check.bad("receivedOn", "The date cannot be in the future.",
                  "受付日に未来の日付は指定できません。")
    anonymous = form.get("anonymous") == "on"
    name = check.text("complainantName", str(form.get("complainantName", "")), NAME_LIMIT)
    contact = check.text("complainantContact", str(form.get("complainantContact", "")),
                         NAME_LIMIT)
    content = check.text("content", str(form.get("content", "")))
    wishes = check.text("wishes", str(form.get("wishes", "")))
    if not content.strip():
        check.bad("content", ComplaintContentMissingError.message,
                  ComplaintContentMissingError.message_ja)
    if anonymous and (name.strip() or contact.strip()):
        check.bad("complainantName", ComplaintAnonymousIdentityError.message,
                  ComplaintAnonymousIdentityError.message_ja)
    elif not anonymous and not name.strip():
        check.bad("complainantName", ComplaintComplainantMissingError.message,
                  ComplaintComplainantMissingError.message_ja)
    registry = con.services.directory.registry

    def command(rt: TenantRuntime, grant: Grant) -> str:
        contractor_id = next(
            (c.contractor_id for c in registry.contract_for_site(grant.municipality_code,
                                                                 site_id)
             if c.contract_id == grant.contract_id), None) if grant.contract_id else None
        complaint = rt.casework.receive_complaint(NewComplaint(
            site_id=site_id, contract_id=grant.contract_id, contractor_id=contractor_id,
            kind=kind, channel=channel, received_on=received_on or date.min,
            anonymous=anonymous, content=content, complainant_name=name.strip() or None,
            complainant_contact=contact.strip() or None, wishes=wishes.strip() or None,
            involve_third_party=form.get("involveThirdParty") == "on", case_id=None),
            grant.scope.contract_ids)
        rt.catch_up()
        return str(complaint.id)

    result = await con.command("complaint.intake", code, command, check=check,
                               site_id=site_id or None)
    if isinstance(result, UserError):
        return await _intake_form(con, code, form_values(form),
                                  FormErrors.of(result, con.lang, _INTAKE_FIELDS), status=400)
    return con.redirect(f"{PREFIX}/m/{code}/complaints/{result}?saved=received")


_INTAKE_FIELDS = {"siteId", "kind", "channel", "receivedOn", "complainantName",
                  "complainantContact", "content", "wishes", "involveThirdParty"}


# --------------------------------------------------------------------------- deadlines


async def _deadlines_form(con: Con, code: str, values: dict[str, Any] | None = None,
                          errors: FormErrors | None = None, status: int = 200,
                          saved: bool = False) -> HTMLResponse:
    days = await con.read("complaint.configure", code,
                          lambda rt, grant: dict(rt.casework.complaint_deadlines().days))
    current = {f"days.{step}": str(n) for step, n in days.items()}
    return con.page("complaints_deadlines.html", status=status, code=code,
                    steps=list(DEFAULT_DEADLINES), values={**current, **(values or {})},
                    errors=errors or FormErrors(), saved=saved)


@router.get("/complaints/deadlines", response_class=HTMLResponse)
async def deadlines(con: Con, code: str, saved: str = "") -> HTMLResponse:
    """The days allowed per step (the municipality's; the guideline's defaults until set)."""
    return await _deadlines_form(con, code, saved=saved == "1")


@router.post("/complaints/deadlines")
async def set_deadlines(con: Con, code: str) -> Response:
    form = await con.form()
    check = con.checker()
    days: dict[str, int] = {}
    for step in DEFAULT_DEADLINES:
        raw = str(form.get(f"days.{step}", "")).strip()
        value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
        if not 1 <= value <= 365:
            check.bad(f"days.{step}", "Give 1 to 365 days.", "1〜365の日数を入力してください。")
        days[step] = value

    def command(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.set_complaint_deadlines(days, expected_version=None)
        rt.catch_up()

    result = await con.command("complaint.configure", code, command, check=check)
    if isinstance(result, UserError):
        if result.code == "role_not_permitted":
            raise PageError(403, result.message, result.message_ja, result.code)
        return await _deadlines_form(con, code, form_values(form),
                                     FormErrors.of(result, con.lang,
                                                   {f"days.{s}" for s in DEFAULT_DEADLINES}),
                                     status=400)
    return con.redirect(f"{PREFIX}/m/{code}/complaints/deadlines?saved=1")


# --------------------------------------------------------------------------- what the public sees


def _month(value: str, lang: str) -> str:
    """「令和8年10月」 (English: 「Oct 2026」) from YYYY-MM."""
    try:
        first = date.fromisoformat(f"{value}-01")
    except ValueError:
        return value
    if lang != "ja":
        return first.strftime("%b %Y")
    era = dates.wareki(first)
    return era[:era.rindex("月") + 1]


@router.get("/complaints/published", response_class=HTMLResponse)
async def published(con: Con, code: str, after: str | None = None) -> HTMLResponse:
    """The anonymised summaries exactly as the public reads them (no login needed there)."""
    def load(rt: TenantRuntime, grant: Grant) -> Any:
        try:
            return _queries(rt).published(first=PAGE, after=after)
        except CursorInvalidError as error:  # a hand-edited address: a page, not a 500
            raise PageError(400, error.message, error.message_ja, error.code) from None

    page = await con.read("complaint.read", code, load)
    return con.page("complaints_published.html", code=code, items=page.items,
                    total=page.total_count, months={r.position: _month(r.month_received,
                                                                       con.lang)
                                                    for r in page.items},
                    next_cursor=page.end_cursor if page.has_next_page else None)


# --------------------------------------------------------------------------- one complaint


@dataclass(frozen=True)
class TimelineItem:
    """One step of the complaint, as its event stored it (nothing personal)."""

    kind: str  # received | reported | discussion | outcome | outcome_reported | published | ...
    on: str | None
    at: datetime | None
    role: str | None
    details: list[tuple[str, str]]


_EVENT_KINDS = {"Received": "received", "Reported": "reported",
                "DiscussionAdded": "discussion", "OutcomeRecorded": "outcome",
                "OutcomeReported": "outcome_reported", "SummaryPublished": "published",
                "Escalated": "escalated", "Closed": "closed"}
_EVENT_DATES = {"received": "received_on", "reported": "reported_on", "discussion": "held_on",
                "outcome": "decided_on", "outcome_reported": "reported_on",
                "published": "published_on", "escalated": "escalated_on",
                "closed": "closed_on"}


def _timeline(rt: TenantRuntime, complaint_id: uuid.UUID, lang: str) -> list[TimelineItem]:
    """The complaint's events, oldest first, with their personal fields withheld."""
    app = rt.casework
    items = []
    for stored in app.recorder.select_events(complaint_id):
        event = app.mapper.to_withheld_event(stored)
        kind = _EVENT_KINDS.get(type(event).__name__)
        if kind is None:
            continue
        state = vars(event)
        on = state.get(_EVENT_DATES[kind])
        details: list[tuple[str, str]] = []
        if kind == "received":
            details.append((i18n.text("complaints.kind", lang),
                            i18n.label("complaint_kind", state.get("kind"), lang)))
            details.append((i18n.text("complaints.channel", lang),
                            i18n.label("complaint_channel", state.get("channel"), lang)))
        elif kind == "reported":
            details.append((i18n.text("complaints.third_party_informed", lang),
                            i18n.text("yes" if state.get("third_party_informed") else "no",
                                      lang)))
        elif kind == "outcome":
            details.append((i18n.text("complaints.outcome", lang),
                            i18n.label("complaint_outcome", state.get("outcome"), lang)))
        elif kind == "outcome_reported":
            details.append((i18n.text("complaints.method", lang),
                            i18n.label("complaint_method", state.get("method"), lang)))
        elif kind == "published":  # the public text, checked for names when published
            details.append((i18n.text("complaints.published_summary", lang),
                            str(state.get("summary"))))
        meta = event_metadata(event)
        items.append(TimelineItem(kind=kind, on=on.isoformat() if on else None,
                                  at=getattr(event, "timestamp", None),
                                  role=meta.get("role"), details=details))
    return items


@dataclass(frozen=True)
class StepForms:
    """Which step forms the signed-in officer is offered (the ones they may take now)."""

    report: bool
    discuss: bool
    outcome: bool
    report_outcome: bool
    publish: bool
    close: bool
    escalate: bool

    @classmethod
    def of(cls, c: Complaint, may_report: bool, may_resolve: bool) -> StepForms:
        open_ = c.step != "closed" and not c.disposed
        return cls(report=open_ and may_report and c.step == "received",
                   discuss=open_ and may_resolve and c.step in ("reported", "in_discussion"),
                   outcome=open_ and may_resolve and c.step == "in_discussion",
                   report_outcome=open_ and may_resolve and c.step == "outcome_recorded",
                   publish=open_ and may_resolve and c.step == "outcome_reported",
                   close=open_ and may_resolve and c.step == "published",
                   escalate=open_ and may_resolve and not c.escalated)

    def any(self) -> bool:
        return any(vars(self).values())


async def _page(con: Con, code: str, cid: uuid.UUID, *, errors: FormErrors | None = None,
                values: dict[str, Any] | None = None, status: int = 200,
                saved: str = "") -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> tuple[Complaint, bool, list[TimelineItem]]:
        record = _queries(rt).get(grant.scope, str(cid))
        if record is None:
            raise ComplaintNotFoundError(field="complaintId")
        return (Complaint.from_record(record), is_masked(record.personal),
                _timeline(rt, cid, con.lang))

    complaint, masked, timeline = await con.read("complaint.read", code, load)
    forms = StepForms.of(complaint, await con.may("complaint.report", code),
                         await con.may("complaint.resolve", code))
    today = japan_today().isoformat()
    defaults = {name: today for name in ("reportedOn", "heldOn", "decidedOn", "publishedOn",
                                         "escalatedOn", "closedOn")}
    if complaint.anonymous:
        defaults["method"] = "public_notice"
    return con.page("complaints_item.html", status=status, code=code, c=complaint,
                    timeline=timeline, forms=forms, masked=masked, errors=errors or FormErrors(),
                    values={**defaults, **(values or {})}, saved=saved,
                    names=_names(con, code, [complaint]), due=_due(complaint, con.lang),
                    outcomes=[(k, i18n.label("complaint_outcome", k, con.lang))
                              for k in OUTCOMES],
                    methods=[(k, i18n.label("complaint_method", k, con.lang))
                             for k in REPORT_METHODS
                             if not complaint.anonymous or k == "public_notice"])


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
async def complaint_page(con: Con, code: str, complaint_id: str,
                         saved: str = "") -> HTMLResponse:
    return await _page(con, code, _complaint_uuid(complaint_id),
                       saved=saved if saved in _SAVED else "")


_SAVED = {"received", "report", "add_discussion", "record_outcome", "report_outcome",
          "publish_summary", "escalate", "close"}
# step → (action, form field of its date, the service's date argument)
_STEP_DATES: dict[str, tuple[Action, str, str]] = {
    "report": ("complaint.report", "reportedOn", "reported_on"),
    "add_discussion": ("complaint.resolve", "heldOn", "held_on"),
    "record_outcome": ("complaint.resolve", "decidedOn", "decided_on"),
    "report_outcome": ("complaint.resolve", "reportedOn", "reported_on"),
    "publish_summary": ("complaint.resolve", "publishedOn", "published_on"),
    "escalate": ("complaint.resolve", "escalatedOn", "escalated_on"),
    "close": ("complaint.resolve", "closedOn", "closed_on")}
_STEP_FIELDS = {"report": {"reportedOn", "thirdPartyInformed"},
                "add_discussion": {"heldOn", "note"},
                "record_outcome": {"decidedOn", "outcome", "detail"},
                "report_outcome": {"reportedOn", "method"},
                "publish_summary": {"publishedOn", "summary"},
                "escalate": {"escalatedOn", "reason"},
                "close": {"closedOn"}}


async def _step(con: Con, code: str, complaint_id: str, step: str, check: Checker,
                form: FormData, **args: Any) -> Response:
    """One step through ``execute``: its action, the complaint's own contract and site."""
    cid = _complaint_uuid(complaint_id)
    action, field, date_arg = _STEP_DATES[step]
    on = check.day(field, str(form.get(field, "")))

    def command(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.complaint_step(cid, step, expected_version=None,
                                   writable_contract_ids=grant.scope.contract_ids,
                                   **{date_arg: on}, **args)
        rt.catch_up()

    result = await con.command(action, code, command, check=check)
    if isinstance(result, UserError):
        if result.code == "role_not_permitted":
            raise PageError(403, result.message, result.message_ja, result.code)
        if result.code == "complaint_not_found":
            raise PageError(404, result.message, result.message_ja, result.code)
        return await _page(con, code, cid, errors=FormErrors.of(result, con.lang,
                                                                _STEP_FIELDS[step]),
                           values=form_values(form), status=400)
    return con.redirect(f"{PREFIX}/m/{code}/complaints/{cid}?saved={step}")


@router.post("/complaints/{complaint_id}/report")
async def report(con: Con, code: str, complaint_id: str) -> Response:
    """The intake officer reports to the resolution officer (and the third-party members)."""
    form = await con.form()
    return await _step(con, code, complaint_id, "report", con.checker(), form,
                       third_party_informed=form.get("thirdPartyInformed") == "on")


@router.post("/complaints/{complaint_id}/discussions")
async def discuss(con: Con, code: str, complaint_id: str) -> Response:
    form = await con.form()
    check = con.checker()
    note = check.required("note", str(form.get("note", "")))
    return await _step(con, code, complaint_id, "add_discussion", check, form, note=note)


@router.post("/complaints/{complaint_id}/outcome")
async def outcome(con: Con, code: str, complaint_id: str) -> Response:
    form = await con.form()
    check = con.checker()
    chosen = str(form.get("outcome", ""))
    if chosen not in OUTCOMES:
        check.bad("outcome", "Choose an outcome from the list.", "結果の区分を一覧から選んでください。")
    detail = check.required("detail", str(form.get("detail", "")))
    return await _step(con, code, complaint_id, "record_outcome", check, form,
                       outcome=chosen, detail=detail)


@router.post("/complaints/{complaint_id}/outcome-report")
async def report_outcome(con: Con, code: str, complaint_id: str) -> Response:
    form = await con.form()
    check = con.checker()
    method = str(form.get("method", ""))
    if method not in REPORT_METHODS:
        check.bad("method", "Choose how the outcome was reported.", "報告方法を選んでください。")
    return await _step(con, code, complaint_id, "report_outcome", check, form, method=method)


@router.post("/complaints/{complaint_id}/summary")
async def publish(con: Con, code: str, complaint_id: str) -> Response:
    """Publish the anonymised summary: the domain refuses the complainant's or family's names."""
    form = await con.form()
    check = con.checker()
    summary = check.required("summary", str(form.get("summary", "")), SUMMARY_LIMIT)
    return await _step(con, code, complaint_id, "publish_summary", check, form,
                       summary=summary)


@router.post("/complaints/{complaint_id}/escalate")
async def escalate(con: Con, code: str, complaint_id: str) -> Response:
    form = await con.form()
    check = con.checker()
    reason = check.required("reason", str(form.get("reason", "")))
    return await _step(con, code, complaint_id, "escalate", check, form, reason=reason)


@router.post("/complaints/{complaint_id}/close")
async def close(con: Con, code: str, complaint_id: str) -> Response:
    form = await con.form()
    return await _step(con, code, complaint_id, "close", con.checker(), form)


# --------------------------------------------------------------------------- 代表者会議


async def _meetings_page(con: Con, code: str, *, values: dict[str, Any] | None = None,
                         errors: FormErrors | None = None, status: int = 200,
                         after: str | None = None, saved: str = "") -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> Any:
        try:
            page = MeetingQueries(rt.casework.database, rt.casework.keyring
                                  ).representative_page(first=PAGE, after=after)
        except CursorInvalidError as error:  # a hand-edited address: a page, not a 500
            raise PageError(400, error.message, error.message_ja, error.code) from None
        return page, [RepresentativeMeeting.from_row(r) for r in page.items]

    page, meetings = await con.read("case.read", code, load)
    may_record = await con.may("representative_meeting.record", code)
    today = japan_today()
    fiscal_start = date(today.year if today.month >= 4 else today.year - 1, 4, 1)
    defaults = {"heldOn": today.isoformat(), "themesFrom": fiscal_start.isoformat(),
                "themesTo": today.isoformat()}
    rows = max([ATTENDEE_ROWS, *(int(k.split(".")[1]) + 2 for k in (values or {})
                                 if k.startswith("attendees.") and k.split(".")[1].isdigit())])
    return con.page("representative_meetings.html", status=status, code=code,
                    meetings=meetings, total=page.total_count,
                    next_cursor=page.cursors[-1] if page.has_next_page and page.cursors
                    else None, may_record=may_record, values={**defaults, **(values or {})},
                    errors=errors or FormErrors(), rows=min(rows, MAX_ATTENDEES),
                    kinds=i18n.choices("agency_kind", con.lang), minimum=MIN_THEME_COUNT,
                    saved=saved == "recorded")


@router.get("/representative-meetings", response_class=HTMLResponse)
async def representative_meetings(con: Con, code: str, after: str | None = None,
                                  saved: str = "") -> HTMLResponse:
    return await _meetings_page(con, code, after=after, saved=saved)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.post("/representative-meetings")
async def record_representative_meeting(con: Con, code: str) -> Response:
    """The same checks as recordRepresentativeMeeting; attendees are the filled rows."""
    form = await con.form()
    check = con.checker()
    attendees = []
    for i in range(MAX_ATTENDEES):
        org = str(form.get(f"attendees.{i}.organisation", "")).strip()
        kind = str(form.get(f"attendees.{i}.kind", ""))
        if not org and not kind:
            continue
        org = check.required(f"attendees.{i}.organisation", org, MAX_NAME)
        if kind not in AGENCY_KINDS:
            check.bad(f"attendees.{i}.kind", "Choose the kind of organisation.",
                      "機関の種別を選んでください。")
        attendees.append((org, kind))
    if not attendees:
        check.bad("attendees.0.organisation", "Name at least one attending organisation.",
                  "出席した機関を1つ以上入力してください。")
    issues = _lines(str(form.get("regionalIssues", "")))
    resources = _lines(str(form.get("resourcesToDevelop", "")))
    check.count("regionalIssues", issues, MAX_ITEMS)
    check.count("resourcesToDevelop", resources, MAX_ITEMS)
    issues = [check.text("regionalIssues", t) for t in issues]
    resources = [check.text("resourcesToDevelop", t) for t in resources]
    held_on = check.day("heldOn", str(form.get("heldOn", "")))
    themes_from = check.day("themesFrom", str(form.get("themesFrom", "")))
    themes_to = check.day("themesTo", str(form.get("themesTo", "")))
    if themes_from and themes_to and themes_from > themes_to:
        check.bad("themesTo", "The period ends before it starts.",
                  "集計期間の終わりが始まりより前になっています。")
    cmd = RecordRepresentativeMeeting(
        municipality_code=code, held_on=held_on or date.min, attendees=attendees,
        regional_issues=issues, resources_to_develop=resources,
        themes_from=themes_from or date.min, themes_to=themes_to or date.min)

    def command(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.record_representative_meeting(cmd)
        rt.catch_up()

    result = await con.command("representative_meeting.record", code, command, check=check)
    if isinstance(result, UserError):
        if result.code in ("role_not_permitted", "municipality_only"):
            raise PageError(403, result.message, result.message_ja, result.code)
        return await _meetings_page(con, code, values=form_values(form),
                                    errors=FormErrors.of(result, con.lang, _meeting_fields()),
                                    status=400)
    return con.redirect(f"{PREFIX}/m/{code}/representative-meetings?saved=recorded")


def _meeting_fields() -> set[str]:
    return ({"heldOn", "themesFrom", "themesTo", "regionalIssues", "resourcesToDevelop"}
            | {f"attendees.{i}.{part}" for i in range(MAX_ATTENDEES)
               for part in ("organisation", "kind")})
