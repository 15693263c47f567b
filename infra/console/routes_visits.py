"""Outreach visits (アウトリーチ) in the console: plan a visit from the case page, record it
done (with the consultation held on it), not met, moved or called off, and see the visits
of the coming weeks.

Every form runs the GraphQL module's own edge checks and commands
(``graphql/outreach.py``) through ``con.command`` — the same order, the same typed
errors, exactly once with the form's one-time key.  Staff are chosen and shown by
name; places by their general term (no address is ever asked for).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from yorisoi.domain import vocabulary as words
from yorisoi.graphql.errors import UserError
from yorisoi.graphql.outreach import (
    PlanVisitInput,
    RecordVisitDoneInput,
    RecordVisitNotMetInput,
    VisitConsultationInput,
    check_done,
    check_not_met,
    check_plan,
    on_visit,
    visitor_ids,
)
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import dates, i18n
from yorisoi.infra.console.routes_cases import (
    case_uuid,
    staff_choices,
    staff_namer,
    staff_names,
    visible_case,
)
from yorisoi.infra.console.web import PREFIX, Console, FormErrors, PageError, console, form_values
from yorisoi.projections.visit_queries import VisitQueries, VisitRecord
from yorisoi.services import outreach
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]
VISITOR_ROWS = 3
CALENDAR_BEFORE, CALENDAR_AFTER = 7, 28
_NOT_FOUND = (outreach.VisitNotFoundError.message, outreach.VisitNotFoundError.message_ja)

# Japanese names come from the domain's vocabularies (never worded twice); English
# from the catalogue's ``vocabulary_en`` (i18n.label reads it).
VOCABULARIES: dict[str, dict[str, str]] = {
    "visit_kind": words.VISIT_KINDS,
    "visit_place": words.VISIT_PLACES,
    "visit_outcome": words.VISIT_OUTCOMES,
    "visit_not_met": words.VISIT_NOT_MET_REASONS,
    "visit_next_step": words.VISIT_NEXT_STEPS,
}
STATUSES = ("planned", "done", "not_met", "cancelled")


def vlabel(kind: str, code: str | None, lang: str) -> str:
    """A visit code's name in ``lang`` (the status names live in the catalogue)."""
    if not code:
        return "—"
    if lang == "ja" and code in VOCABULARIES.get(kind, {}):
        return VOCABULARIES[kind][code]
    return i18n.label(kind, code, lang)


def timeline_words(detail: dict[str, Any], lang: str) -> list[str]:
    """A visit's timeline entry in words: its kind and place, outcome or reason, next step,
    the new day of a moved visit (codes only: the summary is the sealed part)."""
    parts = [vlabel(name, detail.get(name), lang) for name in
             ("visit_kind", "visit_place", "visit_outcome", "visit_not_met", "visit_next_step")
             if detail.get(name)]
    if detail.get("planned_on"):
        parts.append(dates.show_date(detail["planned_on"], lang))
    return parts


def vchoices(kind: str, lang: str) -> list[tuple[str, str]]:
    return [(code, vlabel(kind, code, lang)) for code in VOCABULARIES[kind]]


def own_staff(con: Console, rt: TenantRuntime) -> dict[str, str]:
    """The people a visit may name: the staff records of the person's own organisation
    (``services/outreach.check_went`` refuses anyone else as who went)."""
    return staff_names(rt, con.principal.tenant_id)


def _visit_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, *_NOT_FOUND, "visit_not_found") from None


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def _visitors(form: FormData) -> list[str]:
    return [v for i in range(VISITOR_ROWS) if (v := _text(form, f"visitors.{i}"))]


def _words(con: Console) -> dict[str, Any]:
    """What every visit template uses: code names and the choices of each list."""
    lang = con.lang
    return {"vlabel": lambda kind, code: vlabel(kind, code, lang),
            "kinds": vchoices("visit_kind", lang), "places": vchoices("visit_place", lang),
            "outcomes": vchoices("visit_outcome", lang),
            "not_met_reasons": vchoices("visit_not_met", lang),
            "next_steps": vchoices("visit_next_step", lang)}


# --------------------------------------------------------------------------- planning


async def _plan_form(con: Con, code: str, case_id: str, values: dict[str, Any],
                     errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    cid = case_uuid(case_id)
    case, mine = await con.read("case.manage", code, lambda rt, grant: (
        visible_case(rt, grant, cid), own_staff(con, rt)))
    return con.page("visit_plan.html", status=status, code=code, case=case,
                    people=staff_choices(con, mine), values=values,
                    errors=errors or FormErrors(), rows=range(VISITOR_ROWS), **_words(con))


@router.get("/cases/{case_id}/visits/new", response_class=HTMLResponse)
async def new_visit(con: Con, code: str, case_id: str) -> HTMLResponse:
    return await _plan_form(con, code, case_id, {
        "visitors.0": con.principal.subject, "kind": "home_visit", "place": "home"})


@router.post("/cases/{case_id}/visits/new")
async def plan(con: Con, code: str, case_id: str) -> Response:
    cid = case_uuid(case_id)
    form = await con.form()
    check = con.checker()  # the same checks as planVisit
    cmd = check_plan(check, PlanVisitInput(
        municipality_code=code, case_id=str(cid), kind=_text(form, "kind"),  # type: ignore[arg-type]
        planned_on=_text(form, "plannedOn"), visitors=_visitors(form), place=_text(form, "place"),
        purpose=_text(form, "purpose"), starts_at=_text(form, "startsAt") or None,
        ends_at=_text(form, "endsAt") or None, place_note=_text(form, "placeNote") or None))

    def command(rt: TenantRuntime, grant: Grant) -> Any:
        assert cmd is not None
        return outreach.plan_visit(rt.casework, cmd,
                                   writable_contract_ids=grant.scope.contract_ids)

    result = await con.command("case.manage", code, command, check=check, case_id=cid)
    if isinstance(result, UserError):
        return await _plan_form(con, code, case_id, form_values(form),
                                FormErrors.of(result, con.lang), status=400)
    return con.saved(f"{PREFIX}/m/{code}/visits/{result.id}")


# --------------------------------------------------------------------------- one visit


async def _load(con: Con, code: str,
                vid: uuid.UUID) -> tuple[VisitRecord, Any, dict, list, dict]:
    def load(rt: TenantRuntime, grant: Grant) -> tuple[VisitRecord, Any, dict[str, str], list,
                                                       dict[str, str]]:
        record = VisitQueries(rt.casework.database, rt.casework.keyring).get(
            grant.scope, str(vid))
        if record is None:
            raise PageError(404, *_NOT_FOUND, "visit_not_found")
        themes = [(t.code, t.label_ja if con.lang == "ja" else (t.label_en or t.code))
                  for t in rt.casework.themes() if not t.retired]
        case = visible_case(rt, grant, uuid.UUID(record.case_id))
        return record, case, staff_names(rt), themes, own_staff(con, rt)

    return await con.read("case.read", code, load)


async def _page(con: Con, code: str, vid: uuid.UUID, *, errors: FormErrors | None = None,
                values: dict[str, Any] | None = None, status: int = 200,
                form: str | None = None) -> HTMLResponse:
    """The visit; with ``form`` (done, not-met, reschedule) the page of that form instead."""
    visit, case, staff, themes, mine = await _load(con, code, vid)
    if form is not None and visit.status != "planned":
        # A visit already done, not met or called off: its page says so.
        return con.redirect(f"{PREFIX}/m/{code}/visits/{vid}")  # type: ignore[return-value]
    today = japan_today().isoformat()
    defaults = {"doneOn": today, "attemptedOn": today, "completedOn": today,
                "plannedOn": visit.planned_on, "startsAt": visit.starts_at or "",
                "endsAt": visit.ends_at or "", "nextStep": "none",
                "expectedVersion": str(visit.version),
                **{f"visitors.{i}": v for i, v in enumerate(visit.visitors)}}
    values = {**defaults, **(values or {})}
    return con.page("visit_form.html" if form else "visit.html", status=status, code=code,
                    v=visit, case=case, which=form,
                    people=staff_choices(con, mine), person=staff_namer(con, staff),
                    errors=errors or FormErrors(), values=values,
                    rows=range(VISITOR_ROWS), themes=themes, checked=values.get("_themes", []),
                    may_manage=await con.may("case.manage", code),
                    may_record=await con.may("consultation.record", code), **_words(con))


@router.get("/visits/{visit_id}", response_class=HTMLResponse)
async def visit_page(con: Con, code: str, visit_id: str) -> HTMLResponse:
    return await _page(con, code, _visit_uuid(visit_id))


@router.get("/visits/{visit_id}/{which}", response_class=HTMLResponse)
async def visit_form(con: Con, code: str, visit_id: str, which: str) -> HTMLResponse:
    if which not in FORMS:
        raise PageError(404, "There is no such page.", "このページは見つかりません。", "not_found")
    return await _page(con, code, _visit_uuid(visit_id), form=which)


FORMS = ("done", "not-met", "reschedule")


async def _on_visit(con: Con, code: str, vid: uuid.UUID, check: Checker, form: FormData,
                    act: Any, action: Any = "case.manage", which: str | None = None) -> Response:
    """A command on a visit, under its own contract and site; errors shown on its form."""
    result = await con.command(action, code, lambda rt, grant: on_visit(rt, grant, vid, act),
                               check=check)
    if isinstance(result, UserError):
        values = {**form_values(form), "_themes": [str(t) for t in form.getlist("themes")]}
        return await _page(con, code, vid, errors=FormErrors.of(result, con.lang),
                           values=values, status=400, form=which)
    return con.saved(f"{PREFIX}/m/{code}/visits/{vid}")


@router.post("/visits/{visit_id}/done")
async def done(con: Con, code: str, visit_id: str) -> Response:
    vid = _visit_uuid(visit_id)
    form = await con.form()
    check = con.checker()  # the same checks as recordVisitDone
    themes = [str(t) for t in form.getlist("themes")]
    with_consultation = bool(themes or _text(form, "asked"))
    outcome, consultation = check_done(check, RecordVisitDoneInput(
        municipality_code=code, visit_id=str(vid), done_on=_text(form, "doneOn"),  # type: ignore[arg-type]
        outcome=_text(form, "outcome"), summary=_text(form, "summary"),
        next_step=_text(form, "nextStep"), next_step_note=_text(form, "nextStepNote") or None,
        follow_up_on=_text(form, "followUpOn") or None,
        follow_up_owner=_text(form, "followUpOwner") or None,
        visitors=_visitors(form) or None,
        consultation=VisitConsultationInput(
            themes=themes, asked=_text(form, "asked"), wishes=_text(form, "wishes"),
            direction=_text(form, "direction")) if with_consultation else None))
    return await _on_visit(
        con, code, vid, check, form,
        lambda rt, grant: outreach.record_visit_done(
            rt.casework, vid, outcome, consultation=consultation,
            municipality_code=grant.municipality_code,
            expected_version=_version(form), writable_contract_ids=grant.scope.contract_ids),
        action="consultation.record" if consultation is not None else "case.manage",
        which="done")


@router.post("/visits/{visit_id}/not-met")
async def not_met(con: Con, code: str, visit_id: str) -> Response:
    vid = _visit_uuid(visit_id)
    form = await con.form()
    check = con.checker()
    outcome = check_not_met(check, RecordVisitNotMetInput(
        municipality_code=code, visit_id=str(vid), attempted_on=_text(form, "attemptedOn"),  # type: ignore[arg-type]
        reason=_text(form, "reason"), next_step=_text(form, "nextStep"),
        note=_text(form, "note") or None, follow_up_on=_text(form, "followUpOn") or None,
        follow_up_owner=_text(form, "followUpOwner") or None))
    return await _on_visit(con, code, vid, check, form, lambda rt, grant: (
        outreach.record_visit_not_met(rt.casework, vid, outcome,
                                      expected_version=_version(form),
                                      writable_contract_ids=grant.scope.contract_ids)),
        which="not-met")


@router.post("/visits/{visit_id}/reschedule")
async def reschedule(con: Con, code: str, visit_id: str) -> Response:
    vid = _visit_uuid(visit_id)
    form = await con.form()
    check = con.checker()
    planned_on = check.day("plannedOn", _text(form, "plannedOn"))
    visitors = visitor_ids(check, "visitors", _visitors(form))
    starts_at = check.text("startsAt", _text(form, "startsAt"), 5) or None
    ends_at = check.text("endsAt", _text(form, "endsAt"), 5) or None
    return await _on_visit(con, code, vid, check, form, lambda rt, grant: (
        outreach.reschedule_visit(rt.casework, vid, planned_on=planned_on,  # type: ignore[arg-type]
                                  starts_at=starts_at, ends_at=ends_at, visitors=visitors,
                                  expected_version=_version(form),
                                  writable_contract_ids=grant.scope.contract_ids)),
        which="reschedule")


@router.post("/visits/{visit_id}/follow-up")
async def follow_up(con: Con, code: str, visit_id: str) -> Response:
    vid = _visit_uuid(visit_id)
    form = await con.form()
    check = con.checker()
    completed_on = check.day("completedOn", _text(form, "completedOn"))
    return await _on_visit(con, code, vid, check, form, lambda rt, grant: (
        outreach.complete_visit_follow_up(rt.casework, vid, completed_on=completed_on,  # type: ignore[arg-type]
                                          expected_version=_version(form),
                                          writable_contract_ids=grant.scope.contract_ids)))


@router.post("/visits/{visit_id}/cancel")
async def cancel(con: Con, code: str, visit_id: str) -> Response:
    vid = _visit_uuid(visit_id)
    form = await con.form()
    check = con.checker()
    reason = check.text("cancelReason", _text(form, "cancelReason"), 500) or None
    return await _on_visit(con, code, vid, check, form, lambda rt, grant: (
        outreach.cancel_visit(rt.casework, vid, reason=reason, expected_version=_version(form),
                              writable_contract_ids=grant.scope.contract_ids)))


def _version(form: FormData) -> int | None:
    """The version the page showed: a visit changed meanwhile is a conflict, not a silent save."""
    value = _text(form, "expectedVersion")
    return int(value) if value.isdigit() and len(value) < 9 else None


# --------------------------------------------------------------------------- lists


@router.get("/cases/{case_id}/visits", response_class=HTMLResponse)
async def case_visits(con: Con, code: str, case_id: str) -> HTMLResponse:
    cid = case_uuid(case_id)

    def load(rt: TenantRuntime, grant: Grant) -> tuple[Any, list[VisitRecord], dict[str, str]]:
        case = visible_case(rt, grant, cid)
        visits = VisitQueries(rt.casework.database, rt.casework.keyring).for_case(
            grant.scope, str(cid))
        return case, visits, staff_names(rt)

    case, visits, staff = await con.read("case.read", code, load)
    return con.page("visits_case.html", code=code, case=case, visits=visits,
                    person=staff_namer(con, staff),
                    may_manage=await con.may("case.manage", code), **_words(con))


@router.get("/visits", response_class=HTMLResponse)
async def calendar(con: Con, code: str, all: str = "") -> HTMLResponse:
    """The visits of the coming four weeks (and the past week's still open): the person's
    own by default, every visible one with ?all=1."""
    mine = all != "1"
    today = japan_today()

    def load(rt: TenantRuntime, grant: Grant) -> tuple[list[VisitRecord], dict[str, str]]:
        visits = VisitQueries(rt.casework.database, rt.casework.keyring).calendar(
            grant.scope, today - timedelta(days=CALENDAR_BEFORE),
            today + timedelta(days=CALENDAR_AFTER),
            visitor=grant.acting.user_id if mine else None)
        return visits, staff_names(rt)

    visits, staff = await con.read("case.read", code, load)
    return con.page("visits.html", code=code, visits=visits, mine=mine,
                    today=today.isoformat(), person=staff_namer(con, staff), **_words(con))
