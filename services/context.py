"""Who is acting, and why: stamped onto every stored event.

The request (or CLI command, or worker) sets the context once; the mapper
stamps it on every event it stores and refuses to store an event without it,
so no command can forget to say who did it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ActingContext:
    """The actor and circumstances of a command (never personal data about families)."""

    user_id: str
    role: str
    organisation_kind: str  # municipality | contractor | platform
    organisation_id: str
    contract_id: str | None = None
    site_id: str | None = None
    request_id: str | None = None
    trace_id: str | None = None
    # Written offline and synced later (the console's offline capture): when the
    # specialist captured the record and on which registered device.  Stamped only
    # when set, so every other event's metadata stays as it was.
    captured_at: str | None = None
    device_id: str | None = None

    def as_metadata(self) -> dict[str, str | None]:
        found = asdict(self)
        for name in _OFFLINE_ONLY:
            if found[name] is None:
                del found[name]
        return found

    def at(self, *, contract_id: str | None, site_id: str | None) -> ActingContext:
        """The same actor, acting under a given contract and site."""
        return ActingContext(**{**asdict(self), "contract_id": contract_id, "site_id": site_id})


_OFFLINE_ONLY = ("captured_at", "device_id")

_current: ContextVar[ActingContext | None] = ContextVar("yorisoi_acting", default=None)


class ActingContextMissingError(RuntimeError):
    """An event was about to be stored with nobody responsible for it."""


def current_context() -> ActingContext:
    ctx = _current.get()
    if ctx is None:
        raise ActingContextMissingError("events are stored only inside acting_as(...)")
    return ctx


@contextmanager
def acting_as(ctx: ActingContext) -> Iterator[ActingContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
