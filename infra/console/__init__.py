"""The staff console: server-rendered pages in Japanese (English available) under /console.

``mount_console(app, settings)`` is the one line ``infra/http/app.py`` needs: it adds the
console's routes, its static files, its error pages and, when the development
issuer is on, that issuer's sign-in page and token endpoint (``/dev-idp/...``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from yorisoi.infra.console import (
    dev_idp,
    routes_admin_directory,
    routes_admin_grants,
    routes_admin_sites,
    routes_admin_staff,
    routes_audit,
    routes_auth,
    routes_cases,
    routes_complaints,
    routes_dsr,
    routes_meetings,
    routes_offline,
    routes_oversight,
    routes_records,
    routes_records_admin,
    routes_referrals,
    routes_visits,
)
from yorisoi.infra.console.session import ConsoleState
from yorisoi.infra.console.web import (
    PREFIX,
    PageError,
    SignInRequired,
    error_response,
    fallback_router,
)
from yorisoi.infra.settings import Settings

STATIC = Path(__file__).parent / "static"


def mount_console(app: FastAPI, settings: Settings) -> None:
    """Add the console (and the development issuer's browser face) to ``app``."""
    app.state.console = ConsoleState.from_keys_dir(settings.keys_dir)
    # The new-case form's route must come before the case page's "/cases/{case_id}".
    for module in (routes_auth, routes_records, routes_cases, routes_referrals,
                   routes_meetings, routes_oversight, routes_audit, routes_records_admin,
                   routes_dsr, routes_admin_staff, routes_admin_grants, routes_admin_sites,
                   routes_admin_directory, routes_complaints, routes_offline, routes_visits):
        app.include_router(module.router, include_in_schema=False)
    if settings.dev_issuer:
        app.include_router(dev_idp.router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(fallback_router)  # last: any other /console address is a 404 page

    @app.exception_handler(PageError)
    async def page_error(request: Request, error: PageError) -> HTMLResponse:
        return error_response(request, error)

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, error: SignInRequired) -> RedirectResponse:
        back = request.url.path if request.method == "GET" else PREFIX + "/"
        expired = "&expired=1" if error.reason == "expired" else ""
        return RedirectResponse(f"{PREFIX}/login?next={quote(back, safe='/')}{expired}",
                                status_code=303)
