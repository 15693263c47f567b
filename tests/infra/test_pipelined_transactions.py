"""Pipelined transactions on PostgreSQL: BEGIN and COMMIT sent inside the pipeline.

``Database.transaction(pipeline=True)`` and read-only transactions send BEGIN
and COMMIT as statements of one pipeline (``infra/db._pipelined``) instead of
psycopg's ``transaction()``, whose nested pipelines sync twice more.  What
must hold as before: writes commit together or not at all (an error in the
block, a refused statement seen only at commit, a COMMIT that fails), the
connection goes back to the pool idle and usable, reads see one snapshot and
cannot write.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, PersistenceError

from world import CITY_A


@pytest.fixture
def db(pg_settings: Any, pg_cluster: Any) -> Iterator[Any]:
    from world import build_world

    world = build_world(pg_settings)
    with world.services.runtimes.lease(CITY_A) as rt:
        database = rt.casework.database
    # Two tables of the test's own, made by the owner role (the application's may not).
    cluster, settings = pg_cluster, world.services.settings
    space, app = database.render("{s}"), settings.pg_user
    with cluster.connect(settings.pg_dbname, role="owner", autocommit=True) as owner:
        owner.execute(f"CREATE TABLE {space}pipe_probe (k INT PRIMARY KEY, v INT NOT NULL)")
        owner.execute(f"CREATE TABLE {space}pipe_deferred (k INT, CONSTRAINT pipe_deferred_one"
                      " UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)")
        owner.execute(f"GRANT SELECT, INSERT, UPDATE ON {space}pipe_probe, {space}pipe_deferred"
                      f" TO {app}")
    yield database
    world.services.close()


def _rows(db: Any) -> list[tuple[int, int]]:
    return [(r["k"], r["v"]) for r in db.select("SELECT k, v FROM {s}pipe_probe ORDER BY k")]


def _pool_is_clean(db: Any) -> None:
    with db.datastore.get_connection() as conn:
        assert conn.info.transaction_status.name == "IDLE"
        assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1


def test_writes_commit_together(db):
    with db.transaction(pipeline=True) as cur:
        cur.execute("INSERT INTO {s}pipe_probe VALUES (1, 10)")
        assert cur.execute("SELECT v FROM {s}pipe_probe WHERE k = 1").fetchone()["v"] == 10
        cur.execute("INSERT INTO {s}pipe_probe VALUES (2, 20)")
    assert _rows(db) == [(1, 10), (2, 20)]
    _pool_is_clean(db)


def test_an_error_in_the_block_rolls_everything_back(db):
    with pytest.raises(RuntimeError), db.transaction(pipeline=True) as cur:
        cur.execute("INSERT INTO {s}pipe_probe VALUES (1, 10)")
        raise RuntimeError("the view failed")
    assert _rows(db) == []
    _pool_is_clean(db)


def test_a_refused_write_seen_only_at_the_end_rolls_back_the_earlier_ones(db):
    # The second insert's error is not fetched inside the block: it surfaces when
    # the pipeline syncs, and nothing of the transaction stays.
    with pytest.raises(IntegrityError), \
            db.transaction(pipeline=True) as cur:
        cur.execute("INSERT INTO {s}pipe_probe VALUES (1, 10)")
        cur.execute("INSERT INTO {s}pipe_probe VALUES (1, 11)")
        cur.execute("INSERT INTO {s}pipe_probe VALUES (2, 20)")
    assert _rows(db) == []
    _pool_is_clean(db)


def test_a_failing_commit_raises_and_keeps_nothing(db):
    with pytest.raises(IntegrityError), \
            db.transaction(pipeline=True) as cur:
        cur.execute("INSERT INTO {s}pipe_probe VALUES (1, 10)")
        cur.execute("INSERT INTO {s}pipe_deferred VALUES (7), (7)")  # checked at COMMIT
    assert _rows(db) == []
    assert db.select("SELECT count(*) AS n FROM {s}pipe_deferred")[0]["n"] == 0
    _pool_is_clean(db)


def test_reads_see_one_snapshot_and_cannot_write(db):
    with db.transaction() as cur:
        cur.execute("INSERT INTO {s}pipe_probe VALUES (1, 10)")
    with db.transaction(write=False) as cur:
        assert cur.execute("SELECT current_setting('transaction_isolation') AS i,"
                           " current_setting('transaction_read_only') AS ro"
                           ).fetchone() == {"i": "repeatable read", "ro": "on"}
        first = cur.execute("SELECT v FROM {s}pipe_probe WHERE k = 1").fetchone()["v"]
        with db.datastore.get_connection() as other:
            other.execute(f"UPDATE {db.render('{s}')}pipe_probe SET v = 99 WHERE k = 1")
        again = cur.execute("SELECT v FROM {s}pipe_probe WHERE k = 1").fetchone()["v"]
    assert first == again == 10
    with pytest.raises(PersistenceError, match="read-only"), \
            db.transaction(write=False) as cur:
        cur.execute("UPDATE {s}pipe_probe SET v = 1").fetchall()
    assert _rows(db) == [(1, 99)]
    _pool_is_clean(db)
