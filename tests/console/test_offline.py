"""Works without the internet: no page the app serves loads anything from another host.

Municipal networks (LGWAN) often have no internet: GraphiQL, Swagger UI, the
console and its sign-in pages must load every script, stylesheet, image and
font from this server.  The test walks every page reachable by GET from the
console's navigation for several roles, plus GraphiQL and /docs, and the
stylesheets and scripts those pages load.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

from console_steps import sign_in
from world import CITY_A, NPO

HOST = "127.0.0.1"
# Attributes through which a page makes the browser fetch (or send to) an address.
_ADDRESSES = re.compile(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']([^"']*)["']""",
                        re.IGNORECASE)
_CSS_URLS = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)|@import\s+["']([^"']+)["']""")
_NEVER_FOLLOW = ("logout", "sign-out", "signout")


def _external(address: str) -> bool:
    address = address.strip()
    if address.startswith(("data:", "#", "mailto:", "tel:", "javascript:")) or not address:
        return False
    parts = urlsplit(urljoin(f"http://{HOST}/", address))
    return parts.hostname not in (HOST, "testserver", None)


def _assert_local(url: str, text: str) -> list[str]:
    """The addresses the page refers to (all on this server); fails on any other host."""
    addresses = [m.group(1) for m in _ADDRESSES.finditer(text)]
    addresses += [a or b for a, b in _CSS_URLS.findall(text)]
    external = sorted({a for a in addresses if _external(a)})
    assert not external, f"{url} refers to other hosts: {external}"
    return addresses


def _crawl(client, start: list[str], limit: int = 120) -> set[str]:  # noqa: ANN001
    """GET every same-host page and asset reachable from ``start``; returns the URLs seen."""
    queue, seen = deque(start), set(start)
    while queue and len(seen) <= limit:
        url = queue.popleft()
        response = client.get(url)
        if response.status_code in (301, 302, 303, 307, 308):
            nxt = urljoin(url, response.headers["location"])
            if not _external(nxt) and nxt not in seen and not any(
                    w in nxt for w in _NEVER_FOLLOW):
                seen.add(nxt)
                queue.append(nxt)
            continue
        kind = response.headers.get("content-type", "")
        if not kind.startswith(("text/html", "text/css")):
            continue
        for address in _assert_local(url, response.text):
            target = urljoin(url, address.strip()).split("#")[0]
            path = urlsplit(target).path
            follow = (not _external(address) and target not in seen
                      and not any(w in target for w in _NEVER_FOLLOW)
                      and (path.startswith(("/console", "/static")) or path == "/docs"))
            if follow:
                seen.add(target)
                queue.append(target)
    return seen


def test_the_address_of_the_server_leads_to_the_console(browser_client) -> None:  # noqa: ANN001
    response = browser_client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console"


def test_graphiql_and_swagger_ui_load_their_files_from_this_server(  # noqa: ANN201
        browser_client) -> None:  # noqa: ANN001
    ide = browser_client.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200 and "graphiql" in ide.text.lower()
    docs = browser_client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text.lower()
    for url, page in (("/graphql", ide.text), ("/docs", docs.text)):
        scripts = [a for a in _assert_local(url, page) if a.startswith("/static/")]
        assert scripts, f"{url} loads nothing from /static/"
        for address in scripts:
            served = browser_client.get(address)
            assert served.status_code == 200, address
            assert len(served.content) > 500, address  # the real build, not a stub
    # The validator badge would call the public validator service.
    assert '"validatorUrl": null' in docs.text


def test_vendored_files_are_the_official_builds_with_their_licences() -> None:
    import base64
    import hashlib
    from pathlib import Path

    from strawberry.http.ides import get_graphql_ide_html

    from yorisoi.infra.http.offline_assets import _GRAPHIQL_FILES, STATIC

    # strawberry's page pins each CDN file by its SHA-384: the vendored copies match them.
    page = get_graphql_ide_html("graphiql")
    for cdn, local in _GRAPHIQL_FILES.items():
        pinned = re.search(re.escape(cdn) + r'"\s*integrity="(sha384-[^"]+)"', page)
        assert pinned, cdn
        digest = hashlib.sha384((STATIC / "graphiql" / local).read_bytes()).digest()
        assert "sha384-" + base64.b64encode(digest).decode() == pinned.group(1), local
    licences = {p.name for p in Path(STATIC).rglob("*") if "LICENSE" in p.name}
    assert {"LICENSE.react", "LICENSE.react-dom", "LICENSE.graphiql", "LICENSE.js-cookie",
            "LICENSE.plugin-explorer", "LICENSE"} <= licences


def test_no_page_of_the_console_refers_to_another_host(browser_client) -> None:  # noqa: ANN001
    # Signed out: the sign-in pages and the development issuer's pages.
    seen = _crawl(browser_client, ["/", "/console", "/graphql", "/docs"])
    assert any(u.startswith("/static/graphiql/") for u in seen)
    for kind, org, subject, role, sites in (
            ("contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",)),
            ("municipality", CITY_A, "city-supervisor", "municipal_supervisor", ()),
            ("municipality", CITY_A, "city-admin", "municipal_admin", ()),
            ("municipality", CITY_A, "city-auditor", "compliance_auditor", ())):
        browser_client.cookies.clear()
        sign_in(browser_client, kind, org, subject, role, sites)
        pages = _crawl(browser_client, ["/console"])
        assert len(pages) > 3, (role, pages)


def test_the_consoles_own_scripts_and_stylesheets_name_no_other_host() -> None:
    from pathlib import Path

    static = Path(__file__).parents[2] / "infra" / "console" / "static"
    files = sorted(p for p in static.iterdir() if p.suffix in (".js", ".css"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        found = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[/\w.-]*", text)
        assert not [f for f in found if "w3.org" not in f], (path.name, found)
