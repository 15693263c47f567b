"""A restored space and ``tenant upgrade``: no ``--force`` needed (issue 18, operations).

The upgrade journal lives in the platform space; a municipality's space replaced by a
restore holds whatever DDL its copy had.  A restore now takes the space out of the
journal before touching it and, once the space is back, upgrades and journals it — so
the journal never calls a restored space current when it is not, and a restore that
stopped half-way leaves the space due for a plain ``tenant upgrade``.

The "older copy" is a space lacking a table a later release added (``idempotency_keys``),
made on PostgreSQL with the real cluster and ``pg_dump``/``pg_restore``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bundle_world import CITY, settings_for, source_deployment, verify_tenant

from yorisoi.services.bundles.errors import BundleFormatError
from yorisoi.services.bundles.export import export_tenant
from yorisoi.services.bundles.load import restore_bundle
from yorisoi.services.bundles.recipient import generate
from yorisoi.services.bundles.restore import restore_in_place, restore_space_file
from yorisoi.tenants.upgrades import SpaceUpgrades

BINDIR = Path("/usr/lib/postgresql/15/bin")
LATER_TABLE = "idempotency_keys"  # stands for any table a release added after the copy


@pytest.fixture
def deployment(request, tmp_path) -> Any:
    cluster = request.getfixturevalue("pg_cluster")
    settings, dbname = settings_for("postgres", tmp_path / "data", cluster)
    services, _ = source_deployment(settings)
    journal = SpaceUpgrades(services.directory)
    try:
        due, _ = journal.plan([CITY])
        assert journal.run(due).failed == {}
        assert journal.plan([CITY]) == ([], [CITY])  # up to date, and journalled so
        yield services, journal, cluster, dbname
    finally:
        journal.close()
        services.close()
        cluster.drop_database(dbname)


def _has_table(cluster: Any, dbname: str, table: str) -> bool:
    with cluster.connect(dbname, "owner") as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                            (f"t_{CITY}.{table}",)).fetchone()[0]


def _make_older(cluster: Any, dbname: str) -> None:
    """The space as a copy taken before the release that added LATER_TABLE left it."""
    with cluster.connect(dbname, "owner", autocommit=True) as conn:
        conn.execute(f"DROP TABLE t_{CITY}.{LATER_TABLE}")


def _dump(cluster: Any, dbname: str, out: Path) -> Path:
    subprocess.run([str(BINDIR / "pg_dump"), "-Fc", "-n", f"t_{CITY}", "-f", str(out),
                    cluster.conninfo(dbname, "owner")], check=True, capture_output=True)
    return out


def test_a_schema_restored_by_hand_then_recorded_in_place_is_upgraded(deployment) -> None:
    services, journal, cluster, dbname = deployment
    _make_older(cluster, dbname)  # pg_restore of an older copy, run by the operator by hand
    # What made --force necessary: the journal still calls the older space current.
    assert journal.plan([CITY]) == ([], [CITY])

    restore_in_place(services, CITY)  # `yorisoi tenant restore CODE --in-place`
    assert _has_table(cluster, dbname, LATER_TABLE)
    assert journal.plan([CITY]) == ([], [CITY])  # current, and now truly so
    report = verify_tenant(services)
    assert report.ok, report.as_dict()


def test_a_space_restored_from_an_older_dump_is_upgraded_and_journalled(
        deployment, tmp_path, monkeypatch) -> None:
    services, journal, cluster, dbname = deployment
    _make_older(cluster, dbname)
    dump = _dump(cluster, dbname, tmp_path / "older.dump")
    journal.run([CITY])  # the space brought up to date meanwhile; the dump stays older
    assert _has_table(cluster, dbname, LATER_TABLE)

    monkeypatch.setenv("PATH", f"{BINDIR}:{os.environ['PATH']}")
    restore_space_file(services, CITY, dump)  # `yorisoi tenant restore CODE --from older.dump`
    assert _has_table(cluster, dbname, LATER_TABLE)
    assert journal.plan([CITY]) == ([], [CITY])
    assert verify_tenant(services).ok


def test_a_restore_that_stops_half_way_leaves_the_space_due(
        deployment, tmp_path, monkeypatch) -> None:
    services, journal, cluster, dbname = deployment
    dump = _dump(cluster, dbname, tmp_path / "whole.dump")
    cut = tmp_path / "cut.dump"
    cut.write_bytes(dump.read_bytes()[: len(dump.read_bytes()) // 2])  # a copy cut short

    monkeypatch.setenv("PATH", f"{BINDIR}:{os.environ['PATH']}")
    with pytest.raises(BundleFormatError) as refused:
        restore_space_file(services, CITY, cut)
    assert refused.value.message.startswith("pg_restore failed: ")
    assert refused.value.message_ja == "pg_restore が失敗しました（詳細は英語のメッセージ）。"
    # The space was touched: the journal no longer vouches for it, without --force.
    assert journal.plan([CITY]) == ([CITY], [])
    # The operator restores again from a whole copy; the space is journalled once more.
    restore_space_file(services, CITY, dump)
    assert journal.plan([CITY]) == ([], [CITY])
    assert verify_tenant(services).ok


def test_a_refused_file_leaves_the_journal_alone(deployment, tmp_path) -> None:
    services, journal, _cluster, _dbname = deployment
    not_a_dump = tmp_path / "notes.txt"
    not_a_dump.write_text("not a pg_dump archive")
    with pytest.raises(BundleFormatError):
        restore_space_file(services, CITY, not_a_dump)
    assert journal.plan([CITY]) == ([], [CITY])  # nothing was replaced


def test_no_pg_restore_is_a_typed_refusal_that_leaves_the_space(
        deployment, tmp_path, monkeypatch) -> None:
    services, _journal, cluster, dbname = deployment
    dump = _dump(cluster, dbname, tmp_path / "whole.dump")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    monkeypatch.delenv("YORISOI_PG_RESTORE", raising=False)
    with pytest.raises(BundleFormatError) as refused:
        restore_space_file(services, CITY, dump)
    assert refused.value.message == "pg_restore is not on PATH (set YORISOI_PG_RESTORE)."
    assert "YORISOI_PG_RESTORE" in refused.value.message_ja
    assert _has_table(cluster, dbname, LATER_TABLE)  # the space was not dropped
    assert verify_tenant(services).ok


def test_a_bundle_restore_journals_the_space(deployment, tmp_path) -> None:
    services, journal, cluster, dbname = deployment
    private, public = generate(tmp_path / "recipient")
    bundle = export_tenant(services, CITY, tmp_path / "city.bundle", public.read_text()).path
    _make_older(cluster, dbname)
    with journal._journal().transaction() as cur:  # an older journal entry, as if restored
        cur.execute("UPDATE {s}space_upgrades SET fingerprint = 'older'")
    restore_bundle(services, CITY, bundle, private.read_bytes())
    assert _has_table(cluster, dbname, LATER_TABLE)
    assert journal.plan([CITY]) == ([], [CITY])
    assert verify_tenant(services).ok
