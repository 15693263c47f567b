"""Database.select: one statement in a snapshot of its own, or inside the open transaction.

On PostgreSQL it runs on the pool's autocommit connection without BEGIN/COMMIT
(one round trip); inside an open transaction on the same database it joins it,
like a nested ``transaction``.  Both backends (the ``world`` fixture).
"""

from __future__ import annotations

from typing import Any

from world import CITY_A


def _database(world: Any) -> Any:
    with world.services.runtimes.lease(CITY_A) as rt:
        return rt.casework.database


def test_select_returns_plain_dicts(world):
    db = _database(world)
    rows = db.select("SELECT 1 AS one, 'a' AS two UNION ALL SELECT 2, 'b' ORDER BY one")
    assert rows == [{"one": 1, "two": "a"}, {"one": 2, "two": "b"}]
    assert all(type(row) is dict for row in rows)
    assert db.select("SELECT 1 AS one WHERE 1 = 0") == []


def test_select_joins_the_open_transaction(world):
    db = _database(world)
    if db.dialect != "postgres":
        return  # SQLite: select always runs through transaction(write=False)
    probe = ("SELECT current_setting('yorisoi.probe', true) AS probe,"
             " current_setting('transaction_isolation') AS isolation")
    with db.transaction(write=False) as cur:
        # Transaction-local: seen only by statements of this very transaction.
        cur.execute("SELECT set_config('yorisoi.probe', 'joined', true)")
        inside = db.select(probe)
    # Alone: an implicit transaction of its own (the pool's autocommit connection).
    alone = db.select(probe)
    assert inside == [{"probe": "joined", "isolation": "repeatable read"}]
    assert alone[0]["probe"] in (None, "")
    assert alone[0]["isolation"] == "read committed"
    with db.datastore.get_connection() as conn:
        assert conn.info.transaction_status.name == "IDLE"
