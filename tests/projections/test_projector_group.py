"""Every read model caught up together (``ProjectorGroup``), on PostgreSQL and SQLite.

The group reads and decodes each batch once for all views; what each view
ends up holding must be exactly what its own ``Projector`` would have made,
whatever the views' positions, and a failing view must hold the others back
no more than it did when each view ran alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from view_rows import all_view_rows, record_households, view_positions

from yorisoi.domain.consultations import Consultation
from yorisoi.projections.case_view import CaseView
from yorisoi.projections.runner import Projector, ProjectorGroup
from yorisoi.projections.statistics_view import StatisticsView
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"


@pytest.fixture
def rt(world):
    with world.services.runtimes.lease(CITY_A) as runtime:
        yield runtime


def test_the_group_makes_exactly_the_rows_each_view_makes_alone(world, rt):
    record_households(rt, cases=6, per_case=4)
    rt.read_models.catch_up()
    together = all_view_rows(rt)
    assert together["case_view"] and together["statistics_themes"]
    for projector in rt.projectors:  # each view alone, from an empty table
        projector.rebuild()
    assert all_view_rows(rt) == together
    head = rt.case_projector.status().head
    assert set(view_positions(rt).values()) == {head}


def test_views_at_different_positions_each_get_only_what_they_lack(world, rt):
    record_households(rt, cases=3, per_case=3)
    rt.case_projector.catch_up()  # the case view is ahead of every other view
    record_households(rt, cases=2, per_case=2, seed=1)
    head = rt.case_projector.status().head
    applied = rt.read_models.catch_up()
    views = len(rt.projectors)
    first, second = 3 * (2 + 2 * 3), 2 * (2 + 2 * 2)
    # Every view but the case view applies both rounds; the case view the second only.
    assert applied == (views - 1) * (first + second) + second
    assert set(view_positions(rt).values()) == {head}
    with rt.casework.database.transaction(write=False) as cur:
        counted = cur.execute("SELECT SUM(consultation_count) AS n FROM {s}case_view").fetchone()
    assert int(counted["n"]) == 3 * 3 + 2 * 2  # no consultation counted twice


def test_small_batches_give_the_same_rows_as_one_batch(world, rt):
    record_households(rt, cases=5, per_case=3)
    rt.read_models.catch_up()
    whole = all_view_rows(rt)
    small = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    try:
        group = ProjectorGroup(small.projectors, batch_size=4)
        with small.casework.database.transaction() as cur:
            for projector in small.projectors:
                projector.view.reset(cur)
            cur.execute("UPDATE {s}projection_positions SET position = 0")
        group.catch_up()
        assert all_view_rows(small) == whole
    finally:
        small.close()


class _FailingStatistics(StatisticsView):
    def apply(self, cur: Any, event: Any, notification: Any) -> None:
        if isinstance(event, Consultation.Recorded):
            raise RuntimeError("handler failed")
        super().apply(cur, event, notification)


def test_a_failing_view_holds_back_only_what_it_held_back_alone(world, rt):
    record_households(rt, cases=2, per_case=2)
    db, mapper, keyring = rt.casework.database, rt.casework.mapper, rt.casework.keyring
    case = Projector(db, mapper, CaseView(keyring))
    failing = Projector(db, mapper, _FailingStatistics())
    group = ProjectorGroup([case, failing])
    with pytest.raises(RuntimeError, match="handler failed"):
        group.catch_up()
    # The batch of both rolled back, then each ran alone: the healthy one is done,
    # the failing one is where it was.
    assert case.status().lag == 0
    assert failing.status().position == 0
    with db.transaction(write=False) as cur:
        assert cur.execute("SELECT COUNT(*) AS n FROM {s}statistics_themes").fetchone()["n"] == 0
