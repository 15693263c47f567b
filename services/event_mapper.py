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
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from uuid import UUID, SafeUUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
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


# Remembered by their hex: a page's events name the same households and cases again and
# again (a UUID is immutable, so one object serves them all); a hit is ~10× quicker
# than building one.
@lru_cache(maxsize=8192)
def _uuid_from_hex(data: str) -> UUID:
    """``UUID(data)`` for the 32 hex digits ``UUIDAsHex`` stores, without its parsing.

    For such a string ``UUID()`` strips nothing and computes ``int(data, 16)``:
    so does this, without ``UUID.__init__``'s checks.  Anything else goes to ``UUID()``.
    """
    if len(data) == 32 and data.isalnum():
        uuid = object.__new__(UUID)
        object.__setattr__(uuid, "int", int(data, 16))
        object.__setattr__(uuid, "is_safe", SafeUUID.unknown)
        return uuid
    return UUID(data)


# Transcodings whose decode is exactly one call on a string, made without the
# library's per-object indirections (``_json_decoder``).
_DIRECT_DECODES: dict[type, Callable[[str], Any]] = {
    UUIDAsHex: _uuid_from_hex,
    DatetimeAsISO: datetime.fromisoformat,
}


def _json_decoder(transcoder: JSONTranscoder) -> Callable[[bytes], Any]:
    """``transcoder.decode`` with a leaner object hook: the same values, ~30% less time.

    The library's hook is a method that looks every ``{"_type_", "_data_"}``
    pair up through two try blocks and the transcoding's own ``decode``;
    a decode is ~1/4 of a projected event.  Names are looked up in the
    transcoder's live registry, so later registrations count; anything
    unusual (an unknown name, data that is not a string, a transcoding not
    listed above) goes through the library's own code, errors included.
    """
    names, library_hook = transcoder.names, transcoder._decode_obj
    direct = {DateAsISO: date.fromisoformat, **_DIRECT_DECODES}

    def hook(d: dict[str, Any]) -> Any:
        if len(d) != 2 or "_type_" not in d or "_data_" not in d:
            return d
        transcoding = names.get(d["_type_"])
        data = d["_data_"]
        if transcoding is None or type(data) is not str:
            return library_hook(d)
        decode = direct.get(type(transcoding))
        return decode(data) if decode is not None else transcoding.decode(data)

    decoder = json.JSONDecoder(object_hook=hook)
    scan, full = decoder.scan_once, decoder.decode

    def decode(data: bytes) -> Any:
        text = data.decode("utf8")
        try:  # what JSONDecoder.decode does, minus its two whitespace matches
            value, end = scan(text, 0)
        except StopIteration:
            return full(text)  # leading whitespace, or the library's JSONDecodeError
        return value if end == len(text) else full(text)

    return decode


def _as_uuid(value: UUID | str) -> UUID:
    # SQLite stores ids as hex without hyphens; one canonical form for the AAD.
    return value if isinstance(value, UUID) else UUID(str(value))


def _aad(originator_id: UUID | str, version: int, topic: str) -> bytes:
    return f"{_as_uuid(originator_id)}:{version}:{topic}".encode()


def _stored_aad(stored: StoredEvent) -> bytes:
    """``_aad`` of a stored event; a projection's notification carries its id as text already."""
    text = getattr(stored, "originator_text", None) or _as_uuid(stored.originator_id)
    return f"{text}:{stored.originator_version}:{stored.topic}".encode()


def _subject(event_state: dict[str, Any], originator_id: UUID | str) -> UUID:
    return _as_uuid(event_state.get("household_id", originator_id))


class PersonalDataMapper(Mapper[UUID]):
    """Mapper that encrypts personal fields per household and stamps actor metadata."""

    keyring: HouseholdKeyring  # set by the application that owns the mapper
    _decode_json: Callable[[bytes], Any] | None = None
    _classes: dict[str, tuple[type, int]] | None = None  # topic: (class, class_version)

    def _event_class(self, topic: str) -> tuple[type, int]:
        """A topic's event class and its ``class_version``, looked up once per topic.

        (A ``getattr`` that misses walks a ~14-class MRO and raises inside: ~1 µs an event.)
        """
        classes = self._classes
        if classes is None:
            classes = self._classes = {}
        known = classes.get(topic)
        if known is None:
            cls = resolve_topic(topic)
            known = classes[topic] = (cls, getattr(cls, "class_version", 1))
        return known

    def _json_decode(self) -> Callable[[bytes], Any]:
        decode = self._decode_json
        if decode is None:
            transcoder = self.transcoder
            decode = (_json_decoder(transcoder) if type(transcoder) is JSONTranscoder
                      else transcoder.decode)
            self._decode_json = decode
        return decode

    def _json(self, data: bytes) -> Any:
        return self._json_decode()(data)

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
        decode = self._json_decode()
        states = []
        for stored in stored_events:  # _state, without two calls an event
            try:
                states.append(decode(stored.state))
            except Exception as error:
                raise _undecodable(stored) from error
        self.keyring.preload({_subject(state, stored.originator_id)
                              for stored, state in zip(stored_events, states, strict=True)
                              if PERSONAL in state})
        return [self._domain_event(stored, state)
                for stored, state in zip(stored_events, states, strict=True)]

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self._domain_event(stored_event, self._state(stored_event))

    def to_withheld_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The event with its personal fields withheld: None, the envelope never opened.

        For rules that only look at what is stored in clear (a consent's purpose,
        recipient and dates): no key is read, nothing personal is decrypted.
        """
        state = self._state(stored_event)
        if state.pop(PERSONAL, None) is not None:
            cls, _ = self._event_class(stored_event.topic)
            state.update(dict.fromkeys(getattr(cls, "personal_fields", ())))
        return self._domain_event(stored_event, state)

    def _state(self, stored_event: StoredEvent) -> dict[str, Any]:
        try:
            return self._json(stored_event.state)
        except Exception as error:
            raise _undecodable(stored_event) from error

    def _domain_event(self, stored_event: StoredEvent,
                      state: dict[str, Any]) -> DomainEventProtocol[UUID]:
        cls, class_version = self._event_class(stored_event.topic)
        envelope = state.pop(PERSONAL, None)
        if envelope is not None:
            plaintext = self.keyring.open(
                _subject(state, stored_event.originator_id),
                # b64decode(envelope) without its wrapper (same bytes, same errors)
                binascii.a2b_base64(envelope),
                _stored_aad(stored_event),
            )
            if plaintext is None:  # the household key is destroyed: shredded
                state.update({name: None for name in getattr(cls, "personal_fields", ())})
                state[SHREDDED] = True
            else:
                state.update(self._json(plaintext))
        state["originator_id"] = _as_uuid(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event


def _undecodable(stored_event: StoredEvent) -> MapperDeserialisationError:
    return MapperDeserialisationError(
        f"cannot decode stored event {stored_event.originator_id}"
        f"@{stored_event.originator_version}")


def event_metadata(domain_event: object) -> dict[str, Any]:
    """Who stored an event, under which contract and site, in which request."""
    return dict(vars(domain_event).get(META) or {})


def read_metadata(domain_event: object) -> Mapping[str, Any]:
    """``event_metadata`` read-only, without the copy (projections read a few keys an event)."""
    return MappingProxyType(vars(domain_event).get(META) or {})


def register_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
