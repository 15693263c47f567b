"""The development issuer's browser face: discovery, a sign-in page listing the demo users, tokens.

Served only when the development issuer is on (never in production).  The
sign-in page lists ``infra/demo.DEMO_USERS`` of the organisation by role, and
offers any other development user (a subject, a role, sites) for tests and
trials.  It redirects only back to this app's own console callback.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from yorisoi.domain.access_grants import ROLES
from yorisoi.infra.console.session import secure_cookies
from yorisoi.infra.console.web import PREFIX, render, request_lang
from yorisoi.infra.demo import DEMO_USERS
from yorisoi.infra.dev_issuer import AuthorizationCodeError, DevIssuer
from yorisoi.infra.identity import valid_subject

router = APIRouter(prefix="/dev-idp", include_in_schema=False)
CSRF_COOKIE = "yorisoi_devidp_csrf"
MAX_FIELD = 200


def _issuer(request: Request) -> DevIssuer | None:
    return request.app.state.services.dev_issuer


def _refuse(request: Request, status: int = 400) -> HTMLResponse:
    lang = request_lang(request)
    body = render("dev_idp_error.html", lang, con=None)
    return HTMLResponse(body, status_code=status)


def _valid_request(request: Request, kind: str, tenant_id: str, params: dict[str, str]) -> bool:
    issuer = _issuer(request)
    if issuer is None:
        return False
    try:
        issuer.issuer_for(kind, tenant_id)  # type: ignore[arg-type]
    except ValueError:
        return False
    target = urlsplit(params.get("redirect_uri", ""))
    here = urlsplit(str(request.base_url))
    return (params.get("response_type") == "code"
            and params.get("code_challenge_method") == "S256"
            and 43 <= len(params.get("code_challenge", "")) <= 128
            and bool(params.get("client_id")) and bool(params.get("state"))
            # Only back to this app's console: a development issuer is no open redirector.
            and (target.scheme, target.netloc) == (here.scheme, here.netloc)
            and target.path == f"{PREFIX}/callback")


_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "nonce", "code_challenge",
           "code_challenge_method")


@router.get("/{kind}/{tenant_id}/.well-known/openid-configuration")
def discovery(request: Request, kind: str, tenant_id: str) -> Response:
    issuer = _issuer(request)
    try:
        assert issuer is not None
        return JSONResponse(issuer.openid_configuration(kind, tenant_id,  # type: ignore[arg-type]
                                                        endpoint_base=str(request.base_url)))
    except (AssertionError, ValueError):
        return JSONResponse({"error": "not_found"}, status_code=404)


@router.get("/{kind}/{tenant_id}/authorize", response_class=HTMLResponse)
def sign_in_page(request: Request, kind: str, tenant_id: str) -> HTMLResponse:
    params = {name: request.query_params.get(name, "") for name in _PARAMS}
    if not _valid_request(request, kind, tenant_id, params):
        return _refuse(request)
    users = [u for u in DEMO_USERS if (u.tenant_kind, u.tenant_id) == (kind, tenant_id)]
    roles = [(name, spec.label_ja) for name, spec in ROLES.items() if kind in spec.kinds]
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    body = render("dev_idp_signin.html", request_lang(request), con=None, users=users,
                  roles=roles, params=params, kind=kind, tenant_id=tenant_id, csrf=token)
    response = HTMLResponse(body)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(CSRF_COOKIE, token, path="/dev-idp", httponly=True, samesite="strict",
                        secure=secure_cookies(request))
    return response


@router.post("/{kind}/{tenant_id}/authorize")
async def choose_user(request: Request, kind: str, tenant_id: str) -> Response:
    """Issue a code for the chosen user and send the browser back to the console."""
    form = await request.form()
    params = {name: str(form.get(name, "")) for name in _PARAMS}
    cookie, submitted = request.cookies.get(CSRF_COOKIE), form.get("csrf")
    if not (cookie and isinstance(submitted, str) and secrets.compare_digest(cookie, submitted)):
        return _refuse(request, 403)
    if not _valid_request(request, kind, tenant_id, params):
        return _refuse(request)
    chosen = str(form.get("user", ""))
    demo = next((u for u in DEMO_USERS if u.subject == chosen
                 and (u.tenant_kind, u.tenant_id) == (kind, tenant_id)), None)
    if demo is not None:
        subject, roles, sites, org_name = demo.subject, demo.roles, demo.sites, demo.label
    else:
        subject = str(form.get("subject", "")).strip()[:MAX_FIELD]
        role = str(form.get("role", ""))
        sites = tuple(s.strip() for s in str(form.get("sites", "")).split(",") if s.strip())
        # A subject the token check would refuse later (non-ASCII, spaces) is refused here.
        if not valid_subject(subject) or role not in ROLES:
            return _refuse(request)
        roles, org_name = (role,), str(form.get("display_name", "")).strip()[:MAX_FIELD] or None
    issuer = _issuer(request)
    assert issuer is not None
    code = issuer.issue_code(kind, tenant_id, subject, roles=roles, sites=sites,  # type: ignore[arg-type]
                             org_name=org_name, client_id=params["client_id"],
                             redirect_uri=params["redirect_uri"],
                             code_challenge=params["code_challenge"],
                             nonce=params["nonce"] or None)
    query = urlencode({"code": code, "state": params["state"]})
    return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=303)


@router.post("/token")
def token(request: Request, grant_type: Annotated[str, Form()] = "",
          code: Annotated[str, Form()] = "", redirect_uri: Annotated[str, Form()] = "",
          client_id: Annotated[str, Form()] = "",
          code_verifier: Annotated[str, Form()] = "") -> JSONResponse:
    """RFC 6749 §4.1.3 with RFC 7636: the code and its verifier for the tokens."""
    issuer = _issuer(request)
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if issuer is None:
        return JSONResponse({"error": "invalid_request"}, status_code=404, headers=headers)
    if grant_type != "authorization_code":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400,
                            headers=headers)
    try:
        body: dict[str, Any] = issuer.redeem_code(code, client_id=client_id,
                                                  redirect_uri=redirect_uri,
                                                  code_verifier=code_verifier)
    except AuthorizationCodeError as error:
        return JSONResponse({"error": error.error, "error_description": error.description},
                            status_code=400, headers=headers)
    return JSONResponse(body, headers=headers)
