"""Optimistic concurrency on the casework application: a conflict is clear and loses nothing."""

from __future__ import annotations

from functools import partial

import pytest
from eventsourcing.persistence import IntegrityError
from world import consultation_command

from yorisoi.domain.consultations import Consultation
from yorisoi.domain.vocabulary import STANDARD_THEMES
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import (
    CaseNotFoundError,
)
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")

# Recorded by the municipality's own staff at its directly run counter.
_command = partial(consultation_command, site_id="a-counter", contract_id=None, wishes="",
                   direction="")


def _count(rt: TenantRuntime) -> int:
    with rt.casework.database.transaction(write=False) as cur:
        return int(cur.execute("SELECT COUNT(*) AS n FROM {events}").fetchone()["n"])


def test_two_writers_noting_on_one_case_conflict_and_the_loser_stores_nothing(world):
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        done = rt.casework.record_consultation(_command())
        other = TenantRuntime(world.services.settings, CITY_A, world.services.key_provider)
        try:
            # Both writers have read the case at version 2; the first one wins.
            case_a = rt.casework.repository.get(done.case_id)
            case_b = other.casework.repository.get(done.case_id)
            def consultation(case):  # noqa: ANN001, ANN202
                made = Consultation.record(
                    case_id=case.id, household_id=case.household_id, site_id="a-counter",
                    contract_id=None, occurred_on=japan_today(), channel="phone",
                    themes=["money"], asked="相談", wishes="", direction="",
                    today=japan_today(), allowed_themes=STANDARD_THEMES.keys())
                case.note_consultation(made.id)
                return made

            first, second = consultation(case_a), consultation(case_b)
            rt.casework.save(case_a, first)
            before = _count(rt)
            with pytest.raises(IntegrityError):
                other.casework.save(case_b, second)
            # All or nothing: the losing consultation was not stored without its case note.
            assert _count(rt) == before
            assert list(rt.casework.events.get(second.id)) == []
            assert rt.casework.repository.get(done.case_id).consultation_ids == [
                done.consultation_id, first.id]
            # Retrying the command against the fresh case succeeds.
            retried = other.casework.record_consultation(_command(case_id=done.case_id,
                                                                  household=None))
            assert rt.casework.repository.get(done.case_id).consultation_ids[-1] == (
                retried.consultation_id)
        finally:
            other.close()


def test_case_outside_the_actors_contracts_reads_as_absent(world):
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        done = rt.casework.record_consultation(_command())
        with pytest.raises(CaseNotFoundError):
            rt.casework.record_consultation(_command(case_id=done.case_id, household=None,
                                                     writable_contract_ids=["contract-a-npo"]))
        with pytest.raises(CaseNotFoundError):
            rt.casework.readable_case(done.case_id, ["contract-a-npo"])
        # A household id is not a case id either.
        with pytest.raises(CaseNotFoundError):
            rt.casework.readable_case(done.household_id, None)
        assert rt.casework.readable_case(done.case_id, None).id == done.case_id
