"""Addresses edited by hand (a cursor, a year, a number) answer a page, never a 5xx."""

from __future__ import annotations

import pytest
from console_steps import sign_in
from world import CITY_A, NPO

ODD = ("garbage%00x", "-1", "9" * 40, "%E5%B1%B1")


@pytest.mark.parametrize(("kind", "org", "role", "paths"), [
    ("contractor", NPO, "specialist", ("cases", "tasks")),
    ("municipality", CITY_A, "municipal_supervisor",
     ("cases", "oversight", "statistics", "complaints", "records", "dsr")),
    ("municipality", CITY_A, "municipal_admin", ("admin/staff", "records/holds", "dsr")),
    ("municipality", CITY_A, "compliance_auditor", ("audit", "audit/people", "audit/disposals")),
])
def test_odd_query_values_never_answer_a_server_error(console_world, browser_client, kind,  # noqa: ANN001
                                                      org, role, paths) -> None:
    sites = ("a-hiroba",) if role == "specialist" else ()
    sign_in(browser_client, kind, org, f"odd-{role}", role, sites)
    for path in paths:
        for value in ODD:
            for name in ("after", "fy", "page"):
                response = browser_client.get(f"/console/m/{CITY_A}/{path}?{name}={value}")
                assert response.status_code < 500, (path, name, value, response.status_code)
