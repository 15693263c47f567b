"""GraphQL: the same figures for municipalities and contractors (their own contracts only),
issueReport through the one command path (exactly once with a key), reports and their changes."""

from __future__ import annotations

from datetime import timedelta

from world import CITY_A, NPO, consultation_command, gql, supervisor

from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

FIGURES = """query($code: String!, $fy: Int!) { reportFigures(municipalityCode: $code,
  fiscalYear: $fy) { fiscalYearLabel formVersion tables { id headers rows } } }"""
ISSUE = """mutation($input: IssueReportInput!) { issueReport(input: $input) {
  __typename ... on ReportIssued { report { id position fiscalYearLabel ownContractsOnly
  csvSha256 issuedBy } } ... on UserError { code messageJa } } }"""
REPORTS = """query($code: String!) { reports(municipalityCode: $code) { id ownContractsOnly } }"""
CHANGES = """query($code: String!, $id: ID!) { reportChanges(municipalityCode: $code,
  reportId: $id) { table row column issued today } }"""


def _fy() -> int:
    today = japan_today()
    return today.year if today.month >= 4 else today.year - 1


def _record(world, site_id: str, contract_id: str | None) -> None:
    staff = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, contract_id=contract_id, site_id=site_id)
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        rt.casework.record_consultation(consultation_command(
            site_id=site_id, contract_id=contract_id,
            occurred_on=japan_today() - timedelta(days=1)))
        rt.catch_up()


def _total(figures: dict, table: str) -> list[str]:
    (found,) = [t for t in figures["tables"] if t["id"] == table]
    return found["rows"][-1]


def test_contractors_see_their_own_figures_and_issue_exactly_once(world, client) -> None:
    _record(world, "a-hiroba", "contract-a-npo")  # the NPO's contracted site
    _record(world, "a-counter", None)  # run by the municipality itself
    fy = _fy()
    boss = supervisor(world)
    admin = world.headers("contractor", NPO, subject="npo-admin", roles=("contractor_admin",))

    whole = gql(client, FIGURES, {"code": CITY_A, "fy": fy}, boss)
    assert "errors" not in whole, whole
    figures = whole["data"]["reportFigures"]
    assert figures["fiscalYearLabel"].startswith("令和") and _total(figures, "monthly")[1] == "2"
    operation = {r[0]: r[1] for t in figures["tables"] if t["id"] == "operation"
                 for r in t["rows"]}
    assert operation == {"直営": "1", "委託": "1", "合計": "2"}

    own = gql(client, FIGURES, {"code": CITY_A, "fy": fy}, admin)["data"]["reportFigures"]
    assert _total(own, "monthly")[1] == "1"
    assert [r[0] for t in own["tables"] if t["id"] == "sites" for r in t["rows"]] == [
        "ひろば", "合計"]  # by name; the municipality's own counter is not there

    specialist = world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                               sites=("a-hiroba",))
    refused = gql(client, FIGURES, {"code": CITY_A, "fy": fy}, specialist)
    assert refused["errors"][0]["extensions"]["code"] == "role_not_permitted"

    keyed = {**admin, "Idempotency-Key": "issue-npo-report-1"}
    variables = {"input": {"municipalityCode": CITY_A, "fiscalYear": fy}}
    first = gql(client, ISSUE, variables, keyed)["data"]["issueReport"]
    again = gql(client, ISSUE, variables, keyed)["data"]["issueReport"]
    assert first["__typename"] == "ReportIssued", first
    assert again == first  # the same answer, nothing issued twice
    assert first["report"]["ownContractsOnly"] and first["report"]["fiscalYearLabel"].endswith("年度")

    issued_by_boss = gql(client, ISSUE, variables, boss)["data"]["issueReport"]
    assert issued_by_boss["__typename"] == "ReportIssued"
    listed = gql(client, REPORTS, {"code": CITY_A}, admin)["data"]["reports"]
    assert [r["id"] for r in listed] == [first["report"]["id"]]  # not the municipality's
    assert len(gql(client, REPORTS, {"code": CITY_A}, boss)["data"]["reports"]) == 2

    hidden = gql(client, CHANGES, {"code": CITY_A, "id": issued_by_boss["report"]["id"]}, admin)
    assert hidden["errors"][0]["extensions"]["code"] == "issued_report_not_found"
    _record(world, "a-hiroba", "contract-a-npo")
    changes = gql(client, CHANGES, {"code": CITY_A, "id": first["report"]["id"]},
                  admin)["data"]["reportChanges"]
    assert {"table": "月別の実施状況", "row": "合計", "column": "相談件数（延べ）",
            "issued": "1", "today": "2"} in changes

    bad = gql(client, ISSUE, {"input": {"municipalityCode": CITY_A, "fiscalYear": 1899,
                                        "form": "nonexistent"}}, boss)["data"]["issueReport"]
    assert bad["__typename"] == "ValidationError"


def test_a_consultation_typed_with_an_old_date_is_still_counted(world, client) -> None:  # noqa: ANN001
    """Years before 2000 are reportable (平成11年度): a record typed so is never lost."""
    from datetime import date

    from yorisoi.services.casework import NewHousehold
    from yorisoi.services.consent import NewConsent

    base = consultation_command()
    staff = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, contract_id=None, site_id="a-counter")
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        rt.casework.record_consultation(consultation_command(
            site_id="a-counter", contract_id=None, occurred_on=date(1999, 6, 1),
            household=NewHousehold(guardians=base.household.guardians, children=[],
                                   pregnancy=None, outside_target_reason="祖母からの相談"),
            consent=NewConsent(given_by="架空 花子", relationship="母",
                               given_on=date(1999, 6, 1), scope="相談記録の作成")))
        rt.catch_up()
    body = gql(client, FIGURES, {"code": CITY_A, "fy": 1999}, supervisor(world))
    figures = body["data"]["reportFigures"]
    assert figures["fiscalYearLabel"] == "平成11年度"
    assert _total(figures, "monthly")[1] == "1"
