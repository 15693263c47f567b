"""The mapper's JSON decode gives exactly what the library's transcoder gives.

``services/event_mapper.py`` decodes stored state and sealed plaintext with a
leaner object hook than ``JSONTranscoder.decode`` (a quarter of a projected
event's time was the library's hook).  Same values, same types, same errors:
checked here on every transcoding the application registers and on the
shapes that must fall back to the library.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

from yorisoi.services.event_mapper import DateAsISO, _json_decoder, _uuid_from_hex


def _transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


def _same(fast: Any, library: Any) -> None:
    """Equal, of the same type, all the way down."""
    assert type(fast) is type(library), (fast, library)
    if isinstance(library, dict):
        assert list(fast) == list(library)
        for key in library:
            _same(fast[key], library[key])
    elif isinstance(library, list):
        assert len(fast) == len(library)
        for one, other in zip(fast, library, strict=True):
            _same(one, other)
    else:
        assert fast == library
        if isinstance(library, UUID):
            assert fast.is_safe == library.is_safe and str(fast) == str(library)
        if isinstance(library, datetime):
            assert fast.tzinfo == library.tzinfo


STATES = [
    {"timestamp": datetime.now(UTC), "originator_topic": "yorisoi.domain.cases:Case",
     "household_id": uuid4(), "opened_on": date(2026, 4, 1), "contract_id": None,
     "_meta": {"user_id": "staff-1", "role": "specialist"}, "_personal": "AQID"},
    {"guardians": [{"name": "架空 花子", "relationship": "母"}],
     "children": [{"name": "架空 太郎", "birth_date": date(2024, 5, 1)}],
     "pregnancy_due_date": None, "themes": ["childcare_place", "temporary_care"]},
    {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=9))),
     "naive": datetime(2026, 1, 2, 3, 4, 5, 6), "amount": Decimal("12.50"),
     "ids": [uuid4(), uuid4()], "nested": {"deeper": [{"id": uuid4(), "on": date.today()}]},
     "numbers": [1, 2.5, -3, True, False, None], "empty": {}, "list": [],
     "two_keys": {"a": 1, "b": 2}, "_type_only": {"_type_": "uuid_hex"},
     "text": "改行\n\"引用\"\\ \u2028 tab\t"},
    {"uuid_upper": UUID("12345678-9ABC-DEF0-1234-56789ABCDEF0"), "max": UUID(int=2**128 - 1),
     "zero": UUID(int=0)},
]


@pytest.mark.parametrize("state", STATES)
def test_decoded_state_equals_the_library_decode(state):
    transcoder = _transcoder()
    data = transcoder.encode(state)
    _same(_json_decoder(transcoder)(data), transcoder.decode(data))


@pytest.mark.parametrize("data", [
    b' {"a": 1}',  # leading whitespace
    b'{"a": 1}  \n',  # trailing whitespace
    b'{"x":{"_type_":"uuid_hex","_data_":"12345678-1234-1234-1234-123456789abc"}}',
    b'{"x":{"_type_":"uuid_hex","_data_":"{12345678123412341234123456789abc}"}}',
    b'{"x":{"_type_":"uuid_hex","_data_":"urn:uuid:12345678123412341234123456789abc"}}',
    b'{"x":{"_type_":"date_iso","_data_":"2026-04-01"},"y":{"_type_":"decimal_str",'
    b'"_data_":"1.5"}}',
    b'{"x":{"_type_":"datetime_iso","_data_":"2026-04-01T10:00:00"}}',
    b'{"_type_":"something","other":1}',
    b'[{"_type_":"uuid_hex","_data_":"12345678123412341234123456789abc"}, 1, "a"]',
    b'"just text"',
    b'12',
])
def test_unusual_but_valid_documents_decode_as_the_library_does(data):
    transcoder = _transcoder()
    _same(_json_decoder(transcoder)(data), transcoder.decode(data))


@pytest.mark.parametrize("data", [
    b'{"a": 1} {"b": 2}',  # extra data
    b'{"a": ',  # truncated
    b'',
    b'   ',
    b'{"x":{"_type_":"no_such_type","_data_":"1"}}',  # not registered
    b'{"x":{"_type_":"uuid_hex","_data_":12}}',  # data not a string
    b'{"x":{"_type_":"uuid_hex","_data_":"not-a-uuid"}}',
    b'{"x":{"_type_":"uuid_hex","_data_":"zz345678123412341234123456789abc"}}',
    b'{"x":{"_type_":"date_iso","_data_":"2026-13-01"}}',
    b'{"x":{"_type_":"datetime_iso","_data_":"yesterday"}}',
    b'\xff',
])
def test_invalid_documents_fail_as_the_library_fails(data):
    transcoder = _transcoder()
    with pytest.raises(Exception) as library:  # noqa: PT011 - compared below
        transcoder.decode(data)
    with pytest.raises(Exception) as fast:  # noqa: PT011
        _json_decoder(transcoder)(data)
    assert type(fast.value) is type(library.value)


def test_a_transcoding_registered_later_or_replaced_is_used():
    class Point(Transcoding):
        type = tuple
        name = "point"

        def encode(self, obj: tuple) -> list[int]:
            return list(obj)

        def decode(self, data: list[int]) -> tuple:
            return tuple(data)

    class UUIDAsText(UUIDAsHex):  # a subclass may decode differently: not taken as UUIDAsHex
        def decode(self, data: str) -> Any:
            return f"id:{data}"

    transcoder = _transcoder()
    decode = _json_decoder(transcoder)
    transcoder.register(Point())
    transcoder.register(UUIDAsText())
    data = json.dumps({"p": {"_type_": "point", "_data_": [1, 2]},
                       "u": {"_type_": "uuid_hex", "_data_": "0" * 32}}).encode()
    _same(decode(data), transcoder.decode(data))
    assert decode(data) == {"p": (1, 2), "u": "id:" + "0" * 32}


def test_uuid_from_hex_is_uuid_for_every_form():
    for value in [uuid4() for _ in range(200)] + [UUID(int=0), UUID(int=2**128 - 1)]:
        for text in (value.hex, value.hex.upper(), str(value), "{" + value.hex + "}",
                     f"urn:uuid:{value}"):
            _same(_uuid_from_hex(text), UUID(text))
    for odd in ("", "0" * 31, "0" * 33, "g" * 32, "+" + "0" * 31, " " + "0" * 31,
                "0" * 30 + "_0", "٠" * 32):
        try:
            expected: Any = UUID(odd)
        except Exception as error:  # noqa: BLE001 - the same error is expected below
            expected = type(error)
        if isinstance(expected, UUID):
            _same(_uuid_from_hex(odd), expected)
        else:
            with pytest.raises(expected):
                _uuid_from_hex(odd)
