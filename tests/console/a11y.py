"""Accessibility checks (axe-core) on every page the browser journeys visit.

axe-core (Deque, MPL-2.0) is vendored under ``vendor/axe-core/`` — the npm
package's ``axe.min.js`` byte for byte, with its licences — and injected from
that file: no CDN, no network.

``instrument(browser)`` hands the tests a browser whose contexts check pages
two ways:

1. every document that loads runs axe on its own (an init script) and reports
   through a binding — this catches pages that answer a POST (a form shown
   again with its errors);
2. when a context is closed (or the test ends), every GET page it loaded that
   step 1 did not get to finish is opened again in that context — same
   session — and checked, so a fast journey cannot outrun the check.

The checks are WCAG 2.x A and AA rules (labels, landmarks, names, contrast…);
``Violations.take()`` hands a test what was found during it (conftest.py fails
the test on any).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# The pages this project renders (the console and the development issuer's sign-in).
OURS = ("/console", "/dev-idp")
# Addresses that are steps of a flow, not pages to look at again (one-time codes, sign-out).
_NOT_REVISITED = ("/callback", "/login/start", "/logout", "/dev-idp/", "/lang", "/agency-packets/",
                  "/disclosures/", "/files/", ".json")

_RUNNER = """
(() => {
  if (window.top !== window) return;  // frames are checked with their page
  if (!location.protocol.startsWith('http')) return;  // about:blank
  const run = () => axe.run(document, {runOnly: {type: 'tag', values: %(tags)s},
                                       resultTypes: ['violations']})
    .then(r => window.__yorisoiAxe({url: location.href, violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))}))
    .catch(() => {});
  if (document.readyState === 'complete') run();
  else window.addEventListener('load', run, {once: true});
})();
"""


@dataclass
class Violations:
    """What axe found, by page address (path and query), and which pages it checked."""

    found: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, result: dict[str, Any]) -> None:
        where = _address(result["url"])
        if not where.startswith(OURS):  # GraphiQL and Swagger UI are not our templates
            return
        with self.lock:
            self.checked.add(where)
            if result["violations"]:
                self.found[where] = result["violations"]

    def take(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            found, self.found = self.found, {}
            return found


def _address(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def describe(found: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for where, violations in sorted(found.items()):
        for v in violations:
            lines.append(f"{where}: [{v['impact']}] {v['id']} — {v['help']} at "
                         f"{', '.join(v['nodes'])}")
    return "\n".join(lines)


class _Context:
    """A browser context whose pages are checked (delegates everything else)."""

    def __init__(self, context: Any, violations: Violations) -> None:
        self._context = context
        self._violations = violations
        self._loaded: list[str] = []
        self._closed = False
        context.add_init_script(script=AXE.read_text(encoding="utf-8"))
        context.add_init_script(script=_RUNNER % {"tags": TAGS})
        context.expose_binding("__yorisoiAxe", lambda source, result: violations.report(result))
        context.on("page", self._watch)
        # Tests close contexts through their pages (page.context.close()): check first.
        self._close = context.close
        context.close = self.close

    def _watch(self, page: Any) -> None:
        page.on("load", lambda p: self._loaded.append(p.url))

    def new_page(self, *args: Any, **kwargs: Any) -> Any:
        return self._context.new_page(*args, **kwargs)

    def check_unfinished(self) -> None:
        """Open again (GET, same session) each loaded page whose check did not finish."""
        if self._closed:
            return
        pending = []
        for url in dict.fromkeys(self._loaded):
            where = _address(url)
            if where in self._violations.checked or any(s in url for s in _NOT_REVISITED):
                continue
            if not urlsplit(url).path.startswith("/console"):
                continue
            pending.append(url)
        if not pending:
            return
        page = self._context.new_page()
        try:
            for url in pending:
                try:
                    response = page.goto(url, wait_until="load")
                except PlaywrightError:  # a download, or an address that answers no page
                    continue
                if response is None or "text/html" not in response.headers.get(
                        "content-type", "text/html"):
                    continue
                result = page.evaluate(
                    "opts => axe.run(document, opts).then(r => r.violations.map(v => ({"
                    "id: v.id, impact: v.impact, help: v.help,"
                    "nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))",
                    {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]})
                self._violations.report({"url": page.url, "violations": result})
        finally:
            page.close()

    def close(self, *args: Any, **kwargs: Any) -> None:
        if not self._closed:
            self.check_unfinished()
            self._closed = True
        self._close(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class _Browser:
    """The browser the tests get: its new contexts check their pages."""

    def __init__(self, browser: Any, violations: Violations) -> None:
        self._browser = browser
        self.violations = violations
        self.contexts: list[_Context] = []

    def new_context(self, *args: Any, **kwargs: Any) -> Any:
        context = _Context(self._browser.new_context(*args, **kwargs), self.violations)
        self.contexts.append(context)
        return context

    def new_page(self, *args: Any, **kwargs: Any) -> Any:
        return self.new_context(*args, **kwargs).new_page()

    def check_open_contexts(self) -> None:
        for context in self.contexts:
            context.check_unfinished()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


def instrument(browser: Any) -> _Browser:
    return _Browser(browser, Violations())
