"""In the browser, with every other host unreachable (LGWAN): GraphiQL, Swagger UI, the console
and a print view work, and the print view lays out on A4 without the screen's controls.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import Any

from test_browser import sign_in
from world import CITY_A

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

WAIT = 60_000  # ms: a loaded machine is slow, never wrong


def _offline(context: Any, base: str) -> list[str]:
    """Requests to any host but this server fail, as on a network without the internet."""
    blocked: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    return blocked


def test_graphiql_and_swagger_ui_work_without_the_internet(  # noqa: ANN201
        live_console, chromium) -> None:  # noqa: ANN001
    context = chromium.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    blocked = _offline(context, live_console.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{live_console.url}/graphql")
    page.wait_for_selector(".graphiql-container .graphiql-query-editor", timeout=WAIT)
    page.wait_for_selector(".graphiql-execute-button", timeout=WAIT)

    page.goto(f"{live_console.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=WAIT)
    assert "Yorisoi" in page.locator(".swagger-ui .info .title").inner_text()

    page.goto(f"{live_console.url}/")
    assert "/console/login" in page.url  # / leads to the console (and its sign-in)
    assert blocked == [], blocked
    assert errors == [], errors
    context.close()


def _pdf_text(pdf: bytes) -> str:
    """The PDF's text, each page's A4 size checked (595 x 842 points)."""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == (595, 842), (width, height)
    # NFKC: the CJK fonts' radical forms (⼦, ⽇) read as the ideographs; spacing dropped.
    text = unicodedata.normalize("NFKC", "".join(page.extract_text() for page in reader.pages))
    return "".join(text.split())


def _case(world: Any) -> str:
    staff = ActingContext(user_id="a-offline", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, site_id="a-counter")
    on = japan_today() - timedelta(days=1)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        done = rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-counter", contract_id=None, occurred_on=on,
            channel="phone", themes=["childcare_place"], asked="保育園の空きを知りたい",
            wishes="4月から入園したい", direction="保育課の窓口を案内",
            household=NewHousehold(guardians=[Guardian("紙 花子", "母")],
                                   children=[Child("紙 たろう", date(2024, 4, 2))],
                                   pregnancy=None),
            consent=NewConsent("紙 花子", "母", on, "相談記録の作成")))
        rt.catch_up()
    return str(done.case_id)


def test_a_case_record_prints_on_a4_without_the_screens_controls(  # noqa: ANN201
        live_console, chromium) -> None:  # noqa: ANN001
    case_id = _case(live_console.world)
    page = sign_in(chromium, live_console.url, "市町村", CITY_A, "a-offline", "specialist",
                   "a-counter")
    blocked = _offline(page.context, live_console.url)
    page.goto(f"{live_console.url}/console/m/{CITY_A}/cases/{case_id}/print")
    assert page.get_by_role("heading", level=1).inner_text() == "相談記録票"
    assert page.get_by_role("button", name="印刷する").is_visible()
    assert "紙 花子" in page.locator("main").inner_text()
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="印刷する").is_visible()
    assert "紙 花子" in page.locator("main").inner_text()
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    text = _pdf_text(pdf)
    for words in ("相談記録票", "紙花子", "保育園の空きを知りたい", "令和8年", "個人情報を含みます"):
        assert words in text, (words, text[:300])
    assert "印刷する" not in text  # the screen's controls are not printed
    assert blocked == [], blocked
    page.context.close()
