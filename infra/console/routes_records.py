"""Specialists' forms: a consultation (opening a case with its consent), a support note,
consent given or withdrawn, and documents kept with a case.

Each form is parsed into the API's own input and edge-checked by the API's own
code (``graphql/consultations.parse_input``, ``graphql/validation.Checker``), then
run through ``Console.command`` — the GraphQL mutations' ``execute`` path.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from yorisoi.graphql.consultations import (
    ChildInput,
    ConfirmNewHouseholdInput,
    ConsentExceptionInput,
    ConsentInput,
    GuardianInput,
    HouseholdInput,
    RecordConsultationInput,
    parse_input,
)
from yorisoi.graphql.errors import InputErrors, UserError, user_error
from yorisoi.graphql.validation import Checker
from yorisoi.infra.clock import japan_today
from yorisoi.infra.console import dates, i18n, vocabulary
from yorisoi.infra.console.routes_cases import case_ref, site_choices, visible_case
from yorisoi.infra.console.web import (
    PREFIX,
    Console,
    FormErrors,
    PageError,
    console,
    form_values,
)
from yorisoi.infra.http import rest
from yorisoi.services.duplicate_check import DuplicateFinding, find_duplicates, site_namer
from yorisoi.services.reading_suggestions import suggest_reading
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter(prefix=PREFIX + "/m/{code}")
Con = Annotated[Console, Depends(console)]
ROWS = 1  # guardian and child rows shown at least; empty rows are ignored
MAX_ROWS = 20  # rows a form offers at most (the API's own limit refuses more people)


_case_ref = case_ref  # by id or reception number (routes_cases)


def _case_url(code: str, case_id: Any) -> str:
    return f"{PREFIX}/m/{code}/cases/{case_id}"


async def _form_context(con: Con, code: str, case_id: uuid.UUID | None) -> dict[str, Any]:
    """What the consultation form offers: themes, channels, sites (and the case, if any)."""
    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any]:
        themes = [(t.code, t.label_ja if con.lang == "ja" else (t.label_en or t.code))
                  for t in rt.casework.themes() if not t.retired]
        return {"themes": themes, "sites": site_choices(con, rt, code),
                "case": visible_case(rt, grant, case_id) if case_id else None}

    values = await con.read("consultation.record", code, load)
    return {**values, "channels": i18n.choices("channel", con.lang),
            "legal_bases": i18n.choices("legal_basis", con.lang)}


PERSON_FIELDS = {"guardians": ("name", "relationship", "reading", "phone"),
                 "children": ("name", "birthDate", "reading")}


def _row_indexes(form: FormData, kind: str) -> list[int]:
    """The row numbers a form sent for ``kind`` (any number, in order)."""
    head = f"household.{kind}."
    found = set()
    for key in form:
        if key.startswith(head):
            index = key[len(head):].split(".", 1)[0]
            if index.isdigit() and len(index) < 4:
                found.add(int(index))
    return sorted(found)


def _people(form: FormData, kind: str) -> list[dict[str, str]]:
    rows = []
    for i in _row_indexes(form, kind):
        row = {k: str(form.get(f"household.{kind}.{i}.{k}", "")).strip()
               for k in PERSON_FIELDS[kind]}
        if any(row.values()):
            rows.append(row)
    return rows


def _compacted(form: FormData, *, add: str | None = None, remove: tuple[str, int] | None = None,
               ) -> FormData:
    """The form with its guardian and child rows numbered 0, 1, … (empty and removed rows
    dropped), so that an error names the row the person sees."""
    rows = {kind: [r for i, r in zip(_row_indexes(form, kind), _raw_rows(form, kind))
                   if any(r.values()) and (remove is None or remove != (kind, i))]
            for kind in PERSON_FIELDS}
    items = [(k, v) for k, v in form.multi_items() if not k.startswith("household.guardians.")
             and not k.startswith("household.children.")]
    for kind, people in rows.items():
        for n, row in enumerate(people):
            items += [(f"household.{kind}.{n}.{k}", v) for k, v in row.items()]
    return FormData(items)


def _raw_rows(form: FormData, kind: str) -> list[dict[str, str]]:
    return [{k: str(form.get(f"household.{kind}.{i}.{k}", "")).strip()
             for k in PERSON_FIELDS[kind]} for i in _row_indexes(form, kind)]


def _row_counts(values: dict[str, Any], more: str | None = None) -> dict[str, int]:
    """Rows to show: those filled (at least ROWS), one empty more after 'add'."""
    counts = {}
    for kind in PERSON_FIELDS:
        filled = len({k.split(".")[2] for k in values if k.startswith(f"household.{kind}.")
                      and values[k]})
        counts[kind] = min(MAX_ROWS, max(ROWS, filled + (1 if more == kind else 0)))
    return counts


def _suggestions(form: FormData) -> tuple[dict[str, str], dict[str, str]]:
    """Readings suggested for the rows whose reading is empty: (values pre-filled, hints).

    Only shown, pre-filled for the person to check: what is stored is what the
    form then submits (services/reading_suggestions.py).
    """
    values: dict[str, str] = {}
    hints: dict[str, str] = {}
    for kind in PERSON_FIELDS:
        for i in _row_indexes(form, kind):
            field = f"household.{kind}.{i}.reading"
            name = str(form.get(f"household.{kind}.{i}.name", "")).strip()
            if not name or str(form.get(field, "")).strip():
                continue
            suggestion = suggest_reading(name)
            if suggestion is None:
                hints[field] = "household.no_suggestion"
            else:
                values[field] = suggestion
                hints[field] = "household.suggestion_hint"
    return values, hints


def consultation_input(code: str, form: FormData, case_id: str | None) -> RecordConsultationInput:
    """The form as the API's RecordConsultationInput (empty optional texts are left out)."""
    def text(name: str) -> str:
        return str(form.get(name, "")).strip()

    household = consent = exception = None
    if case_id is None:
        household = HouseholdInput(
            guardians=[GuardianInput(name=g["name"], relationship=g["relationship"],
                                     reading=g["reading"] or None, phone=g["phone"] or None)
                       for g in _people(form, "guardians")],
            children=[ChildInput(name=c["name"], birth_date=c["birthDate"],
                                 reading=c["reading"] or None)
                      for c in _people(form, "children")],
            pregnancy_due_date=text("household.pregnancyDueDate") or None,
            outside_target_reason=text("household.outsideTargetReason") or None)
    basis = text("consentBasis")
    if basis == "consent":
        consent = ConsentInput(given_by=text("consent.givenBy"),
                               relationship=text("consent.relationship"),
                               given_on=text("consent.givenOn"), scope=text("consent.scope"))
    elif basis == "exception":
        exception = ConsentExceptionInput(reason=text("noConsentException.reason"),
                                          legal_basis=text("noConsentException.legalBasis"))
    return RecordConsultationInput(
        municipality_code=code, site_id=text("siteId"), occurred_on=text("occurredOn"),
        channel=text("channel"), themes=[str(t) for t in form.getlist("themes")],
        asked=text("asked"), wishes=text("wishes"), direction=text("direction"),
        case_id=case_id, household=household,
        outer_situation=text("outerSituation") or None,
        inner_situation=text("innerSituation") or None,
        child_rearing_situation=text("childRearingSituation") or None,
        consent=consent, no_consent_exception=exception,
        # Sent from the likely-duplicates panel: register anyway, for this reason.
        confirm_new_household=(ConfirmNewHouseholdInput(reason=text("confirmNewHousehold.reason"))
                               if text("action") == "confirm_new" else None))


async def _consultation_form(con: Con, code: str, case_id: uuid.UUID | None, *,
                             values: dict[str, Any], errors: FormErrors | None = None,
                             themes: list[str] | None = None, status: int = 200,
                             suggested: dict[str, str] | None = None,
                             duplicates: DuplicateFinding | None = None,
                             more: str | None = None) -> HTMLResponse:
    context = await _form_context(con, code, case_id)
    counts = _row_counts(values, more)
    errors = (errors or FormErrors()).named(_consultation_labels(con.lang, counts))
    return con.page("consultation_form.html", status=status, code=code, values=values,
                    errors=errors, checked=themes or [],
                    guardian_rows=range(counts["guardians"]),
                    child_rows=range(counts["children"]), limit=con.checker().max_text,
                    suggested=suggested or {}, duplicates=duplicates, **context)


def _consultation_labels(lang: str, counts: dict[str, int]) -> dict[str, str]:
    """The consultation form's fields as it labels them (the error summary names them)."""
    def t(key: str, **values: Any) -> str:
        return i18n.text(key, lang, **values)

    labels = {
        "siteId": t("cases.site"), "occurredOn": t("consultation.occurred_on"),
        "channel": t("consultation.channel"), "themes": t("consultation.themes"),
        "asked": t("consultation.asked"), "wishes": t("consultation.wishes"),
        "direction": t("consultation.direction"), "outerSituation": t("consultation.outer"),
        "innerSituation": t("consultation.inner"),
        "childRearingSituation": t("consultation.child_rearing"),
        "household": t("household.title"),
        "household.pregnancyDueDate": t("household.due_date"),
        "household.outsideTargetReason": t("household.outside_reason"),
        "consent": t("consent.basis"), "consent.givenBy": t("consent.given_by"),
        "consent.relationship": t("consent.relationship"),
        "consent.givenOn": t("consent.given_on"), "consent.scope": t("consent.scope"),
        "noConsentException.reason": t("consent.exception_reason"),
        "noConsentException.legalBasis": t("consent.legal_basis"),
        "confirmNewHousehold.reason": t("duplicates.reason"),
    }
    for i in range(max(counts.values()) + MAX_ROWS):
        g, c = f"household.guardians.{i}", f"household.children.{i}"
        labels.update({
            f"{g}.name": t("household.guardian_name", n=i + 1),
            f"{g}.relationship": t("household.relationship", n=i + 1),
            f"{g}.reading": t("household.guardian_reading", n=i + 1),
            f"{g}.phone": t("household.guardian_phone", n=i + 1),
            f"{c}.name": t("household.child_name", n=i + 1),
            f"{c}.reading": t("household.child_reading", n=i + 1),
            f"{c}.birthDate": t("household.birth_date", n=i + 1)})
    return labels


def _labels(lang: str, **keys: str) -> dict[str, str]:
    """field → its label (a catalogue key each), for an error summary that names fields."""
    return {name: i18n.text(key, lang) for name, key in keys.items()}


_CONSULTATION_DATES = ("occurredOn", "consent.givenOn", "household.pregnancyDueDate")


def _is_consultation_date(name: str) -> bool:
    return name in _CONSULTATION_DATES or (name.startswith("household.children.")
                                            and name.endswith(".birthDate"))


def _precheck(check: Checker, form: FormData, new_case: bool, unreadable: list[str],
              lang: str) -> None:
    """What the form needs before the API's checks, all at once: required fields, dates
    that name no day, an empty household (the domain would refuse these one by one)."""
    def value(name: str) -> str:
        return str(form.get(name, "")).strip()

    for name in unreadable:
        check.bad(name, vocabulary.text("form.not_a_date", "en"),
                  vocabulary.text("form.not_a_date", "ja"))
    required = ["occurredOn", "channel", "asked"] + (["siteId"] if new_case else [])
    for name in required:
        if not value(name):
            check.bad(name, "This field is required.", "必須項目です。")
    if not form.getlist("themes"):
        check.bad("themes", vocabulary.text("form.choose_one", "en"),
                  vocabulary.text("form.choose_one", "ja"))
    if new_case and not (_people(form, "guardians") or _people(form, "children")
                         or value("household.pregnancyDueDate")):
        check.bad("household", vocabulary.text("household.empty", "en"),
                  vocabulary.text("household.empty", "ja"))
    if value("consentBasis") not in ("consent", "exception", "on_file"):
        check.bad("consent", "Choose how the record is based on consent.",
                  "記録の根拠（同意）を選んでください。")


def _too_long(form: FormData, limit: int, labels: dict[str, str], lang: str) -> list[str]:
    """A clear word for each text far beyond the limit (pasted by mistake): kept as typed."""
    return [vocabulary.text("form.too_long", lang, field=labels.get(name, name),
                            n=f"{len(value):,}", limit=f"{limit:,}")
            for name, value in form.multi_items()
            if isinstance(value, str) and len(value) > limit and name in labels]


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case(con: Con, code: str) -> HTMLResponse:
    today = japan_today().isoformat()
    return await _consultation_form(con, code, None, values={
        "occurredOn": today, "consent.givenOn": today, "consentBasis": "consent",
        "channel": "visit"})


@router.get("/cases/{case_id}/consultations/new", response_class=HTMLResponse)
async def new_consultation(con: Con, code: str, case_id: str) -> HTMLResponse:
    cid = await _case_ref(con, code, case_id)
    today = japan_today().isoformat()
    return await _consultation_form(con, code, cid, values={
        "occurredOn": today, "consent.givenOn": today, "channel": "visit",
        "consentBasis": "on_file"})


async def _record(con: Con, code: str, case_id: uuid.UUID | None,
                  ) -> Response:
    form = await con.form()
    action = str(form.get("action", ""))
    if case_id is None and (action.startswith(("add:", "remove:"))):
        # Nothing is recorded: the form comes back with a row more or less.
        verb, _, target = action.partition(":")
        kind, _, index = target.partition(":")
        if kind in PERSON_FIELDS:
            removed = (kind, int(index)) if verb == "remove" and index.isdigit() else None
            shown = _compacted(form, remove=removed)
            return await _consultation_form(con, code, None, values=form_values(shown),
                                            themes=form.getlist("themes"),
                                            more=kind if verb == "add" else None)
    form = _compacted(form) if case_id is None else form
    form, unreadable = dates.typed_dates(form, _is_consultation_date)
    if case_id is None and action == "suggest":
        # Nothing is recorded: the form comes back with readings to check.
        prefilled, hints = await asyncio.to_thread(_suggestions, form)
        values = {**form_values(form), **prefilled}
        suggested = {field: i18n.text(key, con.lang, reading=prefilled.get(field, ""))
                     for field, key in hints.items()}
        return await _consultation_form(con, code, None, values=values,
                                        themes=form.getlist("themes"), suggested=suggested)
    check = con.checker()
    if case_id is not None:
        # An existing case is recorded at its own site.
        record = await con.read("consultation.record", code,
                                lambda rt, grant: visible_case(rt, grant, case_id))
        form = FormData([*form.multi_items(), ("siteId", record.site_id)])
    _precheck(check, form, case_id is None, unreadable, con.lang)
    parsed = parse_input(consultation_input(code, form, str(case_id) if case_id else None), check)
    if check.errors:
        # Every problem of the form at once, each by its field; nothing is recorded.
        errors = FormErrors.of(user_error(InputErrors(check.errors)), con.lang)
        counts = _row_counts(form_values(form))
        errors.summary[:0] = _too_long(form, check.max_text,
                                       _consultation_labels(con.lang, counts), con.lang)
        return await _consultation_form(con, code, case_id, values=form_values(form),
                                        errors=errors, themes=form.getlist("themes"),
                                        status=400)

    def command(rt: TenantRuntime, grant: Grant) -> Any:
        # The GraphQL mutation's command, as it is written there: likely duplicates first.
        if parsed.household is not None and parsed.household.new_household_reason is None:
            finding = find_duplicates(rt, grant.scope, parsed.household,
                                      site_namer(con.services, grant.municipality_code))
            if finding.any:
                return finding
        return rt.casework.record_consultation(replace(
            parsed, contract_id=grant.contract_id,
            writable_contract_ids=grant.scope.contract_ids))

    result = await con.command("consultation.record", code, command, check=check,
                               site_id=parsed.site_id)
    if isinstance(result, UserError):
        errors = FormErrors.of(result, con.lang)
        return await _consultation_form(con, code, case_id, values=form_values(form),
                                        errors=errors, themes=form.getlist("themes"),
                                        status=400)
    if isinstance(result, DuplicateFinding):  # nothing recorded: the person decides
        return await _consultation_form(con, code, case_id, values=form_values(form),
                                        themes=form.getlist("themes"), status=409,
                                        duplicates=result)
    return con.saved(_case_url(code, result.case_id) + "#consultations-h")


@router.post("/cases/new")
async def create_case(con: Con, code: str) -> Response:
    return await _record(con, code, None)


@router.post("/cases/{case_id}/consultations/new")
async def add_consultation(con: Con, code: str, case_id: str) -> Response:
    return await _record(con, code, await _case_ref(con, code, case_id))


# --------------------------------------------------------------------------- support notes

NOTE_KINDS = ("progress", "observation", "contact", "follow_up")


@router.get("/cases/{case_id}/notes/new", response_class=HTMLResponse)
async def new_note(con: Con, code: str, case_id: str) -> HTMLResponse:
    case_id = str(await _case_ref(con, code, case_id))  # a number reads as its case's id
    return con.page("note_form.html", code=code, case_id=case_id, kinds=NOTE_KINDS,
                    values={"writtenOn": japan_today().isoformat(), "kind": "progress"},
                    limit=con.checker().max_text, errors=FormErrors())


@router.post("/cases/{case_id}/notes/new")
async def write_note(con: Con, code: str, case_id: str) -> Response:
    cid = await _case_ref(con, code, case_id)
    case_id = str(cid)  # a number reads as its case's id
    form = await con.form()
    check = con.checker()  # the same checks as writeSupportNote
    written_on = dates.typed_day(check, "writtenOn", str(form.get("writtenOn", "")))
    kind = check.text("kind", str(form.get("kind", "")), 20)
    body = check.required("body", str(form.get("body", "")))
    result = await con.command(
        "case.manage", code,
        lambda rt, grant: rt.casework.write_support_note(
            cid, written_on=written_on, kind=kind, body=body,
            writable_contract_ids=grant.scope.contract_ids),
        check=check, case_id=cid)
    if isinstance(result, UserError):
        return con.page("note_form.html", status=400, code=code, case_id=case_id,
                        kinds=NOTE_KINDS, values=form_values(form),
                        limit=check.max_text, errors=FormErrors.of(result, con.lang).named(
                            _labels(con.lang, writtenOn="note.written_on", kind="note.kind",
                                    body="note.body")))
    return con.saved(_case_url(code, cid) + "#timeline-h")


# --------------------------------------------------------------------------- consent


async def _consent_form(con: Con, code: str, case_id: str, values: dict[str, Any],
                        errors: FormErrors | None = None, status: int = 200) -> HTMLResponse:
    cid = await _case_ref(con, code, case_id)
    case_id = str(cid)  # a number reads as its case's id

    def load(rt: TenantRuntime, grant: Grant) -> list[tuple[str, str]]:
        case = rt.casework.readable_case(cid, grant.scope.contract_ids)
        # Each signed form by its name and size (「同意書.pdf（45 KB）」), numbered when several.
        kept = [(aid, a) for aid, a in case.attachments.items() if a["kind"] == "consent_form"]
        named = [(aid, vocabulary.attachment_name(a["kind"], a.get("content_type"),
                                                  a.get("size"), con.lang)) for aid, a in kept]
        if len(named) > 1:
            named = [(aid, f"{n}. {name}") for n, (aid, name) in enumerate(named, 1)]
        return named

    forms = await con.read("case.read", code, load)
    return con.page("consent_form.html", status=status, code=code, case_id=case_id,
                    values=values, errors=errors or FormErrors(), evidence=forms,
                    purposes=i18n.choices("purpose", con.lang),
                    agency_kinds=i18n.choices("agency_kind", con.lang))


@router.get("/cases/{case_id}/consents/new", response_class=HTMLResponse)
async def new_consent(con: Con, code: str, case_id: str) -> HTMLResponse:
    return await _consent_form(con, code, case_id, {"givenOn": japan_today().isoformat(),
                                                    "purpose": "create_records"})


@router.post("/cases/{case_id}/consents/new")
async def give_consent(con: Con, code: str, case_id: str) -> Response:
    cid = await _case_ref(con, code, case_id)
    case_id = str(cid)  # a number reads as its case's id
    form = await con.form()
    check = con.checker()  # the same checks as giveConsent

    def value(name: str) -> str:
        return str(form.get(name, "")).strip()

    given_on = dates.typed_day(check, "givenOn", value("givenOn"))
    given_by = check.required("givenBy", value("givenBy"), 100)
    relationship = check.required("relationship", value("relationship"), 100)
    scope = check.text("scope", value("scope"))
    purpose = check.text("purpose", value("purpose"), 50)
    agency_kind = check.text("agencyKind", value("agencyKind"), 50) or None
    evidence = check.record_id("evidenceAttachmentId", value("evidenceAttachmentId") or None)
    result = await con.command(
        "case.manage", code,
        lambda rt, grant: rt.casework.give_consent(
            cid, purpose=purpose, given_by=given_by, relationship=relationship,
            given_on=given_on, scope=scope, agency_id=None, agency_kind=agency_kind,
            evidence_attachment_id=str(evidence) if evidence else None,
            writable_contract_ids=grant.scope.contract_ids),
        check=check, case_id=cid)
    if isinstance(result, UserError):
        return await _consent_form(con, code, case_id, form_values(form),
                                   FormErrors.of(result, con.lang).named(_labels(
                                       con.lang, purpose="consent.purpose",
                                       agencyKind="consent.agency_kind",
                                       agencyId="consent.agency_kind",
                                       givenBy="consent.given_by",
                                       relationship="consent.relationship",
                                       givenOn="consent.given_on", scope="consent.scope",
                                       evidenceAttachmentId="consent.evidence")), status=400)
    return con.saved(_case_url(code, cid) + "#consent-h")


@router.get("/cases/{case_id}/consents/{consent_id}/withdraw", response_class=HTMLResponse)
async def withdraw_form(con: Con, code: str, case_id: str, consent_id: str) -> HTMLResponse:
    case_id = str(await _case_ref(con, code, case_id))  # a number reads as its case's id
    return con.page("withdraw_form.html", code=code, case_id=case_id, consent_id=consent_id,
                    values={"withdrawnOn": japan_today().isoformat()}, errors=FormErrors(),
                    limit=con.checker().max_text)


@router.post("/cases/{case_id}/consents/{consent_id}/withdraw")
async def withdraw(con: Con, code: str, case_id: str,
                   consent_id: str) -> Response:
    cid = await _case_ref(con, code, case_id)
    case_id = str(cid)  # a number reads as its case's id
    form = await con.form()
    check = con.checker()
    consent = check.record_id("consentId", consent_id)
    withdrawn_on = dates.typed_day(check, "withdrawnOn", str(form.get("withdrawnOn", "")))
    reason = check.text("reason", str(form.get("reason", "")))
    result = await con.command(
        "case.manage", code,
        lambda rt, grant: rt.casework.withdraw_consent(
            cid, consent, withdrawn_on=withdrawn_on, reason=reason,
            writable_contract_ids=grant.scope.contract_ids),
        check=check, case_id=cid)
    if isinstance(result, UserError):
        return con.page("withdraw_form.html", status=400, code=code, case_id=case_id,
                        consent_id=consent_id, values=form_values(form), limit=check.max_text,
                        errors=FormErrors.of(result, con.lang).named(_labels(
                            con.lang, withdrawnOn="consent.withdrawn_on",
                            reason="consent.withdraw_reason")))
    return con.saved(_case_url(code, cid) + "#consent-h")


# --------------------------------------------------------------------------- attachments

ATTACHMENT_KINDS = ("consent_form", "meeting_minutes", "other")


def _bearer(con: Con) -> str:
    return f"Bearer {con.session.token}"


@router.get("/cases/{case_id}/attachments/new", response_class=HTMLResponse)
async def new_attachment(con: Con, code: str, case_id: str) -> HTMLResponse:
    case_id = str(await _case_ref(con, code, case_id))  # a number reads as its case's id
    return con.page("attachment_form.html", code=code, case_id=case_id, kinds=ATTACHMENT_KINDS,
                    values={"kind": "consent_form"}, errors=FormErrors())


@router.post("/cases/{case_id}/attachments/new")
async def upload(con: Con, code: str, case_id: str) -> Response:
    """The REST upload itself (its size and type limits, its object key, its event)."""
    form = await con.form()
    file, kind = form.get("file"), str(form.get("kind", "other"))
    errors = FormErrors()
    if not isinstance(file, UploadFile) or not file.filename:
        errors.fields["file"] = i18n.text("attachment.missing", con.lang)
    else:
        try:
            await rest.upload_attachment(con.request, code, case_id, file, kind,
                                         authorization=_bearer(con))
        except HTTPException as problem:
            detail = problem.detail if isinstance(problem.detail, dict) else {}
            if problem.status_code in (401, 403, 404):
                raise PageError(problem.status_code, detail.get("message", ""),
                                detail.get("messageJa", ""), detail.get("code", "")) from None
            errors.fields["file"] = detail.get("messageJa" if con.lang == "ja" else "message", "")
    if errors:
        return con.page("attachment_form.html", status=400, code=code, case_id=case_id,
                        kinds=ATTACHMENT_KINDS, values={"kind": kind}, errors=errors)
    return con.saved(_case_url(code, case_id) + "#attachments-h")


@router.get("/cases/{case_id}/attachments/{attachment_id}")
async def download(con: Con, code: str, case_id: str, attachment_id: str) -> RedirectResponse:
    """A short-lived link (the REST endpoint's own), followed at once."""
    try:
        link = await asyncio.to_thread(rest.attachment_link, con.request, code, case_id,
                                       attachment_id, authorization=_bearer(con))
    except HTTPException as problem:
        detail = problem.detail if isinstance(problem.detail, dict) else {}
        raise PageError(problem.status_code, detail.get("message", ""),
                        detail.get("messageJa", ""), detail.get("code", "")) from None
    response = con.redirect(link["url"])
    response.headers["Cache-Control"] = "no-store"
    return response
