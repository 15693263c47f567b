"""The batched, exactly-once projector, on PostgreSQL and SQLite.

Consultations are recorded through the real casework application (many
aggregates per ``save`` to keep it quick); runners are real ``Projector``
instances over the tenant's event log.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import date, timedelta
from uuid import UUID

import pytest

from yorisoi.domain.cases import Case
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.domain.vocabulary import STANDARD_THEMES, Channel
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_view import (
    CASE_VIEW_TABLES,
    CaseView,
    consultation_aad,
    household_aad,
)
from yorisoi.projections.runner import Projector
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
THEMES = list(STANDARD_THEMES)
CHANNELS = [c.value for c in Channel]
KEYS = {"case_view": "case_id", "household_view": "household_id",
        "consultation_view": "consultation_id"}


def _new_cases(rt: TenantRuntime, cases: int, per_case: int, tag: str = "") -> dict[UUID, int]:
    """Open ``cases`` cases with ``per_case`` consultations each; one save per case."""
    today = japan_today()
    opened: dict[UUID, int] = {}
    with acting_as(STAFF):
        for i in range(cases):
            household = Household.register(
                guardians=[Guardian(f"架空 保護者{tag}{i}", "母")],
                children=[Child(f"架空 子{tag}{i}", date(2023, 1, 1))], pregnancy=None,
                today=today)
            case = Case(household_id=household.id, municipality_code=CITY_A,
                        site_id="a-counter", contract_id=None,
                        opened_on=today - timedelta(days=90))
            consultations = _consultations(case, per_case, i)
            rt.casework.save(household, case, *consultations)
            opened[case.id] = per_case
    return opened


def _consultations(case: Case, n: int, seed: int) -> list[Consultation]:
    today = japan_today()
    made = []
    for j in range(n):
        consultation = Consultation.record(
            case_id=case.id, household_id=case.household_id, site_id=case.site_id,
            contract_id=case.contract_id, occurred_on=today - timedelta(days=(seed * 7 + j) % 80),
            channel=CHANNELS[(seed + j) % len(CHANNELS)],
            themes=[THEMES[(seed + j) % len(THEMES)], THEMES[(seed * 3 + j) % len(THEMES)]],
            asked=f"相談内容 {seed}-{j}", wishes="希望", direction="方針", today=today,
            allowed_themes=STANDARD_THEMES.keys())
        case.note_consultation(consultation.id)
        made.append(consultation)
    return made


def _add_to_cases(rt: TenantRuntime, case_ids: list[UUID], per_case: int) -> None:
    with acting_as(STAFF):
        for index, case_id in enumerate(case_ids):
            case = rt.casework.repository.get(case_id)
            rt.casework.save(case, *_consultations(case, per_case, 100 + index))


def _projector(rt: TenantRuntime, batch_size: int, view: CaseView | None = None) -> Projector:
    return Projector(rt.casework.database, rt.casework.mapper,
                     view or CaseView(rt.casework.keyring), batch_size=batch_size)


def _tables(rt: TenantRuntime) -> dict[str, list[dict]]:
    """Every row of every case-view table, ordered by key; sealed values opened."""
    keyring = rt.casework.keyring
    result: dict[str, list[dict]] = {}
    with rt.casework.database.transaction(write=False) as cur:
        for table in CASE_VIEW_TABLES:
            result[table] = cur.execute(
                f"SELECT * FROM {{s}}{table} ORDER BY {KEYS[table]}").fetchall()
    for row in result["household_view"]:
        # Ciphertext has a fresh nonce at every sealing: compare what it says.
        row["sealed"] = keyring.open_json(UUID(row["household_id"]), row["sealed"],
                                          household_aad(row["household_id"]))
    for row in result["consultation_view"]:
        row["sealed"] = keyring.open_json(UUID(row["household_id"]), row["sealed"],
                                          consultation_aad(row["consultation_id"]))
    return result


def _notifications(rt: TenantRuntime) -> list[dict]:
    key = "notification_id" if rt.casework.database.dialect == "postgres" else "rowid"
    with rt.casework.database.transaction(write=False) as cur:
        return cur.execute(f"SELECT {key} AS id, originator_id, topic FROM {{events}}"
                           f" ORDER BY {key}").fetchall()


def _norm(value: object) -> str:
    return str(UUID(str(value)))


@pytest.fixture
def rt(world):
    with world.services.runtimes.lease(CITY_A) as runtime:
        yield runtime


def test_two_runners_catching_up_at_once_apply_every_event_exactly_once(world, rt):
    opened = _new_cases(rt, cases=10, per_case=30)  # 300 consultations, 620 events
    events = _notifications(rt)
    assert len(events) == 620
    runners = [TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
               for _ in range(2)]
    try:
        projectors = [_projector(r, batch_size=7) for r in runners]
        before = projectors[0].status()
        assert (before.position, before.head, before.lag) == (0, events[-1]["id"], 620)
        start = threading.Barrier(2)
        applied: list[int] = [0, 0]
        errors: list[BaseException] = []

        def run(index: int) -> None:
            try:
                start.wait()
                applied[index] = projectors[index].catch_up()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert sum(applied) == 620, applied
        if rt.casework.database.dialect == "postgres":
            assert all(a > 0 for a in applied), f"both runners should take batches: {applied}"
    finally:
        for runner in runners:
            runner.close()

    status = rt.case_projector.status()
    assert status.position == status.head == events[-1]["id"]
    assert status.lag == 0
    tables = _tables(rt)
    consultation_ids = Counter(r["consultation_id"] for r in tables["consultation_view"])
    expected = {_norm(e["originator_id"]) for e in events
                if e["topic"].endswith("Consultation.Recorded")}
    assert len(expected) == 300
    assert {_norm(c) for c in consultation_ids} == expected
    assert set(consultation_ids.values()) == {1}
    counts = {UUID(r["case_id"]): r["consultation_count"] for r in tables["case_view"]}
    assert counts == opened
    per_case = Counter(r["case_id"] for r in tables["consultation_view"])
    assert {UUID(k): v for k, v in per_case.items()} == opened
    assert len(tables["household_view"]) == 10
    assert all(r["sealed"]["guardians"][0]["name"].startswith("架空") for r in
               tables["household_view"])
    # Nothing left for a later catch-up to apply twice.
    assert rt.case_projector.catch_up() == 0


def test_rebuild_gives_exactly_the_rows_of_the_live_view(rt):
    first = _new_cases(rt, cases=4, per_case=6, tag="a")
    assert rt.case_projector.catch_up() == 4 * (2 + 12)
    _add_to_cases(rt, list(first)[:2], per_case=5)  # later activity on older cases
    _new_cases(rt, cases=2, per_case=3, tag="b")
    rt.case_projector.catch_up()
    live = _tables(rt)
    assert sum(r["consultation_count"] for r in live["case_view"]) == 4 * 6 + 2 * 5 + 2 * 3

    replayed = rt.case_projector.rebuild()
    assert replayed == len(_notifications(rt))
    assert _tables(rt) == live
    status = rt.case_projector.status()
    assert status.position == status.head and status.lag == 0


def test_rebuild_with_a_small_batch_size_gives_the_same_rows(rt):
    _new_cases(rt, cases=3, per_case=4)
    rt.case_projector.catch_up()
    live = _tables(rt)
    _projector(rt, batch_size=3).rebuild()
    assert _tables(rt) == live


class ExplodingView(CaseView):
    """The case view with a handler that fails on one given notification."""

    def __init__(self, keyring, fail_on: int) -> None:  # noqa: ANN001
        super().__init__(keyring)
        self.fail_on = fail_on
        self.calls = 0

    def apply(self, cur, event, notification):  # noqa: ANN001, ANN201
        self.calls += 1
        if notification.id == self.fail_on:
            raise RuntimeError("handler failed")
        super().apply(cur, event, notification)


def test_failing_handler_stops_the_runner_and_leaves_the_position_at_the_last_batch(rt):
    _new_cases(rt, cases=3, per_case=3)  # per case: Registered, Opened, 3 Noted, 3 Recorded
    events = _notifications(rt)
    assert len(events) == 24
    batch = 5
    # Fail on the 15th event: batches 1-5 and 6-10 commit; 11-15 fails after 11-14 applied,
    # and 14 is a Consultation.Recorded whose row must not survive.
    fail_on = events[14]["id"]
    assert events[13]["topic"].endswith("Consultation.Recorded")
    view = ExplodingView(rt.casework.keyring, fail_on)
    projector = _projector(rt, batch, view)
    with pytest.raises(RuntimeError, match="handler failed"):
        projector.catch_up()
    committed = events[2 * batch - 1]["id"]
    status = projector.status()
    assert status.position == committed
    assert status.head == events[-1]["id"] and status.lag == status.head - committed

    def visible(topic: str) -> set[str]:
        return {_norm(e["originator_id"]) for e in events
                if e["id"] <= committed and e["topic"].endswith(topic)}

    tables = _tables(rt)
    assert {_norm(r["consultation_id"]) for r in tables["consultation_view"]} == visible(
        "Consultation.Recorded")
    assert {_norm(r["case_id"]) for r in tables["case_view"]} == visible("Case.Opened")
    assert {_norm(r["household_id"]) for r in tables["household_view"]} == visible(
        "Household.Registered")
    assert sum(r["consultation_count"] for r in tables["case_view"]) == len(
        visible("Consultation.Recorded"))
    assert all(r["position"] <= committed for t in tables.values() for r in t
               if "position" in r)

    # Retrying does not skip the poisoned event: it fails again, position unchanged.
    with pytest.raises(RuntimeError, match="handler failed"):
        projector.catch_up()
    assert projector.status().position == committed

    # Once the handler is fixed the runner resumes where it stopped, applying each event once.
    assert rt.case_projector.catch_up() == len(events) - 2 * batch
    resumed = _tables(rt)
    assert sum(r["consultation_count"] for r in resumed["case_view"]) == 9
    assert len(resumed["consultation_view"]) == 9
    rt.case_projector.rebuild()
    assert _tables(rt) == resumed


def test_status_reports_lag_and_catches_up_with_new_events(rt):
    empty = rt.case_projector.status()
    assert (empty.name, empty.position, empty.head, empty.lag) == ("case_view", 0, 0, 0)
    _new_cases(rt, cases=2, per_case=2)  # 12 events
    lagging = rt.case_projector.status()
    assert lagging.position == 0 and lagging.lag == 12
    assert rt.case_projector.catch_up() == 12
    assert rt.case_projector.status().lag == 0
    _add_to_cases(rt, [UUID(r["case_id"]) for r in _tables(rt)["case_view"]][:1], per_case=1)
    again = rt.case_projector.status()
    assert again.lag == 2  # ConsultationNoted + Recorded
    assert rt.case_projector.catch_up() == 2
    status = rt.case_projector.status()
    assert status.lag == 0 and status.position == status.head


def test_case_view_keeps_latest_activity_and_themes_in_first_seen_order(rt):
    today = japan_today()
    with acting_as(STAFF):
        household = Household.register(guardians=[Guardian("架空 花子", "母")], children=[],
                                       pregnancy=None, today=today,
                                       outside_target_reason="祖母の相談")
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                    contract_id=None, opened_on=today - timedelta(days=30))
        made = []
        for days_ago, themes in ((10, ["money", "dv"]), (20, ["dv", "health"]),
                                 (5, ["money"])):
            consultation = Consultation.record(
                case_id=case.id, household_id=household.id, site_id="a-counter",
                contract_id=None, occurred_on=today - timedelta(days=days_ago), channel="phone",
                themes=themes, asked="相談", wishes="", direction="", today=today,
                allowed_themes=STANDARD_THEMES.keys())
            case.note_consultation(consultation.id)
            made.append(consultation)
        rt.casework.save(household, case, *made)
    rt.case_projector.catch_up()
    (row,) = _tables(rt)["case_view"]
    assert json.loads(row["themes"]) == ["money", "dv", "health"]
    assert row["last_activity_on"] == (today - timedelta(days=5)).isoformat()
    assert row["opened_on"] == (today - timedelta(days=30)).isoformat()
    assert row["consultation_count"] == 3


@pytest.mark.parametrize("backend_settings", ["postgres"], indirect=True)
def test_two_requests_catching_up_one_runtime_at_once_do_not_starve_its_pool(world, rt):
    _new_cases(rt, cases=12, per_case=1)  # 12 households whose keys a fresh runtime lacks
    fresh = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    # The pool waits 10 s before giving up; 2 s shows the starvation as well, faster.
    fresh.casework.factory.datastore.pool.timeout = 2.0
    try:
        projectors = [_projector(fresh, 2), _projector(fresh, 2)]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(projector: Projector) -> None:
            try:
                start.wait()
                projector.catch_up()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(p,)) for p in projectors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert fresh.case_projector.status().lag == 0
    finally:
        fresh.close()
