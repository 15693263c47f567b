"""Deterministic record ids (name-based UUIDs), remembered.

Index and register aggregates are found by an id derived from what they are
for (a municipality's theme list, a household's consent index…), so a command
derives several on every run; ``uuid.uuid5`` hashes with SHA-1 each time
(~2% of a recorded consultation).  The same name always gives the same id, so
the answer is kept.  Only names are kept — municipality codes, record ids —
never personal data.
"""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID
from uuid import uuid5 as _uuid5


@lru_cache(maxsize=16384)
def uuid5(namespace: UUID, name: str) -> UUID:
    """``uuid.uuid5(namespace, name)``, computed once per (namespace, name)."""
    return _uuid5(namespace, name)
