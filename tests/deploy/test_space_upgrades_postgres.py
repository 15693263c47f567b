"""A resumable upgrade on PostgreSQL: the journal lives in the platform schema, as the owner.

The application role serves requests and owns nothing; the upgrade runs with the
owner's credentials (as provisioning does).  A second run skips every space; a
changed fingerprint (a new release's DDL) makes each due again.
"""

from __future__ import annotations

import pytest
from world import CITY_A, CITY_B, build_world

from yorisoi.tenants import upgrades
from yorisoi.tenants.upgrades import SpaceUpgrades

pytestmark = pytest.mark.postgres


def test_upgrades_are_journalled_and_resumed_on_postgres(pg_settings, monkeypatch):
    world = build_world(pg_settings)
    journal = SpaceUpgrades(world.services.directory)
    try:
        due, current = journal.plan([CITY_A, CITY_B])
        assert (due, current) == ([CITY_A, CITY_B], [])
        outcome = journal.run(due[:1])  # interrupted after the first space
        assert (outcome.upgraded, outcome.failed) == ([CITY_A], {})
        assert journal.plan([CITY_A, CITY_B]) == ([CITY_B], [CITY_A])
        assert journal.run([CITY_B]).upgraded == [CITY_B]
        assert journal.plan([CITY_A, CITY_B]) == ([], [CITY_A, CITY_B])
        monkeypatch.setattr(upgrades, "space_fingerprint", lambda dialect: "next-release")
        assert journal.plan([CITY_A, CITY_B]) == ([CITY_A, CITY_B], [])
        # Several spaces at once (--jobs): each journalled, progress reported for each.
        seen: list[str] = []
        outcome = journal.run([CITY_A, CITY_B], lambda code, _failure: seen.append(code),
                              jobs=2)
        assert sorted(outcome.upgraded) == sorted(seen) == sorted([CITY_A, CITY_B])
        assert journal.plan([CITY_A, CITY_B]) == ([], [CITY_A, CITY_B])
        # The application role reads it too (provisioning grants it every platform table).
        rows = world.services.directory.platform.database.select(
            "SELECT municipality_code FROM {s}space_upgrades")
        assert {r["municipality_code"] for r in rows} == {CITY_A, CITY_B}
    finally:
        journal.close()
        world.services.close()


def test_the_fingerprint_moves_with_what_provisioning_would_run():
    from yorisoi.tenants import view_columns

    before = upgrades.space_fingerprint("postgres")
    assert before == upgrades.space_fingerprint("postgres")
    assert before != upgrades.space_fingerprint("sqlite")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(view_columns, "ADDED_COLUMNS",
                      (*view_columns.ADDED_COLUMNS, ("case_view", "new_column", "TEXT")))
        assert upgrades.space_fingerprint("postgres") != before
