"""Specialists' pages: my tasks, the case list, and a case with its household, consents and timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from yorisoi.domain.cases import CLOSURE_REASONS as CASE_CLOSURE_REASONS
from yorisoi.domain.japanese_dates import parse_typed_date
from yorisoi.domain.reception_numbers import parse_reception_number
from yorisoi.graphql.case_meetings import CaseMeeting
from yorisoi.graphql.cases import Case, Consultation, Household
from yorisoi.graphql.consent import CONSENT_PERSONAL, Consent, ConsentException
from yorisoi.graphql.referrals import Referral
from yorisoi.graphql.support_notes import TimelineEntry
from yorisoi.graphql.tasks import Task, task_labels
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import dates, i18n, vocabulary
from yorisoi.infra.console.web import PREFIX, Console, PageError, console
from yorisoi.projections.case_labels import case_labels, registry_site_names
from yorisoi.projections.case_search import CaseFilter as CaseFilterValue
from yorisoi.projections.case_search import SearchNotPermittedError, SearchTextTooLongError
from yorisoi.projections.household_index import SearchTooBroadError
from yorisoi.projections.meeting_queries import MeetingQueries
from yorisoi.projections.organisation_view import OrganisationQueries
from yorisoi.projections.reception_lookup import case_id_for_number
from yorisoi.projections.referral_board import ReferralBoardQueries
from yorisoi.projections.timeline import TimelineQueries, TimelineRecord
from yorisoi.projections.visit_queries import VisitQueries
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.services.personal_access import may_read
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]
PAGE = 25
CASE_STATUSES = ("opened", "active", "closed")
TIMELINE_MAX = 100


def case_uuid(value: str) -> uuid.UUID:
    """A case id from a path; a malformed one reads as absent (404), like an unknown one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, CaseNotFoundError.message, CaseNotFoundError.message_ja,
                        CaseNotFoundError.code) from None


async def case_ref(con: Console, code: str, value: str) -> uuid.UUID:
    """The case a path names: by id, or by its reception number (R8-000123) among the cases
    the person may see; anything else reads as absent (404), like an unknown id."""
    if parse_reception_number(value) is None:
        return case_uuid(value)
    found = await con.read("case.read", code, lambda rt, grant: case_id_for_number(
        rt.casework.database, grant.scope, value))
    return case_uuid(found or "")


def visible_case(rt: TenantRuntime, grant: Grant, case_id: uuid.UUID) -> Case:
    record = rt.cases.get(grant.scope, str(case_id))
    if record is None:
        raise CaseNotFoundError(field="caseId")
    return Case.from_record(record)


# --------------------------------------------------------------------------- tasks


@router.get("/tasks", response_class=HTMLResponse)
async def my_tasks(con: Con, code: str, after: str | None = None) -> HTMLResponse:
    """The person's open tasks: overdue first (the view orders by due date)."""
    def load(rt: TenantRuntime, grant: Grant) -> Any:
        page = MeetingQueries(rt.casework.database, rt.casework.keyring).my_tasks(
            grant.scope, grant.acting.user_id, first=PAGE, after=after)
        today = japan_today().isoformat()
        # Each task names its case by number, site name and family (for roles that may see it).
        labels = task_labels(rt, grant, con.services.directory.registry, page.items)
        return page, [Task.from_record(t, today, labels) for t in page.items]

    page, tasks = await con.read("case.read", code, load)
    overdue = [t for t in tasks if t.overdue]
    return con.page("tasks.html", code=code, overdue=overdue,
                    upcoming=[t for t in tasks if not t.overdue], total=page.total_count,
                    next_cursor=page.cursors[-1] if page.has_next_page else None)


# --------------------------------------------------------------------------- case list


@router.get("/cases", response_class=HTMLResponse)
async def case_list(con: Con, code: str, status: str = "", site: str = "", overdue: str = "",
                    opened_from: str = "", opened_to: str = "", q: str = "",
                    after: str | None = None) -> Response:
    """Cases by latest activity, filtered by what is not personal (status, site, dates).

    A search text is never taken from the address (it would land in browser
    history, proxies and access logs): it comes by POST, below.  An old
    ``?q=`` link opens a case by its full id, as it did; anything else in it
    is ignored rather than searched.
    """
    try:
        return con.redirect(f"{PREFIX}/m/{code}/cases/{uuid.UUID(q.strip())}")
    except ValueError:
        pass
    return await _case_list(con, code, {"status": _clean(status), "site": _clean(site),
                                        "overdue": _clean(overdue),
                                        "opened_from": _clean(opened_from),
                                        "opened_to": _clean(opened_to)}, after)


def _clean(value: str) -> str:
    """A form or query value without control characters or lone surrogates, trimmed."""
    return "".join(ch for ch in value if ord(ch) >= 0x20 and not 0xD800 <= ord(ch) <= 0xDFFF
                   ).strip()[:200]


@router.post("/cases", response_class=HTMLResponse)
async def search_cases(con: Con, code: str) -> Response:
    """The search box: name, reading, phone, birth date or case number, with the filters."""
    form = await con.form()
    values = {name: _clean(str(form.get(name, "")))
              for name in ("q", "status", "site", "overdue", "opened_from", "opened_to")}
    after = str(form.get("after", "")) or None
    try:  # a whole case id opens the case, as before
        return con.redirect(f"{PREFIX}/m/{code}/cases/{uuid.UUID(values['q'])}")
    except ValueError:
        pass
    return await _case_list(con, code, values, after)


async def _case_list(con: Con, code: str, values: dict[str, str],
                     after: str | None) -> Response:
    status, site, text = values.get("status", ""), values.get("site", ""), values.get("q", "")
    errors: dict[str, str] = {}

    def day(name: str) -> Any:
        if not values.get(name):
            return None
        parsed = parse_typed_date(values[name])
        if parsed is None:
            errors[name] = i18n.text("cases.search.invalid_date", con.lang)
        return parsed

    wanted = CaseFilterValue(text=text or None,
                             status=status if status in CASE_STATUSES else None,
                             opened_from=day("opened_from"), opened_to=day("opened_to"),
                             has_overdue_tasks=True if values.get("overdue") == "1" else None)

    def load(rt: TenantRuntime, grant: Grant) -> Any:
        scope = grant.scope
        if site:
            # Narrow, never widen, the grant's sites.
            allowed = scope.site_ids
            scope = replace(scope, site_ids=[site] if allowed is None or site in allowed else [])
        sites = site_choices(con, rt, code)
        if errors:
            return None, [], sites, None, {}
        try:
            page = rt.cases.page(scope, first=PAGE, after=after, filter=wanted)
        except (SearchNotPermittedError, SearchTooBroadError, SearchTextTooLongError) as refused:
            return None, [], sites, refused, {}
        # Number, site name and the family's name (a logged read; masked roles see none).
        labels = case_labels(rt.cases, scope, [c.case_id for c in page.cases],
                             registry_site_names(con.services.directory.registry, code))
        return page, [Case.from_record(c) for c in page.cases], sites, None, labels

    page, cases, sites, refused, labels = await con.read("case.read", code, load)
    if refused is not None:
        errors["q"] = i18n.message(refused, con.lang)
    return con.page("cases.html", status=400 if errors else 200, code=code, cases=cases,
                    total=page.total_count if page else 0,
                    next_cursor=page.end_cursor if page and page.has_next_page else None,
                    filters=values, statuses=CASE_STATUSES, sites=sites,
                    site_names=dict(sites), labels=labels, errors=errors,
                    searched=bool(text))


def site_choices(con: Console, rt: TenantRuntime, code: str) -> list[tuple[str, str]]:
    """(site id, name) of the person's sites here: their assigned ones, or all they may reach."""
    registry = con.services.directory.registry
    if con.principal.tenant_kind == "municipality":
        ids = list(con.principal.sites) or [
            s.site_id for s in OrganisationQueries(rt.casework.database).sites(japan_today())]
    else:
        ids = sorted({s for c in registry.contracts(contractor_id=con.principal.tenant_id,
                                                    municipality_code=code)
                      if c.is_active_on(japan_today()) for s in c.site_ids
                      if not con.principal.sites or s in con.principal.sites})
    found = ((site_id, registry.site(code, site_id)) for site_id in ids)
    return [(site_id, record.name) for site_id, record in found if record is not None]


# --------------------------------------------------------------------------- one case


@dataclass
class CaseFile:
    """Everything the case page shows, read under one grant."""

    case: Case
    household: Household | None
    consultations: list[Consultation]
    timeline: list[TimelineEntry]
    timeline_total: int
    consents: list[Consent]
    exceptions: list[ConsentException]
    consent_in_force: bool
    referrals: list[Referral]
    meetings: list[CaseMeeting]
    attachments: list[tuple[str, dict[str, Any]]]
    outside_target_reason: str | None  # the household's reason for being served outside §3
    # The timeline as stored (every kind's details) and the names the page shows for ids.
    timeline_records: list[TimelineRecord] = field(default_factory=list)
    site_name: str = ""
    staff: dict[str, str] = field(default_factory=dict)  # subject → the staff member's name
    visits: list[Any] = field(default_factory=list)  # outreach visits (VisitRecord), latest first


def timeline_detail(record: TimelineRecord, lang: str) -> str:
    """What an entry's stored details say, in words (never personal: that is the summary)."""
    d = record.detail

    def lab(kind: str, code: Any) -> str:
        return i18n.label(kind, code, lang) if code else ""

    parts: list[str] = []
    kind = record.kind
    if kind == "consultation":
        parts = [lab("channel", d.get("channel")),
                 "・".join(lab("theme", t) for t in d.get("themes") or [])]
    elif kind == "support_note":
        parts = [lab("note_kind", d.get("note_kind"))]
    elif kind == "case_opened" and d.get("reception_number"):
        parts = [d["reception_number"]]
    elif kind == "case_closed":
        reason = d.get("closure_reason")
        parts = [CASE_CLOSURE_REASONS.get(reason, "") if lang == "ja"
                 else str(reason or "").replace("_", " ")]
    elif kind == "attachment_added":
        parts = [vocabulary.attachment_name(d.get("attachment_kind", "other"),
                                            d.get("content_type"), d.get("size"), lang)]
    elif kind in ("consent_given", "consent_exception"):
        parts = [lab("purpose", d.get("purpose")), lab("agency_kind", d.get("agency_kind")),
                 lab("legal_basis", d.get("legal_basis"))]
    elif kind == "referral_drafted":
        parts = [lab("agency_kind", d.get("agency_kind")),
                 i18n.text("referral.urgent", lang) if d.get("urgent") else ""]
    elif kind == "referral_outcome":
        parts = [lab("outcome", d.get("outcome"))]
    elif kind == "referral_closed":
        parts = [lab("referral_closure", d.get("referral_closure"))]
    elif kind.startswith("visit_"):
        from yorisoi.infra.console.routes_visits import timeline_words

        parts = timeline_words(d, lang)
    if d.get("due_on"):
        parts.append(vocabulary.text("timeline.until", lang,
                                     on=dates.show_date(d["due_on"], lang)))
    return "、".join(p for p in parts if p) if lang == "ja" else ", ".join(p for p in parts if p)


def _person(con: Console, staff: dict[str, str], subject: str | None) -> str:
    """A staff member by name; never the sign-in id."""
    if not subject:
        return "—"
    if subject in staff:
        return staff[subject]
    if subject == con.principal.subject:
        return con.label
    return "職員" if con.lang == "ja" else "Staff member"


def staff_choices(con: Console, staff: dict[str, str]) -> list[tuple[str, str]]:
    """(subject, name) for a staff picker, by name; the person themselves always offered."""
    choices = dict(staff)
    choices.setdefault(con.principal.subject, con.label)
    return sorted(choices.items(), key=lambda item: (item[1], item[0]))


def staff_namer(con: Console, staff: dict[str, str]) -> Any:
    """``person(subject)`` for templates: a staff member's name, never the sign-in id."""
    return lambda subject: _person(con, staff, subject)


def staff_names(rt: TenantRuntime, organisation_id: str | None = None) -> dict[str, str]:
    """subject → the staff member's name (the municipality's own staff records; with
    ``organisation_id``, that organisation's staff only)."""
    return {s.subject: s.display_name
            for s in OrganisationQueries(rt.casework.database).all_staff(japan_today())
            if organisation_id is None or s.organisation_id == organisation_id}


def load_case_file(rt: TenantRuntime, grant: Grant, case_id: uuid.UUID) -> CaseFile:
    case = visible_case(rt, grant, case_id)
    hid = case.household_id
    households = rt.cases.households([hid])
    consultations = rt.cases.consultations([str(case_id)])[str(case_id)]
    timeline = TimelineQueries(rt.casework.database, rt.casework.keyring).page(
        str(case_id), first=TIMELINE_MAX)
    found = rt.casework.case_consents(case_id, grant.scope.contract_ids)
    space, today = rt.space, japan_today()
    aggregate = rt.casework.readable_case(case_id, grant.scope.contract_ids)
    outside_reason = None
    # Only a reader who may see the household learns why it is outside §3's population.
    if may_read(space, hid, "household", hid, ("outside_target_reason",)):
        outside_reason = rt.casework.repository.get(uuid.UUID(hid)).outside_target_reason
    return CaseFile(
        case=case,
        household=Household.from_record(households[hid]) if hid in households else None,
        consultations=[Consultation.from_record(c) for c in consultations],
        timeline=[TimelineEntry.from_record(e) for e in timeline.entries],
        timeline_total=timeline.total_count,
        consents=[Consent.from_aggregate(c, masked=not may_read(
            space, str(c.household_id), "consent", str(c.id), CONSENT_PERSONAL))
            for c in found.consents],
        exceptions=[ConsentException.from_aggregate(e, masked=not may_read(
            space, str(e.household_id), "consent_exception", str(e.id), ("reason",)))
            for e in found.exceptions],
        # The domain's own rule: a consent covers an action unless withdrawn.
        consent_in_force=any(c.covers(purpose="create_records", on=today)
                             for c in found.consents),
        referrals=[Referral.from_record(r) for r in ReferralBoardQueries(
            rt.casework.database, rt.casework.keyring).for_case(grant.scope, str(case_id))],
        meetings=[CaseMeeting.from_record(m) for m in MeetingQueries(
            rt.casework.database, rt.casework.keyring).for_case(grant.scope, str(case_id))],
        attachments=sorted(aggregate.attachments.items()),
        outside_target_reason=outside_reason,
        timeline_records=list(timeline.entries), staff=staff_names(rt),
        visits=VisitQueries(rt.casework.database, rt.casework.keyring).for_case(
            grant.scope, str(case_id)))


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(con: Con, code: str, case_id: str) -> HTMLResponse:
    cid = await case_ref(con, code, case_id)

    def load(rt: TenantRuntime, grant: Grant) -> CaseFile:
        file = load_case_file(rt, grant, cid)
        file.site_name = registry_site_names(con.services.directory.registry, code)(
            file.case.site_id)
        return file

    file = await con.read("case.read", code, load)
    return con.page("case.html", code=code, file=file,
                    may_manage=await con.may("case.manage", code),
                    may_record=await con.may("consultation.record", code),
                    detail=lambda r: timeline_detail(r, con.lang),
                    kind_name=lambda kind: vocabulary.timeline_kind(kind, con.lang),
                    document=lambda a: vocabulary.attachment_name(
                        a["kind"], a.get("content_type"), a.get("size"), con.lang),
                    person=lambda subject: _person(con, file.staff, subject))
