"""Statistics survive disposal: counts by month, site, channel, theme and agency kind.

Two families are recorded through the casework application; one is disposed
of (its key destroyed and every view's purge run, as the disposal run does);
the counts keep their values — and again after the statistics projection is
rebuilt from events whose personal fields are now unreadable.  On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import date
from uuid import UUID

from world import CITY_A, consultation_command, gql, supervisor
from key_destruction import destroy_key

from yorisoi.domain.consultations import Consultation
from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.clock import japan_today
from yorisoi.projections.oversight_queries import fiscal_year
from yorisoi.projections.statistics_view import STATISTICS_TABLES, StatisticsQueries
from yorisoi.services.casework import NewHousehold
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

STAFF = ActingContext(user_id="a-specialist", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
FY = 2025
DISPOSED = ("廃棄 花子", "廃棄 たろう", "廃棄される家族の相談")
STAYING = ("残留 花子", "残留 たろう", "残る家族の相談")
QUERY = """query S($code: String!, $fy: Int!, $site: String) {
  activityStatistics(municipalityCode: $code, fiscalYear: $fy, siteId: $site) {
    consultations consultationsByMonth { code count } consultationsBySite { code count }
    consultationsByChannel { code label count } consultationsByTheme { code label count }
    referrals referralsByAgencyKind { code label count }
    consultationCells { month siteId channel count } } }"""


def _family(rt, names: tuple[str, str, str], visits: list[tuple[date, str, str, list[str]]]):
    """Record a family's consultations (site, channel, themes per visit); returns its household."""
    guardian, child, asked = names
    first, *rest = visits
    household = NewHousehold(guardians=[Guardian(guardian, "母")],
                             children=[Child(child, date(2024, 5, 1))], pregnancy=None)
    day, site, channel, themes = first
    recorded = rt.casework.record_consultation(consultation_command(
        site_id=site, contract_id="contract-a-npo" if site == "a-hiroba" else None,
        occurred_on=day, channel=channel, themes=themes, asked=asked, household=household,
        consent=NewConsent(guardian, "母", day, "相談記録の作成")))
    for day, site, channel, themes in rest:
        rt.casework.record_consultation(consultation_command(
            case_id=recorded.case_id, household=None, consent=None, site_id=site,
            contract_id="contract-a-npo" if site == "a-hiroba" else None, occurred_on=day,
            channel=channel, themes=themes, asked=asked))
    return recorded


def _refer(rt, case_id: UUID, agency_id: UUID) -> None:
    referral = rt.casework.draft_referral(case_id=case_id, agency_id=agency_id, reason="…",
                                          urgent=True, accompanied=False, shared_fields=[],
                                          writable_contract_ids=None)
    rt.casework.send_referral(referral.id, sent_on=japan_today(), confidentiality_basis=None,
                              exception_reason="虐待の疑い", exception_legal_basis="child_abuse_report",
                              expected_version=None, writable_contract_ids=None, publisher=None)


def _recorded(world):
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        disposed = _family(rt, DISPOSED, [
            (date(2025, 5, 10), "a-hiroba", "visit", ["development", "daily_worries"]),
            (date(2025, 6, 2), "a-hiroba", "phone", ["development"]),
        ])
        staying = _family(rt, STAYING, [
            (date(2025, 5, 20), "a-counter", "visit", ["childcare_place"]),
            (date(2026, 1, 15), "a-hiroba", "online", ["development"]),
        ])
        jido = rt.casework.register_agency(municipality_code=CITY_A, name="児童相談所",
                                           kind="child_guidance_center", on_system=True,
                                           contact_email=None, confidentiality_basis="public_servant")
        _refer(rt, disposed.case_id, jido.id)
        _refer(rt, staying.case_id, jido.id)
        # A draft the family withdrew is not a referral.
        rt.casework.draft_referral(case_id=staying.case_id, agency_id=jido.id, reason="…",
                                   urgent=False, accompanied=False, shared_fields=[],
                                   writable_contract_ids=None)
        rt.catch_up()
    return disposed, staying


def _snapshot(rt) -> tuple:
    queries = StatisticsQueries(rt.casework.database)
    year = queries.report(*fiscal_year(FY))
    now = queries.report(*fiscal_year(japan_today().year - (japan_today().month < 4)))
    return (year.consultations, year.themes, year.total("themes", "theme"),
            year.total("consultations", "channel"), now.referrals,
            now.total("referrals", "agency_kind"))


def _dispose(rt, household_id: UUID) -> None:
    """What the disposal run does to a household's data: destroy the key, purge every view."""
    assert destroy_key(rt, household_id)
    with rt.casework.database.transaction() as cur:
        for projector in rt.projectors:
            purge = getattr(projector.view, "purge", None)
            if purge is not None:
                purge(cur, str(household_id))


def test_counts_keep_their_values_after_disposal_and_after_a_rebuild(world):
    disposed, _ = _recorded(world)
    with world.services.runtimes.lease(CITY_A) as rt:
        before = _snapshot(rt)
        consultations, _, by_theme, by_channel, referrals, by_kind = before
        assert {(c["month"], c["site_id"], c["channel"]): c["count"] for c in consultations} == {
            ("2025-05", "a-hiroba", "visit"): 1, ("2025-06", "a-hiroba", "phone"): 1,
            ("2025-05", "a-counter", "visit"): 1, ("2026-01", "a-hiroba", "online"): 1}
        assert by_theme == {"childcare_place": 1, "daily_worries": 1, "development": 3}
        assert by_channel == {"online": 1, "phone": 1, "visit": 2}
        assert by_kind == {"child_guidance_center": 2}  # the withdrawn draft is not counted
        assert {(r["site_id"], r["count"]) for r in referrals} == {("a-hiroba", 1),
                                                                   ("a-counter", 1)}

        _dispose(rt, disposed.household_id)
        rt.catch_up()
        assert _snapshot(rt) == before

        statistics = next(p for p in rt.projectors if p.view.name == "statistics")
        assert statistics.rebuild() > 0
        assert _snapshot(rt) == before
        # The rebuild really replayed unreadable events: the family's words are gone.
        shredded = next(iter(rt.casework.events.get(disposed.consultation_id)))
        assert isinstance(shredded, Consultation.Recorded) and shredded.asked is None


def test_the_count_tables_hold_no_household_and_no_personal_value(world):
    disposed, staying = _recorded(world)
    with world.services.runtimes.lease(CITY_A) as rt:
        with rt.casework.database.transaction(write=False) as cur:
            rows = [row for table in STATISTICS_TABLES
                    for row in cur.execute(f"SELECT * FROM {{s}}{table}").fetchall()]
        cases = {str(r.case_id) for r in (disposed, staying)}
        households = {str(r.household_id) for r in (disposed, staying)}
    text = json.dumps(rows, ensure_ascii=False, default=str)
    for value in (*DISPOSED, *STAYING, *cases, *households, *(h.replace("-", "") for h in households)):
        assert value not in text
    # Only the withdrawn draft waits, under its own referral id.
    assert sum(1 for row in rows if "referral_id" in row) == 1


def test_the_statistics_query_answers_supervisors_with_counts_only(client, world):
    _recorded(world)
    body = gql(client, QUERY, {"code": CITY_A, "fy": FY, "site": None}, supervisor(world))
    assert "errors" not in body, body
    stats = body["data"]["activityStatistics"]
    assert stats["consultations"] == 4
    by_month = {m["code"]: m["count"] for m in stats["consultationsByMonth"]}
    assert len(by_month) == 12 and by_month["2025-05"] == 2 and by_month["2026-03"] == 0
    assert {t["code"]: (t["label"], t["count"]) for t in stats["consultationsByTheme"]}[
        "development"] == ("発達", 3)
    assert {c["code"]: c["count"] for c in stats["consultationsBySite"]} == {
        "a-counter": 1, "a-hiroba": 3}
    one_site = gql(client, QUERY, {"code": CITY_A, "fy": FY, "site": "a-counter"},
                   supervisor(world))["data"]["activityStatistics"]
    assert one_site["consultations"] == 1
    text = json.dumps(body, ensure_ascii=False)
    assert not any(value in text for value in (*DISPOSED, *STAYING))

    specialist = world.headers("municipality", CITY_A, subject="a-staff", roles=("specialist",))
    refused = gql(client, QUERY, {"code": CITY_A, "fy": FY, "site": None}, specialist)
    assert refused["errors"][0]["extensions"]["code"] == "role_not_permitted"
    bad = gql(client, QUERY, {"code": CITY_A, "fy": 1900, "site": None}, supervisor(world))
    assert bad["errors"][0]["extensions"]["code"] == "invalid_input"


def test_a_month_boundary_in_japan_time_counts_by_the_consultation_date(world):
    # occurred_on is already a Japan date: 31 March and 1 April fall in different years.
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        _family(rt, STAYING, [(date(2025, 3, 31), "a-counter", "visit", ["other"]),
                              (date(2025, 4, 1), "a-counter", "visit", ["other"])])
        rt.catch_up()
        queries = StatisticsQueries(rt.casework.database)
        assert sum(c["count"] for c in queries.report(*fiscal_year(2024)).consultations) == 1
        assert sum(c["count"] for c in queries.report(*fiscal_year(2025)).consultations) == 1

