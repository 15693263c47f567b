"""Re-sealing: objects stored in clear before sealing existed are sealed in place.

``yorisoi storage reseal [--tenant CODE]`` walks a municipality's household
and staff folders.  Each object is told apart by its first bytes
(``sealed_objects.MAGIC``): a sealed one is left alone, a clear one is read
(streamed) and written back sealed under its subject's key, at the same key.
A clear object of a household whose key is already destroyed is a copy that
disposal should have removed: its household folder is deleted.  On S3 the
older versions that still hold the clear bytes are removed at the end.

Idempotent and resumable: a run stopped anywhere is finished by running it
again (what is sealed is skipped; old versions are purged on every run).
Referral packets and disclosure exports are not touched: they were sealed
under the household key from the start (``referral_packets``,
``disclosure_links``) and are not attachments of this folder layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yorisoi.infra.sealed_objects import MAGIC, SealedObjects, is_sealed, subject_of
from yorisoi.infra.storage import ObjectNotFoundError, ObjectStore
from yorisoi.services.personal_data import HouseholdKeyDestroyedError


@dataclass
class ResealReport:
    """Counts only: object keys are ids, but a report needs none of them."""

    sealed: int = 0  # clear objects now sealed
    already: int = 0  # found sealed
    removed: int = 0  # clear copies of disposed households, deleted
    old_versions: int = 0  # older (clear) versions purged (S3)


def _first_bytes(objects: ObjectStore, key: str) -> bytes:
    pieces, _stored = objects.open(key)
    head = b""
    try:
        for piece in pieces:
            head += piece
            if len(head) >= len(MAGIC):
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    return head


def reseal_space(objects: ObjectStore, keyring: Any, space: str,
                 progress: Callable[[str], None] | None = None) -> ResealReport:
    """Seal every clear object of one municipality's space (see the module's docstring)."""
    report = ResealReport()
    sealed = SealedObjects(objects, keyring)
    for folder in (f"{space}/households", f"{space}/staff"):
        for key in list(objects.keys(folder)):
            subject = subject_of(key)
            if subject is None or subject.space != space:
                continue  # packets, disclosures: sealed as envelopes from the start
            try:
                if is_sealed(_first_bytes(objects, key)):
                    report.already += 1
                    outcome = "already"
                else:
                    pieces, stored = objects.open(key)
                    try:
                        sealed.put(key, subject.subject_id, pieces,
                                   content_type=stored.content_type or "application/octet-stream")
                        report.sealed += 1
                        outcome = "sealed"
                    except HouseholdKeyDestroyedError:
                        report.removed += objects.delete_prefix(key.rsplit("/", 2)[0])
                        outcome = "removed"
            except ObjectNotFoundError:
                continue  # removed meanwhile (a disposal, or the folder deleted above)
            if progress is not None:
                progress(outcome)
        report.old_versions += objects.purge_noncurrent(folder)
    return report


def reseal_all(services: Any, codes: list[str] | None = None,
               progress: Callable[[str], None] | None = None) -> ResealReport:
    """Re-seal every given (or every registered) municipality's objects; the summed counts."""
    total = ResealReport()
    for code in codes or [t.tenant_id for t in services.directory.registry.municipalities()]:
        with services.runtimes.lease(code) as rt:
            report = reseal_space(services.objects, rt.casework.keyring, rt.space, progress)
        for name in ("sealed", "already", "removed", "old_versions"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
    return total
