"""Importing a bundle (another deployment, or this one after a loss), verified before any write.

Order: the container (signed manifest, every byte), the chains (the
municipality's ledger and its registry entries, through the one verifier),
the recipient's key opening every household key, the target (its space, its
registry entry and its checkpoint objects must not exist) — then, and only
then, writes: the space is provisioned (a new tenant key here), events are
loaded with their notification ids (``COPY`` on PostgreSQL, ``executemany``
on SQLite: the statements are ``infra/bundle_store``'s) so every read model's
position and the hash chain still hold, household keys are re-wrapped
under the new tenant key (a disposed household's row comes with its key
still absent), the access log, ledger and checkpoint records are loaded as
stored, stored files are copied as sealed, registry entries not already
here are added, a signed custody record is chained, and every read model is
built from the log.

A failure after the space was created removes it again (events are
immutable rows: the space is dropped whole, never edited), so running the
import again starts clean.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from yorisoi.infra import bundle_store
from yorisoi.infra.audit_ledger_store import (
    LEDGER_COLUMNS,
    PLATFORM_LEDGER,
    AuditLedgerStore,
    ledger_transaction,
)
from yorisoi.infra.bundle_store import drop_space, space_exists
from yorisoi.infra.checkpoints import checkpoint_store
from yorisoi.infra.db import Database
from yorisoi.infra.storage import ObjectLockedError
from yorisoi.services.audit_ledger import AuditChainer
from yorisoi.services.audit_verify import VerificationReport
from yorisoi.services.bundles.container import BundleReader
from yorisoi.services.bundles.custody import CustodyRecord, sign_record
from yorisoi.services.bundles.errors import (
    BundleCodeMismatchError,
    BundleTargetExistsError,
)
from yorisoi.services.bundles.recipient import RecipientUnwrapper, load_private
from yorisoi.services.bundles.verify import verify_bundle
from yorisoi.tenants.spaces import event_store_env, municipality_space

BATCH = bundle_store.BATCH
Progress = Callable[[str, int], None]


@dataclass
class ImportResult:
    code: str
    space: str
    bundle_id: str
    counts: dict[str, int]
    report: VerificationReport
    registry_added: int = 0
    registry_kept: int = 0
    custody_sequence: int | None = None
    superseded: list[dict[str, Any]] = field(default_factory=list)


def _custodian() -> Any:
    from yorisoi.services.context import ActingContext

    return ActingContext(user_id="cli", role="platform_operator", organisation_kind="platform",
                         organisation_id="platform")


class TenantImporter:
    """Verifies a bundle, then loads it (``services``: infra/bootstrap.Services)."""

    def __init__(self, services: Any, path: Path, identity_pem: bytes, *,
                 as_code: str | None = None, public_pem: str | None = None,
                 progress: Progress | None = None) -> None:
        self.services = services
        self.progress = progress or (lambda _stage, _n: None)
        self.reader = BundleReader(path, public_pem)
        manifest = self.reader.manifest
        self.code = str(manifest["tenant"])
        if as_code is not None and as_code != self.code:
            raise BundleCodeMismatchError()
        self.space = municipality_space(self.code)
        self.bundle_id = str(manifest["bundleId"])
        self.identity = load_private(identity_pem)
        self.report: VerificationReport | None = None

    # ------------------------------------------------------------------ checks (no writes)

    def check(self, *, restoring: bool = False) -> VerificationReport:
        self.report = verify_bundle(self.reader)
        unwrapper = RecipientUnwrapper(self.identity, self.reader.manifest["recipient"],
                                       self.bundle_id)
        for record in self.reader.records("household_keys"):  # every key opens, or nothing
            if record["wrapped"] is not None:
                unwrapper.unwrap(record["householdId"], base64.b64decode(record["wrapped"]))
        if not restoring:
            directory = self.services.directory
            if (space_exists(self.services.settings, self.space, directory.platform.database)
                    or directory.registry.tenant(self.code) is not None
                    or checkpoint_store(self.services.settings, self.services).copies(self.code)):
                raise BundleTargetExistsError()
        return self.report

    # ------------------------------------------------------------------ writes

    def run(self, *, restoring: bool = False, checked: bool = False) -> ImportResult:
        """Load the bundle (``checked``: ``check`` already passed for this mode)."""
        report = self.report if checked and self.report is not None else self.check(
            restoring=restoring)
        settings = self.services.settings
        if restoring:
            self.services.runtimes.close()  # no cached runtime keeps the old space open
            drop_space(settings, self.space)
        try:
            counts = self._load()
        except BaseException:
            drop_space(settings, self.space)
            raise
        result = ImportResult(self.code, self.space, self.bundle_id, counts, report)
        if not restoring:
            result.registry_added, result.registry_kept = self._load_registry()
        return result

    def _load(self) -> dict[str, int]:
        services, settings = self.services, self.services.settings
        services.directory.provisioner.create_municipality_space(self.code)
        from yorisoi.services.casework import CaseworkApplication

        owner = CaseworkApplication(event_store_env(settings, self.space, admin=True),
                                    tenant=self.space, key_provider=services.key_provider)
        try:
            db = owner.database
            counts = {"events": self._load_events(db)}
            counts["access"] = self._load_access(db)
            counts["ledger"] = bundle_store.insert_rows(db, "audit_ledger", LEDGER_COLUMNS, (
                (r["sequence"], r["kind"], r["source"], r["sourceSha256"], r["chainedAt"],
                 r["prevHash"], r["entryHash"]) for r in self.reader.records("ledger")))
            counts["household_keys"] = self._load_keys(db)
            counts["disposal_authorisations"] = self._load_authorisations(db)
            counts["checkpoints"] = self._load_checkpoints(db)
        finally:
            owner.close()
        counts["objects"] = self._load_objects()
        return counts

    def _events(self) -> Iterator[tuple[int, str, int, str, bytes]]:
        for done, line in enumerate(self.reader.lines("events"), 1):
            data = json.loads(line)
            if done % BATCH == 0:  # the bar moves per batch: a call per row costs more
                self.progress("events", BATCH)
            yield (int(data["notificationId"]), str(data["originatorId"]),
                   int(data["originatorVersion"]), str(data["topic"]),
                   base64.b64decode(data["state"]))

    def _load_events(self, db: Database) -> int:
        return bundle_store.load_events(db, self._events())

    def _load_access(self, db: Database) -> int:
        from yorisoi.infra.access_log_store import COLUMNS

        return bundle_store.load_access_log(db, COLUMNS, (
            (int(r["entry_id"]), *(r[c] for c in COLUMNS))
            for r in self.reader.records("access_log")))

    def _load_keys(self, db: Database) -> int:
        unwrapper = RecipientUnwrapper(self.identity, self.reader.manifest["recipient"],
                                       self.bundle_id)
        provider = self.services.key_provider

        def rows() -> Iterator[tuple[Any, ...]]:
            for record in self.reader.records("household_keys"):
                household = record["householdId"]
                wrapped = None
                if record["wrapped"] is not None:  # a disposed household's key stays absent
                    data_key = unwrapper.unwrap(household, base64.b64decode(record["wrapped"]))
                    wrapped = provider.wrap(self.space, data_key, {"household": household})
                yield household, wrapped, record["createdAt"], record["destroyedAt"]

        return bundle_store.load_household_keys(db, rows())

    def _load_authorisations(self, db: Database) -> int:
        return bundle_store.load_disposal_authorisations(
            db, list(self.reader.records("disposal_authorisations")))

    def _load_checkpoints(self, db: Database) -> int:
        store = checkpoint_store(self.services.settings, self.services)
        versions: dict[str, str | None] = {}
        for record in self.reader.records("checkpoints"):
            if record.get("recorded") or record.get("data") is None:
                continue
            try:  # the exporting platform's signed objects, byte for byte
                versions[record["key"]] = store.write(record["key"],
                                                      base64.b64decode(record["data"]))
            except ObjectLockedError:
                versions[record["key"]] = None  # already here (a restore of this deployment)
        recorded = [r for r in self.reader.records("checkpoints") if r.get("recorded")]
        with ledger_transaction(db) as cur:
            ledger = AuditLedgerStore(db)
            for r in recorded:
                ledger.record_checkpoint(cur, int(r["sequence"]), r["headHash"], r["key"],
                                         versions.get(r["key"]), r["createdAt"])
        return len(versions)

    def _load_objects(self) -> int:
        objects = self.services.objects
        index = {r["key"]: r for r in self.reader.records("objects")}
        for key, record in index.items():
            objects.put_stream(key, self.reader.open_member(f"objects/{key}"),
                               content_type=record.get("contentType")
                               or "application/octet-stream")
            self.progress("objects", 1)
        return len(index)

    def _load_registry(self) -> tuple[int, int]:
        """Registry events of aggregates this registry does not hold yet (others are kept)."""
        from yorisoi.services.platform import PlatformApplication
        from yorisoi.tenants.spaces import PLATFORM_SPACE

        # As the registry's owner: the application role writes registry events only through
        # the library's insert function.
        owner = PlatformApplication(event_store_env(self.services.settings, PLATFORM_SPACE,
                                                    admin=True),
                                    tenant=PLATFORM_SPACE, key_provider=self.services.key_provider)
        try:
            added, kept = self._insert_registry(owner.database)
        finally:
            owner.close()
        platform = self.services.directory.platform.database
        directory = self.services.directory
        directory.projector.catch_up()
        directory.neighbour_projector.catch_up()
        directory.registry.changed()
        AuditChainer(platform, PLATFORM_LEDGER).chain()
        return added, kept

    def _insert_registry(self, platform: Database) -> tuple[int, int]:
        by_aggregate: dict[str, list[tuple[int, str, bytes]]] = {}
        for data in self.reader.records("registry.events"):
            by_aggregate.setdefault(str(UUID(data["originatorId"])), []).append(
                (int(data["originatorVersion"]), data["topic"], base64.b64decode(data["state"])))
        return bundle_store.add_registry_events(platform, by_aggregate)

    # ------------------------------------------------------------------ after the load

    def finish(self, result: ImportResult, *, action: str = "import",
               supersedes: list[dict[str, Any]] | None = None) -> ImportResult:
        """Build the read models, chain, and record the custody (signed, in the ledger)."""
        extra = {"bundleId": self.bundle_id, "sourceKeyId": self.reader.signer_key_id}
        if self.reader.signer_key_id != self.services.signer.key_id:
            extra["sourcePublicKey"] = self.reader.signer_pem
        result.custody_sequence, document = record_custody(
            self.services, self.code, action=action, supersedes=supersedes, **extra)
        result.superseded = list(document["supersedes"])
        return result


def record_custody(services: Any, code: str, *, action: str,
                   supersedes: list[dict[str, Any]] | None = None,
                   **extra: Any) -> tuple[int, dict[str, Any]]:
    """Catch the read models up, then chain a signed custody record at the ledger's head.

    ``supersedes`` None: every checkpoint in storage that the current chain
    does not verify (beyond its head, or of another head) — what a restore
    to an earlier point leaves behind.  Returns the ledger's head after the
    record was chained, and the record's document.
    """
    from yorisoi.services.context import acting_as

    with services.runtimes.lease(code) as runtime:
        runtime.catch_up()  # every read model from the log
        runtime.ledger.chain()  # (catch_up leaves chaining to the background keeper)
        db = runtime.casework.database
        with ledger_transaction(db, write=False) as cur:
            head, head_hash = AuditLedgerStore(db).head(cur)
        if supersedes is None:
            supersedes = superseded_checkpoints(services, runtime)
        signed = sign_record(services.signer, action=action, tenant=code,
                             restored_sequence=head, restored_head=head_hash,
                             supersedes=supersedes, **extra)
        with acting_as(_custodian()):
            runtime.casework.save(CustodyRecord(signed))
        runtime.catch_up()
        runtime.ledger.chain()
        with ledger_transaction(db, write=False) as cur:
            return AuditLedgerStore(db).head(cur)[0], signed["record"]


def superseded_checkpoints(services: Any, runtime: Any) -> list[dict[str, Any]]:
    """Checkpoints in storage that the municipality's chain, as it is now, does not verify."""
    from yorisoi.services.audit_verify import ledger_sources, verify

    source = ledger_sources(services, runtime)
    source.registry = None
    report = verify(source, services.signer.public_pem)
    wrong = {p.key for p in report.problems
             if p.code in ("checkpoint_beyond_head", "checkpoint_head") and p.key}
    found = []
    for copy in source.checkpoints:
        if copy.key in wrong:
            document = json.loads(copy.data or b"{}")["checkpoint"]
            found.append({"key": copy.key, "sequence": int(document["sequence"]),
                          "headHash": document["headHash"]})
    return found


def import_bundle(services: Any, path: Path, identity_pem: bytes, *, as_code: str | None = None,
                  public_pem: str | None = None, progress: Progress | None = None
                  ) -> ImportResult:
    """Verify, then import the bundle as a new municipality of this deployment."""
    importer = TenantImporter(services, path, identity_pem, as_code=as_code,
                              public_pem=public_pem, progress=progress)
    return importer.finish(importer.run(), supersedes=[])


def restore_bundle(services: Any, code: str, path: Path, identity_pem: bytes, *,
                   public_pem: str | None = None, progress: Progress | None = None
                   ) -> ImportResult:
    """Replace ``code``'s space with the bundle's, then record what that superseded."""
    from yorisoi.tenants.upgrades import replacing_space

    importer = TenantImporter(services, path, identity_pem, as_code=code,
                              public_pem=public_pem, progress=progress)
    importer.check(restoring=True)  # a bundle refused leaves the space and its journal as they are
    with replacing_space(services.directory, code):
        result = importer.run(restoring=True, checked=True)
        services.runtimes.close()
    return importer.finish(result, action="restore", supersedes=None)
