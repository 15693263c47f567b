"""One-dimensional PostgreSQL arrays in binary, encoded here instead of by psycopg.

A projection batch sends each written column as one binary array (``%b::text[]``,
``Cursor.insert_many``/``update_many``).  psycopg finds an array's dumper by
inspecting its elements and then dumps element by element in Python (about a
microsecond each: a tenth of the all-views catch-up).  For the few element types
the batch writes use, with the Python types they hold (``str``, ``int``, ``bool``,
``bytes``, ``None``), this module builds the same wire bytes with a handful of
C-level calls per column.  Anything else (another type, a value of an unexpected
Python type, an integer out of range) is left to psycopg unchanged, so the server
receives exactly what it did before or the same error.

Binary array format (PostgreSQL's ``array_recv``): int4 dimensions, int4 has-nulls,
int4 element oid, per dimension int4 length and int4 lower bound (1), then per
element int4 length (-1: NULL) and the element's binary form.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

_HEADER = struct.Struct("!iiiii")
_LENGTH = struct.Struct("!i")
_NULL = b"\xff\xff\xff\xff"
_INT4 = (-(2**31), 2**31 - 1)


class _Encoded:
    """An array already in PostgreSQL's binary form (its dumper sends ``data`` as is)."""

    __slots__ = ("data",)
    array_oid = 0

    def __init__(self, data: bytes) -> None:
        self.data = data


# The int4 length prefixes of the first 4096 lengths, made once: taking one from a
# list is ~4× quicker than packing it (most values are short: ids, codes, sealed blobs).
_PREFIXES = [_LENGTH.pack(n) for n in range(4096)]


def _length_prefixes(encoded: list[bytes]) -> list[bytes]:
    lengths = list(map(len, encoded))
    if not lengths or max(lengths) < len(_PREFIXES):
        return list(map(_PREFIXES.__getitem__, lengths))
    return list(map(_LENGTH.pack, lengths))


def _header(element_oid: int, count: int, nulls: bool) -> bytes:
    if count == 0:
        return struct.pack("!iii", 0, 0, element_oid)
    return _HEADER.pack(1, 1 if nulls else 0, element_oid, count, 1)


@lru_cache(maxsize=256)
def _fixed_format(code: str, count: int) -> struct.Struct:
    """(length, value) pairs of a fixed-size type, ``count`` of them, as one Struct."""
    return struct.Struct("!" + ("i" + code) * count)


def _fixed(element_oid: int, size: int, code: str, kind: type,
           bounds: tuple[int, int] | None) -> Callable[[Sequence[Any]], bytes | None]:
    def encode(values: Sequence[Any]) -> bytes | None:
        kinds = set(map(type, values))
        if kinds == {kind} or not values:
            if bounds is not None and values and (min(values) < bounds[0]
                                                  or max(values) > bounds[1]):
                return None
            pairs: list[Any] = [size] * (2 * len(values))
            pairs[1::2] = values
            try:
                body = _fixed_format(code, len(values)).pack(*pairs)
            except struct.error:  # out of int8's range: psycopg sends numeric
                return None
            return _header(element_oid, len(values), False) + body
        if kinds != {kind, type(None)}:
            return None
        one = struct.Struct("!i" + code)
        parts = []
        for value in values:
            if value is None:
                parts.append(_NULL)
            elif bounds is not None and not bounds[0] <= value <= bounds[1]:
                return None
            else:
                try:
                    parts.append(one.pack(size, value))
                except struct.error:
                    return None
        return _header(element_oid, len(values), True) + b"".join(parts)
    return encode


def _variable(element_oid: int, kinds: frozenset[type],
              to_bytes: Callable[[Any], bytes]) -> Callable[[Sequence[Any]], bytes | None]:
    def encode(values: Sequence[Any]) -> bytes | None:
        found = set(map(type, values))
        nulls = type(None) in found
        if not found - {type(None)} <= kinds:
            return None
        if nulls:
            present = [v for v in values if v is not None]
            encoded = list(map(to_bytes, present))
            lengths = iter(_length_prefixes(encoded))
            data = iter(encoded)
            parts: list[bytes] = []
            for value in values:
                if value is None:
                    parts.append(_NULL)
                else:
                    parts.append(next(lengths))
                    parts.append(next(data))
        else:
            encoded = list(map(to_bytes, values))
            parts = [b""] * (2 * len(encoded))
            parts[0::2] = _length_prefixes(encoded)
            parts[1::2] = encoded
        return _header(element_oid, len(values), nulls) + b"".join(parts)
    return encode


# type name: (element oid, array oid, encoder)
_TYPES: dict[str, tuple[int, int, Callable[[Sequence[Any]], bytes | None]]] = {
    "text": (25, 1009, _variable(25, frozenset({str}), str.encode)),
    "bytea": (17, 1001, _variable(17, frozenset({bytes, bytearray, memoryview}), bytes)),
    "int8": (20, 1016, _fixed(20, 8, "q", int, None)),
    "int4": (23, 1007, _fixed(23, 4, "i", int, _INT4)),
    "bool": (16, 1000, _fixed(16, 1, "?", bool, None)),
}


def _encoded_class(type_name: str, array_oid: int) -> type[_Encoded]:
    cls = type(f"_Encoded_{type_name}", (_Encoded,), {"__slots__": (), "array_oid": array_oid})

    class _Dumper(Dumper):
        format = Format.BINARY
        oid = array_oid

        def dump(self, obj: Any) -> bytes:
            return obj.data

    # Every connection made after this import knows it (connections copy the global
    # map when they are made; the event store's pool is made after infra.db's import).
    psycopg.adapters.register_dumper(cls, _Dumper)
    return cls


_CLASSES = {name: _encoded_class(name, array_oid) for name, (_, array_oid, _) in _TYPES.items()}


def binary_array(type_name: str, values: Sequence[Any]) -> Any:
    """``values`` as a ``%b`` parameter of ``type_name[]``: pre-encoded, or as a list for psycopg."""
    known = _TYPES.get(type_name)
    if known is not None:
        data = known[2](values)
        if data is not None:
            return _CLASSES[type_name](data)
    return list(values)


def binary_columns(types: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """``rows`` as one ``%b`` array parameter per column, ``types`` its element types."""
    return [binary_array(t, column)
            for t, column in zip(types, zip(*rows, strict=True), strict=True)]
