"""Who and why: every stored event carries the acting context, and nothing is stored without it."""

from __future__ import annotations

import json

import pytest
from world import consultation_command
from key_destruction import destroy_key

from yorisoi.services.context import (
    ActingContext,
    ActingContextMissingError,
    acting_as,
    current_context,
)
from yorisoi.services.event_mapper import event_metadata

CITY_A = "131016"
CONTRACTOR = ActingContext(user_id="npo-user-3", role="specialist", organisation_kind="contractor",
                           organisation_id="npo-hidamari", request_id="req-42",
                           trace_id="0af7651916cd43dd8448eb211c80319c")


def _count_events(rt) -> int:
    with rt.casework.database.transaction(write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])


def test_storing_without_an_acting_context_raises_and_stores_nothing(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        before = _count_events(rt)
        with pytest.raises(ActingContextMissingError):
            rt.casework.record_consultation(consultation_command())
        assert _count_events(rt) == before
        # No household key was minted for the refused household either.
        with rt.casework.database.transaction(write=False) as cur:
            keys = cur.execute("SELECT COUNT(*) AS n FROM {s}household_keys").fetchone()["n"]
        assert int(keys) == 0


def test_acting_context_does_not_outlive_its_block():
    with pytest.raises(ActingContextMissingError):
        current_context()
    with acting_as(CONTRACTOR):
        assert current_context() is CONTRACTOR
        inner = CONTRACTOR.at(contract_id="c-2", site_id="s-2")
        with acting_as(inner):
            assert current_context().contract_id == "c-2"
        assert current_context() is CONTRACTOR
    with pytest.raises(ActingContextMissingError):
        current_context()


def test_context_at_keeps_the_actor_and_changes_only_contract_and_site():
    moved = CONTRACTOR.at(contract_id="contract-a-npo", site_id="a-hiroba")
    assert moved.as_metadata() == {**CONTRACTOR.as_metadata(), "contract_id": "contract-a-npo",
                                   "site_id": "a-hiroba"}


def test_every_event_of_a_command_carries_the_actor_contract_site_and_request(world):
    acting = CONTRACTOR.at(contract_id="contract-a-npo", site_id="a-hiroba")
    with world.services.runtimes.lease(CITY_A) as rt:
        with acting_as(acting):
            done = rt.casework.record_consultation(consultation_command())
        events = [*rt.casework.events.get(done.household_id),
                  *rt.casework.events.get(done.case_id),
                  *rt.casework.events.get(done.consultation_id)]
        assert [type(e).__qualname__ for e in events] == [
            "Household.Registered", "Case.Opened", "Case.ConsultationNoted",
            "Consultation.Recorded"]
        for event in events:
            assert event_metadata(event) == acting.as_metadata()
        # Metadata is stored in clear (it is not personal): audit can read it after disposal.
        with rt.casework.database.transaction(write=False) as cur:
            states = [json.loads(bytes(r["state"])) for r in
                      cur.execute("SELECT state FROM {events}").fetchall()]
        assert all(s["_meta"]["user_id"] == "npo-user-3" for s in states)
        assert all(s["_meta"]["request_id"] == "req-42" for s in states)

        destroy_key(rt, done.household_id)
        (consultation,) = rt.casework.events.get(done.consultation_id)
        assert consultation.asked is None
        assert event_metadata(consultation) == acting.as_metadata()

        rt.catch_up()
        with rt.casework.database.transaction(write=False) as cur:
            row = cur.execute("SELECT recorded_by, recorded_role, recorded_org"
                              " FROM {s}consultation_view").fetchone()
        assert row == {"recorded_by": "npo-user-3", "recorded_role": "specialist",
                       "recorded_org": "npo-hidamari"}


def test_two_commands_by_two_actors_are_told_apart(world):
    other = ActingContext(user_id="staff-1", role="site_manager",
                          organisation_kind="municipality", organisation_id=CITY_A,
                          site_id="a-hiroba", contract_id="contract-a-npo")
    with world.services.runtimes.lease(CITY_A) as rt:
        with acting_as(CONTRACTOR):
            first = rt.casework.record_consultation(consultation_command())
        with acting_as(other):
            second = rt.casework.record_consultation(consultation_command(case_id=first.case_id,
                                                              household=None))
        noted = list(rt.casework.events.get(first.case_id))
        assert [event_metadata(e)["user_id"] for e in noted] == [
            "npo-user-3", "npo-user-3", "staff-1"]
        (event,) = rt.casework.events.get(second.consultation_id)
        assert event_metadata(event)["role"] == "site_manager"
