"""GraphiQL and Swagger UI without the internet: their scripts served from the repository.

strawberry's GraphiQL page and FastAPI's Swagger UI page load React, GraphiQL
and swagger-ui from public CDNs, so on a network without the internet (LGWAN)
they stay blank.  The official npm builds are vendored under ``infra/http/static/``
(versions, licences and integrity hashes in its README.md) and served at
``/static/``; the GraphiQL page is strawberry's own, with each CDN address
replaced by the local file, its ``integrity`` attribute kept (the files are
byte-identical to what the CDN serves, so the browser still checks them).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

STATIC = Path(__file__).parent / "static"
PREFIX = "/static"

# The package paths strawberry's page loads (from a public CDN) -> the vendored file
# (infra/http/static/graphiql/). Only the path is named here: whatever host the page names
# is replaced, so nothing in this project points a browser at the internet.
_GRAPHIQL_FILES = {
    "react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}


class VendoredAssetsOutdatedError(RuntimeError):
    """strawberry's GraphiQL page names a CDN file that is not vendored (after an upgrade)."""


@lru_cache(maxsize=1)
def graphiql_html() -> str:
    """strawberry's GraphiQL page, loading every script and stylesheet from ``/static/``."""
    html = get_graphql_ide_html("graphiql")
    for path, local in _GRAPHIQL_FILES.items():
        html, found = re.subn(r'https://[^"\'\s/]+/' + re.escape(path),
                              f"{PREFIX}/graphiql/{local}", html)
        if not found:
            raise VendoredAssetsOutdatedError(
                f"strawberry's GraphiQL page no longer loads {path}: vendor the files it "
                "loads now under infra/http/static/graphiql/ (see its README.md)")
    if "https://" in html.replace('xmlns=%22http://www.w3.org/2000/svg%22', ""):
        raise VendoredAssetsOutdatedError(
            "strawberry's GraphiQL page loads a file from another host: vendor it")
    # Same origin now: no CORS request for the scripts.
    return html.replace("      crossorigin\n", "")


def mount_offline_assets(app: FastAPI, *, docs: bool) -> None:
    """Serve the vendored files, and Swagger UI at ``/docs`` from them (when ``docs``)."""
    app.mount(PREFIX, StaticFiles(directory=STATIC), name="static")
    if not docs:
        return

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="Yorisoi — REST API",
            swagger_js_url=f"{PREFIX}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/swagger-ui/favicon-32x32.png",
            # No call to the public validator service (validator.swagger.io).
            swagger_ui_parameters={"validatorUrl": None})
