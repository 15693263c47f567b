"""The development issuer's sign-in page refuses a subject the token check would refuse later."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from console_steps import csrf_of
from world import NPO


def test_a_subject_with_spaces_or_kanji_is_refused_on_the_sign_in_page(browser_client) -> None:  # noqa: ANN001
    start = browser_client.get(f"/console/login/start?kind=contractor&org={NPO}")
    authorize = start.headers["location"]
    page = browser_client.get(authorize)
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    for subject in ("山田 花子", "ｆｕｌｌｗｉｄｔｈ", ""):
        refused = browser_client.post(urlsplit(authorize).path, data={
            **params, "csrf": csrf_of(page.text), "subject": subject, "role": "specialist",
            "sites": "a-hiroba"})
        assert refused.status_code == 400, subject
    accepted = browser_client.post(urlsplit(authorize).path, data={
        **params, "csrf": csrf_of(page.text), "subject": "npo-staff-9", "role": "specialist",
        "sites": "a-hiroba"})
    assert accepted.status_code == 303
