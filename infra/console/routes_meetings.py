"""Case meetings (ケース会議): scheduling with participants, minutes with role assignments
(they become tasks), completing assignments and calling a meeting off.

Edge checks are the GraphQL module's own helpers; a 要対協 case asks for the
recorded decision exactly where the domain raises it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from yorisoi.graphql.case_meetings import (
    CaseMeeting,
    ExternalParticipantInput,
    InternalParticipantInput,
    MeetingActionInput,
    action_item,
    external_participant,
    internal_participant,
    meeting_moment,
)
from yorisoi.graphql.commands import on_meeting
from yorisoi.graphql.errors import UserError
from yorisoi.graphql.validation import Checker
from yorisoi.infra.console import dates, i18n, vocabulary
from yorisoi.infra.console.routes_cases import (
    case_uuid,
    staff_choices,
    staff_namer,
    staff_names,
    visible_case,
)
from yorisoi.infra.console.web import PREFIX, Console, FormErrors, PageError, console, form_values
from yorisoi.projections.meeting_queries import MeetingQueries
from yorisoi.services.meetings import Minutes, ScheduleCaseMeeting
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]
PEOPLE_ROWS = 2
ACTION_ROWS = 3
INTERNAL_ROLES = ("specialist", "site_staff", "site_manager", "municipal_staff",
                  "municipal_supervisor")
_NOT_FOUND = ("No such case meeting.", "指定されたケース会議が見つかりません。")


def _meeting_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, *_NOT_FOUND, "meeting_not_found") from None


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def _rows(form: FormData, prefix: str, names: tuple[str, ...], count: int) -> list[dict[str, str]]:
    rows = [{n: _text(form, f"{prefix}.{i}.{n}") for n in names} for i in range(count)]
    return [r for r in rows if any(r.values())]


# --------------------------------------------------------------------------- scheduling


async def _schedule_form(con: Con, code: str, case_id: str, values: dict[str, Any],
                         errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    cid = case_uuid(case_id)
    case, staff = await con.read("case.read", code, lambda rt, grant: (
        visible_case(rt, grant, cid), staff_names(rt)))
    return con.page("meeting_schedule.html", status=status, code=code, case=case,
                    people=staff_choices(con, staff),
                    values=values, errors=errors or FormErrors(), rows=range(PEOPLE_ROWS),
                    roles=[(r, i18n.label("meeting_role", r, con.lang)) for r in INTERNAL_ROLES],
                    bases=i18n.choices("confidentiality", con.lang))


@router.get("/cases/{case_id}/meetings/new", response_class=HTMLResponse)
async def new_meeting(con: Con, code: str, case_id: str) -> HTMLResponse:
    return await _schedule_form(con, code, case_id, {
        "internalParticipants.0.userId": con.principal.subject,
        "internalParticipants.0.role": "specialist"})


@router.post("/cases/{case_id}/meetings/new")
async def schedule(con: Con, code: str, case_id: str) -> Response:
    cid = case_uuid(case_id)
    form = await con.form()
    check = con.checker()  # the same checks as scheduleCaseMeeting
    starts_at = meeting_moment(check, "startsAt", _text(form, "startsAt"))
    ends_at = meeting_moment(check, "endsAt", _text(form, "endsAt"))
    internal = [internal_participant(check, f"internalParticipants.{i}",
                                     InternalParticipantInput(user_id=r["userId"], role=r["role"]))
                for i, r in enumerate(_rows(form, "internalParticipants", ("userId", "role"),
                                            PEOPLE_ROWS)) if r["userId"]]
    external = [external_participant(check, f"externalParticipants.{i}", ExternalParticipantInput(
                    name=r["name"], organisation=r["organisation"],
                    confidentiality_basis=r["confidentialityBasis"] or None))
                for i, r in enumerate(_rows(form, "externalParticipants",
                                            ("name", "organisation", "confidentialityBasis"),
                                            PEOPLE_ROWS)) if r["name"] or r["organisation"]]
    fields = {"place": check.text("place", _text(form, "place"), 200),
              "agenda": check.text("agenda", _text(form, "agenda")),
              "council_decision": check.text("councilDecision",
                                             _text(form, "councilDecision")) or None}

    def command(rt: TenantRuntime, grant: Grant) -> Any:
        assert starts_at and ends_at
        return rt.casework.schedule_case_meeting(ScheduleCaseMeeting(
            case_id=cid, starts_at=starts_at, ends_at=ends_at, internal=internal,
            external=external, writable_contract_ids=grant.scope.contract_ids, **fields))

    result = await con.command("case.manage", code, command, check=check, case_id=cid)
    if isinstance(result, UserError):
        # A 要対協 case: the domain asks for the decision; the form shows where to record it.
        return await _schedule_form(con, code, case_id, form_values(form),
                                    FormErrors.of(result, con.lang), status=400)
    return con.saved(f"{PREFIX}/m/{code}/meetings/{result.id}")


# --------------------------------------------------------------------------- one meeting


async def _page(con: Con, code: str, mid: uuid.UUID, *, errors: FormErrors | None = None,
                values: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> tuple[CaseMeeting, dict[str, str]]:
        record = MeetingQueries(rt.casework.database, rt.casework.keyring).get(
            grant.scope, str(mid))
        if record is None:
            raise PageError(404, *_NOT_FOUND, "meeting_not_found")
        return CaseMeeting.from_record(record), staff_names(rt)

    meeting, staff = await con.read("case.read", code, load)
    return con.page("meeting.html", status=status, code=code, m=meeting,
                    people=staff_choices(con, staff), person=staff_namer(con, staff),
                    errors=errors or FormErrors(), values=values or {},
                    rows=range(ACTION_ROWS),
                    roles=[(r, i18n.label("meeting_role", r, con.lang)) for r in INTERNAL_ROLES],
                    bases=i18n.choices("confidentiality", con.lang),
                    may_manage=await con.may("case.manage", code))


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
async def meeting_page(con: Con, code: str, meeting_id: str) -> HTMLResponse:
    return await _page(con, code, _meeting_uuid(meeting_id))


async def _on_meeting(con: Con, code: str, mid: uuid.UUID, check: Checker, form: FormData,
                      act: Callable[[TenantRuntime, Grant], object],
                      ) -> Response:
    """A command on a meeting, under its case's own contract and site."""

    def command(rt: TenantRuntime, grant: Grant) -> None:
        on_meeting(rt, grant, mid, act)

    result = await con.command("case.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _page(con, code, mid, errors=FormErrors.of(result, con.lang),
                           values=form_values(form), status=400)
    return con.saved(f"{PREFIX}/m/{code}/meetings/{mid}")


@router.post("/meetings/{meeting_id}/participants")
async def add_participant(con: Con, code: str,
                          meeting_id: str) -> Response:
    mid = _meeting_uuid(meeting_id)
    form = await con.form()
    check = con.checker()
    internal = external = None
    if _text(form, "internal.userId"):
        internal = internal_participant(check, "internal", InternalParticipantInput(
            user_id=_text(form, "internal.userId"), role=_text(form, "internal.role")))
    elif _text(form, "external.name") or _text(form, "external.organisation"):
        external = external_participant(check, "external", ExternalParticipantInput(
            name=_text(form, "external.name"), organisation=_text(form, "external.organisation"),
            confidentiality_basis=_text(form, "external.confidentialityBasis") or None))
    else:
        check.bad("internal", "Give either an internal or an external participant.",
                  "内部または外部の参加者のどちらか一方を指定してください。")
    return await _on_meeting(con, code, mid, check, form, lambda rt, grant: (
        rt.casework.add_meeting_participant(mid, internal=internal, external=external,
                                            expected_version=None,
                                            writable_contract_ids=grant.scope.contract_ids)))


@router.post("/meetings/{meeting_id}/minutes")
async def minutes(con: Con, code: str, meeting_id: str) -> Response:
    mid = _meeting_uuid(meeting_id)
    form = await con.form()
    check = con.checker()  # the same checks as recordMeetingMinutes
    # Due dates as people type them (令和8年4月1日, R8.4.1, 2026/4/1): the one parser.
    form, unreadable = dates.typed_dates(
        form, lambda name: name.startswith("actions.") and name.endswith(".dueOn"))
    for name in unreadable:
        check.bad(name, vocabulary.text("form.not_a_date", "en"),
                  vocabulary.text("form.not_a_date", "ja"))
    recorded = Minutes(wishes=check.text("wishes", _text(form, "wishes")),
                       state_and_issues=check.text("stateAndIssues", _text(form, "stateAndIssues")),
                       support_goals=check.text("supportGoals", _text(form, "supportGoals")),
                       concrete_support=check.text("concreteSupport",
                                                   _text(form, "concreteSupport")))
    actions = [action_item(check, f"actions.{i}", MeetingActionInput(
        owner_user_id=r["ownerUserId"], what=r["what"], due_on=r["dueOn"]))
        for i, r in enumerate(_rows(form, "actions", ("ownerUserId", "what", "dueOn"),
                                    ACTION_ROWS))]
    return await _on_meeting(con, code, mid, check, form, lambda rt, grant: (
        rt.casework.record_meeting_minutes(mid, recorded, actions=actions, expected_version=None,
                                           writable_contract_ids=grant.scope.contract_ids)))


@router.post("/meetings/{meeting_id}/actions/{action_id}/complete")
async def complete_action(con: Con, code: str, meeting_id: str,
                          action_id: str) -> Response:
    mid = _meeting_uuid(meeting_id)
    form = await con.form()
    check = con.checker()
    action = check.text("actionId", action_id, 50)
    return await _on_meeting(con, code, mid, check, form, lambda rt, grant: (
        rt.casework.complete_meeting_action(mid, action, expected_version=None,
                                            writable_contract_ids=grant.scope.contract_ids)))


@router.post("/meetings/{meeting_id}/cancel")
async def cancel(con: Con, code: str, meeting_id: str) -> Response:
    mid = _meeting_uuid(meeting_id)
    form = await con.form()
    return await _on_meeting(con, code, mid, con.checker(), form, lambda rt, grant: (
        rt.casework.cancel_case_meeting(mid, expected_version=None,
                                        writable_contract_ids=grant.scope.contract_ids)))
