"""Console sessions: CSRF on every form, idle and absolute expiry, sign-out, the PKCE round trip."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from console_steps import csrf_of, sign_in
from world import CITY_A, NPO, head, open_case

from yorisoi.infra.console.session import SESSION_COOKIE


def _specialist(client) -> None:  # noqa: ANN001
    sign_in(client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))


def test_a_form_without_its_csrf_token_is_refused_and_nothing_is_written(
        console_world, browser_client) -> None:  # noqa: ANN001
    case_id = open_case(console_world)
    _specialist(browser_client)
    url = f"/console/m/{CITY_A}/cases/{case_id}/notes/new"
    form = browser_client.get(url)
    assert form.status_code == 200
    before = head(console_world)
    note = {"writtenOn": "2026-01-05", "kind": "progress", "body": "電話で様子を確認した"}
    for token in (None, "forged-token"):
        data = note if token is None else {**note, "csrf": token}
        refused = browser_client.post(url, data=data)
        assert refused.status_code == 403
        assert "フォームの有効期限" in refused.text
    assert head(console_world) == before
    accepted = browser_client.post(url, data={**note, "writtenOn": _yesterday(),
                                              "csrf": csrf_of(form.text)})
    assert accepted.status_code == 303, accepted.text
    assert head(console_world) > before


def test_an_idle_session_expires_and_asks_to_sign_in_again(app, browser_client) -> None:  # noqa: ANN001
    _specialist(browser_client)
    assert browser_client.get(f"/console/m/{CITY_A}/tasks").status_code == 200
    state = app.state.console
    now = state.clock()
    state.clock = lambda: now + state.idle_seconds - 5  # still within the idle limit
    assert browser_client.get(f"/console/m/{CITY_A}/tasks").status_code == 200
    # Each answer slides the idle window; a second long pause ends the session.
    state.clock = lambda: now + 2 * state.idle_seconds
    expired = browser_client.get(f"/console/m/{CITY_A}/tasks")
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/console/login?next=")
    assert "expired=1" in expired.headers["location"]
    assert "一定時間操作がなかった" in browser_client.get(expired.headers["location"]).text


def test_a_session_ends_at_its_absolute_limit_however_active(app, browser_client) -> None:  # noqa: ANN001
    _specialist(browser_client)
    state = app.state.console
    start = state.clock()
    step = state.idle_seconds / 2
    t = start
    while t + step < start + state.absolute_seconds:
        t += step
        state.clock = lambda t=t: t
        assert browser_client.get(f"/console/m/{CITY_A}/tasks").status_code == 200
    state.clock = lambda: start + state.absolute_seconds + 1
    assert browser_client.get(f"/console/m/{CITY_A}/tasks").status_code == 303


def test_signing_out_clears_the_cookie_and_revokes_a_copy_of_it(browser_client) -> None:  # noqa: ANN001
    _specialist(browser_client)
    page = browser_client.get(f"/console/m/{CITY_A}/tasks")
    stolen = browser_client.cookies.get(SESSION_COOKIE)
    out = browser_client.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert browser_client.cookies.get(SESSION_COOKIE) is None
    browser_client.cookies.set(SESSION_COOKIE, stolen)
    replay = browser_client.get(f"/console/m/{CITY_A}/tasks")
    assert replay.status_code == 303 and replay.headers["location"].startswith("/console/login")


def test_signing_out_needs_the_csrf_token(browser_client) -> None:  # noqa: ANN001
    _specialist(browser_client)
    assert browser_client.post("/console/logout", data={}).status_code == 403
    assert browser_client.get(f"/console/m/{CITY_A}/tasks").status_code == 200


def test_session_cookie_is_httponly_lax_and_secure_off_loopback(app) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    for base, secure in (("http://127.0.0.1", False), ("https://console.example.jp", True)):
        with TestClient(app, base_url=base, follow_redirects=False) as client:
            sign_in(client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
            page = client.get(f"/console/m/{CITY_A}/tasks")
            cookie = page.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=lax" in cookie
            assert ("secure" in cookie.split(";")[-1] or "; secure" in cookie) is secure


def test_the_code_needs_its_verifier_and_works_once(browser_client) -> None:  # noqa: ANN001
    start = browser_client.get(f"/console/login/start?kind=contractor&org={NPO}")
    authorize = start.headers["location"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    page = browser_client.get(authorize)
    chosen = browser_client.post(urlsplit(authorize).path, data={
        **params, "csrf": csrf_of(page.text), "user": "demo-specialist"})
    code = parse_qs(urlsplit(chosen.headers["location"]).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": params["redirect_uri"], "client_id": params["client_id"],
                "code_verifier": "x" * 64}
    refused = browser_client.post("/dev-idp/token", data=exchange)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    # The refused attempt spent the code: the console's own callback fails too.
    callback = browser_client.get(chosen.headers["location"])
    assert callback.status_code == 400
    assert "サインインを完了できませんでした" in callback.text
    assert browser_client.cookies.get(SESSION_COOKIE) is None


def test_a_callback_with_another_state_is_refused(browser_client) -> None:  # noqa: ANN001
    browser_client.get(f"/console/login/start?kind=contractor&org={NPO}")
    forged = browser_client.get("/console/callback?code=abc&state=not-mine")
    assert forged.status_code == 400
    assert browser_client.cookies.get(SESSION_COOKIE) is None


def test_the_dev_issuer_sends_codes_only_back_to_this_console(browser_client) -> None:  # noqa: ANN001
    start = browser_client.get(f"/console/login/start?kind=contractor&org={NPO}")
    authorize = start.headers["location"].replace(
        "redirect_uri=http%3A%2F%2F127.0.0.1%2Fconsole%2Fcallback",
        "redirect_uri=https%3A%2F%2Fevil.example%2Fconsole%2Fcallback")
    assert authorize != start.headers["location"]
    assert browser_client.get(authorize).status_code == 400


def test_an_unknown_organisation_cannot_start_a_sign_in(browser_client) -> None:  # noqa: ANN001
    refused = browser_client.get("/console/login/start?kind=municipality&org=999999")
    assert refused.status_code == 400
    assert "サインイン先が登録されていません" in refused.text


def test_pages_need_a_session(browser_client) -> None:  # noqa: ANN001
    answer = browser_client.get(f"/console/m/{CITY_A}/cases")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/login?next=/console/m/{CITY_A}/cases"


def _yesterday() -> str:
    from datetime import timedelta

    from yorisoi.infra.clock import japan_today

    return (japan_today() - timedelta(days=1)).isoformat()
