"""The lookups of data-subject requests: per household, per municipality, and the deadlines.

``HouseholdRequests`` is read by every save that could process a household
(the suspension-of-use guard), so it stays small: request ids and the
suspensions in force.  ``DataSubjectRequestRegister`` lists a municipality's
requests for the lists and overdue checks, read from the event store (no
projection lag on deadlines).  ``DataSubjectRequestDeadlines`` holds the
municipality's days to decide (``domain/data_subject_requests.py`` explains
the statutory 30 days and why they may only be shortened).
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.data_subject_requests import (
    KINDS,
    STATUTORY_DAYS,
    DataSubjectRequestKindUnknownError,
    DeadlineDaysInvalidError,
    check_code,
    check_version,
)
from yorisoi.domain.ids import uuid5


class DataSubjectRequestDeadlines(Aggregate):
    """The municipality's days to decide each kind of request (statutory 30 unless shortened)."""

    @staticmethod
    def create_id(municipality_code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"yorisoi:dsr-deadlines:{municipality_code}")

    @event("Started")
    def __init__(self, municipality_code: str) -> None:
        self.municipality_code = municipality_code
        self.days = {kind: STATUTORY_DAYS for kind in KINDS}

    def set(self, days: dict[str, int], *, expected_version: int | None) -> None:
        """Change some kinds' days (the municipality's ordinance); the others keep theirs."""
        check_version(self, expected_version)
        for kind, value in days.items():
            check_code(kind, KINDS, DataSubjectRequestKindUnknownError, "deadlines")
            if not 1 <= value <= STATUTORY_DAYS:
                raise DeadlineDaysInvalidError(field="deadlines")
        self._set(dict(days))

    @event("Set")
    def _set(self, days: dict[str, int]) -> None:
        self.days.update(days)


class HouseholdRequests(Aggregate):
    """A household's requests and the suspensions in force (read by every guarded save)."""

    @staticmethod
    def create_id(household_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"yorisoi:dsr-household:{household_id}")

    @event("Started")
    def __init__(self, household_id: UUID) -> None:
        self.household_id = household_id
        self.request_ids: list[UUID] = []
        self.suspended_by: list[UUID] = []

    @property
    def suspended(self) -> bool:
        return bool(self.suspended_by)

    def list_request(self, request_id: UUID) -> None:
        self._listed(request_id)

    @event("RequestListed")
    def _listed(self, request_id: UUID) -> None:
        self.request_ids.append(request_id)

    def suspend(self, request_id: UUID) -> None:
        self._suspension_started(request_id)

    @event("SuspensionStarted")
    def _suspension_started(self, request_id: UUID) -> None:
        self.suspended_by.append(request_id)

    def lift(self, request_id: UUID) -> None:
        self._suspension_lifted(request_id)

    @event("SuspensionLifted")
    def _suspension_lifted(self, request_id: UUID) -> None:
        self.suspended_by = [r for r in self.suspended_by if r != request_id]


class DataSubjectRequestRegister(Aggregate):
    """Every request of one municipality, in order of receipt (for lists and overdue checks)."""

    @staticmethod
    def create_id(municipality_code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"yorisoi:dsr-register:{municipality_code}")

    @event("Started")
    def __init__(self, municipality_code: str) -> None:
        self.municipality_code = municipality_code
        self.request_ids: list[UUID] = []

    def list_request(self, request_id: UUID) -> None:
        self._listed(request_id)

    @event("RequestListed")
    def _listed(self, request_id: UUID) -> None:
        self.request_ids.append(request_id)
