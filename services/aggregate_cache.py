"""Aggregates without personal fields, kept between commands as of a known version.

A command reads a case, the municipality's theme list, a household's consent
and request indexes before it writes.  Reading and replaying them is most of
a command's time, and they change far less often than they are read.  The
cache keeps a private copy of each, with the version it was at, and hands
every command a copy of its own (so nothing a command does to an aggregate
changes the cache).

It is safe because it is never trusted: a cached aggregate is only served to
a command whose reads the insert validates (``infra.recorders.ReadSet``).  If
any aggregate the command read — from here or from the database — has a newer
event by the time its events are written, nothing is written and the command
runs again on fresh reads.  Queries never read it: they always read the log.

Only aggregates none of whose event classes declare ``personal_fields`` are
kept whole (the class decides, not the instance, so a later personal event
cannot slip in).  A second instance (``withheld=True``) keeps personal
aggregates read with their personal fields withheld — never decrypted, None as
after shredding — for rules that only look at what is stored in clear (does a
consent cover this?).  Neither holds personal data, decrypted or not, so
disposal has nothing to reach in here.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from threading import Lock
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, CanMutateAggregate

# An aggregate known not to exist (version 0): e.g. a municipality's theme list
# before its first change; the insert validates that it still does not.
ABSENT = None

# Values shared between copies: nothing can change them in place.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), UUID, date, datetime, Decimal, bytes})


def _copied(value: Any) -> Any:
    """A copy of an aggregate's attribute value that shares nothing mutable with it.

    Aggregates hold builtin containers of ids, strings and dates; those are
    copied here, level by level (far quicker than ``deepcopy`` or a pickle
    round trip: a case with 200 consultation ids in ~15 µs).  Any other type
    is deep-copied, so an unforeseen mutable value is never shared.
    """
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    # A case's consultation ids and days grow with every consultation: a container of
    # immutable values alone (the usual case) is checked and copied at C speed, ~10×
    # quicker than element by element in Python (profiled: 6% of a mutation at 1,000).
    if kind is list:
        if set(map(type, value)) <= _IMMUTABLE:
            return value.copy()
        return [v if type(v) in _IMMUTABLE else _copied(v) for v in value]
    if kind is dict:
        if set(map(type, value.values())) <= _IMMUTABLE:
            return value.copy()
        return {k: v if type(v) in _IMMUTABLE else _copied(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(v if type(v) in _IMMUTABLE else _copied(v) for v in value)
    if kind is set:
        return {v if type(v) in _IMMUTABLE else _copied(v) for v in value}
    if kind is frozenset and all(type(v) in _IMMUTABLE for v in value):
        return value
    return copy.deepcopy(value)


def _copy_of(aggregate: Any) -> Any:
    twin = object.__new__(type(aggregate))
    twin.__dict__.update({name: value if type(value) in _IMMUTABLE else _copied(value)
                          for name, value in vars(aggregate).items()})
    return twin


@cache
def cacheable(aggregate_class: type) -> bool:
    """True when no event class of the aggregate carries personal fields."""
    if not issubclass(aggregate_class, Aggregate):
        return False
    events = [value for name in dir(aggregate_class)
              if isinstance(value := getattr(aggregate_class, name, None), type)
              and issubclass(value, CanMutateAggregate)]
    return bool(events) and not any(getattr(e, "personal_fields", ()) for e in events)


class AggregateCache:
    """A bounded, thread-safe map of aggregate id → (version, private copy)."""

    def __init__(self, maxsize: int, *, withheld: bool = False) -> None:
        # withheld: holds aggregates of any class, read with their personal fields
        # withheld (``_Repository.terms``); refuses any other.
        self.maxsize = maxsize
        self.withheld = withheld
        self._entries: OrderedDict[UUID, tuple[int, Any]] = OrderedDict()
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, aggregate_id: object) -> bool:
        return aggregate_id in self._entries

    def get(self, aggregate_id: UUID) -> tuple[int, Any] | None:
        """(version, a fresh copy — or None if known absent), or None if not kept."""
        with self._lock:
            entry = self._entries.get(aggregate_id)
            if entry is None:
                return None
            self._entries.move_to_end(aggregate_id)
        version, kept = entry
        return version, (None if kept is ABSENT else _copy_of(kept))

    def put(self, aggregate: Any) -> None:
        """Keep an aggregate as it is now (no pending events), if its class may be kept."""
        if aggregate.pending_events:
            return
        if self.withheld:
            if not getattr(aggregate, "personal_withheld", False):
                return
        elif not cacheable(type(aggregate)):
            return
        self._store(aggregate.id, aggregate.version, _copy_of(aggregate))

    def put_absent(self, aggregate_id: UUID) -> None:
        self._store(aggregate_id, 0, ABSENT)

    def evict(self, aggregate_ids: Any) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._entries.pop(aggregate_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _store(self, aggregate_id: UUID, version: int, kept: Any) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            current = self._entries.get(aggregate_id)
            # Two threads may race to put the same aggregate: the newer version wins.
            if current is not None and current[0] > version:
                return
            self._entries[aggregate_id] = (version, kept)
            self._entries.move_to_end(aggregate_id)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
