"""Retention schedules and holds (mixed into CaseworkApplication).

One casework application serves one municipality, so the schedule it reads
and changes is always its own municipality's.  Holds are aggregates of their
own (one per hold), listed by the records-governance view
(``projections/disposal_due.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.holds import Hold, HoldNotFoundError, HouseholdNotFoundError
from yorisoi.domain.households import Household
from yorisoi.domain.retention import RetentionSchedule, ScheduleVersion
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import current_context
from yorisoi.services.personal_data import HouseholdKeyDestroyedError
from yorisoi.services.tenant_application import command


class RetentionCommands:
    """Setting the retention schedule; placing and releasing holds."""

    # Provided by CaseworkApplication.
    tenant: str
    repository: Any
    save: Any
    keyring: Any
    municipality_code: str

    def retention_schedule(self) -> RetentionSchedule | None:
        """The municipality's schedule, read afresh (None until a first version is set)."""
        try:
            schedule: Any = self.repository.get(RetentionSchedule.create_id(self.municipality_code))
        except AggregateNotFoundError:
            return None
        return schedule

    def schedule_in_effect(self, on: date) -> ScheduleVersion | None:
        schedule = self.retention_schedule()
        return schedule.in_effect_on(on) if schedule is not None else None

    @command("command.set_retention_schedule")
    def set_retention_schedule(self, *, effective_from: date, years: Mapping[str, int | None],
                               two_person_approval: bool) -> ScheduleVersion:
        """Add a schedule version (every record class → years or permanent)."""
        schedule = self.retention_schedule() or RetentionSchedule(
            municipality_code=self.municipality_code)
        version = schedule.set_version(
            effective_from=effective_from, years=years,
            two_person_approval=two_person_approval,
            set_by=current_context().user_id, today=japan_today())
        self.save(schedule)
        return version

    @command("command.place_hold")
    def place_hold(self, *, household_id: UUID, reason: str, owner: str | None,
                   starts_on: date, ends_on: date | None) -> Hold:
        """Hold a household's records: never disposed of while the hold lasts.

        Without an owner named, whoever places the hold owns it (answers for lifting it).
        """
        try:
            household: Any = self.repository.get(household_id)
        except AggregateNotFoundError:
            household = None
        if not isinstance(household, Household):
            raise HouseholdNotFoundError(field="householdId")
        key = self.keyring.store.row(household_id)
        if key is not None and key["wrapped_key"] is None:
            raise HouseholdKeyDestroyedError(household_id)  # nothing left to hold
        hold = Hold.place(household_id=household_id, reason=reason,
                          owner=owner or current_context().user_id,
                          starts_on=starts_on, ends_on=ends_on)
        self.save(hold)
        return hold

    def get_hold(self, hold_id: UUID) -> Hold:
        try:
            hold: Any = self.repository.get(hold_id)
        except AggregateNotFoundError:
            hold = None
        if not isinstance(hold, Hold):
            raise HoldNotFoundError(field="holdId")
        return hold

    @command("command.release_hold")
    def release_hold(self, hold_id: UUID, *, released_on: date) -> Hold:
        """Release a hold (who and when are recorded); the schedule applies again."""
        hold = self.get_hold(hold_id)
        hold.release(released_on=released_on, released_by=current_context().user_id,
                     today=japan_today())
        self.save(hold)
        return hold
