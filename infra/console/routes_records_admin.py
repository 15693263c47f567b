"""Records management (記録管理): retention schedules, holds, disposal and the 個人情報ファイル簿.

For the municipality's records officers (``records.manage`` to read and to set
schedules and holds; ``disposal.approve`` to propose, approve and run a batch:
municipal administrators and supervisors).  Each write is the GraphQL
mutation's own command through ``Console.command`` (same authorisation, same
typed errors); the disposal run is ``services/disposal.Disposal`` as the
``yorisoi disposal`` CLI runs it.  Households are found by reception number or
the case search (``household_finder``) and shown by their cases' numbers and
sites, never by id.  Nothing personal is shown here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from yorisoi.domain.holds import HOLD_REASONS
from yorisoi.domain.retention import RECORD_CLASSES, RETENTION_YEARS, years_by_class
from yorisoi.graphql.errors import UserError
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import i18n, records_words
from yorisoi.infra.certificates import CertificateInvalidError, digest, verify_certificate
from yorisoi.infra.console.household_finder import (
    Finder,
    HouseholdLabel,
    find,
    search_text,
    typed_day,
)
from yorisoi.infra.console.web import PREFIX, Console, FormErrors, PageError, console, form_values
from yorisoi.projections.organisation_view import OrganisationQueries
from yorisoi.services.disposal import Disposal
from yorisoi.services.file_register import build_file_register
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}/records")
Con = Annotated[Console, Depends(console)]
MAX_HOLDS = 200
MAX_DUE = 500
PERMANENT = "permanent"

# Item names the file register's vocabulary (services/disclosure_document.FIELD_LABELS)
# does not have yet: shown in Japanese here rather than as field names.
_ITEM_LABELS_JA = {
    "fields": "訂正した項目",
    "new_household_reason": "新しい世帯として登録した理由",
    "reception_number": "受付番号",
}


def records_url(code: str, tail: str = "") -> str:
    return f"{PREFIX}/m/{code}/records{tail}"


def _registry(con: Console) -> Any:
    return con.services.directory.registry


def _disposal(con: Console, rt: TenantRuntime) -> Disposal:
    return Disposal(rt, con.services.objects, con.services.signer)


def person_namer(con: Console, rt: TenantRuntime) -> Any:
    """``name(subject)``: a staff member's name, "you", or "another officer" — never the id."""
    staff = {s.subject: s.display_name
             for s in OrganisationQueries(rt.casework.database).all_staff(japan_today())}

    def name(subject: str | None) -> str:
        if not subject:
            return "—"
        if subject == con.principal.subject:
            return i18n.text("records.you", con.lang)
        return staff.get(subject) or i18n.text("records.other_officer", con.lang)

    return name


def page(con: Console, template: str, **values: Any) -> HTMLResponse:
    """``con.page`` with the records vocabularies' names (``word(kind, code)``)."""
    return con.page(template, word=lambda kind, code: records_words.word(kind, code, con.lang),
                    **values)


def years_label(years: int | None, lang: str) -> str:
    return i18n.text("retention.permanent", lang) if years is None else i18n.text(
        "retention.years", lang, n=years)


# --------------------------------------------------------------------------- home


@router.get("", response_class=HTMLResponse)
async def records_home(con: Con, code: str) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any]:
        today = japan_today()
        current = rt.casework.schedule_in_effect(today)
        due = None
        if current is not None:
            due = len(_disposal(con, rt).due(today)[1])
        rt.catch_up()
        batches = _disposal(con, rt).queries.batches()
        holds, _ = _disposal(con, rt).queries.hold_page(None, after=None, limit=MAX_HOLDS)
        return {"current": current, "due": due,
                "open_batches": [b for b in batches if b.status != "completed"],
                "active_holds": sum(1 for h in holds if h.blocks(today))}

    values = await con.read("records.manage", code, load)
    may_dsr = await con.may("dsr.manage", code)
    return page(con, "records_home.html", code=code, may_dsr=may_dsr,
                    years_label=lambda y: years_label(y, con.lang), **values)


# --------------------------------------------------------------------------- retention schedules


async def _retention_page(con: Console, code: str, values: dict[str, str],
                          errors: FormErrors, *, status: int = 200,
                          saved: bool = False) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any]:
        schedule = rt.casework.retention_schedule()
        versions = list(schedule.versions()) if schedule is not None else []
        current = schedule.in_effect_on(japan_today()) if schedule is not None else None
        return {"versions": list(reversed(versions)), "current": current,
                "name": person_namer(con, rt), "today": japan_today()}

    data = await con.read("records.manage", code, load)
    if not values:
        base = data["current"]
        values = {"effective_from": japan_today().isoformat(), "two_person": "1"}
        for name in RECORD_CLASSES:
            years = base.years.get(name) if base is not None else 5
            values[f"years.{name}"] = PERMANENT if years is None else str(years)
    options = [(str(y), years_label(y, con.lang)) for y in RETENTION_YEARS]
    options.append((PERMANENT, years_label(None, con.lang)))
    return page(con, "records_retention.html", status=status, code=code, classes=RECORD_CLASSES,
                    options=options, values=values, errors=errors, saved=saved,
                    years_label=lambda y: years_label(y, con.lang), **data)


@router.get("/retention", response_class=HTMLResponse)
async def retention(con: Con, code: str, saved: str = "") -> HTMLResponse:
    return await _retention_page(con, code, {}, FormErrors(), saved=saved == "1")


@router.post("/retention", response_class=HTMLResponse)
async def set_retention(con: Con, code: str) -> Response:
    form = await con.form()
    check = con.checker()
    effective_from = typed_day(check, "effective_from", form.get("effective_from"),
                               required=True)
    pairs: list[tuple[str, int | None]] = []
    for name in RECORD_CLASSES:
        raw = str(form.get(f"years.{name}", "")).strip()
        if raw == PERMANENT:
            pairs.append((name, None))
        elif raw.isdigit() and int(raw) in RETENTION_YEARS:
            pairs.append((name, int(raw)))
        else:
            check.bad(f"years.{name}", "Choose a retention period.", "保存年限を選んでください。")
    two_person = form.get("two_person") == "1"

    def command(rt: TenantRuntime, grant: Grant) -> None:
        assert effective_from is not None
        rt.casework.set_retention_schedule(effective_from=effective_from,
                                           years=years_by_class(pairs),
                                           two_person_approval=two_person)

    result = await con.command("records.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _retention_page(con, code, form_values(form), _errors(result, con.lang,
                                     {"effectiveFrom": "effective_from"}), status=400)
    return con.redirect(records_url(code, "/retention?saved=1"))


def _errors(error: UserError, lang: str, aliases: dict[str, str]) -> FormErrors:
    """The API's field names (camelCase) as the form's."""
    errors = FormErrors.of(error, lang)
    errors.fields = {aliases.get(k, k): v for k, v in errors.fields.items()}
    return errors


# --------------------------------------------------------------------------- holds


@dataclass(frozen=True)
class HoldRow:
    hold_id: str
    household: HouseholdLabel
    reason: str
    owner: str
    starts_on: str
    ends_on: str | None
    released_on: str | None
    released_by: str
    active: bool


async def _holds_page(con: Console, code: str, *, found: list[Any] | None = None,
                      search_error: str | None = None, values: dict[str, str] | None = None,
                      errors: FormErrors | None = None, status: int = 200,
                      saved: str = "") -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> list[HoldRow]:
        rt.catch_up()
        holds, _ = _disposal(con, rt).queries.hold_page(None, after=None, limit=MAX_HOLDS)
        labels = Finder(rt, grant, _registry(con)).labels(h.household_id for h in holds)
        name, today = person_namer(con, rt), japan_today()
        return [HoldRow(hold_id=h.hold_id, household=labels[h.household_id], reason=h.reason,
                        owner=_owner(h, name), starts_on=h.starts_on,
                        ends_on=h.ends_on, released_on=h.released_on,
                        released_by=name(h.released_by), active=h.blocks(today))
                for h in holds]

    rows = await con.read("records.manage", code, load)
    values = values or {"starts_on": japan_today().isoformat()}
    return page(con, "records_holds.html", status=status, code=code, holds=rows,
                found=found, search_error=search_error, values=values,
                errors=errors or FormErrors(),
                reasons=records_words.choices("hold_reason", con.lang),
                today=japan_today().isoformat(), saved=saved)


def _owner(hold: Any, name: Any) -> str:
    """Who answers for a hold: as typed, or (left empty: whoever placed it) by name."""
    if not hold.owner:
        return "—"
    if hold.owner == hold.placed_by:
        return name(hold.owner)
    return hold.owner


@router.get("/holds", response_class=HTMLResponse)
async def holds(con: Con, code: str, saved: str = "") -> HTMLResponse:
    return await _holds_page(con, code, saved=saved)


@router.post("/holds/find", response_class=HTMLResponse)
async def find_for_hold(con: Con, code: str) -> HTMLResponse:
    form = await con.form()
    text = search_text(form)
    await con.read("records.manage", code, lambda rt, grant: None)
    found, error = await con.read("case.read", code, lambda rt, grant: find(
        rt, grant, _registry(con), text, con.lang))
    return await _holds_page(con, code, found=found, search_error=error,
                             values={"q": text, "starts_on": japan_today().isoformat()},
                             status=200 if found else 400)


@router.post("/holds", response_class=HTMLResponse)
async def place_hold(con: Con, code: str) -> Response:
    form = await con.form()
    check = con.checker()
    household_id = check.record_id("household", str(form.get("household", "")) or None)
    if household_id is None and not check.errors:
        check.bad("household", "Find and choose the household.", "世帯を検索して選んでください。")
    reason = str(form.get("reason", ""))
    if reason not in HOLD_REASONS:
        check.bad("reason", "Choose a reason.", "理由を選んでください。")
    starts_on = typed_day(check, "starts_on", form.get("starts_on"), required=True)
    ends_on = typed_day(check, "ends_on", form.get("ends_on"))
    owner = check.text("owner", str(form.get("owner", "")).strip(), 100)

    def command(rt: TenantRuntime, grant: Grant) -> None:
        assert household_id is not None and starts_on is not None
        rt.casework.place_hold(household_id=household_id, reason=reason, owner=owner or None,
                               starts_on=starts_on, ends_on=ends_on)

    result = await con.command("records.manage", code, command, check=check)
    if isinstance(result, UserError):
        values = form_values(form)
        found = None
        if values.get("q"):
            found, _ = await con.read("case.read", code, lambda rt, grant: find(
                rt, grant, _registry(con), values["q"], con.lang))
        return await _holds_page(con, code, found=found, values=values, status=400,
                                 errors=_errors(result, con.lang, {
                                     "householdId": "household", "startsOn": "starts_on",
                                     "endsOn": "ends_on"}))
    return con.redirect(records_url(code, "/holds?saved=placed"))


@router.post("/holds/{hold_id}/release", response_class=HTMLResponse)
async def release_hold(con: Con, code: str, hold_id: str) -> Response:
    form = await con.form()
    check = con.checker()
    hid = check.record_id("holdId", hold_id)
    released_on = typed_day(check, "released_on", form.get("released_on"), required=True)

    def command(rt: TenantRuntime, grant: Grant) -> None:
        assert hid is not None and released_on is not None
        rt.casework.release_hold(hid, released_on=released_on)

    result = await con.command("records.manage", code, command, check=check)
    if isinstance(result, UserError):
        return await _holds_page(con, code, status=400, errors=_errors(
            result, con.lang, {"releasedOn": "released_on"}))
    return con.redirect(records_url(code, "/holds?saved=released"))


# --------------------------------------------------------------------------- disposal


@dataclass(frozen=True)
class DueRow:
    household: HouseholdLabel
    closed_on: date
    due_on: date | None
    record_counts: dict[str, int]


async def _disposal_page(con: Console, code: str, *, errors: FormErrors | None = None,
                         chosen: set[str] | None = None, status: int = 200) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any]:
        today = japan_today()
        disposal = _disposal(con, rt)
        current = rt.casework.schedule_in_effect(today)
        due: list[DueRow] = []
        if current is not None:
            _, standing = disposal.due(today)
            standing = standing[:MAX_DUE]
            labels = Finder(rt, grant, _registry(con)).labels(h.household_id for h in standing)
            due = [DueRow(labels[h.household_id], h.closed_on, h.due_on, h.record_counts)
                   for h in standing]
        rt.catch_up()
        return {"current": current, "due": due, "batches": disposal.queries.batches(),
                "name": person_namer(con, rt), "today": today}

    data = await con.read("records.manage", code, load)
    return page(con, "records_disposal.html", status=status, code=code,
                    errors=errors or FormErrors(), chosen=chosen or set(),
                    may_approve=await con.may("disposal.approve", code), **data)


@router.get("/disposal", response_class=HTMLResponse)
async def disposal(con: Con, code: str) -> HTMLResponse:
    return await _disposal_page(con, code)


@router.post("/disposal", response_class=HTMLResponse)
async def propose(con: Con, code: str) -> Response:
    form = await con.form()
    check = con.checker()
    ids = [check.record_id("households", h) for h in form.getlist("households")
           if isinstance(h, str)]
    if not ids and not check.errors:
        check.bad("households", "Choose at least one household.",
                  "廃棄する世帯を1件以上選んでください。")

    def command(rt: TenantRuntime, grant: Grant) -> str:
        return str(_disposal(con, rt).propose([str(h) for h in ids]).id)

    result = await con.command("disposal.approve", code, command, check=check)
    if isinstance(result, UserError):
        errors = _errors(result, con.lang, {"householdIds": "households"})
        return await _disposal_page(con, code, errors=errors, status=400,
                                    chosen={str(h) for h in ids if h})
    return con.redirect(records_url(code, f"/disposal/{result}?saved=proposed"))


def _batch_uuid(batch_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(batch_id)
    except ValueError:
        raise PageError(404, "No such disposal batch.", "指定された廃棄案件が見つかりません。",
                        "disposal_batch_not_found") from None


async def _batch_page(con: Console, code: str, batch_id: str, *, saved: str = "",
                      errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    bid = _batch_uuid(batch_id)

    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any]:
        batch = rt.casework.disposal_batch(bid)
        labels = Finder(rt, grant, _registry(con)).labels(batch.households)
        entries = [{"household": labels[h], "closed_on": info.get("closed_on"),
                    "due_on": info.get("due_on"), "state": batch.household_state(h),
                    "reason": batch.outcomes.get(h, {}).get("reason"),
                    "records": len(batch.outcomes[h]["records"])
                    if batch.household_state(h) == "disposed" else None}
                   for h, info in batch.households.items()]
        return {"batch": batch, "entries": entries, "name": person_namer(con, rt)}

    data = await con.read("records.manage", code, load)
    batch = data["batch"]
    me = con.principal.subject
    return page(con, "records_batch.html", status=status, code=code, saved=saved,
                    errors=errors or FormErrors(), batch_id=str(bid),
                    may_approve=await con.may("disposal.approve", code),
                    second_needed=batch.two_person_approval and batch.proposed_by == me,
                    **data)


@router.get("/disposal/{batch_id}", response_class=HTMLResponse)
async def batch_page(con: Con, code: str, batch_id: str, saved: str = "") -> HTMLResponse:
    return await _batch_page(con, code, batch_id, saved=saved)


@router.post("/disposal/{batch_id}/approve", response_class=HTMLResponse)
async def approve(con: Con, code: str, batch_id: str) -> Response:
    bid = _batch_uuid(batch_id)
    form = await con.form()
    version = _version(form)
    result = await con.command("disposal.approve", code, lambda rt, grant: (
        rt.casework.approve_disposal(bid, expected_version=version)))
    if isinstance(result, UserError):
        return await _batch_page(con, code, batch_id, status=400,
                                 errors=FormErrors.of(result, con.lang, set()))
    return con.redirect(records_url(code, f"/disposal/{bid}?saved=approved"))


@router.post("/disposal/{batch_id}/run", response_class=HTMLResponse)
async def run(con: Con, code: str, batch_id: str) -> Response:
    bid = _batch_uuid(batch_id)
    form = await con.form()
    version = _version(form)

    def command(rt: TenantRuntime, grant: Grant) -> None:
        rt.casework.disposal_batch(bid).check_version(version)
        _disposal(con, rt).run(bid)

    result = await con.command("disposal.approve", code, command)
    if isinstance(result, UserError):
        return await _batch_page(con, code, batch_id, status=400,
                                 errors=FormErrors.of(result, con.lang, set()))
    return con.redirect(records_url(code, f"/disposal/{bid}/certificate?saved=completed"))


def _version(form: Any) -> int | None:
    raw = str(form.get("version", ""))
    return int(raw) if raw.isdigit() else None


@dataclass(frozen=True)
class CertificateSummary:
    """What a person reads of a signed certificate: names, dates, counts (no ids)."""

    sha256: str
    valid: bool  # the platform signature verifies
    doc: dict[str, Any]  # the certificate's body, as signed
    municipality: str
    name: Any  # subject -> a person's name


def certificate_summary(con: Console, rt: TenantRuntime, batch_id: str) -> CertificateSummary:
    """The batch's signed certificate, checked against the platform key, for a page."""
    data = _disposal(con, rt).certificate(uuid.UUID(batch_id))
    try:
        verify_certificate(data, con.services.signer.public_pem)
        valid = True
    except CertificateInvalidError:
        valid = False
    tenant = _registry(con).tenant(rt.municipality_code)
    return CertificateSummary(sha256=digest(data), valid=valid,
                              doc=json.loads(data)["certificate"],
                              municipality=tenant.name if tenant else rt.municipality_code,
                              name=person_namer(con, rt))


@router.get("/disposal/{batch_id}/certificate", response_class=HTMLResponse)
async def certificate(con: Con, code: str, batch_id: str, saved: str = "") -> HTMLResponse:
    bid = _batch_uuid(batch_id)
    summary = await con.read("records.manage", code, lambda rt, grant: (
        certificate_summary(con, rt, str(bid))))
    return page(con, "records_certificate.html", code=code, cert=summary, batch_id=str(bid),
                saved=saved, years_label=lambda y: years_label(y, con.lang))


@router.get("/disposal/{batch_id}/certificate.json")
async def certificate_file(con: Con, code: str, batch_id: str) -> Response:
    """The signed file byte for byte (``yorisoi disposal verify-certificate`` checks it offline)."""
    bid = _batch_uuid(batch_id)
    data = await con.read("records.manage", code, lambda rt, grant: (
        _disposal(con, rt).certificate(bid)))
    response = Response(data, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="disposal-certificate-{bid}.json"',
        "Cache-Control": "no-store"})
    con.keep(response)  # type: ignore[arg-type]
    return response


# --------------------------------------------------------------------------- 個人情報ファイル簿


@router.get("/file-register", response_class=HTMLResponse)
async def file_register(con: Con, code: str) -> HTMLResponse:
    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any]:
        tenant = _registry(con).tenant(grant.municipality_code)
        return build_file_register(rt.casework, today=japan_today(),
                                   municipality_name=tenant.name if tenant else code)

    register = await con.read("records.manage", code, load)
    for file in register["files"]:
        for record in file["records"]:
            for item in record["items"]:
                if item["label"] == item["field"]:
                    item["label"] = _ITEM_LABELS_JA.get(item["field"], item["label"])
    return page(con, "records_file_register.html", code=code, register=register)
