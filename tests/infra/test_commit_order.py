"""Commit order equals notification order: a reader paging by notification id never skips.

The projections read ``notification_id > position`` and move the position to the
last id they saw (``projections/runner.py``).  That is only sound if no event can
commit *after* a reader saw a higher id — the ordering lock in the space's insert
function (``yorisoi_insert_events``: a per-space transaction advisory lock held
until commit) is what guarantees it.  These tests drive the product's insert path
(``PostgresTenantRecorder.insert_events`` inside a unit of work, as commands do)
with many concurrent writers while a real ``Projector`` pages through the log, and
check that every committed event was seen, in order.

A control runs the same reader against inserts that bypass the ordering lock and
shows that the check catches the skip: the tests can fail.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import OPERATOR, Services, init_platform
from yorisoi.projections.runner import Projector
from yorisoi.services.casework import CaseworkApplication
from yorisoi.services.context import acting_as
from yorisoi.tenants.spaces import event_store_env, municipality_space

CITY = "131016"
WRITERS = 8
WRITES_EACH = 40
PROBE_TOPIC = "tests.commit_order:Probe"  # never decoded: the probe view reads raw rows


class _PassThrough:
    """The projector's mapper: the probe view wants the notification itself."""

    def to_domain_event(self, stored: Any) -> Any:
        return stored


class _ProbeView:
    """Records the ids it is given, in order; the projector commits its position."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[int] = []

    def ddl(self) -> list[str]:
        return []

    def reset(self, cur: Any) -> None:
        self.seen.clear()

    def apply(self, cur: Any, event: Any, notification: Any) -> None:
        self.seen.append(int(notification.id))


@pytest.fixture(scope="module")
def settings(pg_cluster, tmp_path_factory) -> Iterator[Settings]:
    dbname = pg_cluster.create_database(f"t_order_{uuid.uuid4().hex[:12]}")
    settings = Settings(
        backend="postgres", pg_host=pg_cluster.host, pg_port=pg_cluster.port, pg_dbname=dbname,
        pg_user=pg_cluster.app_user, pg_password=pg_cluster.app_password,
        pg_admin_user=pg_cluster.owner_user, pg_admin_password=pg_cluster.owner_password,
        data_dir=tmp_path_factory.mktemp("commit-order"), environment="test",
        # Every writer thread and the reader hold a connection of their own at once.
        tenant_pool_size=0, tenant_pool_max_overflow=WRITERS + 4)
    init_platform(settings)
    services = Services(settings)
    try:
        with acting_as(OPERATOR):
            services.directory.provision_municipality(code=CITY, name="千代田区",
                                                      prefecture="東京都")
    finally:
        services.close()
    yield settings
    pg_cluster.drop_database(dbname)


@pytest.fixture(scope="module")
def casework(settings: Settings) -> Iterator[CaseworkApplication]:
    services = Services(settings)
    space = municipality_space(CITY)
    app = CaseworkApplication(event_store_env(settings, space), tenant=space,
                              key_provider=services.key_provider)
    yield app
    app.close()
    services.close()


def _probe_event() -> StoredEvent:
    return StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic=PROBE_TOPIC,
                       state=b"{}")


def _product_write(app: CaseworkApplication, hold: float) -> None:
    """One command's insert as commands make it: in a unit of work that commits ``hold`` s later."""
    with app.database.unit_of_work():
        app.recorder.insert_events([_probe_event() for _ in range(random.randint(1, 3))])
        time.sleep(hold)  # the rest of the unit (idempotency row, …) before COMMIT


def _owner(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(host=settings.pg_host, port=settings.pg_port,
                           dbname=settings.pg_dbname, user=settings.pg_admin_user,
                           password=settings.pg_admin_password.get_secret_value())


def _unordered_write(settings: Settings, events_table: str, hold: float) -> None:
    """An insert that bypasses the ordering lock (what the lock exists to prevent)."""
    event = _probe_event()
    with _owner(settings) as conn:  # commits when the block ends
        conn.execute(sql.SQL("INSERT INTO {}.{} (originator_id, originator_version, topic, state)"
                             " VALUES (%s, %s, %s, %s)").format(
                                 sql.Identifier(municipality_space(CITY)),
                                 sql.Identifier(events_table)),
                     (event.originator_id, 1, PROBE_TOPIC, event.state))
        time.sleep(hold)


def _all_ids(app: CaseworkApplication, after: int) -> list[int]:
    rows = app.database.select("SELECT notification_id AS id FROM {events}"
                               " WHERE notification_id > %s ORDER BY notification_id", (after,))
    return [int(r["id"]) for r in rows]


def _head(app: CaseworkApplication) -> int:
    return max(_all_ids(app, 0), default=0)


def _reader(app: CaseworkApplication, name: str, batch_size: int = 7) -> tuple[Projector,
                                                                               _ProbeView]:
    view = _ProbeView(name)
    projector = Projector(app.database, _PassThrough(), view, batch_size=batch_size)
    # Start where the log is now: each test looks only at what it writes.
    with app.database.transaction() as cur:
        cur.execute("INSERT INTO {s}projection_positions (name, position) VALUES (%s, %s)",
                    (name, _head(app)))
    return projector, view


def _skipped(view: _ProbeView, app: CaseworkApplication, start: int) -> list[int]:
    """Committed ids after ``start`` the reader never saw (after one last catch-up)."""
    return sorted(set(_all_ids(app, start)) - set(view.seen))


def _start(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_many_writers_and_a_paging_reader_nothing_is_skipped(casework) -> None:
    projector, view = _reader(casework, "probe_many")
    start = _head(casework)
    writers_done = threading.Event()

    def write(seed: int) -> Callable[[], None]:
        rng = random.Random(seed)

        def run() -> None:
            for _ in range(WRITES_EACH):
                # Some units commit at once, some hold their events a moment first.
                _product_write(casework, hold=rng.choice((0, 0, 0.001, 0.005)))
        return run

    def read() -> None:
        while not writers_done.is_set():
            projector.catch_up()

    writers = [_start(write(seed)) for seed in range(WRITERS)]
    reader, reader_errors = _start(read)
    for thread, _ in writers:
        thread.join(timeout=600)
    writers_done.set()
    reader.join(timeout=600)
    assert not [e for _, errors in writers for e in errors], "a write failed"
    assert not reader_errors, reader_errors
    projector.catch_up()

    assert view.seen == sorted(set(view.seen)), "the reader saw ids out of order or twice"
    assert _skipped(view, casework, start) == []
    assert len(view.seen) >= WRITERS * WRITES_EACH  # 1-3 events a write, all of them seen


def _late_commit_scenario(casework, first: Callable[[float], None],
                          second: Callable[[], None], name: str) -> list[int]:
    """A commits after B started; the reader reads between. Returns the ids it skipped.

    A takes its notification id first and commits late; B inserts meanwhile.  Through
    the ordering lock B waits for A, so whatever the reader reads in between, it never
    sees B's id before A's.  Without the lock B commits first, the reader moves past A's
    id, and A's event is never read.
    """
    projector, view = _reader(casework, name)
    start = _head(casework)
    a_inserted = threading.Event()
    a_may_commit = threading.Event()

    def writer_a() -> None:
        first_hold = a_may_commit.wait  # A holds its transaction open until told

        def hold(_: float) -> None:
            a_inserted.set()
            first_hold(timeout=120)
        first(hold)

    thread_a, errors_a = _start(writer_a)
    assert a_inserted.wait(timeout=120)
    thread_b, errors_b = _start(second)
    thread_b.join(timeout=2)  # done at once without the lock; waiting on A with it
    projector.catch_up()       # the reader pages while A is still open
    a_may_commit.set()
    thread_a.join(timeout=120)
    thread_b.join(timeout=120)
    assert not errors_a and not errors_b, (errors_a, errors_b)
    projector.catch_up()
    assert len(_all_ids(casework, start)) >= 2
    return _skipped(view, casework, start)


def test_a_late_commit_is_never_passed_over(casework) -> None:
    def first(hold: Callable[[float], None]) -> None:
        with casework.database.unit_of_work():
            casework.recorder.insert_events([_probe_event()])
            hold(0)

    skipped = _late_commit_scenario(casework, first, lambda: _product_write(casework, 0),
                                    "probe_late")
    assert skipped == []


def test_control_without_the_ordering_lock_the_reader_skips(casework, settings) -> None:
    """The check above can fail: inserts that bypass the lock lose the late event."""
    table = casework.recorder.events_table_name.split(".")[-1].strip('"')

    def first(hold: Callable[[float], None]) -> None:
        event = _probe_event()
        with _owner(settings) as conn:
            conn.execute(sql.SQL("INSERT INTO {}.{} (originator_id, originator_version, topic,"
                                 " state) VALUES (%s, 1, %s, %s)").format(
                                     sql.Identifier(municipality_space(CITY)),
                                     sql.Identifier(table)),
                         (event.originator_id, PROBE_TOPIC, event.state))
            hold(0)

    skipped = _late_commit_scenario(casework, first,
                                    lambda: _unordered_write(settings, table, 0),
                                    "probe_control")
    assert len(skipped) == 1
