"""Drill: restore a municipality to an earlier point after newer checkpoints, write more, verify.

Today's failure (issue 19): a checkpoint written after the copy signs entries the restored
ledger no longer has (``checkpoint_beyond_head``), and once writes resume the chain passes it
with other hashes (``checkpoint_head``) — for ever, since write-once checkpoints are never
deleted.  A signed restore record chained in the ledger names the restored position and the
checkpoints it supersedes; verification then passes and reports the supersession.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from audit_world import log_reads
from bundle_world import CITY, settings_for, source_deployment, verify_tenant

from yorisoi.infra.audit_ledger_store import AuditLedgerStore, ledger_transaction
from yorisoi.infra.checkpoints import Checkpointer, checkpoint_store
from yorisoi.services.bundles.export import export_tenant
from yorisoi.services.bundles.load import record_custody, restore_bundle
from yorisoi.services.bundles.readiness import runtime_key_problem
from yorisoi.services.bundles.recipient import generate
from yorisoi.services.bundles.restore import restore_space_file


def _checkpoint(services: Any) -> dict[str, Any]:
    with services.runtimes.lease(CITY) as rt:
        rt.ledger.chain()
        written = Checkpointer(checkpoint_store(services.settings, services),
                               services.signer).checkpoint(rt.casework.database, CITY)
    assert written is not None
    return written


def _head(services: Any) -> int:
    with services.runtimes.lease(CITY) as rt:
        db = rt.casework.database
        with ledger_transaction(db, write=False) as cur:
            return AuditLedgerStore(db).head(cur)[0]


def _write(services: Any, reads: int) -> None:
    with services.runtimes.lease(CITY) as rt:
        log_reads(rt, reads)
        rt.ledger.chain()


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request, tmp_path):
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgres" else None
    settings, dbname = settings_for(request.param, tmp_path / "data", cluster)
    services, _ = source_deployment(settings)
    yield services
    services.close()
    if dbname is not None:
        cluster.drop_database(dbname)


def test_restore_from_a_bundle_supersedes_later_checkpoints(deployment, tmp_path):
    services = deployment
    first = _checkpoint(services)
    private, public = generate(tmp_path / "recipient")
    export_tenant(services, CITY, tmp_path / "city.bundle", public.read_text())
    restored_to = _head(services)
    _write(services, 12)
    later = _checkpoint(services)  # the worker wrote it after the copy was taken
    assert later["sequence"] > restored_to

    result = restore_bundle(services, CITY, tmp_path / "city.bundle", private.read_bytes())
    assert [s["key"] for s in result.superseded] == [later["object_key"]]
    report = verify_tenant(services)
    assert report.ok, report.as_dict()
    assert [s["key"] for s in report.superseded] == [later["object_key"]]
    assert report.custody[-1]["action"] == "restore"

    # Writes resume; the chain reaches (and passes) the superseded checkpoint's sequence with
    # other hashes; the next checkpoint at that very sequence gets a key of its own.
    _write(services, later["sequence"] - _head(services))
    assert _head(services) == later["sequence"]
    again = _checkpoint(services)
    assert again["sequence"] == later["sequence"] and again["object_key"] != later["object_key"]
    assert again["object_key"].endswith(".r1.json")
    _write(services, 3)
    _checkpoint(services)
    report = verify_tenant(services)
    assert report.ok, report.as_dict()
    assert [s["key"] for s in report.superseded] == [later["object_key"]]
    assert report.checkpoints_verified == 3  # the first, and the two written after the restore
    assert report.covered_to == _head(services)
    # Nothing was deleted: every checkpoint object is still in storage.
    keys = {c.key for c in checkpoint_store(services.settings, services).copies(CITY)}
    assert {first["object_key"], later["object_key"], again["object_key"]} <= keys


def test_restore_of_a_space_copy_without_then_with_the_record(tmp_path):
    """SQLite: the space file copied back, as an operator would — fails for ever until the
    restore record is chained; then verifies and keeps verifying after more writes."""
    settings, _ = settings_for("sqlite", tmp_path / "data")
    services, _ = source_deployment(settings)
    try:
        _checkpoint(services)
        copy = tmp_path / "space-copy.sqlite"
        space = Path(settings.sqlite_dir) / f"t_{CITY}.sqlite"
        with sqlite3.connect(space) as origin, sqlite3.connect(copy) as target:
            origin.backup(target)
        _write(services, 5)
        later = _checkpoint(services)

        # The operator's way until now: the file copied back by hand.
        services.runtimes.close()
        with sqlite3.connect(copy) as origin, sqlite3.connect(space) as target:
            origin.backup(target)
        report = verify_tenant(services)
        assert not report.ok
        assert [p.code for p in report.problems] == ["checkpoint_beyond_head"]
        _write(services, 8)
        assert {p.code for p in verify_tenant(services).problems} == {"checkpoint_head"}

        # The restore command: the copy again, and the signed record.
        sequence, document = restore_space_file(services, CITY, copy)
        assert [s["key"] for s in document["supersedes"]] == [later["object_key"]]
        report = verify_tenant(services)
        assert report.ok, report.as_dict()
        assert report.superseded[0]["key"] == later["object_key"]
        assert report.custody[-1]["sequence"] == sequence
        _write(services, 7)
        _checkpoint(services)
        assert verify_tenant(services).ok

        # An unsigned or foreign record does not supersede anything.
        assert record_custody(services, CITY, action="restore", supersedes=[])[1][
            "supersedes"] == []
        assert verify_tenant(services).ok
    finally:
        services.close()


def test_a_restored_tenant_without_its_key_is_not_ready(tmp_path):
    settings, _ = settings_for("sqlite", tmp_path / "data")
    services, _ = source_deployment(settings)
    try:
        with services.runtimes.lease(CITY) as rt:
            assert runtime_key_problem(rt) is None
        key = Path(settings.keys_dir) / "tenants" / f"t_{CITY}.kek"
        key.rename(key.with_suffix(".away"))
        services.runtimes.close()
        with services.runtimes.lease(CITY) as rt:
            problem = runtime_key_problem(rt)
        assert problem is not None and problem.code == "tenant_key_missing"
        assert "key store" in problem.message and "鍵ストア" in problem.message_ja
    finally:
        services.close()


def test_a_restore_record_signed_by_another_key_supersedes_nothing(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from yorisoi.infra.signing import PlatformSigner
    from yorisoi.services.bundles.custody import CustodyRecord, sign_record
    from yorisoi.services.bundles.load import superseded_checkpoints
    from yorisoi.services.context import ActingContext, acting_as

    settings, _ = settings_for("sqlite", tmp_path / "data")
    services, _ = source_deployment(settings)
    try:
        _checkpoint(services)
        copy = tmp_path / "space-copy.sqlite"
        space = Path(settings.sqlite_dir) / f"t_{CITY}.sqlite"
        with sqlite3.connect(space) as origin, sqlite3.connect(copy) as target:
            origin.backup(target)
        _write(services, 4)
        _checkpoint(services)
        services.runtimes.close()
        with sqlite3.connect(copy) as origin, sqlite3.connect(space) as target:
            origin.backup(target)
        with services.runtimes.lease(CITY) as rt:
            rt.ledger.chain()
            db = rt.casework.database
            with ledger_transaction(db, write=False) as cur:
                head, head_hash = AuditLedgerStore(db).head(cur)
            forged = sign_record(PlatformSigner(Ed25519PrivateKey.generate()), action="restore",
                                 tenant=CITY, restored_sequence=head, restored_head=head_hash,
                                 supersedes=superseded_checkpoints(services, rt))
            with acting_as(ActingContext(user_id="x", role="platform_operator",
                                         organisation_kind="platform",
                                         organisation_id="platform")):
                rt.casework.save(CustodyRecord(forged))
            rt.ledger.chain()
        report = verify_tenant(services)
        assert not report.ok and "custody_record" in {p.code for p in report.problems}
        assert report.superseded == []
    finally:
        services.close()


def test_restore_of_a_schema_dump_on_postgresql(request, tmp_path, monkeypatch):
    """``pg_dump -Fc -n t_<code>`` taken, newer checkpoints written, the dump restored by
    ``tenant restore --from`` (pg_restore as the owner): verifies, reporting the supersession."""
    import subprocess

    cluster = request.getfixturevalue("pg_cluster")
    bindir = Path("/usr/lib/postgresql/15/bin")
    settings, dbname = settings_for("postgres", tmp_path / "data", cluster)
    services, _ = source_deployment(settings)
    try:
        _checkpoint(services)
        dump = tmp_path / "city.dump"
        subprocess.run([str(bindir / "pg_dump"), "-Fc", "-n", f"t_{CITY}", "-f", str(dump),
                        cluster.conninfo(dbname, "owner")], check=True, capture_output=True)
        restored_to = _head(services)
        _write(services, 6)
        later = _checkpoint(services)
        monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
        _sequence, document = restore_space_file(services, CITY, dump)
        assert [s["key"] for s in document["supersedes"]] == [later["object_key"]]
        assert document["restoredSequence"] == restored_to
        report = verify_tenant(services)
        assert report.ok, report.as_dict()
        assert report.superseded[0]["key"] == later["object_key"]
        _write(services, 9)
        _checkpoint(services)
        assert verify_tenant(services).ok
    finally:
        services.close()
        cluster.drop_database(dbname)
