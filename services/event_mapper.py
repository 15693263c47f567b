"""The event mapper: personal fields encrypted per household, actor metadata stamped.

An event class lists its personal fields in ``personal_fields``; the mapper
takes them out of the stored state and stores them as one AES-GCM envelope
under the household's key (the event's ``household_id``, or its originator
for the household itself).  The envelope's associated data binds it to the
event's position, so ciphertext cannot be moved between events unnoticed.
After the key is destroyed the event still loads, with those fields None.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoding,
)
from eventsourcing.utils import get_topic, resolve_topic

from yorisoi.infra.recorders import mark_sealed
from yorisoi.services.context import current_context
from yorisoi.services.personal_data import HouseholdKeyring

PERSONAL = "_personal"
META = "_meta"
SHREDDED = "_shredded"


class DateAsISO(Transcoding):
    """Calendar dates (consultation dates, birth dates) as ISO strings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def _as_uuid(value: UUID | str) -> UUID:
    # SQLite stores ids as hex without hyphens; one canonical form for the AAD.
    return value if isinstance(value, UUID) else UUID(str(value))


def _aad(originator_id: UUID | str, version: int, topic: str) -> bytes:
    return f"{_as_uuid(originator_id)}:{version}:{topic}".encode()


def _subject(event_state: dict[str, Any], originator_id: UUID | str) -> UUID:
    return _as_uuid(event_state.get("household_id", originator_id))


class PersonalDataMapper(Mapper[UUID]):
    """Mapper that encrypts personal fields per household and stamps actor metadata."""

    keyring: HouseholdKeyring  # set by the application that owns the mapper

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        cls = type(domain_event)
        topic = get_topic(cls)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        state[META] = self._metadata()
        personal_fields = getattr(cls, "personal_fields", ())
        subject = None
        if personal_fields:
            personal = {name: state.pop(name) for name in personal_fields}
            subject = _subject(state, originator_id)
            envelope = self.keyring.seal_event(
                subject,
                self.transcoder.encode(personal),
                _aad(originator_id, version, topic),
            )
            state[PERSONAL] = base64.b64encode(envelope).decode()
        stored = StoredEvent(originator_id=originator_id, originator_version=version,
                             topic=topic, state=self.transcoder.encode(state))
        # The recorder re-checks this household's key where it inserts the event.
        return stored if subject is None else mark_sealed(stored, subject)

    def _metadata(self) -> dict[str, Any]:
        # The acting context is frozen and one request saves several events under
        # it: build its dict once (dataclasses.asdict is slow), reuse it read-only.
        context = current_context()
        cached = getattr(self, "_meta_cache", None)
        if cached is None or cached[0] is not context:
            cached = (context, context.as_metadata())
            self._meta_cache = cached
        return cached[1]

    def to_domain_events(self, stored_events: Sequence[StoredEvent]
                         ) -> list[DomainEventProtocol[UUID]]:
        """Decode a page of the log (a projection batch): household keys read once.

        The households whose keys the page needs are known from the stored
        state before anything is decrypted, so a cold key cache costs one
        ``household_keys`` read for the page instead of one per household.
        """
        states = [self._state(stored) for stored in stored_events]
        self.keyring.preload({_subject(state, stored.originator_id)
                              for stored, state in zip(stored_events, states, strict=True)
                              if PERSONAL in state})
        return [self._domain_event(stored, state)
                for stored, state in zip(stored_events, states, strict=True)]

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self._domain_event(stored_event, self._state(stored_event))

    def _state(self, stored_event: StoredEvent) -> dict[str, Any]:
        try:
            return self.transcoder.decode(stored_event.state)
        except Exception as error:
            raise MapperDeserialisationError(
                f"cannot decode stored event {stored_event.originator_id}"
                f"@{stored_event.originator_version}") from error

    def _domain_event(self, stored_event: StoredEvent,
                      state: dict[str, Any]) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        envelope = state.pop(PERSONAL, None)
        if envelope is not None:
            plaintext = self.keyring.open(
                _subject(state, stored_event.originator_id),
                base64.b64decode(envelope),
                _aad(stored_event.originator_id, stored_event.originator_version,
                     stored_event.topic),
            )
            if plaintext is None:  # the household key is destroyed: shredded
                state.update({name: None for name in getattr(cls, "personal_fields", ())})
                state[SHREDDED] = True
            else:
                state.update(self.transcoder.decode(plaintext))
        state["originator_id"] = _as_uuid(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event


def event_metadata(domain_event: object) -> dict[str, Any]:
    """Who stored an event, under which contract and site, in which request."""
    return dict(vars(domain_event).get(META) or {})


def register_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
