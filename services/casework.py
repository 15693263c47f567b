"""Casework: households, cases and consultations of one municipality.

One ``CaseworkApplication`` per municipality (tenant): its own event log in
its own schema (PostgreSQL) or file (SQLite), its own household keyring.
Command methods get → command → save; the aggregates check the rules.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from yorisoi.domain.age_bands import age_band_on
from yorisoi.domain.cases import Case
from yorisoi.domain.consent import HouseholdConsents
from yorisoi.domain.consultations import (
    Consultation,
    ConsultationNotFoundError,
    check_consultation_date,
)
from yorisoi.domain.data_subject_indexes import HouseholdRequests
from yorisoi.domain.errors import DomainError, NotFoundDomainError, StaleVersionError
from yorisoi.domain.households import Child, Guardian, Household, Pregnancy
from yorisoi.domain.reception_numbers import ReceptionCounter, fiscal_year_of
from yorisoi.domain.registry import ContractTerms, check_hand_over
from yorisoi.domain.themes import ThemeTaxonomy
from yorisoi.domain.vocabulary import STANDARD_THEMES
from yorisoi.infra.clock import japan_today
from yorisoi.services.complaints import ComplaintCommands
from yorisoi.services.consent import ConsentCommands, NewConsent, NewConsentException
from yorisoi.services.data_subject_requests import DataSubjectRequestCommands
from yorisoi.services.disposal import DisposalCommands
from yorisoi.services.meetings import MeetingCommands
from yorisoi.services.referrals import ReferralCommands
from yorisoi.services.resources import ResourceCommands
from yorisoi.services.retention import RetentionCommands
from yorisoi.services.sites import SiteCommands
from yorisoi.services.staff import StaffCommands
from yorisoi.services.support_notes import SupportNoteCommands
from yorisoi.services.tenant_application import (  # noqa: F401 - re-exported
    SnapshotsWouldLeakError,
    TenantApplication,
    command,
)
from yorisoi.services.themes import ThemeCommands


# Openings run again when another opening took the counter's next number first (SQLite).
OPENING_ATTEMPTS = 6


class CaseNotFoundError(NotFoundDomainError):
    code = "case_not_found"
    message = "No such case in this municipality."
    message_ja = "指定されたケースが見つかりません。"


@dataclass(frozen=True)
class NewHousehold:
    """The people a new case is about."""

    guardians: list[Guardian]
    children: list[Child]
    pregnancy: Pregnancy | None
    outside_target_reason: str | None = None
    # Why the family is registered although likely duplicates were shown.
    new_household_reason: str | None = None


@dataclass(frozen=True)
class RecordConsultation:
    """A consultation to record, under a site and (for contractors) a contract."""

    municipality_code: str
    site_id: str
    contract_id: str | None
    occurred_on: date
    channel: str
    themes: list[str]
    asked: str
    wishes: str
    direction: str
    case_id: UUID | None = None
    household: NewHousehold | None = None
    # Contracts whose cases this actor may add to; None means every case.
    writable_contract_ids: Collection[str] | None = None
    # The guideline's situations (外的状況・内的状況・子育ての状況), all optional.
    outer_situation: str | None = None
    inner_situation: str | None = None
    child_rearing_situation: str | None = None
    # Creating a record needs consent (§6(1)①): given now, already on file for an
    # existing case, or an exception with its reason and legal basis.
    consent: NewConsent | None = None
    consent_exception: NewConsentException | None = None
    # The case's version the caller saw (existing case only): a stale one is a conflict.
    expected_version: int | None = None


@dataclass(frozen=True)
class ConsultationRecorded:
    case_id: UUID
    consultation_id: UUID
    household_id: UUID
    reception_number: str | None = None  # 受付番号 (None for cases opened before numbers)


class CaseworkApplication(DataSubjectRequestCommands, ConsentCommands, SupportNoteCommands,
                          ThemeCommands, MeetingCommands, ReferralCommands, ResourceCommands,
                          ComplaintCommands, SiteCommands, StaffCommands, RetentionCommands,
                          DisposalCommands, TenantApplication):
    """Casework of one municipality."""

    name = "casework"

    def allowed_themes(self) -> Collection[str]:
        """Themes a new record may use: the national list and the municipality's active additions."""
        # Read afresh every time: another process may have changed the taxonomy.
        taxonomy = self.theme_taxonomy()
        return STANDARD_THEMES.keys() if taxonomy is None else taxonomy.allowed()

    def record_consultation(self, cmd: RecordConsultation) -> ConsultationRecorded:
        """Record a consultation, opening a case (and household) when none is given.

        Opening a case takes the next reception number of its fiscal year.  Two
        openings at once read the same counter and only one of them can be
        written: on PostgreSQL the insert refuses the other's stale read and
        the command runner runs it again; on SQLite (no read validation) the
        counter's next version is already taken — an ``IntegrityError`` before
        anything is written.  Either way nothing of the losing attempt is
        stored (one save), so the opening is run again here, on the counter as
        it now is, after a short random pause that breaks the lockstep of
        openings that keep colliding.  So a number is never given twice.
        """
        for attempt in range(1, OPENING_ATTEMPTS + 1):
            try:
                return self._record_consultation(cmd)
            except IntegrityError:  # StaleReadError included
                if cmd.case_id is not None or attempt == OPENING_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.01 * attempt))  # noqa: S311 - not a secret
        raise AssertionError("unreachable")  # pragma: no cover

    def _reception_counter(self, municipality_code: str, fiscal_year: int) -> ReceptionCounter:
        try:
            return self.repository.get(ReceptionCounter.create_id(municipality_code, fiscal_year))
        except AggregateNotFoundError:  # the year's first case
            return ReceptionCounter.start(municipality_code, fiscal_year)

    @command("command.record_consultation")
    def _record_consultation(self, cmd: RecordConsultation) -> ConsultationRecorded:
        today = japan_today()
        counter = None
        household = None
        # The aggregates this command reads, fetched together where their ids are
        # known: the case with the taxonomy, then the household's consent and
        # request indexes (read by the consent check and by save's suspension check).
        # A case's household never changes, so once known the indexes travel with
        # the case: one read before the consents instead of two.
        taxonomy_id = ThemeTaxonomy.create_id(self.municipality_code)
        if cmd.case_id is not None:
            known = self._case_households.get(cmd.case_id)
            # (and the household: the age band is read from it, see _reporting_facts)
            self.read_ahead([cmd.case_id, taxonomy_id,
                             *((known, *self._household_indexes(known)) if known else ())])
            case = self._get_case(cmd.case_id, cmd.writable_contract_ids)
            case.check_version(cmd.expected_version)
            self._remember_household(case)
            if known != case.household_id:
                self.read_ahead([case.household_id,
                                 *self._household_indexes(case.household_id)])
        else:
            if cmd.household is None:
                raise DomainError(field="household", message="Give a caseId or a new household.",
                                  message_ja="ケースIDまたは新しい世帯の情報を指定してください。")
            household = Household.register(
                guardians=cmd.household.guardians, children=cmd.household.children,
                pregnancy=cmd.household.pregnancy, today=today,
                outside_target_reason=cmd.household.outside_target_reason,
                new_household_reason=cmd.household.new_household_reason)
            # A new household has no indexes to read: the taxonomy and the year's counter.
            fiscal_year = fiscal_year_of(cmd.occurred_on)
            self.read_ahead([taxonomy_id,
                             ReceptionCounter.create_id(cmd.municipality_code, fiscal_year)])
            counter = self._reception_counter(cmd.municipality_code, fiscal_year)
            case_id = Case.create_id()
            case = Case.open(case_id=case_id, household_id=household.id,
                             municipality_code=cmd.municipality_code, site_id=cmd.site_id,
                             contract_id=cmd.contract_id, opened_on=cmd.occurred_on,
                             reception_number=counter.assign(case_id))
        people = cmd.household if household is not None else None
        facts = self._reporting_facts(case, people, cmd.occurred_on)
        check_consultation_date(
            cmd.occurred_on, case_opened_on=case.opened_on,
            birth_dates=[c.birth_date for c in people.children] if people else (),
            due_date=people.pregnancy.due_date if people and people.pregnancy else None)
        consultation = Consultation.record(
            case_id=case.id, household_id=case.household_id, site_id=cmd.site_id,
            contract_id=cmd.contract_id, occurred_on=cmd.occurred_on, channel=cmd.channel,
            themes=cmd.themes, asked=cmd.asked, wishes=cmd.wishes, direction=cmd.direction,
            today=today, allowed_themes=self.allowed_themes(),
            outer_situation=cmd.outer_situation, inner_situation=cmd.inner_situation,
            child_rearing_situation=cmd.child_rearing_situation, **facts)
        case.note_consultation(consultation.id, cmd.occurred_on)
        consent = self.consent_to_record(
            household_id=case.household_id, case_id=case.id, record_id=consultation.id,
            consent=cmd.consent, exception=cmd.consent_exception,
            new_household=household is not None, today=today)
        # One save: the record, its consent (or exception) and the number given are
        # stored together or not at all.
        self.save(household, case, consultation, counter, *consent)
        return ConsultationRecorded(case.id, consultation.id, case.household_id,
                                    case.reception_number)

    def _reporting_facts(self, case: Case, people: NewHousehold | None,
                         occurred_on: date) -> dict[str, Any]:
        """What reporting counts about this consultation, decided now (issue 20).

        実人数 counts a household once a fiscal year without any statistic
        keeping household ids: the case knows its consultations, so whether one
        of them already falls in this consultation's fiscal year is decided
        here and carried on the event as a flag (it survives disposal and
        rebuilds).  The age band is read from the household as it is now and
        only the band is kept.
        """
        year = fiscal_year_of(occurred_on)
        if people is not None:  # a new household: its first consultation, a new case
            return {"age_band": age_band_on(
                        occurred_on, birth_dates=[c.birth_date for c in people.children],
                        due_date=people.pregnancy.due_date if people.pregnancy else None),
                    "first_in_fiscal_year": True, "case_new_in_fiscal_year": True}
        found: Household = self.repository.get(case.household_id)
        band = ("unknown" if getattr(found, "shredded", False) else age_band_on(
            occurred_on, birth_dates=[c.birth_date for c in found.children],
            due_date=found.pregnancy.due_date if found.pregnancy else None))
        # Newest first: a consultation of the same year is usually the last one.
        # Read with personal fields withheld (no key, and kept between commands).
        # The case knows the day of each consultation noted since it kept them
        # (no read); older ones are read with personal fields withheld.
        days = getattr(case, "consultation_days", {})
        seen = any(fiscal_year_of(days[cid] if cid in days
                                  else self.repository.terms(cid).occurred_on) == year
                   for cid in reversed(case.consultation_ids))
        return {"age_band": band, "first_in_fiscal_year": not seen,
                "case_new_in_fiscal_year": fiscal_year_of(case.opened_on) == year}

    @property
    def _case_households(self) -> OrderedDict[UUID, UUID]:
        """Case → household ids seen by this process (ids only, bounded)."""
        known = self.__dict__.get("_known_households")
        if known is None:
            known = self.__dict__["_known_households"] = OrderedDict()
        return known

    def _remember_household(self, case: Case) -> None:
        known = self._case_households
        known[case.id] = case.household_id
        known.move_to_end(case.id)
        while len(known) > 10_000:
            known.popitem(last=False)

    @staticmethod
    def _household_indexes(household_id: UUID) -> list[UUID]:
        """The household's consent and request indexes (the consent and suspension checks)."""
        return [HouseholdConsents.create_id(household_id),
                HouseholdRequests.create_id(household_id)]

    @command("command.correct_consultation")
    def correct_consultation(self, case_id: UUID, consultation_id: UUID, *,
                             changes: dict[str, str | None], reason: str,
                             expected_version: int | None,
                             writable_contract_ids: Collection[str] | None) -> Consultation:
        """Correct a consultation's personal fields; the original stays in the log."""
        case = self._get_case(case_id, writable_contract_ids)
        try:
            consultation: Any = self.repository.get(consultation_id)
        except AggregateNotFoundError:
            consultation = None
        if not isinstance(consultation, Consultation) or consultation.case_id != case.id:
            raise ConsultationNotFoundError(field="consultationId")
        # A closed case's records are frozen until it is reopened.
        case.require_open()
        consultation.check_version(expected_version)
        consultation.correct(changes=changes, reason=reason)
        self.save(consultation)
        return consultation

    @command("command.correct_household")
    def correct_household(self, case_id: UUID, household: NewHousehold, *, reason: str,
                          expected_version: int | None,
                          writable_contract_ids: Collection[str] | None) -> Household:
        """Correct the people of a case's household; the original stays in the log.

        Unlike a consultation, a closed case's household can be corrected: names
        and birth dates are the family's, and the right to correction (APPI) does
        not wait for a reopening.
        """
        case = self._get_case(case_id, writable_contract_ids)
        found: Household = self.repository.get(case.household_id)
        # A correction decided on a stale view of the household is refused.
        if expected_version is not None and expected_version != found.version:
            raise StaleVersionError(field="expectedVersion", current_version=found.version)
        found.correct(guardians=household.guardians, children=household.children,
                      pregnancy=household.pregnancy,
                      outside_target_reason=household.outside_target_reason,
                      reason=reason, today=japan_today())
        self.save(found)
        return found

    @command("command.attach_to_case")
    def attach_to_case(self, case_id: UUID, *, attachment_id: UUID, kind: str,
                       content_type: str, data: bytes,
                       store: Callable[[UUID, bytes], str],
                       writable_contract_ids: Collection[str] | None) -> Case:
        """Keep a document with a case: check, then store the bytes, then record.

        ``store(household_id, data)`` writes the object and returns its SHA-256;
        it runs only once the case has accepted the attachment, so a refused
        upload leaves nothing behind.
        """
        case = self._get_case(case_id, writable_contract_ids)
        digest = hashlib.sha256(data).hexdigest()
        case.attach(attachment_id=attachment_id, kind=kind, content_type=content_type,
                    size=len(data), sha256=digest)
        self.refuse_if_suspended(case)  # before the bytes are stored
        if store(case.household_id, data) != digest:
            raise RuntimeError("object store returned a different digest")
        self.save(case)
        return case

    @command("command.close_case")
    def close_case(self, case_id: UUID, *, closed_on: date, reason: str,
                   expected_version: int | None,
                   writable_contract_ids: Collection[str] | None) -> Case:
        """Close a case on an exact date (retention will be counted from it)."""
        case = self._get_case(case_id, writable_contract_ids)
        case.check_version(expected_version)
        case.close(closed_on=closed_on, reason=reason, today=japan_today())
        self.save(case)
        return case

    @command("command.reopen_case")
    def reopen_case(self, case_id: UUID, *, reopened_on: date, expected_version: int | None,
                    writable_contract_ids: Collection[str] | None) -> Case:
        """Reopen a closed case; its retention clock stops."""
        case = self._get_case(case_id, writable_contract_ids)
        case.check_version(expected_version)
        case.reopen(reopened_on=reopened_on, today=japan_today())
        self.save(case)
        return case

    @command("command.mark_council_case")
    def mark_council_case(self, case_id: UUID, *, council_case: bool,
                          expected_version: int | None,
                          writable_contract_ids: Collection[str] | None) -> Case:
        """Record whether the 要保護児童対策地域協議会 already handles the family."""
        case = self._get_case(case_id, writable_contract_ids)
        case.check_version(expected_version)
        case.mark_council_case(council_case=council_case)
        self.save(case)
        return case

    @command("command.hand_over_cases")
    def hand_over_cases(self, case_ids: Collection[UUID], *, municipality_code: str,
                        predecessor: ContractTerms | None, successor: ContractTerms | None,
                        on: date, batch_size: int = 200) -> list[UUID]:
        """Move the cases of an ended or suspended contract to an active successor.

        Every case is checked before anything is saved, so a refusal writes
        nothing; then the cases are saved in batches (each batch atomic) to keep
        transactions short.  A case already moved is skipped, so a hand-over
        interrupted between batches is finished by running it again.
        """
        before, after = check_hand_over(predecessor, successor,
                                        municipality_code=municipality_code,
                                        today=japan_today())
        cases = [case for case in (self._get_case(case_id, None) for case_id in case_ids)
                 if case.contract_id == before.contract_id]
        for case in cases:
            case.hand_over(to_contract_id=after.contract_id,
                           covered_site_ids=after.site_ids, on=on)
        from yorisoi.services.outreach import hand_over_visits

        for start in range(0, len(cases), batch_size):
            batch = cases[start:start + batch_size]
            # Their still-planned visits follow them (services/outreach.hand_over_visits).
            self.save(*batch, *hand_over_visits(self, [c.id for c in batch], after.contract_id))
        return [case.id for case in cases]

    def readable_case(self, case_id: UUID, readable_contract_ids: Collection[str] | None) -> Case:
        """The case, if the actor's contracts cover it (else CaseNotFoundError)."""
        return self._get_case(case_id, readable_contract_ids)

    def _get_case(self, case_id: UUID, writable: Collection[str] | None) -> Case:
        try:
            case: Any = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise CaseNotFoundError(field="caseId") from None
        # A case outside the actor's contracts is reported as absent, not forbidden,
        # so its existence is not disclosed.
        if not isinstance(case, Case) or (writable is not None and case.contract_id not in writable):
            raise CaseNotFoundError(field="caseId")
        return case
