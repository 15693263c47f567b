"""Destroying a household key the only way the database allows: with an approved disposal batch.

On PostgreSQL a key is destroyed only by the approved disposal batch that
names its household (``infra/household_keys.py``; a trigger checks the batch's
events).  Tests that need a destroyed key without running a whole disposal
(crypto-shredding, masking, DSR answers) use :func:`destroy_key`: it proposes
and approves a one-household batch (two people) and destroys the key under it
— the disposal run's key step, without the steps around it.  On SQLite (no
role separation, nothing enforced) it is the keyring's plain ``destroy``, so
the event log is unchanged there; on PostgreSQL the batch adds two events
(proposed, approved) to the log — tests that count events count before.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from yorisoi.domain.retention import RECORD_CLASSES, ScheduleVersion
from yorisoi.infra.clock import japan_today
from yorisoi.projections.disposal_due import HouseholdStanding
from yorisoi.services.context import ActingContext, acting_as


def _officer(user_id: str, municipality_code: str) -> ActingContext:
    return ActingContext(user_id=user_id, role="municipal_admin",
                         organisation_kind="municipality", organisation_id=municipality_code)


def destroy_key(rt: Any, household_id: UUID | str) -> bool:
    """Destroy the household's key under a fresh approved batch. True if a live key went."""
    casework = rt.casework
    if casework.database.dialect != "postgres":
        return casework.keyring.destroy(UUID(str(household_id)))
    code = casework.municipality_code
    today = japan_today()
    schedule = ScheduleVersion(version=1, effective_from=today,
                               years={name: 1 for name in RECORD_CLASSES},
                               two_person_approval=True)
    standing = HouseholdStanding(household_id=str(household_id), closed_on=today, due_on=today,
                                 record_counts={}, held=False)
    with acting_as(_officer("test-disposal-proposer", code)):
        batch = casework.propose_disposal(schedule=schedule, evaluated_on=today,
                                          households=[standing])
    with acting_as(_officer("test-disposal-approver", code)):
        casework.approve_disposal(batch.id, expected_version=None)
    destroyed = casework.keyring.store.destroy(UUID(str(household_id)), batch.id)
    casework.keyring.destroy(UUID(str(household_id)))  # forget the cached key
    return destroyed
