"""Signing in (authorization code + PKCE), signing out, the language switch and the home page."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yorisoi.infra.console import i18n
from yorisoi.infra.console.oidc import (
    SignInError,
    client_secret_for,
    dev_issuer_for,
    new_verifier,
    provider_for,
)
from yorisoi.infra.console.oidc import challenge_of as pkce_challenge
from yorisoi.infra.console.session import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ConsoleState,
    clear,
    secure_cookies,
)
from yorisoi.infra.console.web import (
    PREFIX,
    Console,
    console,
    local_path,
    render,
    request_lang,
)
from yorisoi.infra.identity import AuthenticationError
from yorisoi.infra.wiring.bootstrap import Services

router = APIRouter(prefix=PREFIX)
Con = Annotated[Console, Depends(console)]


def _login_page(request: Request, *, error: str | None = None, status: int = 200,
                next_path: str | None = None, expired: bool = False) -> HTMLResponse:
    services: Services = request.app.state.services
    lang = request_lang(request)
    shortcuts = []
    if services.dev_issuer is not None:
        # Development only: the registered municipalities, one click away.
        shortcuts = [("municipality", m.tenant_id, m.name)
                     for m in services.directory.registry.municipalities()]
        from yorisoi.infra.demo import CONTRACTOR

        demo = services.directory.registry.tenant(CONTRACTOR)
        if demo is not None:
            shortcuts.append(("contractor", demo.tenant_id, demo.name))
    body = render("login.html", lang, con=None, error=error and i18n.text(f"signin.{error}", lang),
                  shortcuts=shortcuts, next_path=local_path(next_path), expired=expired)
    response = HTMLResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login", response_class=HTMLResponse)
async def login(request: Request, next: str | None = None, expired: bool = False) -> HTMLResponse:
    return _login_page(request, next_path=next, expired=expired)


@router.get("/login/start")
async def login_start(request: Request, kind: str = "municipality", org: str = "",
                      issuer: str = "", next: str | None = None) -> HTMLResponse:
    """Send the browser to the organisation's issuer, with state, nonce and a PKCE challenge."""
    services: Services = request.app.state.services
    state: ConsoleState = request.app.state.console
    issuer = issuer or dev_issuer_for(services, kind, org.strip()) or ""
    try:
        if not issuer:
            raise SignInError("organisation_unknown")
        provider = await provider_for(services, issuer, str(request.base_url))
    except SignInError as error:
        return _login_page(request, error=error.code, status=400, next_path=next)
    verifier, flow_state, nonce = new_verifier(), secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    redirect_uri = str(request.url_for("console_callback"))
    response = RedirectResponse(provider.authorize_url(
        redirect_uri=redirect_uri, state=flow_state, nonce=nonce,
        challenge=pkce_challenge(verifier)), status_code=303)
    state.write_login(request, response, {"issuer": issuer, "state": flow_state, "nonce": nonce,
                                           "verifier": verifier, "next": local_path(next)})
    return response


@router.get("/callback", name="console_callback")
async def callback(request: Request, code: str = "", state: str = "",
                   error: str = "", iss: str | None = None) -> Response:
    """Redeem the code, verify the token as the API does, and start the session."""
    services: Services = request.app.state.services
    console_state: ConsoleState = request.app.state.console
    flow = console_state.login_flow(request)
    try:
        if error:
            raise SignInError("cancelled")
        if flow is None or not state or not secrets.compare_digest(state, flow["state"]):
            raise SignInError("state_mismatch")
        # RFC 9207: an issuer that names itself in the response must be the one we sent
        # the browser to (a code from another issuer — a mix-up — is not redeemed).
        if iss is not None and iss != flow["issuer"]:
            raise SignInError("state_mismatch")
        provider = await provider_for(services, flow["issuer"], str(request.base_url))
        tokens = await provider.redeem(
            request.app, code=code, verifier=flow["verifier"],
            redirect_uri=str(request.url_for("console_callback")),
            client_secret=client_secret_for(services.settings, flow["issuer"]))
        try:
            verified = await asyncio.to_thread(services.verifier.verify, tokens["id_token"])
        except AuthenticationError:
            raise SignInError("token_refused") from None
        nonce = verified.claims.get("nonce")
        if verified.issuer != flow["issuer"] or not isinstance(nonce, str) or \
                not secrets.compare_digest(nonce, flow["nonce"]):
            raise SignInError("token_refused")
    except SignInError as failure:
        response = _login_page(request, error=failure.code, status=400)
        clear(response, LOGIN_COOKIE)
        return response
    # The ID token is the credential the session keeps: it is the token verified above,
    # for this console (aud = our client id).  An issuer's access token is for the
    # issuer's own resources — opaque, or for another audience (a real provider's
    # is), so it would not verify on the next page.
    session = console_state.start(tokens["id_token"], verified.expires_at.timestamp())
    response = RedirectResponse(flow["next"], status_code=303)
    console_state.write(request, response, session)
    clear(response, LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(con: Con) -> RedirectResponse:
    await con.form()  # the CSRF check: nobody signs another person out
    # In every process of the deployment (the platform database), not only this one.
    await asyncio.to_thread(con.state.revoke, con.session, con.request)
    # Then at the issuer too, when it offers it: otherwise the next "sign in" would
    # pass straight through the issuer's still-open session (a shared office PC).
    target = f"{PREFIX}/login"
    try:
        provider = await provider_for(con.services, con.token.issuer, str(con.request.base_url))
        target = provider.logout_url(post_logout_redirect_uri=str(
            con.request.url_for("login"))) or target
    except SignInError:
        pass  # the issuer is gone or unreachable: our own sign-out stands
    response = RedirectResponse(target, status_code=303)
    clear(response, SESSION_COOKIE)
    return response


@router.get("/lang")
async def switch_language(request: Request, to: str = "ja",
                          next: str | None = None) -> RedirectResponse:
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(LANG_COOKIE, to if to in i18n.LANGS else "ja", max_age=365 * 86400,
                        path="/", httponly=True, samesite="lax",
                        secure=secure_cookies(request))
    return response


@router.get("/")
async def home(con: Con) -> RedirectResponse:
    """Each role's first page: tasks, oversight, complaints or the audit trail."""
    codes = con.municipality_codes()
    if not codes:
        return con.page("home.html", codes=[])  # type: ignore[return-value]
    if len(codes) > 1:
        return con.page("home.html", codes=codes)  # type: ignore[return-value]
    code = codes[0]
    if con.has("specialist", "site_manager"):
        return con.redirect(f"{PREFIX}/m/{code}/tasks")
    if con.has("municipal_supervisor", "municipal_admin"):
        return con.redirect(f"{PREFIX}/m/{code}/oversight")
    if con.has("compliance_auditor"):
        return con.redirect(f"{PREFIX}/m/{code}/audit")
    if con.has("complaint_intake_officer", "complaint_resolution_officer",
               "complaint_third_party_member"):
        return con.redirect(f"{PREFIX}/m/{code}/complaints")
    return con.redirect(f"{PREFIX}/m/{code}/cases")
