"""Data-subject requests (開示・訂正・利用停止) in the console: register, decide, export, correct.

For the municipality's staff with ``dsr.manage`` (administrators and
supervisors; contractors never).  Every step is the GraphQL mutation's own
service command through ``Console.command``; the disclosure export is
``services/disclosure.export_disclosure`` with the same publisher, handed out as
the same expiring links.  A request is read from the event store, so the
deadline shown is the one the next command is checked against.  The household
is found by reception number or the case search, never by a typed id; a
request holds codes and dates only, so nothing personal is shown here except
the household correction form, which shows only what this reader may read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from yorisoi.domain.consultations import TEXT_FIELDS
from yorisoi.domain.data_subject_requests import (
    EXTENSION_REASONS,
    IDENTIFICATION_METHODS,
    KINDS,
    MAX_EXTENSION_DAYS,
    OUTCOMES,
    REQUESTER_RELATIONSHIPS,
    STATUTORY_DAYS,
    DataSubjectRequestNotFoundError,
)
from yorisoi.domain.data_subject_requests import DataSubjectRequest as Request
from yorisoi.graphql.consultations import ChildInput, GuardianInput, HouseholdInput, parse_household
from yorisoi.graphql.errors import UserError
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import records_words
from yorisoi.infra.console.household_finder import (
    Finder,
    HouseholdLabel,
    find,
    search_text,
    typed_day,
)
from yorisoi.infra.console.routes_records_admin import page
from yorisoi.infra.console.web import PREFIX, Console, FormErrors, PageError, console, form_values
from yorisoi.infra.disclosure_links import ObjectStoreDisclosurePublisher, disclosure_secret
from yorisoi.services.disclosure import export_disclosure
from yorisoi.services.personal_access import may_read
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}/dsr")
Con = Annotated[Console, Depends(console)]
MAX_CODE = 50
PEOPLE_ROWS = 4  # rows of each kind on the correction form; empty rows are ignored
STEPS = ("start", "answer", "refuse", "lift", "close")


def dsr_url(code: str, tail: str = "") -> str:
    return f"{PREFIX}/m/{code}/dsr{tail}"


def _registry(con: Console) -> Any:
    return con.services.directory.registry


@dataclass(frozen=True)
class RequestRow:
    request: Request
    household: HouseholdLabel
    overdue: bool
    days_left: int  # negative: days overdue


def _row(r: Request, labels: dict[str, HouseholdLabel], today: date) -> RequestRow:
    return RequestRow(request=r, household=labels[str(r.household_id)],
                      overdue=r.is_overdue(today), days_left=(r.due_on - today).days)


# --------------------------------------------------------------------------- the list


@router.get("", response_class=HTMLResponse)
async def requests(con: Con, code: str, overdue: str = "", status: str = "") -> HTMLResponse:
    today = japan_today()

    def load(rt: TenantRuntime, grant: Grant) -> list[RequestRow]:
        found = rt.casework.data_subject_requests()
        rows = [r for r in found if (overdue != "1" or r.is_overdue(today))
                and (not status or (status == "open" and r.status in ("received", "in_progress"))
                     or r.status == status)]
        rows.sort(key=lambda r: (r.received_on, str(r.id)))
        return rows

    found = await con.read("dsr.manage", code, load)
    labels = await con.read("case.read", code, lambda rt, grant: Finder(
        rt, grant, _registry(con)).labels(str(r.household_id) for r in found))
    rows = [_row(r, labels, today) for r in found]
    return page(con, "dsr_list.html", code=code, rows=rows, overdue=overdue == "1",
                filter_status=status, today=today,
                overdue_count=sum(1 for r in rows if r.overdue))


# --------------------------------------------------------------------------- registering


def _new_page(con: Console, code: str, *, found: list[Any] | None = None,
              search_error: str | None = None, values: dict[str, str] | None = None,
              errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    return page(con, "dsr_new.html", status=status, code=code, found=found,
                search_error=search_error,
                values=values or {"received_on": japan_today().isoformat()},
                errors=errors or FormErrors(),
                kinds=records_words.choices("dsr_kind", con.lang),
                methods=records_words.choices("identification_method", con.lang),
                relationships=records_words.choices("requester_relationship", con.lang))


@router.get("/new", response_class=HTMLResponse)
async def new_request(con: Con, code: str) -> HTMLResponse:
    await con.read("dsr.manage", code, lambda rt, grant: None)
    return _new_page(con, code)


async def _find(con: Console, code: str, text: str) -> tuple[list[Any], str | None]:
    return await con.read("case.read", code, lambda rt, grant: find(
        rt, grant, _registry(con), text, con.lang))


@router.post("/find", response_class=HTMLResponse)
async def find_household(con: Con, code: str) -> HTMLResponse:
    form = await con.form()
    await con.read("dsr.manage", code, lambda rt, grant: None)
    text = search_text(form)
    found, error = await _find(con, code, text)
    return _new_page(con, code, found=found, search_error=error, status=200 if found else 400,
                     values={"q": text, "received_on": japan_today().isoformat()})


@router.post("", response_class=HTMLResponse)
async def receive(con: Con, code: str) -> Response:
    form = await con.form()
    check = con.checker()
    household_id = check.record_id("household", str(form.get("household", "")) or None)
    if household_id is None and not check.errors:
        check.bad("household", "Find and choose the household.", "世帯を検索して選んでください。")
    received_on = typed_day(check, "received_on", form.get("received_on"), required=True)
    codes = {}
    for name, vocabulary in (("kind", KINDS), ("identification_method", IDENTIFICATION_METHODS),
                             ("requester_relationship", REQUESTER_RELATIONSHIPS)):
        value = str(form.get(name, ""))
        if value not in vocabulary:
            check.bad(name, "Choose one.", "選んでください。")
        codes[name] = value

    def command(rt: TenantRuntime, grant: Grant) -> str:
        assert household_id is not None and received_on is not None
        return str(rt.casework.receive_data_subject_request(
            household_id=household_id, received_on=received_on, **codes).id)

    result = await con.command("dsr.manage", code, command, check=check)
    if isinstance(result, UserError):
        values = form_values(form)
        found = (await _find(con, code, values["q"]))[0] if values.get("q") else None
        return _new_page(con, code, found=found, values=values, status=400,
                         errors=_errors(result, con.lang))
    return con.redirect(dsr_url(code, f"/{result}?saved=received"))


_ALIASES = {"householdId": "household", "receivedOn": "received_on",
            "identificationMethod": "identification_method",
            "requesterRelationship": "requester_relationship"}


def _errors(error: UserError, lang: str) -> FormErrors:
    errors = FormErrors.of(error, lang)
    errors.fields = {_ALIASES.get(k, k): v for k, v in errors.fields.items()}
    return errors


# --------------------------------------------------------------------------- deadlines


async def _deadlines_page(con: Console, code: str, values: dict[str, str] | None,
                          errors: FormErrors, *, status: int = 200,
                          saved: bool = False) -> HTMLResponse:
    deadlines = await con.read("dsr.manage", code, lambda rt, grant: (
        rt.casework.data_subject_request_deadlines()))
    if values is None:
        values = {f"days.{kind}": str(days) for kind, days in deadlines.days.items()}
    return page(con, "dsr_deadlines.html", status=status, code=code, values=values,
                errors=errors, saved=saved, kinds=records_words.choices("dsr_kind", con.lang),
                days=deadlines.days, version=deadlines.version, statutory=STATUTORY_DAYS)


@router.get("/deadlines", response_class=HTMLResponse)
async def deadlines(con: Con, code: str, saved: str = "") -> HTMLResponse:
    return await _deadlines_page(con, code, None, FormErrors(), saved=saved == "1")


@router.post("/deadlines", response_class=HTMLResponse)
async def set_deadlines(con: Con, code: str) -> Response:
    form = await con.form()
    check = con.checker()
    days: dict[str, int] = {}
    for kind in KINDS:
        raw = str(form.get(f"days.{kind}", "")).strip()
        typed = raw.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        if not typed.isdigit() or not 1 <= int(typed) <= STATUTORY_DAYS:
            check.bad(f"days.{kind}", f"1 to {STATUTORY_DAYS} days.",
                      f"1〜{STATUTORY_DAYS}日の範囲で入力してください。")
        else:
            days[kind] = int(typed)
    version = _version(form)
    result = await con.command("dsr.manage", code, lambda rt, grant: (
        rt.casework.set_data_subject_request_deadlines(days, expected_version=version)),
        check=check)
    if isinstance(result, UserError):
        errors = FormErrors.of(result, con.lang)
        for name in [k for k in errors.fields if not k.startswith("days.")]:
            errors.summary.append(errors.fields.pop(name))
        return await _deadlines_page(con, code, form_values(form), errors, status=400)
    return con.redirect(dsr_url(code, "/deadlines?saved=1"))


# --------------------------------------------------------------------------- one request


def _request_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise PageError(404, DataSubjectRequestNotFoundError.message,
                        DataSubjectRequestNotFoundError.message_ja,
                        DataSubjectRequestNotFoundError.code) from None


async def _request_page(con: Console, code: str, request_id: str, *, saved: str = "",
                        errors: FormErrors | None = None, values: dict[str, str] | None = None,
                        export: Any = None, status: int = 200) -> HTMLResponse:
    rid = _request_id(request_id)
    today = japan_today()
    r = await con.read("dsr.manage", code, lambda rt, grant: (
        rt.casework.data_subject_request(rid)))
    labels = await con.read("case.read", code, lambda rt, grant: Finder(
        rt, grant, _registry(con)).labels([str(r.household_id)]))
    row = _row(r, labels, today)
    return page(con, "dsr_request.html", status=status, code=code, row=row, r=r, saved=saved,
                errors=errors or FormErrors(), values=values or _today_values(),
                export=export, request_id=str(rid),
                outcomes=records_words.choices("dsr_outcome", con.lang, OUTCOMES[r.kind]),
                refusals=records_words.choices("refusal_reason", con.lang),
                extensions=records_words.choices("extension_reason", con.lang),
                lifts=records_words.choices("lift_reason", con.lang),
                max_extension=MAX_EXTENSION_DAYS)


@router.get("/{request_id}", response_class=HTMLResponse)
async def request_page(con: Con, code: str, request_id: str, saved: str = "") -> HTMLResponse:
    return await _request_page(con, code, request_id, saved=saved)


@router.post("/{request_id}/step/{step}", response_class=HTMLResponse)
async def step(con: Con, code: str, request_id: str, step: str) -> Response:
    rid = _request_id(request_id)
    if step not in STEPS:
        raise PageError(404, "No such step.", "指定された操作はありません。", "not_found")
    form = await con.form()
    check = con.checker()
    # Each step's form names its fields after the step: one page, no two inputs alike.
    on = typed_day(check, f"{step}_on", form.get(f"{step}_on"), required=True)
    outcome = str(form.get("outcome", "")) or None
    reason = str(form.get(f"{step}_reason", "")) or None
    if step == "answer" and not outcome:
        check.bad("outcome", "Choose the decision.", "決定の内容を選んでください。")
    if step in ("refuse", "lift") and not reason:
        check.bad(f"{step}_reason", "Choose a reason.", "理由を選んでください。")
    check.text("outcome", outcome, MAX_CODE)
    check.text(f"{step}_reason", reason, MAX_CODE)
    version = _version(form)

    def command(rt: TenantRuntime, grant: Grant) -> None:
        app = rt.casework
        if step == "start":
            app.start_data_subject_request(rid, started_on=on, expected_version=version)
        elif step == "answer":
            app.answer_data_subject_request(rid, answered_on=on, outcome=outcome,
                                            expected_version=version)
        elif step == "refuse":
            app.refuse_data_subject_request(rid, refused_on=on, reason=reason,
                                            expected_version=version)
        elif step == "lift":
            app.lift_suspension_of_use(rid, lifted_on=on, reason=reason,
                                       expected_version=version)
        else:
            app.close_data_subject_request(rid, closed_on=on, expected_version=version)

    result = await con.command("dsr.manage", code, command, check=check)
    if isinstance(result, UserError):
        errors = FormErrors.of(result, con.lang)
        names = {"startedOn": "start_on", "answeredOn": "answer_on", "refusedOn": "refuse_on",
                 "liftedOn": "lift_on", "closedOn": "close_on", "on": f"{step}_on",
                 "reason": f"{step}_reason"}
        errors.fields = {names.get(k, k): v for k, v in errors.fields.items()}
        _only_page_fields(errors)
        return await _request_page(con, code, request_id, status=400, errors=errors,
                                   values={**_today_values(), **form_values(form)})
    return con.redirect(dsr_url(code, f"/{rid}?saved={step}"))


@router.post("/{request_id}/extend", response_class=HTMLResponse)
async def extend(con: Con, code: str, request_id: str) -> Response:
    rid = _request_id(request_id)
    form = await con.form()
    check = con.checker()
    raw = str(form.get("days", "")).strip()
    days = int(raw) if raw.isdigit() else 0
    if not raw.isdigit() or not 1 <= days <= MAX_EXTENSION_DAYS:
        check.bad("days", f"1 to {MAX_EXTENSION_DAYS} days.",
                  f"1〜{MAX_EXTENSION_DAYS}日の範囲で入力してください。")
    reason = str(form.get("extension_reason", ""))
    if reason not in EXTENSION_REASONS:
        check.bad("extension_reason", "Choose a reason.", "理由を選んでください。")
    version = _version(form)
    result = await con.command("dsr.manage", code, lambda rt, grant: (
        rt.casework.extend_data_subject_request(rid, days=days, reason=reason,
                                                expected_version=version)), check=check)
    if isinstance(result, UserError):
        errors = FormErrors.of(result, con.lang)
        errors.fields = {"extension_reason" if k == "reason" else k: v
                         for k, v in errors.fields.items()}
        _only_page_fields(errors)
        return await _request_page(con, code, request_id, status=400, errors=errors,
                                   values={**_today_values(), **form_values(form)})
    return con.redirect(dsr_url(code, f"/{rid}?saved=extend"))


PAGE_FIELDS = {*(f"{step}_on" for step in STEPS), "outcome", "refuse_reason", "lift_reason",
               "days", "extension_reason"}


def _only_page_fields(errors: FormErrors) -> None:
    """An error about no field of the page (the request's state, its version) goes on top."""
    for name in [k for k in errors.fields if k not in PAGE_FIELDS]:
        errors.summary.append(errors.fields.pop(name))


def _today_values() -> dict[str, str]:
    today = japan_today().isoformat()
    return {f"{step}_on": today for step in STEPS}


def _version(form: FormData) -> int | None:
    raw = str(form.get("version", ""))
    return int(raw) if raw.isdigit() else None


@dataclass(frozen=True)
class Export:
    records: int
    access_entries: int
    json_url: str
    html_url: str
    expires_at: str


@router.post("/{request_id}/export", response_class=HTMLResponse)
async def export(con: Con, code: str, request_id: str) -> Response:
    """The disclosure export: sealed files behind expiring links (shown once, on this page)."""
    rid = _request_id(request_id)
    await con.form()
    services = con.services

    def command(rt: TenantRuntime, grant: Grant) -> Export:
        rt.catch_up()
        tenant = services.directory.registry.tenant(grant.municipality_code)
        publisher = ObjectStoreDisclosurePublisher(services.objects, disclosure_secret(services),
                                                   rt.space)
        result = export_disclosure(
            rt.casework, rid, publisher=publisher,
            municipality_name=tenant.name if tenant else grant.municipality_code)
        return Export(records=result.records, access_entries=result.access_entries,
                      json_url=result.links["json"], html_url=result.links["html"],
                      expires_at=result.expires_at.isoformat())

    result = await con.command("dsr.manage", code, command)
    if isinstance(result, UserError):
        return await _request_page(con, code, request_id, status=400,
                                   errors=FormErrors.of(result, con.lang, set()))
    return await _request_page(con, code, request_id, saved="export", export=result)


# --------------------------------------------------------------------------- household correction


PERSON_FIELDS = {"guardians": ("name", "relationship", "reading", "phone"),
                 "children": ("name", "birthDate", "reading")}


def _people(form: FormData, kind: str) -> list[dict[str, str]]:
    rows = []
    for i in range(PEOPLE_ROWS):
        row = {k: str(form.get(f"household.{kind}.{i}.{k}", "")).strip()
               for k in PERSON_FIELDS[kind]}
        if any(row.values()):
            rows.append(row)
    return rows


async def _correction_page(con: Console, code: str, request_id: str,
                           values: dict[str, str] | None, errors: FormErrors,
                           status: int = 200) -> HTMLResponse:
    rid = _request_id(request_id)

    def load(rt: TenantRuntime, grant: Grant) -> tuple[Request, dict[str, str], bool]:
        r = rt.casework.data_subject_request(rid)
        hid = str(r.household_id)
        current: dict[str, str] = {}
        readable = may_read(rt.space, hid, "household", hid, ("guardians", "children"))
        if readable:
            household = rt.casework.repository.get(r.household_id)
            for i, g in enumerate(household.guardians):
                current.update({f"household.guardians.{i}.name": g.name,
                                f"household.guardians.{i}.relationship": g.relationship,
                                f"household.guardians.{i}.reading": g.reading or "",
                                f"household.guardians.{i}.phone": g.phone or ""})
            for i, c in enumerate(household.children):
                current.update({f"household.children.{i}.name": c.name,
                                f"household.children.{i}.birthDate": c.birth_date.isoformat(),
                                f"household.children.{i}.reading": c.reading or ""})
            if household.pregnancy is not None:
                current["household.pregnancyDueDate"] = household.pregnancy.due_date.isoformat()
            current["household.outsideTargetReason"] = household.outside_target_reason or ""
        return r, current, readable

    r, current, readable = await con.read("dsr.manage", code, load)
    if r.kind != "correction":
        raise PageError(404, "Only a correction request corrects records.",
                        "記録の訂正は訂正請求に対してのみ行えます。", "not_found")
    return page(con, "dsr_correct.html", status=status, code=code, r=r, request_id=str(rid),
                values=values if values is not None else current, errors=errors,
                readable=readable, rows=PEOPLE_ROWS)


@router.get("/{request_id}/correct-household", response_class=HTMLResponse)
async def correction_form(con: Con, code: str, request_id: str) -> HTMLResponse:
    return await _correction_page(con, code, request_id, None, FormErrors())


@router.post("/{request_id}/correct-household", response_class=HTMLResponse)
async def correct_household(con: Con, code: str, request_id: str) -> Response:
    rid = _request_id(request_id)
    form = await con.form()
    check = con.checker()
    guardians = _people(form, "guardians")
    children = _people(form, "children")
    for i, c in enumerate(children):
        typed = typed_day(check, f"household.children.{i}.birthDate", c["birthDate"],
                          required=True)
        c["birthDate"] = typed.isoformat() if typed else "invalid"
    due = typed_day(check, "household.pregnancyDueDate", form.get("household.pregnancyDueDate"))
    household = parse_household(check, HouseholdInput(
        guardians=[GuardianInput(name=g["name"], relationship=g["relationship"],
                                 reading=g["reading"] or None, phone=g["phone"] or None)
                   for g in guardians],
        children=[ChildInput(name=c["name"], birth_date=c["birthDate"],
                             reading=c["reading"] or None) for c in children],
        pregnancy_due_date=due.isoformat() if due else None,
        outside_target_reason=str(form.get("household.outsideTargetReason", "")).strip() or None))
    # A birth date already reported by the typed-date check is not reported twice.
    seen: set[str] = set()
    check.errors = [e for e in check.errors
                    if not (getattr(e, "field", "") in seen or seen.add(getattr(e, "field", "")))]
    reason = check.required("reason", str(form.get("reason", "")))
    if not guardians and not children:
        check.bad("household", "Give the household's people as they should read.",
                  "訂正後の世帯の構成員を入力してください。")
    result = await con.command("dsr.manage", code, lambda rt, grant: (
        rt.casework.correct_household_for_request(rid, household, reason=reason,
                                                  expected_version=None)), check=check)
    if isinstance(result, UserError):
        errors = FormErrors.of(result, con.lang)
        for name in [k for k in errors.fields if not k.startswith("household") and k != "reason"]:
            errors.summary.append(errors.fields.pop(name))  # not a field of this form
        return await _correction_page(con, code, request_id, form_values(form), errors,
                                      status=400)
    return con.redirect(dsr_url(code, f"/{rid}?saved=corrected"))


# --------------------------------------------------------------------------- consultation correction


@dataclass(frozen=True)
class ConsultationChoice:
    consultation_id: str
    number: str  # the case's reception number
    occurred_on: str
    channel: str


async def _consultations_of(con: Console, code: str, r: Request) -> list[ConsultationChoice]:
    """The household's consultations the reader's cases show (dates and channels only)."""
    def load(rt: TenantRuntime, grant: Grant) -> list[ConsultationChoice]:
        cases = Finder(rt, grant, _registry(con)).cases_of([str(r.household_id)])
        numbers = {c.case_id: c.number for c in cases}
        found = rt.cases.consultations(list(numbers))
        return [ConsultationChoice(c.consultation_id, numbers[case_id], c.occurred_on, c.channel)
                for case_id, items in found.items() for c in items]

    return await con.read("case.read", code, load)


async def _consultation_page(con: Console, code: str, request_id: str,
                             consultation_id: str | None, values: dict[str, str] | None,
                             errors: FormErrors, status: int = 200) -> HTMLResponse:
    rid = _request_id(request_id)
    r = await con.read("dsr.manage", code, lambda rt, grant: rt.casework.data_subject_request(rid))
    if r.kind != "correction":
        raise PageError(404, "Only a correction request corrects records.",
                        "記録の訂正は訂正請求に対してのみ行えます。", "not_found")
    choices = await _consultations_of(con, code, r)
    chosen = next((c for c in choices if c.consultation_id == consultation_id), None)
    if consultation_id is not None and chosen is None:
        raise PageError(404, "No such consultation of this household.",
                        "この世帯の相談記録が見つかりません。", "consultation_not_found")
    readable = False
    if chosen is not None and values is None:
        def current(rt: TenantRuntime, grant: Grant) -> tuple[bool, dict[str, str]]:
            hid = str(r.household_id)
            if not may_read(rt.space, hid, "consultation", chosen.consultation_id, TEXT_FIELDS):
                return False, {}
            found = rt.casework.repository.get(uuid.UUID(chosen.consultation_id))
            return True, {name: getattr(found, name) or "" for name in TEXT_FIELDS}

        readable, values = await con.read("dsr.manage", code, current)
    elif values is not None:
        readable = values.get("readable") == "1"
    return page(con, "dsr_correct_consultation.html", status=status, code=code, r=r,
                request_id=str(rid), choices=choices, chosen=chosen, values=values or {},
                errors=errors, readable=readable, fields=TEXT_FIELDS)


@router.get("/{request_id}/correct-consultation", response_class=HTMLResponse)
async def consultation_choices(con: Con, code: str, request_id: str) -> HTMLResponse:
    return await _consultation_page(con, code, request_id, None, None, FormErrors())


@router.get("/{request_id}/correct-consultation/{consultation_id}", response_class=HTMLResponse)
async def consultation_form(con: Con, code: str, request_id: str,
                            consultation_id: str) -> HTMLResponse:
    return await _consultation_page(con, code, request_id, consultation_id, None, FormErrors())


@router.post("/{request_id}/correct-consultation/{consultation_id}", response_class=HTMLResponse)
async def correct_consultation(con: Con, code: str, request_id: str,
                               consultation_id: str) -> Response:
    rid = _request_id(request_id)
    form = await con.form()
    check = con.checker()
    cid = check.record_id("consultationId", consultation_id)
    readable = form.get("readable") == "1"
    changes: dict[str, str | None] = {}
    for name in TEXT_FIELDS:
        value = str(form.get(name, ""))
        # Shown with its current value, an emptied field is cleared; not shown, left as is.
        if readable or value.strip():
            changes[name] = check.text(name, value) or None
    reason = check.required("reason", str(form.get("reason", "")))
    if not changes and not check.errors:
        check.bad("asked", "Type the corrected text.", "訂正後の内容を入力してください。")
    result = await con.command("dsr.manage", code, lambda rt, grant: (
        rt.casework.correct_consultation_for_request(
            rid, cid, changes=changes, reason=reason, expected_version=None)), check=check)
    if isinstance(result, UserError):
        errors = FormErrors.of(result, con.lang)
        names = {_camel(n): n for n in TEXT_FIELDS}
        errors.fields = {names.get(k, k): v for k, v in errors.fields.items()}
        for name in [k for k in errors.fields if k not in (*TEXT_FIELDS, "reason")]:
            errors.summary.append(errors.fields.pop(name))
        return await _consultation_page(con, code, request_id, consultation_id,
                                        form_values(form), errors, status=400)
    return con.redirect(dsr_url(code, f"/{rid}?saved=corrected"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
