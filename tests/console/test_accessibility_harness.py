"""The accessibility harness itself: it finds what it should, from the vendored axe-core.

The browser journeys pass only if every page they visit passes axe-core; this
makes sure that passing means something — a page with an unlabelled field,
low-contrast text and no landmark is caught, both when it loads and when a
journey moves on before the check finished.
"""

from __future__ import annotations

import hashlib

import a11y

BAD = """<!doctype html><html lang="ja"><head><title>悪い例</title></head><body>
<div><p style="color:#bbb;background:#fff">うすい文字</p>
<form><input type="text" name="q"><button type="submit"></button></form></div></body></html>"""
GOOD = """<!doctype html><html lang="ja"><head><title>良い例</title></head><body>
<main><h1>良い例</h1><form><label for="q">検索語</label><input id="q" name="q">
<button type="submit">探す</button></form></main></body></html>"""


def _serve(context, pages: dict[str, str]) -> None:  # noqa: ANN001
    def fulfil(route) -> None:  # noqa: ANN001
        path = route.request.url.split("a11y.test", 1)[1]
        route.fulfill(status=200, content_type="text/html; charset=utf-8",
                      body=pages.get(path.split("?")[0], GOOD))

    context.route("http://a11y.test/**", fulfil)


def test_axe_is_the_vendored_official_build() -> None:
    source = a11y.AXE.read_bytes()
    assert source.startswith(b"/*! axe v4.14.1")
    # axe.min.js of the npm package axe-core@4.14.1, byte for byte (vendor/axe-core/README.md).
    assert hashlib.sha256(source).hexdigest() == (
        "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c")
    assert (a11y.AXE.parent / "LICENSE").read_text().startswith("Mozilla Public License")


def test_a_page_breaking_the_rules_is_reported_and_a_good_one_is_not(  # noqa: ANN201
        chromium) -> None:  # noqa: ANN001
    context = chromium.new_context()
    _serve(context, {"/console/bad": BAD, "/console/good": GOOD})
    page = context.new_page()
    page.goto("http://a11y.test/console/good")
    page.goto("http://a11y.test/console/bad")  # may move on before the first check ends
    context.close()  # pages whose check did not finish are checked again here
    found = chromium.violations.take()
    assert "/console/good" not in found
    rules = {v["id"] for v in found["/console/bad"]}
    assert {"label", "color-contrast", "button-name"} <= rules, rules
    assert "/console/bad" in a11y.describe({"/console/bad": found["/console/bad"]})
