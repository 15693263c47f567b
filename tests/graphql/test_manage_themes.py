"""themes, addTheme and retireTheme end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from world import CITY_A, CITY_B, NPO, consultation_input, gql, head, run

from yorisoi.domain.vocabulary import STANDARD_THEMES

THEMES = """
query($code: String) { themes(municipalityCode: $code) { code labelJa labelEn standard retired } }
"""
RESULT = """
  __typename
  ... on ThemesChanged { themes { code labelJa labelEn standard retired } }
  ... on UserError { code message messageJa }
  ... on ValidationError { fieldErrors { field code messageJa } }
"""
ADD = "mutation($input: AddThemeInput!) { addTheme(input: $input) {" + RESULT + "} }"
RETIRE = "mutation($input: RetireThemeInput!) { retireTheme(input: $input) {" + RESULT + "} }"
RECORD = """
mutation($input: RecordConsultationInput!) {
  recordConsultation(input: $input) {
    __typename
    ... on ValidationError { fieldErrors { field code } }
  }
}
"""


def admin(world: Any, code: str = CITY_A) -> dict[str, str]:
    return world.headers("municipality", code, subject="admin-1", roles=("municipal_admin",))


def supervisor(world: Any) -> dict[str, str]:
    return world.headers("municipality", CITY_A, roles=("municipal_supervisor",))


def npo(world: Any, roles: tuple[str, ...] = ("specialist",)) -> dict[str, str]:
    return world.headers("contractor", NPO, roles=roles, sites=("a-hiroba",))


def add(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    fields = {"code": "twins", "labelJa": "多胎児の育児", "labelEn": "Raising twins"}
    return run(client, ADD, headers, **{**fields, **overrides})


def themes(client: Any, headers: dict[str, str], code: str | None = None) -> list[dict]:
    body = gql(client, THEMES, {"code": code}, headers)
    assert "errors" not in body, body
    return body["data"]["themes"]


def refused(result: dict[str, Any], code: str, field: str) -> None:
    assert result["__typename"] == "ValidationError", result
    assert [(e["code"], e["field"]) for e in result["fieldErrors"]] == [(code, field)], result
    assert all(e["messageJa"] for e in result["fieldErrors"])


# --------------------------------------------------------------------------- scenarios


def test_a_new_municipality_sees_the_standard_themes_in_both_languages(client, world):
    listed = themes(client, supervisor(world))
    assert [t["code"] for t in listed] == list(STANDARD_THEMES)
    assert all(t["standard"] and not t["retired"] and t["labelJa"] and t["labelEn"]
               for t in listed)
    # A contractor reads the list of a municipality it works for (it must name it).
    assert [t["code"] for t in themes(client, npo(world), CITY_A)] == list(STANDARD_THEMES)


def test_admin_adds_and_retires_a_theme_that_stays_listed_as_retired(client, world):
    added = add(client, admin(world))
    assert added["__typename"] == "ThemesChanged", added
    assert added["themes"][-1] == {"code": "twins", "labelJa": "多胎児の育児",
                                   "labelEn": "Raising twins", "standard": False,
                                   "retired": False}
    retired = run(client, RETIRE, supervisor(world), code="twins")
    assert retired["__typename"] == "ThemesChanged", retired
    assert retired["themes"][-1]["retired"] is True
    assert themes(client, npo(world), CITY_A)[-1] == retired["themes"][-1]
    # Another municipality's list is its own.
    assert "twins" not in [t["code"] for t in themes(client, admin(world, CITY_B))]


def test_a_retired_theme_is_refused_for_a_new_consultation(client, world):
    add(client, admin(world))
    run(client, RETIRE, admin(world), code="twins")
    before = head(world)
    body = gql(client, RECORD, {"input": consultation_input(themes=["daily_worries", "twins"])},
               npo(world))
    assert "errors" not in body, body
    result = body["data"]["recordConsultation"]
    assert result["__typename"] == "ValidationError", result
    assert result["fieldErrors"] == [{"field": "themes.1", "code": "consultation_theme_unknown"}]
    assert head(world) == before


def test_invalid_changes_to_the_taxonomy_are_refused_and_nothing_is_written(client, world):
    assert add(client, admin(world))["__typename"] == "ThemesChanged"
    before = head(world)
    refused(add(client, admin(world)), "theme_already_exists", "code")
    refused(add(client, admin(world), code="development"), "theme_already_exists", "code")
    refused(add(client, admin(world), code="Twins-2"), "theme_code_invalid", "code")
    refused(add(client, admin(world), code="triplets", labelJa=" "), "invalid_input", "labelJa")
    refused(add(client, admin(world), code="triplets", labelJa="あ" * 51), "invalid_input",
            "labelJa")
    refused(run(client, RETIRE, admin(world), code="dv"), "theme_standard", "code")
    refused(run(client, RETIRE, admin(world), code="triplets"), "theme_unknown", "code")
    assert head(world) == before


def test_only_the_municipalitys_admins_and_supervisors_change_the_taxonomy(client, world):
    before = head(world)
    for headers, code in (
        (world.headers("municipality", CITY_A, roles=("specialist",)), "role_not_permitted"),
        (npo(world), "role_not_permitted"),
        # A contractor's own issuer may put any role in its tokens: still not the municipality.
        (npo(world, roles=("municipal_admin",)), "role_not_permitted"),
        (admin(world, CITY_B), "municipality_not_permitted"),
    ):
        result = add(client, headers)
        assert result["__typename"] == "NotAuthorizedError", result
        assert result["code"] == code and result["messageJa"]
    assert head(world) == before
    assert [t["code"] for t in themes(client, admin(world))] == list(STANDARD_THEMES)
