"""The embedded default: one SQLite file per space, events immutable there too."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from yorisoi.domain.households import Guardian, Pregnancy
from yorisoi.infra.clock import japan_today
from yorisoi.infra.keys import build_key_provider
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.provisioning import Provisioner
from yorisoi.tenants.runtime import TenantRuntime

STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id="131016")


def test_each_municipality_gets_its_own_file_and_its_events_are_immutable(sqlite_settings):
    provider = build_key_provider(sqlite_settings)
    provisioner = Provisioner(sqlite_settings, provider)
    provisioner.init_platform()
    provisioner.init_platform()
    for code in ("131016", "141003", "131016"):
        provisioner.create_municipality_space(code)
    files = sorted(p.name for p in sqlite_settings.sqlite_dir.glob("*.sqlite"))
    assert files == ["platform.sqlite", "t_131016.sqlite", "t_141003.sqlite"]

    rt = TenantRuntime(sqlite_settings, "131016", provider)
    try:
        with acting_as(STAFF):
            rt.casework.record_consultation(RecordConsultation(
                municipality_code="131016", site_id="a-counter", contract_id=None,
                occurred_on=japan_today(), channel="online", themes=["pregnancy_birth"],
                asked="相談", wishes="", direction="",
                consent=NewConsent("架空 花子", "母", japan_today()),
                household=NewHousehold(guardians=[Guardian("架空 花子", "母")], children=[],
                                       pregnancy=Pregnancy(japan_today() + timedelta(days=30)))))
    finally:
        rt.close()
    conn = sqlite3.connect(sqlite_settings.sqlite_dir / "t_131016.sqlite")
    try:
        table = rt.casework.database.events_table
        # A new household's record with its consent, and the year's first reception number
        # (its counter starts, then assigns): 9 events.
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 9
        with pytest.raises(sqlite3.IntegrityError, match="stored events are immutable"):
            conn.execute(f"UPDATE {table} SET topic = topic")
        with pytest.raises(sqlite3.IntegrityError, match="stored events are immutable"):
            conn.execute(f"DELETE FROM {table}")
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 9
    finally:
        conn.close()
    other = sqlite3.connect(sqlite_settings.sqlite_dir / "t_141003.sqlite")
    try:
        assert other.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    finally:
        other.close()
