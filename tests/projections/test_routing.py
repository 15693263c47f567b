"""Routing cannot drop an event: a view declines only what its ``apply`` ignores.

``ProjectorGroup`` hands an event only to the views whose ``handles`` accepts
its class.  The first test probes every read model with every event class of
the domain that it declines: its ``apply`` must then do nothing at all (no
statement, no row, no read of the event's fields, no key).  The others check
the fallbacks (a view that declares nothing, or overrides ``apply`` below its
declaration, gets everything) and that routing changes neither rows nor
positions.  ``Projector`` is unrouted: test_projector_group.py compares the
routed group with every view rebuilt alone, row for row.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import AggregateCreated, DomainEvent
from view_rows import all_view_rows, record_households, view_positions

import yorisoi.domain
from yorisoi.domain.cases import Case
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.households import Household
from yorisoi.projections.case_view import CaseView
from yorisoi.projections.runner import Projector, ProjectorGroup, ViewNotification, handles
from yorisoi.projections.statistics_view import StatisticsView
from yorisoi.projections.tenant_views import TENANT_VIEWS
from yorisoi.projections.timeline import TimelineView
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"


def _event_classes() -> list[type]:
    """Every event class the domain defines (nested in its aggregates)."""
    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(yorisoi.domain.__path__):
        module = importlib.import_module(f"yorisoi.domain.{module_info.name}")
        for owner in vars(module).values():
            if not isinstance(owner, type) or owner.__module__ != module.__name__:
                continue
            for member in vars(owner).values():
                if (isinstance(member, type) and issubclass(member, DomainEvent)
                        and member.__module__ == module.__name__):
                    found[f"{member.__module__}:{member.__qualname__}"] = member
    return list(found.values())


EVENT_CLASSES = _event_classes()


class Touched(Exception):  # noqa: N818 - what the probe raises when a view uses it
    pass


class _Field:
    """A field value of a probe event: any use of it means the view acted on the event."""

    def _touch(self, *args: Any, **kwargs: Any) -> Any:
        raise Touched

    __getattr__ = __str__ = __repr__ = __format__ = __iter__ = __len__ = __bool__ = _touch
    __lt__ = __le__ = __gt__ = __ge__ = __add__ = __radd__ = __getitem__ = _touch


class _Keyring:
    """No view may open or seal anything for an event it declines."""

    def __getattr__(self, name: str) -> Any:
        raise Touched


class _Cursor:
    """Records what a view does; reads find nothing."""

    dialect = "postgres"

    def __init__(self) -> None:
        self.done: list[str] = []

    def execute(self, sql: str, params: Any = ()) -> _Cursor:
        self.done.append(sql)
        return self

    def insert_many(self, table: str, columns: Any, types: Any, rows: Any,
                    suffix: str = "") -> None:
        if rows:
            self.done.append(f"insert {table}")

    def update_many(self, table: str, key: str, columns: Any, types: Any, rows: Any) -> None:
        if rows:
            self.done.append(f"update {table}")

    def select_in(self, sql: str, column: str, values: Any) -> list[Any]:
        if list(values):
            self.done.append(sql)
        return []

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []


def _probe(event_cls: type, *, with_fields: bool) -> tuple[Any, ViewNotification]:
    """An event of ``event_cls`` whose every field is a ``_Field`` (or absent)."""
    originator_id = uuid4()
    version = 1 if issubclass(event_cls, AggregateCreated) else 2
    state: dict[str, Any] = {}
    if with_fields and dataclasses.is_dataclass(event_cls):
        state = {f.name: _Field() for f in dataclasses.fields(event_cls)}
    state.update(originator_id=originator_id, originator_version=version,
                 timestamp=datetime.now(UTC))
    event = object.__new__(event_cls)
    object.__setattr__(event, "__dict__", state)
    notification = object.__new__(ViewNotification)
    object.__setattr__(notification, "__dict__", {
        "originator_id": originator_id, "originator_version": version,
        "topic": f"{event_cls.__module__}:{event_cls.__qualname__}", "state": b"{}",
        "id": 7, "originator_text": str(originator_id)})
    return event, notification


def _what_apply_does(view_cls: type, event: Any, n: ViewNotification) -> list[str]:
    """What ``apply`` did with the event, in a batch if the view has one and outside one."""
    done: list[str] = []
    for in_batch in (True, False):
        view, cur = view_cls(_Keyring()), _Cursor()
        try:
            if in_batch and hasattr(view, "batch"):
                with view.batch(cur):
                    view.apply(cur, event, n)
            else:
                view.apply(cur, event, n)
        except Touched:
            done.append("used the event's fields or a household key")
        except Exception as error:  # noqa: BLE001 - anything else is acting on it too
            done.append(f"raised {type(error).__name__}")
        done += cur.done
    return done


def test_the_domain_has_the_event_classes_the_probe_needs():
    assert len(EVENT_CLASSES) > 150
    assert {Case.Opened, Case.ConsultationNoted, Consultation.Recorded,
            Household.Registered} <= set(EVENT_CLASSES)
    # Every view declares what it handles, and each accepts something.
    for view_cls in TENANT_VIEWS:
        assert hasattr(view_cls, "handles"), view_cls
        assert any(view_cls.handles(cls) for cls in EVENT_CLASSES), view_cls


@pytest.mark.parametrize("view_cls", TENANT_VIEWS, ids=lambda v: v.__name__)
def test_a_view_declines_only_events_its_apply_ignores(view_cls):
    declined = [cls for cls in EVENT_CLASSES if not view_cls.handles(cls)]
    assert declined  # every view declines most of the domain
    acted = {}
    for event_cls in declined:
        for with_fields in (True, False):
            done = _what_apply_does(view_cls, *_probe(event_cls, with_fields=with_fields))
            if done:
                acted[event_cls.__qualname__] = done
    assert acted == {}, f"{view_cls.__name__} declines events its apply acts on"


def test_the_probe_notices_a_view_acting_on_an_event():
    """The probe above can fail: an accepted event is noticed, with or without its fields."""
    for view_cls, event_cls in ((CaseView, Consultation.Recorded), (TimelineView, Case.Opened),
                                (StatisticsView, Consultation.Recorded)):
        assert view_cls.handles(event_cls)
        for with_fields in (True, False):
            assert _what_apply_does(view_cls, *_probe(event_cls, with_fields=with_fields))


class _Everything:
    """A view that declares nothing: it must receive every event."""

    name = "everything"
    tables = ()

    def __init__(self) -> None:
        self.seen: list[int] = []

    def ddl(self) -> list[str]:
        return []

    def reset(self, cur: Any) -> None:
        self.seen.clear()

    def apply(self, cur: Any, event: Any, notification: Any) -> None:
        self.seen.append(notification.id)


class _StatisticsSeeingAll(StatisticsView):
    """Overrides ``apply`` below the class that answers ``handles``: not trusted."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def apply(self, cur: Any, event: Any, notification: Any) -> None:
        self.seen.append(notification.id)
        super().apply(cur, event, notification)


def test_a_view_without_a_declaration_or_with_an_untrusted_one_gets_every_event():
    assert handles(_Everything(), Case.Opened)
    assert not handles(StatisticsView(), Case.Opened)
    assert handles(_StatisticsSeeingAll(), Case.Opened)
    patched = StatisticsView()
    patched.apply = lambda cur, event, notification: None  # type: ignore[method-assign]
    assert handles(patched, Case.Opened)


@pytest.fixture
def rt(world):
    with world.services.runtimes.lease(CITY_A) as runtime:
        yield runtime


def test_the_group_hands_undeclared_views_every_event_and_moves_every_position(world, rt):
    record_households(rt, cases=3, per_case=2)
    db, mapper, keyring = rt.casework.database, rt.casework.mapper, rt.casework.keyring
    everything, statistics = _Everything(), _StatisticsSeeingAll()
    group = ProjectorGroup([Projector(db, mapper, CaseView(keyring)),
                            Projector(db, mapper, everything),
                            Projector(db, mapper, statistics)])
    group.catch_up()
    key = "notification_id" if db.dialect == "postgres" else "rowid"
    with db.transaction(write=False) as cur:
        ids = [int(row["id"]) for row in cur.execute(
            f"SELECT {key} AS id FROM {{events}} ORDER BY {key}").fetchall()]
    assert len(ids) == 3 * (2 + 2 * 2)
    assert everything.seen == ids
    assert statistics.seen == ids


def test_routed_views_reach_the_head_and_hold_the_rows_of_every_event(world, rt):
    """A view sent nothing (the break-glass view here) still moves to the head."""
    record_households(rt, cases=4, per_case=3)
    applied = rt.read_models.catch_up()
    head = rt.case_projector.status().head
    assert set(view_positions(rt).values()) == {head}
    assert applied == len(rt.projectors) * 4 * (2 + 2 * 3)
    routed = all_view_rows(rt)
    fresh = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
    try:  # every view alone, unrouted, from empty
        for projector in fresh.projectors:
            projector.rebuild()
        assert all_view_rows(fresh) == routed
    finally:
        fresh.close()
