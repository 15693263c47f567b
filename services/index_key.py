"""The municipality's blind-index key, and the keyed-hash tokens it makes.

One random 256-bit key per municipality, stored only wrapped by the tenant's
key, exactly like a household's data key: it is one row of the space's
``household_keys`` table under a reserved id (``INDEX_KEY_ID``) that no
household can have (households get random version-4 UUIDs; this is a
version-5 one).  Keeping it there means every tenant-key rotation (after a
disposal) re-wraps it with the household keys, so a database backup from
before the rotation does not open it either, and no second key table needs
its own wrapping, rotation and guards.  It is never destroyed: disposal
removes a household's *tokens* (``projections/household_index.py``).

A token is ``HMAC-SHA256(index key, field ‖ 0x00 ‖ folded value)`` cut to a
field's number of bits (``TOKEN_BITS``, the leakage budget of docs/search.md)
and kept as an integer.  Without the key nobody can compute the token of a
guessed name; truncation makes several values share a token, so a reader of
the table learns little from how often a token occurs, and the search
confirms its candidates after decryption.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from typing import Any
from uuid import UUID, uuid5

from yorisoi.infra.household_keys import MISSING
from yorisoi.infra.keys import TenantKeyRetiredError
from yorisoi.services.personal_data import HouseholdKeyring

INDEX_KEY_ID = uuid5(UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "yorisoi:household-index-key")

# Bits kept of each field's token (docs/search.md derives the collisions each gives).
TOKEN_BITS: dict[str, int] = {
    "name": 20,            # a person's whole folded name (kanji as recorded)
    "name_bigram": 16,     # each character pair of the folded name
    "reading": 20,         # the whole folded reading (hiragana)
    "reading_trigram": 16,  # each three kana of the reading
    "reading_word": 20,    # each word of the reading (family name, given name)
    "reading_prefix": 12,  # each word's first two kana: few such pairs exist
    "phone": 20,           # a guardian's phone digits
    "birth_date": 12,      # a child's birth date (ISO): ~6,600 possible days for 0–17
    "reading_birth": 24,   # one child's reading and birth date together (duplicates)
    "name_birth": 24,      # one child's name and birth date together (duplicates)
}


class HouseholdIndexKey:
    """Unwraps (creating on first use) and caches one municipality's index key."""

    def __init__(self, keyring: HouseholdKeyring) -> None:
        self.keyring = keyring
        self._key: bytes | None = None
        self._lock = threading.Lock()
        # Per field, an HMAC already keyed and fed ``field ‖ 0x00``: a token copies it
        # and adds the value (the key's pads are not recomputed for each of a
        # household's ~10 tokens).  Dropped with nothing: the key never changes.
        self._macs: dict[str, Any] = {}

    def key(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._load_or_create()
        return self._key

    def _context(self) -> dict[str, str]:
        # The same context household keys are wrapped with, so a rotation re-wraps it.
        return {"household": str(INDEX_KEY_ID)}

    def _unwrap(self) -> bytes | None:
        store, provider = self.keyring.store, self.keyring.provider
        for _attempt in range(2):  # a rotation may re-wrap it between the read and the unwrap
            wrapped = store.wrapped(INDEX_KEY_ID)
            if wrapped is MISSING:
                return None
            if wrapped is None:  # cannot happen: nothing destroys it
                raise RuntimeError("the household index key was destroyed")
            try:
                return provider.unwrap(self.keyring.tenant, wrapped,  # type: ignore[arg-type]
                                       self._context())
            except TenantKeyRetiredError:
                continue
        raise TenantKeyRetiredError("the index key was re-wrapped twice while being read")

    def _load_or_create(self) -> bytes:
        found = self._unwrap()
        if found is not None:
            return found
        key = os.urandom(32)
        with self.keyring.db.transaction() as cur:
            self.keyring.store.lock_for_new_key(cur)  # not under a retiring tenant-key version
            wrapped = self.keyring.provider.wrap(self.keyring.tenant, key, self._context())
            stored = self.keyring.store.insert(INDEX_KEY_ID, wrapped)
        if stored:
            return key
        found = self._unwrap()  # another process stored one first: theirs is the key
        if found is None:
            raise RuntimeError("the household index key could not be stored")
        return found

    def token(self, field: str, folded: str) -> int:
        """The token of one folded value of ``field`` (an integer of TOKEN_BITS[field] bits)."""
        bits = TOKEN_BITS[field]
        keyed = self._macs.get(field)
        if keyed is None:
            keyed = self._macs.setdefault(field, _keyed(self.key(), field.encode() + b"\x00"))
        mac = keyed.copy()
        mac.update(folded.encode())
        return int.from_bytes(mac.digest()[:8], "big") >> (64 - bits)


def _keyed(key: bytes, prefix: bytes) -> Any:
    """HMAC-SHA256 under ``key`` fed ``prefix``; its ``copy()`` continues the same MAC.

    The C object under ``hmac.HMAC`` where there is one: copying it skips the
    wrapper's Python (~2× quicker a token).  Same digest either way.
    """
    mac = hmac.new(key, prefix, hashlib.sha256)
    return getattr(mac, "_hmac", None) or mac
