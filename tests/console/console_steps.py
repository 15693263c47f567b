"""Steps shared by the console's tests: signing in through the dev issuer's pages, CSRF tokens."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit


def sign_in(client: Any, kind: str, org: str, subject: str, role: str,
            sites: tuple[str, ...] = ()) -> None:
    """The whole round trip: console → dev issuer's page → code → console callback."""
    start = client.get(f"/console/login/start?kind={kind}&org={org}")
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    page = client.get(authorize)
    assert page.status_code == 200, page.text
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    chosen = client.post(urlsplit(authorize).path, data={
        **params, "csrf": csrf_of(page.text), "subject": subject, "role": role,
        "sites": ",".join(sites)})
    assert chosen.status_code == 303, chosen.text
    callback = client.get(chosen.headers["location"])
    assert callback.status_code == 303, callback.text


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def main_text(html: str) -> str:
    """The text of a page's <main> (the whole page when it has none), without tags."""
    main = re.search(r"<main[^>]*>(.*)</main>", html, flags=re.S)
    body = main.group(1) if main else html
    return re.sub(r"<[^>]+>", " ", body)
