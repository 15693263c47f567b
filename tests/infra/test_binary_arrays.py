"""infra/binary_arrays.py: the arrays the batch writes send are what psycopg would send.

Each case goes to PostgreSQL twice, as ``%b::type[]``: pre-encoded by
``binary_array`` and as a plain list dumped by psycopg; the server must read
the same array both times (values, NULLs, order).  Inputs outside the encoder's
types must reach psycopg unchanged (same array, or the same error).
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from yorisoi.infra.binary_arrays import _Encoded, binary_array

ENCODED = [  # (type, values): pre-encoded here
    ("text", ["a", "", "千代田区 ひろば", "quote\" back\\slash {x,y}", "NULL", "\x1f"]),
    ("text", ["a", None, "b", None]),
    ("text", [None, None]),
    ("text", ["x" * 100_000]),
    ("bytea", [b"\x00\xff", b"", bytearray(b"ab"), memoryview(b"cd")]),
    ("bytea", [b"\x01", None]),
    ("int8", [0, -1, 2**63 - 1, -(2**63), 42]),
    ("int8", [1, None, 3]),
    ("int4", [0, -(2**31), 2**31 - 1, 7]),
    ("int4", [None, 5]),
    ("bool", [True, False, True]),
    ("bool", [None, False]),
]

LEFT_TO_PSYCOPG = [  # (type, values): psycopg's own dumping, unchanged
    ("text", [1, 2]),            # not strings: psycopg sends numbers, the server casts
    ("int8", [True, False]),     # bools are not int8s here
    ("int8", [1, 2.5]),
    ("int4", [1, None, 2**40]),  # out of int4: the server's own error
    ("numeric", [1, 2]),         # a type the encoder does not know
]


@pytest.fixture
def conn(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database, row_factory=dict_row, autocommit=True) as c:
        yield c


def _read(conn, type_name, param):
    return conn.execute(f"SELECT %b::{type_name}[] AS a", (param,)).fetchone()["a"]


@pytest.mark.parametrize(("type_name", "values"), ENCODED)
def test_encoded_arrays_read_as_psycopgs_own(conn, type_name, values):
    encoded = binary_array(type_name, values)
    assert isinstance(encoded, _Encoded)  # the case is one the encoder takes
    assert _read(conn, type_name, encoded) == _read(conn, type_name, list(values))


@pytest.mark.parametrize(("type_name", "values"), LEFT_TO_PSYCOPG)
def test_other_values_go_to_psycopg_unchanged(conn, type_name, values):
    param = binary_array(type_name, values)
    assert param == list(values) and not isinstance(param, _Encoded)
    try:
        expected = _read(conn, type_name, list(values))
    except psycopg.Error as error:
        with pytest.raises(type(error)):
            _read(conn, type_name, param)
    else:
        assert _read(conn, type_name, param) == expected


def test_an_insert_through_unnest_stores_the_rows(conn):
    """The statement shape of Cursor.insert_many: one array per column, several columns."""
    conn.execute("CREATE TEMP TABLE t (a text, b int8, c bool, d bytea, e int4)")
    rows = [("x", 1, True, b"\x00", 1), (None, None, None, None, None), ("é", -5, False, b"", 2)]
    columns = list(zip(*rows, strict=True))
    types = ("text", "int8", "bool", "bytea", "int4")
    params = [binary_array(t, c) for t, c in zip(types, columns, strict=True)]
    assert all(isinstance(p, _Encoded) for p in params)
    conn.execute("INSERT INTO t SELECT * FROM unnest(%b::text[], %b::int8[], %b::bool[],"
                 " %b::bytea[], %b::int4[])", params)
    found = conn.execute("SELECT * FROM t ORDER BY e NULLS LAST").fetchall()
    assert [tuple(r.values()) for r in found] == [rows[0], rows[2], rows[1]]
