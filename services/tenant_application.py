"""The base of every application whose events live in one tenant's space."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    Repository,
    project_aggregate,
)
from eventsourcing.persistence import JSONTranscoder, Mapper

from yorisoi.domain.errors import DomainError
from yorisoi.infra.db import Database, declare_platform_lookup
from yorisoi.infra.keys import TenantKeyProvider
from yorisoi.infra.recorders import (
    ReadSet,
    StaleReadError,
    current_reads,
    join_units_of_work,
)
from yorisoi.infra.telemetry import command_span
from yorisoi.services.aggregate_cache import AggregateCache
from yorisoi.services.event_mapper import PersonalDataMapper, register_transcodings
from yorisoi.services.personal_data import HouseholdKeyring

T = TypeVar("T")

# The registry's space (tenants/spaces.PLATFORM_SPACE; not imported: tenants imports services).
PLATFORM_SPACE = "platform"

# A command whose reads went stale runs again; this many times at most.  After the
# first stale read the attempts queue on the contended aggregate's lock
# (``TenantApplication.serialised``), so each further attempt reads what the one
# before it wrote: eight writers on one case finish one after another, not in a storm
# of refusals.
COMMAND_ATTEMPTS = 8
# How long an aggregate stays contended (its commands queue from their first attempt).
CONTENDED_SECONDS = 10.0
DEFAULT_COMMAND_CACHE_SIZE = 2000


def _aggregate_lock(aggregate_id: UUID) -> int:
    """A stable signed 64-bit advisory lock number for one aggregate."""
    digest = hashlib.blake2b(b"yorisoi.aggregate:" + aggregate_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's ``project_aggregate`` without its per-event Protocol check.

    ``isinstance(event, CanMutateProtocol)`` on a runtime-checkable Protocol costs
    ~17 µs per event on Python 3.11 (5–7% of a command); every event stored here
    is an aggregate event, whose ``mutate`` is what the check looks for.
    """
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class _Repository(Repository[UUID]):
    # Set by the application: aggregates kept for commands whose reads are validated
    # (``aggregates``: whole, without personal fields; ``terms``: personal fields withheld).
    aggregates: AggregateCache | None = None
    terms_kept: AggregateCache | None = None

    def get(self, aggregate_id: UUID, *, projector_func: Any = None,  # type: ignore[override]
            version: int | None = None, **kwargs: Any) -> Any:
        if projector_func is None or projector_func is project_aggregate:
            projector_func = _replay
        reads = current_reads()
        if reads is None or version is not None or self.aggregates is None:
            return super().get(aggregate_id, projector_func=projector_func, version=version,
                               **kwargs)
        # Inside a command whose insert validates what it read (see run_command).
        return _kept_or_read(self.aggregates, reads, aggregate_id, lambda: super(
            _Repository, self).get(aggregate_id, projector_func=projector_func, **kwargs))

    def terms(self, aggregate_id: UUID) -> Any:
        """The aggregate with its personal fields withheld: None, as after shredding.

        For rules that look only at what is stored in clear — does a consent
        cover sharing with this kind of agency on this day — a personal
        aggregate is read without opening its envelopes (no key, no access to
        log, nothing personal in memory), so in a command it can be kept too.
        The instance is marked (``personal_withheld``) and must not leave the rule.
        """
        def read() -> Any:
            stored = self.event_store.recorder.select_events(aggregate_id)
            mapper = self.event_store.mapper
            aggregate = _replay(None, (mapper.to_withheld_event(event) for event in stored))
            if aggregate is None:
                raise AggregateNotFoundError(aggregate_id)
            aggregate.personal_withheld = True
            return aggregate

        reads = current_reads()
        if reads is None or self.terms_kept is None:
            return read()
        return _kept_or_read(self.terms_kept, reads, aggregate_id, read)


def _kept_or_read(kept: AggregateCache, reads: ReadSet, aggregate_id: UUID,
                  read: Callable[[], Any]) -> Any:
    """A kept copy if the attempt may use one, else a read (then kept); noted in the read set."""
    if reads.use_cache and (found := kept.get(aggregate_id)) is not None:
        version, aggregate = found
        reads.note(aggregate_id, version)
        reads.cache_hits += 1
        if aggregate is None:
            raise AggregateNotFoundError(aggregate_id)
        return aggregate
    try:
        aggregate = read()
    except AggregateNotFoundError:
        reads.note(aggregate_id, 0)
        kept.put_absent(aggregate_id)
        raise
    reads.note(aggregate_id, aggregate.version)
    kept.put(aggregate)
    return aggregate


def _wrote(reads: Any) -> bool:
    # A command that saved in several steps (a hand-over in batches) and failed after
    # the first is not run again here: its earlier steps are committed.
    return reads is not None and reads.committed > 0


def command(name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run an application method as a command (``TenantApplication.run_command``)."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def run(self: TenantApplication, *args: Any, **kwargs: Any) -> T:
            return self.run_command(name, lambda: method(self, *args, **kwargs))

        return run

    return wrap


class SnapshotsWouldLeakError(RuntimeError):
    """Snapshots store aggregate state in plaintext; they stay off here."""


class TenantApplication(Application[UUID]):
    """An application whose events live in one tenant's space, personal data encrypted."""

    def __init__(self, env: dict[str, str], *, tenant: str,
                 key_provider: TenantKeyProvider) -> None:
        if str(env.get("IS_SNAPSHOTTING_ENABLED", "no")).lower() in ("y", "yes", "t", "true", "1"):
            raise SnapshotsWouldLeakError("snapshots would store personal fields in plaintext")
        self.tenant = tenant
        self.key_provider = key_provider
        super().__init__(env)
        if self.snapshots is not None:  # switched on some other way (class attribute, OS env)
            self.close()
            raise SnapshotsWouldLeakError("snapshots would store personal fields in plaintext")
        if self.repository.cache is not None:
            # A cached aggregate would keep decrypted personal fields after disposal.
            self.close()
            raise SnapshotsWouldLeakError("the aggregate cache would keep personal fields in memory")
        self.database.events_table = self.recorder.events_table_name
        # Exactly-once writes commit a command's events with its idempotency record.
        join_units_of_work(self.factory.datastore)  # type: ignore[attr-defined]
        if hasattr(self.recorder, "keyring"):  # PostgreSQL: the insert re-checks keys
            self.recorder.keyring = self.keyring
        if self.database.dialect == "postgres":
            # Connections idle for a minute go back: an idle tenant holds none.
            self.factory.datastore.pool.max_idle = 60.0  # type: ignore[attr-defined]
            if tenant == PLATFORM_SPACE:
                declare_platform_lookup(self.factory.datastore.pool)  # type: ignore[attr-defined]
                self.database.declares_every_setting = True
        size = int(env.get("YORISOI_COMMAND_CACHE_SIZE") or DEFAULT_COMMAND_CACHE_SIZE)
        self.aggregates = AggregateCache(size)
        self.terms_kept = AggregateCache(size, withheld=True)
        self.repository.aggregates = self.aggregates  # type: ignore[attr-defined]
        self.repository.terms_kept = self.terms_kept  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ commands

    def run_command(self, name: str, body: Callable[[], T]) -> T:
        """Run ``body`` (get → decide → save) with validated reads, again if they went stale.

        Inside, aggregates without personal fields may come from the aggregate
        cache, and the insert refuses the events (``StaleReadError``) if
        anything the command read has changed meanwhile; the command then runs
        again, reading what changed afresh.  A refusal (``DomainError``) is
        only ever given on fresh reads: if any read came from the cache, the
        command runs once more without it, so a user is never refused because
        of an old copy.  A command that has already committed a first save is
        never run again (the error goes to the caller).  A command inside
        another one joins the outer one.
        """
        if current_reads() is not None:
            return body()
        with command_span(name, self.tenant) as span:
            use_cache = self.recorder.validates_reads
            contended: UUID | None = None
            for attempt in range(1, COMMAND_ATTEMPTS + 1):
                with self.serialised(contended), self.recorder.reading_ahead(), \
                        self.recorder.validating_reads(use_cache=use_cache) as reads:
                    try:
                        result = body()
                    except StaleReadError as error:
                        # Whatever this attempt read may be old: read it all afresh.
                        for kept in (self.aggregates, self.terms_kept):
                            kept.evict(reads.versions if reads is not None else ())
                        if attempt == COMMAND_ATTEMPTS or _wrote(reads):
                            raise
                        if error.originator_id is not None:
                            contended = error.originator_id
                            self.mark_contended(contended)
                    except DomainError:
                        if (reads is None or not reads.cache_hits or _wrote(reads)
                                or attempt == COMMAND_ATTEMPTS):
                            raise
                        use_cache = False
                    else:
                        if reads is not None and reads.cache_hits:
                            span.set_attribute("yorisoi.cache.hits", reads.cache_hits)
                        if attempt > 1:
                            span.set_attribute("yorisoi.command.attempts", attempt)
                        return result
                # Always on until the insert function is known to validate reads.
                use_cache = use_cache and self.recorder.validates_reads
        raise AssertionError("unreachable")  # pragma: no cover

    def mark_contended(self, aggregate_id: UUID) -> None:
        """Commands on this aggregate queue on its lock for a while (``serialised``)."""
        contended = self.__dict__.setdefault("_contended", {})
        contended[aggregate_id] = time.monotonic() + CONTENDED_SECONDS
        if len(contended) > 1000:  # bounded: forget the expired
            now = time.monotonic()
            for key in [k for k, until in contended.items() if until < now]:
                del contended[key]

    def is_contended(self, aggregate_id: UUID | None) -> bool:
        until = self.__dict__.get("_contended", {}).get(aggregate_id)
        return until is not None and until > time.monotonic()

    @contextmanager
    def serialised(self, aggregate_id: UUID | None) -> Iterator[None]:
        """Commands on ``aggregate_id`` run one at a time, across processes (PostgreSQL).

        A unit of work holding a transaction advisory lock of the aggregate: the
        command's reads, decision and insert happen while no other command on it
        can write, so none of them goes stale.  Taken only where commands have
        been seen to collide (the uncontended path pays nothing); the lock comes
        before the insert's ordering lock, always in that order.
        """
        if aggregate_id is None or self.database.dialect != "postgres":
            yield
            return
        with self.database.unit_of_work() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_aggregate_lock(aggregate_id),))
            yield

    def read_ahead(self, aggregate_ids: Sequence[UUID]) -> None:
        """Fetch, in one statement, the aggregates the command will read (unless kept)."""
        reads = current_reads()
        if reads is not None and reads.use_cache:
            aggregate_ids = [i for i in aggregate_ids if i not in self.aggregates]
        self.recorder.read_ahead(aggregate_ids)

    def _record(self, processing_event: Any) -> Any:
        recordings = super()._record(processing_event)
        if self.recorder.validates_reads:
            # What was just written is the newest version: keep it for the next command
            # (and forget terms read before it, which would only make that command retry).
            self.terms_kept.evict(processing_event.aggregates)
            for aggregate in processing_event.aggregates.values():
                self.aggregates.put(aggregate)
        return recordings

    def construct_repository(self) -> Repository[UUID]:
        repository = super().construct_repository()
        # The library builds it from the environment; only ``get``'s default changes.
        repository.__class__ = _Repository
        return repository

    def construct_mapper(self) -> Mapper[UUID]:
        datastore = self.factory.datastore  # type: ignore[attr-defined]
        postgres = hasattr(datastore, "schema")
        self.database = Database(datastore, "postgres" if postgres else "sqlite",
                                 datastore.schema if postgres else None, self.tenant)
        self.keyring = HouseholdKeyring(self.database, self.key_provider, self.tenant)
        mapper = self.factory.mapper(transcoder=self.construct_transcoder(),
                                     mapper_class=PersonalDataMapper)
        mapper.keyring = self.keyring
        return mapper

    def construct_recorder(self):  # noqa: ANN201
        recorder = super().construct_recorder()
        recorder.tenant = self.tenant
        return recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_transcodings(transcoder)
