"""Offline capture (issue 22): the console as a progressive web app on the specialist's device.

Pages and endpoints:

- ``/console/sw.js`` and ``/console/manifest.webmanifest``: the service worker (scope
  ``/console/``) and the web app manifest, from the console's own origin.
- ``/console/offline``: the offline pages' shell — no personal data, no session
  needed, cached by the service worker; everything it shows comes from the
  device's sealed store, opened with the key below.
- ``/console/m/{code}/offline``: the pack page (online): register this device,
  choose the day's cases, see and revoke devices (an administrator: all of them).
- JSON, same origin only (a custom header or the session's CSRF token):
  ``…/offline/devices`` (register), ``…/offline/key`` (the device's wrapping key,
  released only to a live session of its owner while the device stands
  registered), ``…/offline/pack`` (the chosen cases: a logged personal read),
  ``…/offline/sync`` (one draft as an ordinary command, exactly once under its own
  idempotency key; conflicts answered with both sides, nothing written).

See docs/offline.md for the key design and what a stolen device reveals.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData

from yorisoi.domain.devices import DeviceNotFoundError, DeviceRevokedError
from yorisoi.domain.errors import DomainError
from yorisoi.graphql.consultations import parse_input
from yorisoi.graphql.context import caller_of, keyed_request
from yorisoi.graphql.errors import InputErrors, UserError, user_error
from yorisoi.infra.console import i18n
from yorisoi.infra.console.offline_sync import (
    KINDS,
    Captured,
    ConflictReasonMissingError,
    DraftApplied,
    DraftInvalidError,
    as_form,
    captured_at,
    case_stamp,
    checked_base,
    choices,
    conflicts,
    pack_case,
    rule_of,
    stamped,
)
from yorisoi.infra.console.offline_words import word, words
from yorisoi.infra.console.session import csrf_matches
from yorisoi.infra.console.web import PREFIX, Console, PageError, console, render, request_lang
from yorisoi.infra.local_secrets import load_or_create_secret
from yorisoi.projections.case_labels import case_labels, registry_site_names
from yorisoi.projections.case_search import CaseFilter
from yorisoi.services import devices as device_registry
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

router = APIRouter()
Con = Annotated[Console, Depends(console)]
STATIC = Path(__file__).parent / "static" / "offline"
SECRET_FILE = "offline-device.secret"
PACK_MAX = 30  # cases a device takes out at once
BODY_MAX = 512 * 1024
HEADER = "x-yorisoi-offline"


# --------------------------------------------------------------------------- app files


@router.get(PREFIX + "/sw.js", include_in_schema=False)
async def service_worker() -> Response:
    """The service worker, served at the console's root so that its scope is /console/."""
    response = Response((STATIC / "sw.js").read_text(encoding="utf-8"),
                        media_type="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = PREFIX + "/"
    return response


@router.get(PREFIX + "/manifest.webmanifest", include_in_schema=False)
async def manifest(request: Request) -> Response:
    lang = request_lang(request)
    body = {"name": "寄り添い（Yorisoi）" if lang == "ja" else "Yorisoi",
            "short_name": "寄り添い", "lang": lang, "start_url": PREFIX + "/offline",
            "scope": PREFIX + "/", "display": "standalone", "background_color": "#ffffff",
            "theme_color": "#1d4e89",
            "icons": [{"src": PREFIX + "/static/offline/icon.svg", "sizes": "any",
                       "type": "image/svg+xml"}]}
    return Response(json.dumps(body, ensure_ascii=False),
                    media_type="application/manifest+json")


@router.get(PREFIX + "/offline", response_class=HTMLResponse, include_in_schema=False)
async def offline_shell(request: Request) -> HTMLResponse:
    """The offline pages: a shell without personal data (cached on the device)."""
    lang = request_lang(request)
    body = render("offline_app.html", lang, con=None, csrf="", request_path=PREFIX + "/offline",
                  w=lambda key, **kw: word(key, lang, **kw),
                  words_json=_words_json(lang),
                  labels_json=_labels_json(lang))
    response = HTMLResponse(body)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _note_kinds(lang: str) -> list[tuple[str, str]]:
    from yorisoi.infra.console.routes_records import NOTE_KINDS

    return [(k, i18n.label("note_kind", k, lang)) for k in NOTE_KINDS]


def _words_json(lang: str) -> str:
    return json.dumps(words(lang), ensure_ascii=False).replace("</", "<\\/")


def _labels_json(lang: str) -> str:
    labels = {"channel": dict(i18n.choices("channel", lang)), "note_kind": dict(_note_kinds(lang))}
    return json.dumps(labels, ensure_ascii=False).replace("</", "<\\/")


# --------------------------------------------------------------------------- the pack page


def _is_admin(con: Console) -> bool:
    return con.has("municipal_admin", "contractor_admin")


def _owner_subject(owner: str) -> str:
    return owner.split(":", 2)[-1]


@router.get(PREFIX + "/m/{code}/offline", response_class=HTMLResponse, include_in_schema=False)
async def pack_page(con: Con, code: str, revoked: str = "") -> HTMLResponse:
    may_capture = await con.may("consultation.record", code)
    me = caller_of(con.principal)
    today_cases: set[str] = set()

    def load(rt: TenantRuntime, grant: Grant) -> Any:
        from yorisoi.infra.console.routes_cases import staff_names

        listed = device_registry.devices(rt.casework, code)
        if not _is_admin(con):
            listed = [d for d in listed if d["owner"] == me]
        elif con.principal.tenant_kind == "contractor":  # its own staff's devices only
            listed = [d for d in listed
                      if d["owner"].startswith(f"contractor:{con.principal.tenant_id}:")]
        cases: list[Any] = []
        labels: dict[str, Any] = {}
        if may_capture:
            page = rt.cases.page(grant.scope, first=PACK_MAX,
                                 filter=CaseFilter(status="active"))
            opened = rt.cases.page(grant.scope, first=PACK_MAX,
                                   filter=CaseFilter(status="opened"))
            # The day's visits first, ticked: what a specialist takes out before going.
            from yorisoi.infra.clock import japan_today
            from yorisoi.projections.visit_queries import VisitQueries

            today = japan_today()
            visiting = [v.case_id for v in VisitQueries(
                rt.casework.database, rt.casework.keyring).calendar(
                    grant.scope, today, today, statuses=("planned",))]
            first = [r for r in (rt.cases.get(grant.scope, c)
                                 for c in dict.fromkeys(visiting)) if r is not None]
            seen = {r.case_id for r in first}
            cases = [*first, *(c for c in [*opened.cases, *page.cases]
                               if c.case_id not in seen)][:PACK_MAX]
            today_cases.update(seen)
            labels = case_labels(rt.cases, grant.scope, [c.case_id for c in cases],
                                 registry_site_names(con.services.directory.registry, code))
        return listed, cases, labels, staff_names(rt)

    listed, cases, labels, staff = await con.read("case.read", code, load)

    def owner_name(owner: str) -> str:
        subject = _owner_subject(owner)
        if owner == me:
            return con.label
        return staff.get(subject) or ("職員" if con.lang == "ja" else "Staff member")

    return con.page("offline_pack.html", code=code, cases=cases, labels=labels,
                    today_cases=today_cases,
                    devices=listed, may_capture=may_capture, me=me, owner_name=owner_name,
                    revoked_done=revoked == "1", w=lambda key, **kw: word(key, con.lang, **kw),
                    words_json=_words_json(con.lang))


@router.post(PREFIX + "/m/{code}/offline/devices/{device_id}/revoke", include_in_schema=False)
async def revoke(con: Con, code: str, device_id: str) -> Response:
    await con.form()  # the CSRF token
    administrator = _is_admin(con) and await con.may("staff.manage", code)
    me = caller_of(con.principal)

    def act(rt: TenantRuntime, grant: Grant) -> None:
        if administrator and con.principal.tenant_kind == "contractor":
            device = next((d for d in device_registry.devices(rt.casework, code)
                           if d["device_id"] == device_id), None)
            if device is None or not device["owner"].startswith(
                    f"contractor:{con.principal.tenant_id}:"):
                raise DeviceNotFoundError(field="deviceId")
        device_registry.revoke_device(rt.casework, code, device_id, by=me,
                                      administrator=administrator)

    result = await con.command("case.read", code, act)
    if isinstance(result, UserError):
        raise PageError(404 if result.code == DeviceNotFoundError.code else 400,
                        result.message, result.message_ja, result.code)
    return con.redirect(f"{PREFIX}/m/{code}/offline?revoked=1#devices-h")


# --------------------------------------------------------------------------- JSON endpoints


def _problem(status: int, code: str, message: str, message_ja: str, **more: Any) -> JSONResponse:
    response = JSONResponse({"code": code, "message": message, "messageJa": message_ja, **more},
                            status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _answer(con: Console, body: dict[str, Any], status: int = 200) -> JSONResponse:
    response = JSONResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # keys and personal data
    con.keep(response)
    return response


async def _json(con: Console, *, csrf: bool = True) -> dict[str, Any]:
    """The request's JSON body, from this origin only: the offline header (which another
    origin cannot send without a preflight this server never grants) and, for writes,
    the session's CSRF token."""
    request = con.request
    if request.headers.get(HEADER) != "1" or request.headers.get("sec-fetch-site") not in (
            None, "same-origin"):
        raise PageError(403, "This address answers the console's own offline pages only.",
                        "このアドレスはコンソールのオフライン画面からのみ利用できます。",
                        "offline_origin_refused")
    if csrf and not csrf_matches(con.session, request.headers.get("x-csrf-token")):
        raise PageError(403, "The page has expired: reload it and try again.",
                        "画面の有効期限が切れました。再読み込みしてからもう一度お試しください。",
                        "csrf_failed")
    raw = await request.body()
    if len(raw) > BODY_MAX:
        raise PageError(413, "The draft is too large.", "下書きが大きすぎます。", "request_too_large")
    try:
        found = json.loads(raw or b"{}")
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise PageError(400, DraftInvalidError.message, DraftInvalidError.message_ja,
                        DraftInvalidError.code)
    return found


def _json_errors(handler: Any) -> Any:
    """Refusals of a JSON endpoint as JSON (the pages' PageError as its status)."""
    import functools

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except PageError as error:
            return _problem(error.status, error.code, error.message, error.message_ja)

    return run


def _secret(con: Console) -> bytes:
    return load_or_create_secret(Path(con.services.settings.keys_dir) / SECRET_FILE)


async def _live_device(con: Console, code: str, device_id: Any) -> dict[str, Any]:
    """The caller's own device while registered; a refusal (403 revoked, 404) otherwise."""
    me = caller_of(con.principal)

    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any] | DomainError:
        try:
            return device_registry.live_device(rt.casework, code, str(device_id or ""), me)
        except (DeviceNotFoundError, DeviceRevokedError) as refused:
            return refused

    found = await con.read("consultation.record", code, load)
    if isinstance(found, DomainError):
        raise PageError(403 if isinstance(found, DeviceRevokedError) else 404,
                        found.message, found.message_ja, found.code)
    return found


@router.post(PREFIX + "/m/{code}/offline/devices", include_in_schema=False)
@_json_errors
async def register(con: Con, code: str) -> Response:
    body = await _json(con)
    label = str(body.get("label") or "")[:200]
    me = caller_of(con.principal)
    result = await con.command("consultation.record", code, lambda rt, grant: (
        device_registry.register_device(rt.casework, code, owner=me, label=label)))
    if isinstance(result, UserError):
        rule = _rule(result)
        return _problem(400, rule["code"], rule["message"], rule["messageJa"])
    return _answer(con, {"deviceId": result["device_id"], "label": result["label"]})


def _fields(result: UserError) -> list[dict[str, Any]]:
    return [{"field": e.field, "code": e.code, "message": e.message, "messageJa": e.message_ja}
            for e in getattr(result, "field_errors", None) or []]


def _rule(result: UserError) -> dict[str, Any]:
    """A refusal's own code and words: the one rule that refused it, when there is one."""
    fields = _fields(result)
    return fields[0] if len(fields) == 1 else {
        "code": result.code, "message": result.message, "messageJa": result.message_ja}


@router.post(PREFIX + "/m/{code}/offline/key", include_in_schema=False)
@_json_errors
async def release_key(con: Con, code: str) -> Response:
    """The device's wrapping key for this live session (never stored by the device)."""
    body = await _json(con, csrf=False)  # the shell has no token yet: it gets it here
    device = await _live_device(con, code, body.get("deviceId"))
    key = device_registry.wrapping_key(_secret(con), code, device)
    return _answer(con, {"key": base64.b64encode(key).decode(), "csrf": con.session.csrf,
                         "label": device["label"],
                         # The device forgets the key when the session would have ended.
                         "expiresAt": int(con.session.expires * 1000)})


@router.post(PREFIX + "/m/{code}/offline/pack", include_in_schema=False)
@_json_errors
async def take_pack(con: Con, code: str) -> Response:
    """The chosen cases for the device: read (and logged in the access log) like a case page."""
    body = await _json(con)
    await _live_device(con, code, body.get("deviceId"))
    wanted = body.get("caseIds")
    if not isinstance(wanted, list) or not 1 <= len(wanted) <= PACK_MAX:
        return _problem(400, DraftInvalidError.code, DraftInvalidError.message,
                        DraftInvalidError.message_ja)
    ids = [str(uuid.UUID(str(c))) for c in wanted if _is_uuid(c)]

    def load(rt: TenantRuntime, grant: Grant) -> dict[str, Any]:
        from yorisoi.infra.console.routes_cases import site_choices

        names = registry_site_names(con.services.directory.registry, code)
        cases = []
        for case_id in ids:
            try:
                cases.append(pack_case(rt, grant, case_id, names))
            except DomainError:
                continue  # out of reach: left out, like a list leaves it out
        themes = [(t.code, t.label_ja if con.lang == "ja" else (t.label_en or t.code))
                  for t in rt.casework.themes() if not t.retired]
        return {"cases": cases, "themes": themes, "sites": site_choices(con, rt, code)}

    pack = await con.read("consultation.record", code, load)
    return _answer(con, {**pack, "code": code, "channels": i18n.choices("channel", con.lang),
                         "noteKinds": _note_kinds(con.lang), **_visit_words(con.lang)})


def _visit_words(lang: str) -> dict[str, list[tuple[str, str]]]:
    """The visit vocabularies (the domain's Japanese; English from the codes)."""
    from yorisoi.domain import vocabulary as v

    def pairs(found: dict[str, str]) -> list[tuple[str, str]]:
        return [(code, ja if lang == "ja" else code.replace("_", " ").capitalize())
                for code, ja in found.items()]

    return {"visitKinds": pairs(v.VISIT_KINDS), "visitPlaces": pairs(v.VISIT_PLACES),
            "visitOutcomes": pairs(v.VISIT_OUTCOMES),
            "notMetReasons": pairs(v.VISIT_NOT_MET_REASONS),
            "nextSteps": pairs(v.VISIT_NEXT_STEPS)}


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class _Conflict(Exception):
    """Raised inside the draft's command: nothing is written and no key is claimed."""

    def __init__(self, kinds: list[str], current: dict[str, Any] | None,
                 duplicates: int = 0) -> None:
        super().__init__("conflict")
        self.kinds, self.current, self.duplicates = kinds, current, duplicates


@router.post(PREFIX + "/m/{code}/offline/sync", include_in_schema=False)
@_json_errors
async def sync(con: Con, code: str) -> Response:
    """One draft, as the command it stands for, exactly once under its own key."""
    body = await _json(con)
    device = await _live_device(con, code, body.get("deviceId"))
    draft = body.get("draft")
    if not isinstance(draft, dict) or draft.get("kind") not in KINDS:
        return _problem(400, DraftInvalidError.code, DraftInvalidError.message,
                        DraftInvalidError.message_ja)
    key = draft.get("key")
    if not isinstance(key, str):
        return _problem(400, DraftInvalidError.code, DraftInvalidError.message,
                        DraftInvalidError.message_ja)
    try:
        captured = Captured(device_id=device["device_id"], captured_at=captured_at(draft))
        form = as_form(draft)
        draft["base"] = checked_base(draft)
    except DraftInvalidError as error:
        return _problem(400, error.code, error.message, error.message_ja)
    asked = {name: draft.get(name) for name in
             ("kind", "caseId", "base", "fields", "resolution", "capturedAt")}
    try:
        con.ctx.idempotency = keyed_request(con.principal, key, "console offline sync",
                                            json.dumps(asked, sort_keys=True).encode())
    except Exception:  # noqa: BLE001 - HTTPException: a malformed key
        return _problem(400, "idempotency_key_invalid", "The draft's key is malformed.",
                        "下書きのキーの形式が正しくありません。")
    resolution = draft.get("resolution") if isinstance(draft.get("resolution"), dict) else {}
    choice = resolution.get("choice")
    reason = str(resolution.get("reason") or "").strip()
    if choice == "record_anyway" and not reason:
        error = ConflictReasonMissingError(field="reason")
        return _problem(400, error.code, error.message, error.message_ja)
    if len(reason) > con.checker().max_text:
        return _problem(400, "text_too_long", "The reason is too long.",
                        "理由が長すぎます。")
    try:
        result = await _apply(con, code, draft, form, captured, choice, reason)
        if isinstance(result, UserError) and result.code == CaseNotFoundError.code:
            # The case left the person's reach before the command could look (handed over
            # to another contract, or disposed): the same conflict as found inside it.
            raise _Conflict(["out_of_reach"], None)
    except _Conflict as found:
        await con._flush()  # the other side was read: logged like any read
        rule = rule_of(found.kinds, draft)
        return _answer(con, {"status": "conflict", "kinds": found.kinds,
                             "current": found.current, "duplicates": found.duplicates,
                             "choices": choices(found.kinds, draft),
                             "rule": ({"message": rule[0], "messageJa": rule[1]}
                                      if rule else None)}, status=409)
    if isinstance(result, UserError):
        fields = _fields(result)
        # One rule refused it (consent withdrawn, case closed): its own code and words.
        rule = _rule(result)
        if rule["code"] == "idempotency_key_reused":
            return _problem(422, rule["code"], rule["message"], rule["messageJa"])
        return _answer(con, {"status": "refused", "code": rule["code"],
                             "message": rule["message"], "messageJa": rule["messageJa"],
                             "fields": fields, "choices": ["attach", "discard"]}, status=422)
    stamp = await con.read("case.read", code, lambda rt, grant: case_stamp(
        rt, grant, result.case_id))
    return _answer(con, {"status": "applied", "caseId": result.case_id,
                         "recordId": result.record_id,
                         "receptionNumber": result.reception_number, "stamp": stamp})


async def _apply(con: Console, code: str, draft: dict[str, Any], form: FormData,
                 captured: Captured, choice: Any, reason: str) -> Any:
    """Run the draft's command (through ``execute``: same grants, same checks)."""
    from yorisoi.infra.console import dates
    from yorisoi.infra.console.routes_records import (
        _is_consultation_date,
        _precheck,
        consultation_input,
    )
    from yorisoi.services.duplicate_check import find_duplicates, site_namer

    kind = draft["kind"]
    check = con.checker()
    attach = choice == "attach" and _is_uuid(draft.get("caseId"))
    case_id = uuid.UUID(str(draft["caseId"])) if kind != "new_case" and _is_uuid(
        draft.get("caseId")) else None
    if kind != "new_case" and case_id is None:
        raise _Conflict(["out_of_reach"], None)

    def guard(rt: TenantRuntime, grant: Grant) -> None:
        # The case as it is now against the case the draft was captured on: a conflict
        # unless the specialist has already chosen (record anyway, or another case).
        if kind == "new_case" or choice == "record_anyway" or attach:
            return
        kinds, current = conflicts(rt, grant, draft)
        if kinds:
            raise _Conflict(kinds, current)

    def reason_note(rt: TenantRuntime, grant: Grant, on_case: uuid.UUID) -> None:
        # "Record anyway": the reason stays with the case (sealed, like any note).
        if choice == "record_anyway" and kind != "new_case":
            from yorisoi.infra.clock import japan_today

            rt.casework.write_support_note(
                on_case, written_on=japan_today(), kind="progress",
                body=("オフラインで記録した内容を、ケースの変更を確認したうえで記録しました。"
                      f"理由: {reason}"),
                writable_contract_ids=grant.scope.contract_ids)

    if kind == "note":
        written_on = dates.typed_day(check, "writtenOn", str(form.get("writtenOn", "")))
        note_kind = check.text("kind", str(form.get("kind", "")), 20)
        note_body = check.required("body", str(form.get("body", "")))

        def write(rt: TenantRuntime, grant: Grant) -> DraftApplied:
            guard(rt, grant)

            def act() -> DraftApplied:
                note = rt.casework.write_support_note(
                    case_id, written_on=written_on, kind=note_kind, body=note_body,
                    writable_contract_ids=grant.scope.contract_ids)
                reason_note(rt, grant, case_id)
                record = rt.cases.get(grant.scope, str(case_id))
                return DraftApplied(str(case_id), str(note.id),
                                    record.reception_number if record else None)

            return stamped(captured, act)

        return await con.command("case.manage", code, write, check=check, case_id=case_id)

    if kind == "visit_outcome":
        return await _visit_outcome(con, code, draft, form, captured, choice, guard,
                                    reason_note, case_id)

    # A consultation: on the case (consent on file), or opening a new one with its consent.
    items = [(k, v) for k, v in form.multi_items()
             if k not in ("consentBasis", "action", "confirmNewHousehold.reason")]
    if kind == "consultation":
        items.append(("consentBasis", "on_file"))
        record = await con.read("consultation.record", code, lambda rt, grant: rt.cases.get(
            grant.scope, str(case_id)))
        if record is None:
            raise _Conflict(["out_of_reach"], None)
        items = [(k, v) for k, v in items if k != "siteId"] + [("siteId", record.site_id)]
    else:
        items.append(("consentBasis", "consent"))
        if choice == "record_anyway":  # the likely duplicates were seen: register anyway
            items += [("action", "confirm_new"), ("confirmNewHousehold.reason", reason)]
    typed, unreadable = dates.typed_dates(FormData(items), _is_consultation_date)
    _precheck(check, typed, case_id is None, unreadable, con.lang)
    parsed = parse_input(consultation_input(code, typed, str(case_id) if case_id else None),
                         check)
    if check.errors:
        return user_error(InputErrors(check.errors))

    def record_it(rt: TenantRuntime, grant: Grant) -> DraftApplied:
        guard(rt, grant)
        if parsed.household is not None and parsed.household.new_household_reason is None:
            finding = find_duplicates(rt, grant.scope, parsed.household,
                                      site_namer(con.services, grant.municipality_code))
            if finding.any:
                raise _Conflict(["duplicate"], None,
                                len(finding.candidates) + finding.elsewhere)

        def act() -> DraftApplied:
            done = rt.casework.record_consultation(replace(
                parsed, contract_id=grant.contract_id,
                writable_contract_ids=grant.scope.contract_ids))
            reason_note(rt, grant, done.case_id)
            return DraftApplied(str(done.case_id), str(done.consultation_id),
                                done.reception_number)

        return stamped(captured, act)

    return await con.command("consultation.record", code, record_it, check=check,
                             site_id=parsed.site_id)


async def _visit_outcome(con: Console, code: str, draft: dict[str, Any], form: FormData,
                         captured: Captured, choice: Any, guard: Any, reason_note: Any,
                         case_id: uuid.UUID) -> Any:
    """A visit's outcome (done, with an optional consultation; or not met): the visit
    mutations' own edge checks (``graphql/outreach.check_done`` / ``check_not_met``) and
    service commands, under the visit's own contract and site."""
    from yorisoi.graphql.outreach import (
        RecordVisitDoneInput,
        RecordVisitNotMetInput,
        VisitConsultationInput,
        check_done,
        check_not_met,
    )
    from yorisoi.infra.console import dates
    from yorisoi.services import outreach
    from yorisoi.services.context import acting_as

    typed, unreadable = dates.typed_dates(form, lambda name: name in ("on", "followUpOn"))
    check = con.checker()
    for name in unreadable:
        check.bad(name, "Not a date.", "日付として読み取れません。")

    def text(name: str) -> str:
        return str(typed.get(name, "")).strip()

    visit_id = check.record_id("visitId", text("visitId"))
    done = text("result") == "done"
    consultation = None
    if done and text("asked"):
        consultation = VisitConsultationInput(
            themes=[str(t) for t in typed.getlist("themes")], asked=text("asked"),
            wishes=text("wishes"), direction=text("direction"))
    if done:
        outcome, consulted = check_done(check, RecordVisitDoneInput(
            municipality_code=code, visit_id=text("visitId"), done_on=text("on"),
            outcome=text("outcome"), summary=text("summary"), next_step=text("nextStep"),
            follow_up_on=text("followUpOn") or None, consultation=consultation))
    else:
        outcome, consulted = check_not_met(check, RecordVisitNotMetInput(
            municipality_code=code, visit_id=text("visitId"), attempted_on=text("on"),
            reason=text("reason"), next_step=text("nextStep"), note=text("note") or None,
            follow_up_on=text("followUpOn") or None)), None

    def command(rt: TenantRuntime, grant: Grant) -> DraftApplied:
        guard(rt, grant)
        visit = outreach.get_visit(rt.casework, visit_id, grant.scope.contract_ids, case_id)
        with acting_as(grant.acting.at(contract_id=visit.contract_id, site_id=visit.site_id)):
            def act() -> DraftApplied:
                if done:
                    outreach.record_visit_done(
                        rt.casework, visit_id, outcome, consultation=consulted,
                        municipality_code=grant.municipality_code, expected_version=None,
                        writable_contract_ids=grant.scope.contract_ids)
                else:
                    outreach.record_visit_not_met(
                        rt.casework, visit_id, outcome, expected_version=None,
                        writable_contract_ids=grant.scope.contract_ids)
                reason_note(rt, grant, case_id)
                record = rt.cases.get(grant.scope, str(case_id))
                return DraftApplied(str(case_id), str(visit_id),
                                    record.reception_number if record else None)

            return stamped(captured, act)

    action = "consultation.record" if consulted is not None else "case.manage"
    return await con.command(action, code, command, check=check, case_id=case_id)
