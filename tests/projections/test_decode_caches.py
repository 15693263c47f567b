"""The decode's UUID memo (services/event_mapper.py): same values, bounded.

A page's events name the same households and cases many times; the mapper
hands out one UUID object per hex string it decoded lately (an lru_cache).  A UUID is
immutable, so sharing changes no value; the memo must never answer a hex
with another id, nor grow without bound.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from yorisoi.services.event_mapper import _uuid_from_hex


def test_a_repeated_hex_gives_the_same_id_and_a_new_hex_its_own():
    first, second = uuid4(), uuid4()
    a, b = _uuid_from_hex(first.hex), _uuid_from_hex(first.hex)
    c = _uuid_from_hex(second.hex)
    assert a == b == first and str(a) == str(first) and type(a) is UUID
    assert c == second and c != a
    assert _uuid_from_hex(first.hex.upper()) == first  # another spelling, the same id


def test_the_memo_is_bounded_and_answers_with_one_object():
    _uuid_from_hex.cache_clear()
    first = uuid4()
    assert _uuid_from_hex(first.hex) is _uuid_from_hex(first.hex)
    limit = _uuid_from_hex.cache_info().maxsize
    ids = [uuid4() for _ in range(limit + 10)]
    assert [_uuid_from_hex(u.hex) for u in ids] == ids
    assert _uuid_from_hex.cache_info().currsize <= limit


def test_the_hyphenated_form_is_parsed_by_uuid():
    u = uuid4()
    assert _uuid_from_hex(str(u)) == u


def test_id_text_is_str_of_the_id_remembered_by_its_value():
    from yorisoi.projections import id_text as module
    from yorisoi.projections.id_text import id_text

    module._TEXTS.clear()
    u = uuid4()
    same_value = UUID(u.hex)  # another object, the same id
    assert id_text(u) == str(u) and id_text(same_value) == str(u)
    assert len(module._TEXTS) == 1
    assert id_text(str(u)) == str(u) and id_text(7) == "7"  # not a UUID: str()
    ids = [uuid4() for _ in range(module._MAX + 10)]
    assert [id_text(i) for i in ids] == [str(i) for i in ids]
    assert len(module._TEXTS) <= module._MAX
