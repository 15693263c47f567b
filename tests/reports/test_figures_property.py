"""Figures that add up (hypothesis): for random histories of consultations, every breakdown
sums to its total, 実人数 ≤ 延べ件数 (and equals the families actually seen in the year), and
the live view, a fold of the log and a rebuild give the same cells.

Histories accumulate on one SQLite municipality (the invariants hold for any log), across
two fiscal years, with new families and returning ones recorded out of date order.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from world import CITY_A, consultation_command

from yorisoi.domain.households import Child, Pregnancy
from yorisoi.domain.reception_numbers import fiscal_year_of
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

STAFF = ActingContext(user_id="s", role="specialist", organisation_kind="contractor",
                      organisation_id="npo-hidamari", contract_id="contract-a-npo",
                      site_id="a-hiroba")
CHANNELS = ("visit", "phone", "outreach", "online")
THEMES = ("development", "health", "money", "daily_worries")


@pytest.fixture(scope="module")
def city(tmp_path_factory):  # noqa: ANN001, ANN201
    from world import build_world

    from yorisoi.infra.settings import Settings

    world = build_world(Settings(backend="sqlite", data_dir=tmp_path_factory.mktemp("prop"),
                                 environment="test"))
    with world.services.runtimes.lease(CITY_A) as rt:
        yield rt, {}, world.services.directory.registry  # cases: id → (opened, days seen)
    world.services.close()


new_family = st.tuples(st.just("new"), st.sampled_from(CHANNELS),
                       st.lists(st.sampled_from(THEMES), min_size=1, max_size=3),
                       st.integers(0, 400),  # days ago
                       st.sampled_from(["baby", "toddler", "pregnant", "school"]))
returning = st.tuples(st.just("again"), st.sampled_from(CHANNELS), st.integers(0, 50),
                      st.integers(0, 400))  # which case (modulo), days ago
history = st.lists(st.one_of(new_family, returning), min_size=1, max_size=4)


def _people(kind: str, day: date) -> dict:  # noqa: ANN202
    if kind == "pregnant":  # a due date is checked against today: within ten months
        return {"children": [], "pregnancy": Pregnancy(japan_today() + timedelta(days=100))}
    years = {"baby": 0, "toddler": 2, "school": 8}[kind]
    return {"children": [Child("架空 こども", day - timedelta(days=365 * years + 30))],
            "pregnancy": None}


def _apply(rt, cases: dict, action: tuple) -> None:  # noqa: ANN001
    today = japan_today()
    with acting_as(STAFF):
        if action[0] == "new" or not cases:
            _, channel, themes, ago, kind = action if action[0] == "new" else (
                "new", action[1], ["health"], action[3], "baby")
            day = today - timedelta(days=min(ago, 150) if kind == "pregnant" else ago)
            base = consultation_command()
            household = type(base.household)(guardians=base.household.guardians,
                                             **_people(kind, day))
            done = rt.casework.record_consultation(consultation_command(
                occurred_on=day, channel=channel, themes=themes, household=household,
                consent=type(base.consent)(given_by="架空 花子", relationship="母",
                                           given_on=day, scope="相談記録の作成")))
            cases[done.case_id] = (day, [day])
        else:
            _, channel, which, ago = action
            case_id = sorted(cases)[which % len(cases)]
            opened, days = cases[case_id]
            day = max(opened, today - timedelta(days=ago))
            rt.casework.record_consultation(consultation_command(
                case_id=case_id, household=None, consent=None, occurred_on=day,
                channel=channel, themes=["development"]))
            days.append(day)


def _measure(cells: Counter, measure: str, by: int | None = None):  # noqa: ANN202
    found = [(c, n) for c, n in cells.items() if c[3] == measure]
    if by is None:
        return sum(n for _, n in found)
    sums: Counter = Counter()
    for c, n in found:
        sums[c[by]] += n
    return sums


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history)
def test_breakdowns_add_up_households_are_distinct_and_rebuild_equals_live(city, actions) -> None:  # noqa: ANN001
    from yorisoi.services.report_figures import fold_cells, in_scope, log_head
    from yorisoi.services.reports import fiscal_months
    from yorisoi.services.reports_issue import live_cells, live_figures

    rt, cases, registry = city
    for action in actions:
        _apply(rt, cases, action)
    rt.catch_up()
    db = rt.casework.database
    folded_all = fold_cells(db, rt.casework.mapper, log_head(db))
    this_year = fiscal_year_of(japan_today())
    for fy in (this_year - 1, this_year):
        months = fiscal_months(fy)
        live = live_cells(rt.casework, fy, None)
        assert live == in_scope(folded_all, months[0], months[-1], None)
        total = _measure(live, "consultations")
        assert sum(_measure(live, "consultations", 0).values()) == total  # by month
        assert sum(_measure(live, "consultations", 1).values()) == total  # by site
        assert sum(_measure(live, "consultations.channel", 4).values()) == total
        assert sum(_measure(live, "consultations.age_band", 4).values()) == total
        assert _measure(live, "consultations.theme") >= total  # a theme each, at least
        households = _measure(live, "households")
        assert households <= total
        seen = {case for case, (_, days) in cases.items()
                if any(fiscal_year_of(d) == fy for d in days)}
        assert households == len(seen)  # 実人数: each family once a year
        report, _ = live_figures(rt.casework, registry, CITY_A, "annual", fy)
        monthly = report.table("monthly")
        assert monthly.rows[-1][1] == total and monthly.rows[-1][2] == households
        assert sum(r[1] for r in monthly.rows[:-1]) == total
        assert report.table("channels").rows[-1][1] == total
        assert report.table("age_bands").rows[-1][1] == total
    (view,) = [p for p in rt.projectors if p.view.name == "reports"]
    before = live_cells(rt.casework, this_year, None)
    view.rebuild()
    assert live_cells(rt.casework, this_year, None) == before
