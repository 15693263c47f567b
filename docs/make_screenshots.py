"""Screenshots of the staff console's main pages, for docs/console.md.

Runs the embedded default (SQLite, local files, the development issuer) with the
demo data in a fresh temporary folder, serves it with uvicorn on a free loopback
port and drives Debian's Chromium with Playwright:

    .venv/bin/python docs/make_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright

from yorisoi.infra.demo import CONTRACTOR, MUNICIPALITY, load_demo
from yorisoi.infra.http.app import create_app
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import Services, init_platform

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 860}


def _serve(data_dir: Path) -> tuple[str, uvicorn.Server]:
    settings = Settings(backend="sqlite", data_dir=data_dir, environment="development")
    init_platform(settings)
    services = Services(settings)
    load_demo(services)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, services), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def _sign_in(browser, base: str, org: str, *, user: str | None = None,  # noqa: ANN001
             subject: str = "", role: str = "") -> Page:
    page = browser.new_context(viewport=VIEWPORT, locale="ja-JP",
                               timezone_id="Asia/Tokyo").new_page()
    page.goto(f"{base}/console/login/start?kind="
              f"{'contractor' if org == CONTRACTOR else 'municipality'}&org={org}")
    if user is not None:
        page.get_by_role("button", name=f"（{user}）").click()
    else:
        page.get_by_label("利用者ID").fill(subject)
        page.get_by_label("役割", exact=True).select_option(role)
        page.get_by_role("button", name="この利用者でサインイン").click()
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "screenshots")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir, sync_playwright() as playwright:
        base, server = _serve(Path(data_dir))
        browser = playwright.chromium.launch(executable_path=CHROMIUM)

        def shot(page: Page, name: str) -> None:
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(out / f"{name}.png")

        login = browser.new_context(viewport=VIEWPORT).new_page()
        login.goto(f"{base}/console/login")
        shot(login, "01-sign-in")
        login.goto(f"{base}/console/login/start?kind=contractor&org={CONTRACTOR}")
        shot(login, "02-dev-issuer")

        m = f"{base}/console/m/{MUNICIPALITY}"
        # The specialist (a contractor's): tasks, cases, a case, a form's errors, a meeting,
        # a referral, and the same referral in English.
        page = _sign_in(browser, base, CONTRACTOR, user="demo-specialist")
        shot(page, "03-my-tasks")
        page.goto(f"{m}/cases")
        shot(page, "04-cases")
        page.locator("table a").last.click()
        shot(page, "05-case")
        case_url = page.url
        page.goto(f"{m}/cases/new")
        page.get_by_role("button", name="保存する").click()
        shot(page, "06-form-errors")
        page.goto(case_url)
        page.locator("#meetings-h ~ ul a").first.click()
        shot(page, "07-case-meeting")
        page.goto(f"{m}/cases")
        page.locator("table a").first.click()
        page.locator("#referrals-h ~ ul a").first.click()
        shot(page, "08-referral")
        page.get_by_role("link", name="English").click()
        shot(page, "09-referral-english")

        # Each other role's main page.
        roles = [
            ("demo-supervisor", MUNICIPALITY, [("10-supervisor-oversight", "/oversight")]),
            ("demo-complaint-intake", CONTRACTOR, [("11-complaints-board", "/complaints")]),
            ("demo-complaint-resolver", CONTRACTOR, [("12-complaint-resolver", "/complaints")]),
            ("demo-admin", MUNICIPALITY, [("13-administrator", "/admin"),
                                          ("14-records", "/records"),
                                          ("15-data-subject-requests", "/dsr")]),
            ("demo-auditor", MUNICIPALITY, [("16-audit", "/audit"),
                                            ("17-audit-chain", "/audit/chain")]),
        ]
        for user, org, pages in roles:
            page = _sign_in(browser, base, org, user=user)
            for name, path in pages:
                page.goto(m + path)
                shot(page, name)
        # A complaint as its resolution officer works on it, opened from the board.
        page = _sign_in(browser, base, CONTRACTOR, user="demo-complaint-resolver")
        page.goto(f"{m}/complaints")
        page.locator("main a[href*='/complaints/']").first.click()
        shot(page, "18-complaint")
        browser.close()
        server.should_exit = True


if __name__ == "__main__":
    main()
