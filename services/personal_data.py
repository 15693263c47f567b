"""Crypto-shredding: personal fields are encrypted under the household's data key.

Each household has its own random 256-bit data key, stored only wrapped by the
tenant's key (``infra/keys.py``) in the tenant's ``household_keys`` table
(``infra/household_keys.py``).
Events, read-model rows and exports keep personal fields as AES-GCM ciphertext
under that key.  Destroying the wrapped key (disposal) makes every copy of the
household's personal data unreadable, in backups too, while streams, metadata
and hashes stay intact.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yorisoi.infra.db import Database
# HouseholdKeyDestroyedError is defined with the key store (the recorder raises it too)
# and stays importable from here, where the services meet it.
from yorisoi.infra.household_keys import MISSING, HouseholdKeyDestroyedError, HouseholdKeyStore
from yorisoi.infra.keys import RetiredVersion, TenantKeyProvider, TenantKeyRetiredError
from yorisoi.services.personal_access import MASKED, current_access

_ENVELOPE_VERSION = b"\x01"
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True)
class TenantKeyRotation:
    """What one rotation of the tenant key did (no key material)."""

    provider: str
    version: int  # the version every live household key is now wrapped under
    retired: list[RetiredVersion]
    rewrapped: int


class HouseholdKeyring:
    """Creates, unwraps, caches and destroys household data keys for one tenant."""

    def __init__(self, database: Database, provider: TenantKeyProvider, tenant: str,
                 cache_size: int = 2048, cache_seconds: float = 30.0) -> None:
        self.db = database
        self.store = HouseholdKeyStore(database)
        self.provider = provider
        self.tenant = tenant
        # Unwrapped keys are cached briefly: another process may destroy a key,
        # and this one must stop using it within ``cache_seconds``.
        self._cache: OrderedDict[UUID, tuple[float, AESGCM]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._preload_lock = threading.Lock()
        # Set by the PostgreSQL recorder once its insert checks, in the insert's
        # own transaction, that every sealing household's key is still live
        # (infra/recorders.py): then an event may be sealed with a cached key.
        self.keys_checked_on_insert = False

    def _context(self, household_id: UUID) -> dict[str, str]:
        return {"household": str(household_id)}

    def _cached(self, household_id: UUID) -> AESGCM | None:
        entry = self._cache.get(household_id)
        if entry is None or time.monotonic() - entry[0] > self._cache_seconds:
            return None
        return entry[1]

    def _remember(self, household_id: UUID, aead: AESGCM) -> AESGCM:
        with self._lock:
            self._cache[household_id] = (time.monotonic(), aead)
            self._cache.move_to_end(household_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return aead

    def _load(self, household_id: UUID) -> tuple[bool, AESGCM | None]:
        """(row exists, key or None when destroyed)."""
        wrapped = self.store.wrapped(household_id)
        if wrapped is MISSING:
            return False, None
        if wrapped is None:
            return True, None
        try:
            data_key = self.provider.unwrap(self.tenant, wrapped,  # type: ignore[arg-type]
                                            self._context(household_id))
        except TenantKeyRetiredError:
            # A rotation re-wrapped the key between our read and our unwrap: read it again.
            wrapped = self.store.wrapped(household_id)
            if wrapped is None or wrapped is MISSING:
                return wrapped is None, None
            data_key = self.provider.unwrap(self.tenant, wrapped,  # type: ignore[arg-type]
                                            self._context(household_id))
        return True, self._remember(household_id, AESGCM(data_key))

    def for_reading(self, household_id: UUID) -> AESGCM | None:
        """The household's key, or None once it has been destroyed."""
        return self._cached(household_id) or self._load(household_id)[1]

    def preload(self, household_ids: Any) -> None:
        """Cache the keys of a page's households (any iterable of ids) with one read.

        A list read on a cold cache would otherwise read household_keys once per
        household (tests/graphql/test_statement_counts.py).  Only fills the cache:
        destroyed, missing or failing keys are left to ``for_reading``.
        """
        access = current_access()  # a masked read never opens, so needs no key
        # One preload at a time: a page's DataLoaders run in parallel threads and
        # would otherwise both read the same missing keys.
        with self._preload_lock:
            wanted = [h for h in dict.fromkeys(UUID(str(h)) for h in household_ids)
                      if self._cached(h) is None
                      and (access is None or access.basis(self.tenant, str(h)) is not None)]
            if not wanted:
                return
            for household_id, wrapped in self.store.wrapped_many(wanted).items():
                try:
                    data_key = self.provider.unwrap(self.tenant, wrapped,  # type: ignore[arg-type]
                                                    self._context(household_id))
                except Exception:  # noqa: BLE001 - e.g. a rotation in between: read it singly
                    continue
                self._remember(household_id, AESGCM(data_key))

    def for_writing(self, household_id: UUID) -> AESGCM:
        """The household's key, created on first use; refused after disposal.

        Always asks the database (never the cache): a household disposed of by
        another process a moment ago must not receive new personal data.
        """
        exists, aead = self._load(household_id)
        if aead is not None:
            return aead
        if exists:
            raise HouseholdKeyDestroyedError(household_id)
        data_key = AESGCM.generate_key(bit_length=256)
        # Wrapped and stored under the rotation lock: a key wrapped under a
        # tenant-key version that a concurrent rotation is retiring would be lost.
        # Committed before the events that use it: an orphan key is harmless,
        # an event whose key was never stored would be unreadable.
        with self.db.transaction() as cur:
            self.store.lock_for_new_key(cur)
            wrapped = self.provider.wrap(self.tenant, data_key, self._context(household_id))
            stored = self.store.insert(household_id, wrapped)
        if stored:  # ours is the household's key: no need to read it back
            return self._remember(household_id, AESGCM(data_key))
        # Another writer won the race: use whatever is stored now.
        exists, aead = self._load(household_id)
        if aead is None:
            raise HouseholdKeyDestroyedError(household_id)
        return aead

    def for_event(self, household_id: UUID) -> AESGCM:
        """The key to seal a new *event's* personal fields with.

        Like ``for_writing``, unless the recorder re-checks the key row where
        the event is inserted (``keys_checked_on_insert``): then a cached key
        is enough, because a disposal committed since it was cached makes that
        insert fail (``HouseholdKeyDestroyedError``) instead of storing data
        nobody could read.  Anything sealed outside an event (files, exports)
        keeps using ``seal``/``for_writing``, which always ask the database.
        """
        if self.keys_checked_on_insert:
            cached = self._cached(household_id)
            if cached is not None:
                return cached
        return self.for_writing(household_id)

    def seal_event(self, household_id: UUID, plaintext: bytes, aad: bytes) -> bytes:
        """Seal an event's personal fields (see ``for_event``)."""
        nonce = os.urandom(12)
        return _ENVELOPE_VERSION + nonce + self.for_event(household_id).encrypt(
            nonce, plaintext, aad)

    def destroy(self, household_id: UUID) -> bool:
        """Destroy the household's data key for good. True if a live key was destroyed."""
        destroyed = self.store.destroy(household_id)
        with self._lock:
            self._cache.pop(household_id, None)
        return destroyed

    def rotate_tenant_key(self) -> TenantKeyRotation:
        """Re-wrap every live household key under a new tenant-key version; retire the rest.

        Disposal calls this after destroying household keys: a backup taken
        before holds the destroyed key wrapped under a version that no longer
        exists, so it does not open either.  The re-wrap commits before any
        version is retired, so a crash in between leaves every live key
        readable (and a second rotation finishes the job).
        """
        with self.db.transaction() as cur:
            self.store.lock_for_rotation(cur)
            previous = self.provider.live_versions(self.tenant)
            version = self.provider.add_version(self.tenant)
            rewrapped = 0
            batch: list[tuple[UUID, bytes]] = []
            for household_id, wrapped in self.store.live(cur):
                context = self._context(household_id)
                data_key = self.provider.unwrap(self.tenant, wrapped, context)
                batch.append((household_id, self.provider.wrap(self.tenant, data_key, context)))
                if len(batch) >= 500:
                    self.store.rewrap(cur, batch)
                    rewrapped, batch = rewrapped + len(batch), []
            self.store.rewrap(cur, batch)
            rewrapped += len(batch)
        retired = [self.provider.retire_version(self.tenant, old)
                   for old in previous if old < version]
        return TenantKeyRotation(provider=self.provider.name, version=version,
                                 retired=retired, rewrapped=rewrapped)

    # Sealing: the envelope is version byte + 12-byte nonce + ciphertext.
    def seal(self, household_id: UUID, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return _ENVELOPE_VERSION + nonce + self.for_writing(household_id).encrypt(
            nonce, plaintext, aad)

    def reseal(self, household_id: UUID, plaintext: bytes, aad: bytes) -> bytes | None:
        """Seal for a read model: None once the household key is gone.

        Projections copy personal values that were already written; they must
        neither fail nor mint a key when a disposal overtook them.
        """
        aead = self.for_reading(household_id)
        if aead is None:
            return None
        nonce = os.urandom(12)
        return _ENVELOPE_VERSION + nonce + aead.encrypt(nonce, plaintext, aad)

    def open(self, household_id: UUID, envelope: bytes, aad: bytes) -> bytes | None:
        """Plaintext, or None when the household key is gone."""
        aead = self.for_reading(household_id)
        if aead is None:
            return None
        if envelope[:1] != _ENVELOPE_VERSION:
            raise ValueError("unknown personal-data envelope version")
        try:
            return aead.decrypt(envelope[1:13], envelope[13:], aad)
        except InvalidTag as error:
            raise ValueError("personal data failed authentication") from error

    def seal_json(self, household_id: UUID, value: Any, aad: bytes) -> bytes:
        return self.seal(household_id, json.dumps(value, ensure_ascii=False).encode(), aad)

    def reseal_json(self, household_id: UUID, value: Any, aad: bytes) -> bytes | None:
        return self.reseal(household_id, _JSON_TEXT(value).encode(), aad)

    def open_json(self, household_id: UUID, envelope: bytes | None, aad: bytes) -> Any:
        """The system's own read (projections, workers): not a person's read, not logged."""
        if envelope is None:
            return None
        plaintext = self.open(household_id, bytes(envelope), aad)
        return None if plaintext is None else json.loads(plaintext)

    def read_json(self, household_id: UUID, envelope: bytes | None, aad: bytes, *,
                  record: tuple[str, str]) -> Any:
        """A person's read of a sealed record (``record`` = kind, id): masked or logged.

        Inside a request the request's ``PersonalAccess`` decides: MASKED (the
        ciphertext is not even opened) or the value, with the read logged by
        field name.  None still means disposed (or nothing stored).
        """
        access = current_access()
        if access is None:
            return self.open_json(household_id, envelope, aad)
        basis = access.basis(self.tenant, str(household_id))
        if basis is None:
            return MASKED
        value = self.open_json(household_id, envelope, aad)
        if value is not None:
            fields = tuple(sorted(value)) if isinstance(value, dict) else ("value",)
            access.record(self.tenant, str(household_id), record[0], record[1], fields, basis)
        return value
