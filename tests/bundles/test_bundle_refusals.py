"""Drill: a bundle with one byte changed anywhere is refused with nothing written; an import
into a municipality that already exists is refused and leaves it untouched; a wrong recipient
key is refused before any write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bundle_world import CITY, destination, event_count, settings_for, source_deployment

from yorisoi.infra.checkpoints import checkpoint_store
from yorisoi.services.bundles.errors import (
    BundleChainError,
    BundleError,
    BundleRecipientError,
    BundleSignatureError,
    BundleTamperedError,
    BundleTargetExistsError,
)
from yorisoi.services.bundles.export import export_tenant
from yorisoi.services.bundles.load import import_bundle, space_exists
from yorisoi.services.bundles.recipient import generate
from yorisoi.tenants.spaces import municipality_space


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundle-refusals")
    settings, _ = settings_for("sqlite", base / "src")
    services, _disposed = source_deployment(settings)
    with services.runtimes.lease(CITY) as rt:  # a signed checkpoint travels in the bundle too
        rt.ledger.chain()
        from yorisoi.infra.checkpoints import Checkpointer
        Checkpointer(checkpoint_store(settings, services), services.signer).checkpoint(
            rt.casework.database, CITY)
    private, public = generate(base / "recipient")
    export_tenant(services, CITY, base / "city.bundle", public.read_text())
    services.close()
    return settings, base / "city.bundle", private.read_bytes(), base


def _nothing_written(services: Any) -> None:
    settings = services.settings
    assert not space_exists(settings, municipality_space(CITY), services.directory.platform.database)
    assert services.directory.registry.tenant(CITY) is None
    assert checkpoint_store(settings, services).copies(CITY) == []
    assert not (Path(settings.data_dir) / "objects" / municipality_space(CITY)).exists()


def test_one_byte_changed_anywhere_is_refused_with_nothing_written(exported, tmp_path):
    source_settings, bundle, identity, _ = exported
    data = bundle.read_bytes()
    size = len(data)
    manifest_at = data.rfind(b"manifest.json")  # its tar header
    positions = sorted({0, 100, 148, 512 + 7, size // 7, size // 3, size // 2, (2 * size) // 3,
                        manifest_at - 3, manifest_at + 600, size - 1500, size - 700, size - 1,
                        *range(1024, size - 2048, max(1, size // 23))})
    services = destination(settings_for("sqlite", tmp_path / "dest")[0], source_settings)
    try:
        refused: dict[str, int] = {}
        for position in positions:
            tampered = tmp_path / "tampered.bundle"
            changed = bytearray(data)
            changed[position] ^= 0x01
            tampered.write_bytes(bytes(changed))
            with pytest.raises(BundleError) as caught:
                import_bundle(services, tampered, identity)
            assert isinstance(caught.value, (BundleTamperedError, BundleSignatureError,
                                             BundleChainError)), (position, caught.value)
            refused[caught.value.code] = refused.get(caught.value.code, 0) + 1
            _nothing_written(services)
        assert len(positions) >= 25 and set(refused) <= {"bundle_tampered", "bundle_signature",
                                                         "bundle_chain"}
        # Cut short, or with a byte appended: refused as well.
        for cut in (data[:-512], data[: size // 2], data + b"\x00", data + b"x" * 512):
            (tmp_path / "cut.bundle").write_bytes(cut)
            with pytest.raises(BundleError):
                import_bundle(services, tmp_path / "cut.bundle", identity)
            _nothing_written(services)
        # The intact bundle imports (so the refusals above were about the byte).
        assert import_bundle(services, bundle, identity).counts["events"] > 0
    finally:
        services.close()


def test_wrong_recipient_key_is_refused_before_any_write(exported, tmp_path):
    source_settings, bundle, _identity, _base = exported
    other, _ = generate(tmp_path / "other")
    services = destination(settings_for("sqlite", tmp_path / "dest")[0], source_settings)
    try:
        with pytest.raises(BundleRecipientError):
            import_bundle(services, bundle, other.read_bytes())
        _nothing_written(services)
    finally:
        services.close()


def _state(services: Any) -> tuple[Any, ...]:
    """Everything an import would write: events, ledger, keys, registry, checkpoints, files."""
    with services.runtimes.lease(CITY) as rt, \
            rt.casework.database.transaction(write=False) as cur:
            rows = tuple(tuple(sorted(r.items())) for table in (
                "{events}", "{s}audit_ledger", "{s}household_keys", "{s}audit_checkpoints",
                "{s}access_log") for r in cur.execute(f"SELECT * FROM {table}").fetchall())
    objects = sorted(p.relative_to(services.settings.data_dir).as_posix()
                     for p in (Path(services.settings.data_dir) / "objects").rglob("*"))
    return (event_count(services), rows, len(services.directory.registry.municipalities()),
            [c.key for c in checkpoint_store(services.settings, services).copies(CITY)], objects)


def test_import_into_an_existing_space_is_refused_untouched(exported, tmp_path):
    source_settings, bundle, identity, _ = exported
    services = destination(settings_for("sqlite", tmp_path / "dest")[0], source_settings)
    try:
        import_bundle(services, bundle, identity)
        before = _state(services)
        with pytest.raises(BundleTargetExistsError) as caught:
            import_bundle(services, bundle, identity)
        assert caught.value.message_ja and "already exists" in caught.value.message
        assert _state(services) == before
    finally:
        services.close()


def test_a_space_left_by_another_deployment_counts_as_existing(exported, tmp_path, request):
    """PostgreSQL: a schema of that name already there (say, a half-done manual restore)."""
    cluster = request.getfixturevalue("pg_cluster")
    source_settings, bundle, identity, _ = exported
    settings, dbname = settings_for("postgres", tmp_path / "dest", cluster)
    services = destination(settings, source_settings)
    try:
        with cluster.connect(dbname, "owner", autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {municipality_space(CITY)}")
            conn.execute(f"CREATE TABLE {municipality_space(CITY)}.keep (x int)")
            conn.execute(f"INSERT INTO {municipality_space(CITY)}.keep VALUES (7)")
        with pytest.raises(BundleTargetExistsError):
            import_bundle(services, bundle, identity)
        with cluster.connect(dbname, "owner") as conn:
            assert conn.execute(f"SELECT x FROM {municipality_space(CITY)}.keep").fetchall() == [(7,)]
        assert services.directory.registry.tenant(CITY) is None
    finally:
        services.close()
        cluster.drop_database(dbname)
