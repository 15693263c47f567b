"""The console's request plumbing: who is signed in, rendering, and running reads and commands.

Reads and commands go through the API's own path: ``YorisoiContext.authorize``
(``tenants/access.authorize``, which also admits the request's personal-data
reader), the same query classes and service commands, ``graphql/commands.execute``
for mutations, and ``graphql/errors.user_error`` for the messages.  Every read of
personal data is logged to the access log with the channel ``console``.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext, keyed_request
from yorisoi.graphql.errors import UserError, user_error
from yorisoi.graphql.validation import Checker
from yorisoi.infra.console import dates, i18n, vocabulary
from yorisoi.infra.console.session import (
    LANG_COOKIE,
    ConsoleState,
    Session,
    csrf_matches,
)
from yorisoi.infra.identity import AuthenticationError, VerifiedToken
from yorisoi.infra.telemetry import client_request_id
from yorisoi.infra.wiring.bootstrap import Services
from yorisoi.projections.case_queries import CursorInvalidError
from yorisoi.services.idempotency import IdempotencyKeyInvalidError
from yorisoi.services.personal_access import PersonalAccess, is_masked, reading_as
from yorisoi.tenants.access import Action, Grant, Principal
from yorisoi.tenants.reading import write_access_log
from yorisoi.tenants.runtime import TenantRuntime

T = TypeVar("T")
TEMPLATES = Path(__file__).parent / "templates"
PREFIX = "/console"
SAVED_COOKIE = "yorisoi_console_saved"


class PageError(Exception):
    """A page that cannot be shown: rendered as an error page with this status."""

    def __init__(self, status: int, message: str, message_ja: str, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.message_ja = message_ja


class SignInRequired(Exception):
    """No live session: ``reason`` is "missing" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def page_error(error: UserError) -> PageError:
    """The page for an API error: 403 refused, 404 absent (alike for out of reach), 400 else."""
    status = {"NotAuthorizedError": 403, "NotFoundError": 404}.get(type(error).__name__, 400)
    return PageError(status, error.message, error.message_ja, error.code)


@dataclass
class FormErrors:
    """A refused form: messages per field (shown next to it) and the rest (shown on top)."""

    fields: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    # The fields' names as the form labels them: the summary says which field each is.
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, error: UserError, lang: str, known: set[str] | None = None) -> FormErrors:
        result = cls()
        details = getattr(error, "field_errors", None) or []
        if not details:
            result.summary.append(i18n.message(error, lang))
        for item in details:
            name = _FIELD_ALIASES.get(item.field, item.field)
            if known is None or name in known:
                result.fields.setdefault(name, i18n.message(item, lang))
            else:
                result.summary.append(i18n.message(item, lang))
        return result

    def __bool__(self) -> bool:
        return bool(self.fields or self.summary)

    def named(self, labels: Mapping[str, str]) -> FormErrors:
        """The same errors, the summary naming each field by its label."""
        self.labels.update(labels)
        return self


# Domain errors name a few fields differently from the inputs the forms send.
_FIELD_ALIASES = {"household.pregnancy.dueDate": "household.pregnancyDueDate"}


# --------------------------------------------------------------------------- rendering


def field_id(name: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _label_of(body: str, element_id: str) -> str | None:
    """The text of the label (or fieldset legend) of ``element_id`` in a rendered page."""
    found = re.search(rf'<label for="{re.escape(element_id)}">(.*?)(?:<span class="req">|</label>)',
                      body, flags=re.DOTALL) or re.search(
        rf'<fieldset[^>]*id="{re.escape(element_id)}"[^>]*>\s*<legend>(.*?)'
        r'(?:<span class="req">|</legend>)', body, flags=re.DOTALL)
    if not found:
        return None
    text = re.sub(r"<[^>]+>", "", found.group(1)).strip()
    return html.unescape(text) or None


def _personal(value: Any, lang: str) -> str:
    if is_masked(value):
        return i18n.text("personal.masked", lang)
    if value is None or value == "":
        return "—"
    return str(value)


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_env.globals.update(field_id=field_id, is_masked=is_masked, quote=quote,
                    form_key=lambda: secrets.token_urlsafe(18))


def render(template: str, lang: str, **values: Any) -> str:
    return _env.get_template(template).render(
        lang=lang, t=lambda key, **kw: i18n.text(key, lang, **kw),
        # The forms' newer words (``vocabulary.SCREEN``): say('form.saved').
        say=lambda key, **kw: vocabulary.text(key, lang, **kw),
        event_name=lambda name: vocabulary.event_name(name, lang),
        record_kind=lambda kind: vocabulary.record_kind(kind, lang),
        label=lambda kind, code: i18n.label(kind, code, lang),
        day=lambda v: dates.show_date(v, lang), moment=lambda v: dates.show_moment(v, lang),
        personal=lambda v: _personal(v, lang), prefix=PREFIX, **values)


def request_lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE)
    return lang if lang in i18n.LANGS else "ja"


def unavailable_page(request: Request, message: str, message_ja: str) -> HTMLResponse:
    """503 while a dependency is down: the error page without the navigation (which
    reads the registry) and without the person's session touched; the caller adds
    Retry-After.  The words are the outage's own, never the exception's."""
    lang = request_lang(request)
    error = PageError(503, message, message_ja, "service_unavailable")
    body = render("error.html", lang, con=None, error=error, code=None,
                  title=i18n.text("error.title.503", lang), csrf="",
                  request_path=request.url.path, message=message_ja if lang == "ja" else message)
    return HTMLResponse(body, status_code=503)


_MUNICIPALITY_PATH = re.compile(re.escape(PREFIX) + r"/m/([0-9]{6})(?:/|$)")


def error_response(request: Request, error: PageError, console: Console | None = None,
                   ) -> HTMLResponse:
    """The error page, with the navigation when the person is signed in (the request's
    Console, kept by the ``console`` dependency, when the handler had one)."""
    console = console or getattr(request.state, "console", None)
    lang = console.lang if console else request_lang(request)
    found = _MUNICIPALITY_PATH.match(request.url.path)
    code = found.group(1) if found else None
    if code is None and console is not None:
        try:  # an address outside a municipality: the person's own (when one) for the menu
            codes = console.municipality_codes()
            code = codes[0] if len(codes) == 1 else None
        except Exception:  # noqa: BLE001 - the error page must render whatever the registry says
            code = None
    key = f"error.title.{error.status}"
    title = (i18n.text(key, lang) if key in i18n.catalogue() else
             vocabulary.text(key, lang) if key in vocabulary.SCREEN else
             i18n.text("error.title.400", lang))
    body = render("error.html", lang, con=console, error=error, code=code, title=title,
                  csrf=console.session.csrf if console else "",
                  request_path=request.url.path,
                  message=error.message_ja if lang == "ja" else error.message)
    response = HTMLResponse(body, status_code=error.status)
    if console is not None:
        console.keep(response)
    return response


# --------------------------------------------------------------------------- the signed-in person


@dataclass
class Console:
    """One request of a signed-in person."""

    request: Request
    services: Services
    state: ConsoleState
    session: Session
    token: VerifiedToken
    principal: Principal
    ctx: YorisoiContext
    lang: str

    @property
    def roles(self) -> set[str]:
        return set(self.principal.roles)

    @property
    def label(self) -> str:
        """Who is signed in, as the header says it: the token's name for them, else their
        organisation's name — never the sign-in subject."""
        if self.token.org_name:
            return self.token.org_name
        try:
            tenant = self.services.directory.registry.tenant(self.principal.tenant_id)
        except Exception:  # noqa: BLE001 - a header must render whatever the registry says
            tenant = None
        if tenant is not None and getattr(tenant, "name", None):
            return str(tenant.name)
        return "職員" if self.lang == "ja" else "Staff member"

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def municipality_codes(self) -> list[str]:
        """The municipalities this person works in: their own, or their contracts' (active)."""
        if self.principal.tenant_kind == "municipality":
            return [self.principal.tenant_id]
        from yorisoi.infra.clock import japan_today

        today = japan_today()
        contracts = self.services.directory.registry.contracts(
            contractor_id=self.principal.tenant_id)
        return sorted({c.municipality_code for c in contracts if c.is_active_on(today)})

    def checker(self) -> Checker:
        return Checker(self.services.settings.max_text_length)

    # -- responses -----------------------------------------------------------------

    def keep(self, response: HTMLResponse | RedirectResponse) -> None:
        """Slide the idle expiry: every answer carries the refreshed session cookie."""
        self.state.write(self.request, response, self.session)

    def page(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        url = self.request.url
        here = url.path + (f"?{url.query}" if url.query else "")
        just_saved = self.request.cookies.get(SAVED_COOKIE) == "1" and status == 200
        values.setdefault("just_saved", just_saved)
        values.setdefault("text_limit", self.services.settings.max_text_length)
        body = render(template, self.lang, con=self, csrf=self.session.csrf,
                      request_path=here, **values)
        errors = values.get("errors")
        if isinstance(errors, FormErrors) and any(n not in errors.labels for n in errors.fields):
            # The error summary names each field as the form labels it: the labels are
            # read from the form as rendered, then the page is rendered once more.
            errors.named({name: label for name in errors.fields
                          if name not in errors.labels
                          and (label := _label_of(body, field_id(name)))})
            body = render(template, self.lang, con=self, csrf=self.session.csrf,
                          request_path=here, **values)
        response = HTMLResponse(body, status_code=status)
        if just_saved:  # said once
            response.delete_cookie(SAVED_COOKIE, path=PREFIX)
        response.headers["Cache-Control"] = "no-store"  # pages carry personal data
        self.keep(response)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        self.keep(response)
        return response

    def saved(self, url: str) -> RedirectResponse:
        """After a save: the next page says 「保存しました」 (a one-shot cookie holding only
        "1": the address stays as it was, nothing personal anywhere)."""
        response = self.redirect(url)
        response.set_cookie(SAVED_COOKIE, "1", max_age=120, path=PREFIX, httponly=True,
                            samesite="lax", secure=self.request.url.scheme == "https")
        return response

    async def form(self) -> FormData:
        """The posted form, after its CSRF token is checked against the session's."""
        form = await self.request.form()
        if not csrf_matches(self.session, form.get("csrf")):
            raise PageError(403, "The form has expired or did not come from this console. "
                                 "Go back, reload the page and try again.",
                            "フォームの有効期限が切れたか、この画面から送信されていません。"
                            "前の画面に戻り、再読み込みしてからもう一度お試しください。",
                            "csrf_failed")
        once = form.get("once")
        if isinstance(once, str) and once:
            # The form's one-time key: a second submission of this very form answers
            # the first one's result instead of writing again.
            try:
                self.ctx.idempotency = keyed_request(
                    self.principal, once, "console " + self.request.url.path,
                    _form_digest(form))
            except HTTPException:
                raise PageError(400, IdempotencyKeyInvalidError.message,
                                IdempotencyKeyInvalidError.message_ja,
                                IdempotencyKeyInvalidError.code) from None
        return form

    # -- reads and commands ------------------------------------------------------------

    async def read(self, action: Action, code: str,
                   fn: Callable[[TenantRuntime, Grant], T], *, site_id: str | None = None) -> T:
        """``fn(runtime, grant)`` after authorization; refusals become error pages."""

        def run() -> T:
            grant = self.ctx.authorize(action, code, site_id=site_id)
            with self.services.runtimes.lease(grant.municipality_code) as rt:
                return fn(rt, grant)

        try:
            return await self._logged(run)
        except PageError:
            raise
        except CursorInvalidError as exc:  # a page address edited by hand: start again
            raise PageError(400, exc.message, exc.message_ja, exc.code) from None
        except Exception as exc:  # noqa: BLE001 - user_error re-raises the unexpected
            raise page_error(user_error(exc)) from None

    async def may(self, action: Action, code: str) -> bool:
        """Whether the person may take ``action`` here (to offer a form or a link)."""
        try:
            await self.read(action, code, lambda rt, grant: None)
        except PageError:
            return False
        return True

    async def command(self, action: Action, code: str,
                      command: Callable[[TenantRuntime, Grant], T], *,
                      check: Checker | None = None, case_id: uuid.UUID | None = None,
                      site_id: str | None = None) -> T | UserError:
        """A mutation through the API's own ``execute`` (same order, same typed errors)."""
        info = SimpleNamespace(context=self.ctx)  # execute reads nothing but the context
        with reading_as(self.ctx.personal_access):
            result = await execute(info, action, code, command, check=check,  # type: ignore[arg-type]
                                   case_id=case_id, site_id=site_id)
        await self._flush()
        return result

    async def _logged(self, run: Callable[[], T]) -> T:
        with reading_as(self.ctx.personal_access):
            try:
                return await asyncio.to_thread(run)
            finally:
                await self._flush()

    async def _flush(self) -> None:
        # A read that cannot be logged is not shown: a failure here fails the page.
        access = self.ctx.personal_access
        if access.pending():
            await asyncio.to_thread(write_access_log, self.services, access)


async def console(request: Request) -> Console:
    """FastAPI dependency: the signed-in person, or SignInRequired."""
    services: Services = request.app.state.services
    state: ConsoleState = request.app.state.console
    session, why = state.current(request)
    if session is None:
        raise SignInRequired(why or "missing")
    try:
        token = await asyncio.to_thread(services.verifier.verify, session.token)
    except AuthenticationError:
        raise SignInRequired("expired") from None
    principal = Principal.from_token(token)
    ctx = YorisoiContext(services, principal,
                         client_request_id(request.headers.get("x-request-id")))
    ctx.request = request
    ctx.personal_access = PersonalAccess("console")
    con = Console(request, services, state, session, token, principal, ctx,
                  request_lang(request))
    request.state.console = con  # an error page of this request keeps the navigation
    return con


async def not_found(request: Request) -> HTMLResponse:
    """Any other address under the console: the styled 404 (navigation kept when signed in)."""
    try:
        con: Console | None = await console(request)
    except SignInRequired:
        con = None
    return error_response(request, PageError(404, "There is no such page.",
                                             "このページは見つかりません。", "not_found"), con)


def _form_digest(form: FormData) -> bytes:
    """What a form asked, as bytes to digest: its fields in order (a file by name and size)."""
    fields = [(k, v if isinstance(v, str) else f"{getattr(v, 'filename', '')}:{getattr(v, 'size', '')}")
              for k, v in form.multi_items() if k not in ("csrf", "once")]
    return json.dumps(sorted(fields), ensure_ascii=False).encode("utf-8", "surrogatepass")


def local_path(value: str | None, default: str = PREFIX + "/") -> str:
    """A redirect target inside the console only (no open redirects)."""
    if (value and value.startswith(PREFIX + "/") and not value.startswith("//")
            and "\\" not in value and "\n" not in value and "\r" not in value):
        return value
    return default


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The submitted text values (to fill the form again after an error)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}


# Registered after every other console route and the static files: any other address
# under /console answers the styled 404 page, never the API's JSON.
fallback_router = APIRouter()


@fallback_router.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST", "HEAD"],
                           include_in_schema=False)
async def unknown_page(request: Request, rest: str) -> HTMLResponse:
    return await not_found(request)
