"""Workers share tenants: a turn never waits on another process's position lock.

``ProjectorGroup.catch_up_turn`` (what each worker process runs per notified
tenant) takes the group's positions with ``FOR UPDATE SKIP LOCKED``: while
another process holds them, the turn answers "busy" at once and applies
nothing; once they are free, the next turn applies everything, exactly once.
A turn applies at most the batches it is given, so a busy tenant costs the
others one batch per turn.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from view_rows import all_view_rows, record_households, view_positions

from yorisoi.tenants.runtime import TenantRuntime

pytestmark = pytest.mark.parametrize("backend_settings", ["postgres"], indirect=True)

CITY_A = "131016"


def _owner(settings):  # noqa: ANN001, ANN202
    return psycopg.connect(host=settings.pg_host, port=settings.pg_port, dbname=settings.pg_dbname,
                           user=settings.pg_admin_user,
                           password=settings.pg_admin_password.get_secret_value())


def test_a_turn_skips_a_tenant_another_worker_holds_and_applies_it_once_free(world):
    settings = world.services.settings
    with world.services.runtimes.lease(CITY_A) as rt:
        rt.read_models.catch_up()
        record_households(rt, cases=2, per_case=2)
    # Two "workers": two runtimes of the same tenant, each with its own pool.
    first = TenantRuntime(settings, CITY_A, world.services.key_provider)
    second = TenantRuntime(settings, CITY_A, world.services.key_provider)
    try:
        with _owner(settings) as holder:  # the first worker's batch in progress
            holder.execute('SELECT name FROM "t_131016".projection_positions FOR UPDATE')
            started = time.monotonic()
            applied, state = second.catch_up_turn()
            assert (applied, state) == (0, "busy")
            assert time.monotonic() - started < 30  # answered, not queued behind the lock
            holder.rollback()
        applied, state = second.catch_up_turn(max_batches=10)
        assert state == "done" and applied > 0
        assert first.catch_up_turn() == (0, "done")  # nothing applied twice
        rows = all_view_rows(second)
        head = second.case_projector.status().head
        assert set(view_positions(second).values()) == {head}
        for projector in second.projectors:  # each view alone, from an empty table
            projector.rebuild()
        assert all_view_rows(second) == rows
    finally:
        first.close()
        second.close()


def test_a_turn_applies_at_most_its_batches(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        rt.read_models.catch_up()
        record_households(rt, cases=3, per_case=2)
        rt.read_models.batch_size = 5
        applied, state = rt.catch_up_turn(max_batches=1)
        assert state == "more" and applied > 0
        while state != "done":
            _, state = rt.catch_up_turn(max_batches=1)
        head = rt.case_projector.status().head
        assert set(view_positions(rt).values()) == {head}
