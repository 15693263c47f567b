"""Fixtures of the console's tests: a provisioned world behind a TestClient, signing in
through the development issuer's pages (authorization code + PKCE), and for the
browser tests a uvicorn server on a free loopback port with Debian's Chromium.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The steps shared by this folder's test modules (conftest.py is not importable by name).
sys.path.insert(0, str(Path(__file__).parent))

import a11y  # noqa: E402 - from this folder, on the path just above

CHROMIUM = "/usr/bin/chromium"


# --------------------------------------------------------------------------- TestClient


@pytest.fixture
def console_world(sqlite_settings):  # noqa: ANN001, ANN201
    from world import build_world

    built = build_world(sqlite_settings)
    yield built
    built.services.close()


@pytest.fixture
def app(console_world):  # noqa: ANN001, ANN201
    from yorisoi.infra.http.app import create_app

    return create_app(console_world.services.settings, console_world.services)


@pytest.fixture
def browser_client(app):  # noqa: ANN001, ANN201
    """A TestClient that behaves like a browser on the loopback address (cookies, no redirects)."""
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        yield client


# --------------------------------------------------------------------------- a live server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveConsole:
    url: str
    world: Any


@pytest.fixture(scope="module")
def live_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """The app under uvicorn on a free loopback port: SQLite, the dev issuer, a fresh data dir."""
    import uvicorn
    from world import build_world

    from yorisoi.infra.http.app import create_app
    from yorisoi.infra.settings import Settings

    settings = Settings(backend="sqlite", data_dir=tmp_path_factory.mktemp("console"),
                        environment="test")
    world = build_world(settings)
    _register_health_centre(world)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(world.services.settings, world.services),
                                           host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start", pytrace=False)
        time.sleep(0.05)
    try:
        yield LiveConsole(f"http://127.0.0.1:{port}", world)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        world.services.close()


def _register_health_centre(world: Any) -> None:
    """An agency in CITY_A's directory (an on-system one: no packet link)."""
    from world import CITY_A

    from yorisoi.services.context import ActingContext, acting_as

    staff = ActingContext(user_id="seed", role="municipal_supervisor",
                          organisation_kind="municipality", organisation_id=CITY_A)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        rt.casework.register_agency(municipality_code=CITY_A, name="千代田区 保健センター",
                                    kind="health_center", on_system=True, contact_email=None,
                                    confidentiality_basis="public_servant")
        rt.catch_up()


# --------------------------------------------------------------------------- Chromium


def _chromium_missing_reason() -> str | None:
    if os.path.exists(CHROMIUM):
        return None
    return (f"{CHROMIUM} is missing: install Debian's chromium package (make test does it "
            "when run as root). The console's browser tests did NOT run.")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""
    reason = _chromium_missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            # Every page the journeys visit is checked with axe-core (a11y.py).
            yield a11y.instrument(browser)
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _accessible(request: pytest.FixtureRequest) -> Iterator[None]:
    """A browser test fails when a page it visited breaks a WCAG 2.1 A/AA rule (axe-core)."""
    yield
    if "chromium" not in request.fixturenames:
        return
    browser = request.getfixturevalue("chromium")
    browser.check_open_contexts()
    found = browser.violations.take()
    if found:
        pytest.fail("accessibility (axe-core, WCAG 2.1 A/AA):\n" + a11y.describe(found),
                    pytrace=False)

