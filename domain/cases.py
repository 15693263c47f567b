"""The case: one household's file at the municipality, opened under a site.

Retention is counted from the case's closure, so the case keeps its lifecycle
dates exactly.  Nothing here is personal: the household holds the people.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import (
    AttachmentKindUnknownError,
    CaseClosedError,
    CaseClosureDateInvalidError,
    CaseClosureReasonUnknownError,
    CaseNotClosedError,
    DomainError,
    StaleVersionError,
)


class CaseHandOverSiteNotCoveredError(DomainError):
    code = "successor_site_not_covered"
    message = "The successor contract does not cover the site of every case handed over."
    message_ja = "引継ぎ先の契約が、引き継ぐケースの実施場所を含んでいません。"

ATTACHMENT_KINDS = ("consent_form", "meeting_minutes", "other")

# Why a case was closed (codes, not free text: the case holds no personal data).
CLOSURE_REASONS: dict[str, str] = {
    "support_completed": "支援終了",
    "moved_away": "転出",
    "transferred": "他機関へ移管",
    "family_declined": "本人・家族の希望により終了",
    "no_contact": "連絡が取れない",
    "other": "その他",
}


class Case(Aggregate):
    """A household's case file, kept by the municipality."""

    OPENED = "opened"
    ACTIVE = "active"
    CLOSED = "closed"

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    class Opened(Aggregate.Created):
        # v2: the reception number (受付番号) given when the case opened.
        class_version = 2
        household_id: UUID
        municipality_code: str
        site_id: str
        contract_id: str | None
        opened_on: date
        reception_number: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Cases opened before numbers were given have none (they are named by id).
            state["reception_number"] = None

    @classmethod
    def open(cls, *, case_id: UUID, household_id: UUID, municipality_code: str, site_id: str,
             contract_id: str | None, opened_on: date, reception_number: str) -> Case:
        """Open a case under an id chosen beforehand (its reception number names it)."""
        return cls._create(cls.Opened, id=case_id, household_id=household_id,
                           municipality_code=municipality_code, site_id=site_id,
                           contract_id=contract_id, opened_on=opened_on,
                           reception_number=reception_number)

    @event(Opened)
    def __init__(self, household_id: UUID, municipality_code: str, site_id: str,
                 contract_id: str | None, opened_on: date,
                 reception_number: str | None = None) -> None:
        self.household_id = household_id
        self.reception_number = reception_number
        self.municipality_code = municipality_code
        self.site_id = site_id
        # None when the municipality runs the site directly.
        self.contract_id = contract_id
        self.opened_on = opened_on
        self.status = Case.OPENED
        self.consultation_ids: list[UUID] = []
        # The day of each consultation noted with one (the day is stored in clear):
        # reporting asks whether the household already came this fiscal year, and
        # the case answers without reading its consultations.
        self.consultation_days: dict[UUID, date] = {}
        self.attachments: dict[str, dict[str, object]] = {}
        # Retention is counted from closed_on; reopening stops the clock.
        self.closed_on: date | None = None
        self.closure_reason: str | None = None
        self.closures: list[dict[str, object]] = []
        # Already handled by the 要保護児童対策地域協議会 (要対協).
        self.council_case = False

    @property
    def is_closed(self) -> bool:
        return self.status == Case.CLOSED

    def check_version(self, expected_version: int | None) -> None:
        """Refuse a command decided on a stale view of the case."""
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def require_open(self) -> None:
        if self.is_closed:
            raise CaseClosedError(field="caseId")

    def note_consultation(self, consultation_id: UUID, occurred_on: date | None = None) -> None:
        """Attach a consultation to this case (refused once the case is closed)."""
        self.require_open()
        self._consultation_noted(consultation_id, occurred_on)

    @event("ConsultationNoted")
    def _consultation_noted(self, consultation_id: UUID, occurred_on: date | None = None) -> None:
        # (Events stored before the day was noted have none: it defaults to None.)
        self.consultation_ids.append(consultation_id)
        if occurred_on is not None:
            if not hasattr(self, "consultation_days"):  # a snapshot from before the field
                self.consultation_days = {}
            self.consultation_days[consultation_id] = occurred_on
        if self.status == Case.OPENED:
            self.status = Case.ACTIVE

    def close(self, *, closed_on: date, reason: str, today: date) -> None:
        """Close the case on an exact date, for a stated reason."""
        self.require_open()
        if reason not in CLOSURE_REASONS:
            raise CaseClosureReasonUnknownError(field="reason")
        if closed_on < self.opened_on or closed_on > today:
            raise CaseClosureDateInvalidError(field="closedOn")
        self._closed(closed_on, reason)

    @event("Closed")
    def _closed(self, closed_on: date, reason: str) -> None:
        self.status = Case.CLOSED
        self.closed_on = closed_on
        self.closure_reason = reason

    def reopen(self, *, reopened_on: date, today: date) -> None:
        """Reopen a closed case (its retention clock stops)."""
        if not self.is_closed:
            raise CaseNotClosedError(field="caseId")
        assert self.closed_on is not None
        if reopened_on < self.closed_on or reopened_on > today:
            raise CaseClosureDateInvalidError(field="reopenedOn")
        self._reopened(reopened_on)

    @event("Reopened")
    def _reopened(self, reopened_on: date) -> None:
        self.closures.append({"closed_on": self.closed_on, "reason": self.closure_reason,
                              "reopened_on": reopened_on})
        self.status = Case.ACTIVE
        self.closed_on = None
        self.closure_reason = None

    def mark_council_case(self, *, council_case: bool) -> None:
        """Record whether the 要対協 already handles this family (no duplicate meetings)."""
        if council_case != self.council_case:
            self._council_case_marked(council_case)

    @event("CouncilCaseMarked")
    def _council_case_marked(self, council_case: bool) -> None:
        self.council_case = council_case

    def attach(self, *, attachment_id: UUID, kind: str, content_type: str, size: int,
               sha256: str) -> None:
        """Keep a document (a signed consent form, minutes) with the case."""
        self.require_open()
        if kind not in ATTACHMENT_KINDS:
            raise AttachmentKindUnknownError(field="kind")
        self._attachment_added(str(attachment_id), kind, content_type, size, sha256)

    @event("AttachmentAdded")
    def _attachment_added(self, attachment_id: str, kind: str, content_type: str, size: int,
                          sha256: str) -> None:
        # No file name: names of uploaded files often name the family.
        self.attachments[attachment_id] = {"kind": kind, "content_type": content_type,
                                           "size": size, "sha256": sha256}

    def hand_over(self, *, to_contract_id: str, covered_site_ids: Collection[str],
                  on: date) -> None:
        """Move the case to a successor contract (the municipality decides, 委託先の変更).

        The successor must cover the case's own site: the case stays where the
        family was seen, only the contractor running that site changes.
        """
        if self.site_id not in covered_site_ids:
            raise CaseHandOverSiteNotCoveredError(field="toContractId")
        if to_contract_id != self.contract_id:
            self._handed_over(self.contract_id, to_contract_id, self.site_id, on)

    @event("HandedOver")
    def _handed_over(self, from_contract_id: str | None, to_contract_id: str, site_id: str,
                     handed_over_on: date) -> None:
        # Who handed over is in the event's metadata (the acting context).
        self.contract_id = to_contract_id
        self.site_id = site_id
