"""Who may read personal fields in this request, and the log of what they read.

Every read of personal data in a read model goes through
``HouseholdKeyring.read_json``, which asks the request's ``PersonalAccess``:

- a reader whose grant carries the need to know (``full``) reads, and the read
  is logged (household, record, field names, grant);
- a reader without the need (``masked``: municipal admins, contractor admins,
  compliance auditors, platform operators) gets ``MASKED`` instead of the
  value — the ciphertext is never opened — unless a compliance auditor has
  recorded a break-glass reason for that household (then the read is logged
  under that break-glass id);
- a municipality nobody was authorised for in this request reads nothing.

The log is kept in memory and written once per request, per municipality,
in one INSERT batch (``flush``): cheap enough to leave on for every request.
Outside a request (CLI, projections, workers) there is no ``PersonalAccess``
and reads are the system's own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from yorisoi.infra.access_log_store import AccessEntry
from yorisoi.services.context import ActingContext

Mode = Literal["full", "masked"]


class _Masked(dict):  # type: ignore[type-arg]
    """What a masked read returns: every field reads as None, and it is not 'disposed'."""

    def __getitem__(self, key: Any) -> None:
        return None

    def get(self, key: Any, default: Any = None) -> None:  # noqa: ARG002 - masked whatever asked
        return None

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "MASKED"


MASKED: Any = _Masked()


def is_masked(value: Any) -> bool:
    return value is MASKED


@dataclass
class Reader:
    """One principal's standing in one municipality's space for this request."""

    acting: ActingContext
    mode: Mode
    revealed: dict[str, str] = field(default_factory=dict)  # household id -> break-glass id

    def basis(self, household_id: str) -> tuple[str, str | None] | None:
        if self.mode == "full":
            return "grant", None
        glass = self.revealed.get(household_id)
        return ("break_glass", glass) if glass else None


class PersonalAccess:
    """The request's readers (per space) and the reads they made, written at the end."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._readers: dict[str, Reader] = {}
        self._entries: dict[str, list[AccessEntry]] = {}
        self._seen: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def admit(self, space: str, reader: Reader) -> None:
        """Record the standing a grant gives; a fuller standing is never narrowed."""
        with self._lock:
            current = self._readers.get(space)
            if current is None or (current.mode == "masked" and reader.mode == "full"):
                self._readers[space] = reader
            elif current.mode == reader.mode == "masked":
                current.revealed.update(reader.revealed)

    def reader(self, space: str) -> Reader | None:
        return self._readers.get(space)

    def basis(self, space: str, household_id: str) -> tuple[str, str | None] | None:
        reader = self._readers.get(space)
        return None if reader is None else reader.basis(household_id)

    def record(self, space: str, household_id: str, record_kind: str, record_id: str,
               fields: tuple[str, ...], basis: tuple[str, str | None]) -> None:
        reader = self._readers[space]
        key = (household_id, record_kind, record_id)
        with self._lock:
            if key in self._seen:  # one entry per record per request
                return
            self._seen.add(key)
            a = reader.acting
            self._entries.setdefault(space, []).append(AccessEntry(
                recorded_at=datetime.now(UTC).isoformat(), actor=a.user_id, role=a.role,
                organisation_kind=a.organisation_kind, organisation_id=a.organisation_id,
                contract_id=a.contract_id, household_id=household_id, record_kind=record_kind,
                record_id=record_id, fields=fields, basis=basis[0], basis_ref=basis[1],
                request_id=a.request_id, trace_id=a.trace_id, channel=self.channel))

    def pending(self) -> dict[str, list[AccessEntry]]:
        with self._lock:
            return {space: list(entries) for space, entries in self._entries.items() if entries}

    def take(self, space: str) -> list[AccessEntry]:
        """One space's pending entries, handed to a caller that writes them (else ``give_back``)."""
        with self._lock:
            return self._entries.pop(space, [])

    def give_back(self, space: str, entries: list[AccessEntry]) -> None:
        """Entries ``take`` handed out whose write failed: pending again, in their order."""
        with self._lock:
            self._entries[space] = entries + self._entries.get(space, [])

    def flush(self, write: Callable[[str, list[AccessEntry]], None]) -> int:
        """Write the pending entries (``write(space, entries)`` per space); returns how many."""
        with self._lock:
            batches, self._entries = self._entries, {}
        for space, entries in batches.items():
            write(space, entries)
        return sum(len(e) for e in batches.values())


_current: ContextVar[PersonalAccess | None] = ContextVar("yorisoi_personal_access", default=None)


def current_access() -> PersonalAccess | None:
    return _current.get()


@contextmanager
def reading_as(access: PersonalAccess) -> Iterator[PersonalAccess]:
    """Make ``access`` decide every personal read in this context (and threads it starts)."""
    token = _current.set(access)
    try:
        yield access
    finally:
        _current.reset(token)


def may_read(space: str, household_id: str, record_kind: str, record_id: str,
             fields: tuple[str, ...]) -> bool:
    """For reads that do not go through a sealed view row (aggregates loaded from events).

    True (and the read is logged) when the request may see these fields; False
    when they must be masked.  Outside a request: the system's own read.
    """
    access = current_access()
    if access is None:
        return True
    basis = access.basis(space, household_id)
    if basis is None:
        return False
    access.record(space, household_id, record_kind, record_id, fields, basis)
    return True
