"""Complaints and requests (苦情・要望; guideline §6(2), 社会福祉法 §82).

A complaint is not always about a household, so it is its own data subject:
its personal fields (who complained, how to reach them, what they said and
wished, the discussion notes, the outcome's detail, why it was escalated) are
encrypted under a key of its own — the household keyring keyed by the
complaint's id (the keyring only needs a UUID per data subject).  Every event
with personal fields carries ``household_id = complaint id`` for the mapper,
so one complaint can be crypto-shredded alone while its steps, dates and
categories stay for statistics and oversight.

The published summary is the one text meant for the public: the officer
writes it separately, anonymised, and it is refused while it contains the
complainant's name or contact, or a name of the linked case's family.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError, StaleVersionError
from yorisoi.domain.ids import uuid5

CHANNELS = ("visit", "phone", "letter", "email", "suggestion_box", "online")
KINDS = ("complaint", "request")  # 苦情 / 要望
OUTCOMES = ("resolved", "partially_resolved", "not_resolved", "withdrawn", "referred")
REPORT_METHODS = ("visit", "phone", "letter", "email", "public_notice")
ROLE_SCOPES = ("site", "contractor")

# The steps, in the only order they may be taken.
RECEIVED, REPORTED, IN_DISCUSSION = "received", "reported", "in_discussion"
OUTCOME_RECORDED, OUTCOME_REPORTED = "outcome_recorded", "outcome_reported"
PUBLISHED, CLOSED = "published", "closed"
STEPS = (RECEIVED, REPORTED, IN_DISCUSSION, OUTCOME_RECORDED, OUTCOME_REPORTED, PUBLISHED, CLOSED)

# Days allowed to leave a step (a municipality may change them); none once published.
DEFAULT_DEADLINES: dict[str, int] = {
    RECEIVED: 7, REPORTED: 14, IN_DISCUSSION: 30, OUTCOME_RECORDED: 7, OUTCOME_REPORTED: 30}
MIN_THIRD_PARTY_MEMBERS = 2
FINDING_FEW_THIRD_PARTY = "third_party_members_fewer_than_two"


class ComplaintNotFoundError(NotFoundDomainError):
    code = "complaint_not_found"
    message = "No such complaint among those you may see."
    message_ja = "指定された苦情・要望が見つかりません。"


class ComplaintChannelUnknownError(DomainError):
    code = "complaint_channel_unknown"
    message = "The channel is not one of visit, phone, letter, email, suggestion_box or online."
    message_ja = "受付方法は来所・電話・手紙・メール・意見箱・オンラインのいずれかを指定してください。"


class ComplaintKindUnknownError(DomainError):
    code = "complaint_kind_unknown"
    message = "The kind is complaint or request."
    message_ja = "種別は苦情または要望を指定してください。"


class ComplaintContentMissingError(DomainError):
    code = "complaint_content_missing"
    message = "Record what the complaint or request is about."
    message_ja = "苦情・要望の内容を記録してください。"


class ComplaintComplainantMissingError(DomainError):
    code = "complaint_complainant_missing"
    message = "Record the complainant's name, or mark the complaint anonymous."
    message_ja = "申出人の氏名を記録するか、匿名として受け付けてください。"


class ComplaintAnonymousIdentityError(DomainError):
    code = "complaint_anonymous_identity"
    message = "An anonymous complaint keeps no name or contact of the complainant."
    message_ja = "匿名の申出には申出人の氏名・連絡先を記録できません。"


class ComplaintStepOutOfOrderError(DomainError):
    code = "complaint_step_out_of_order"
    message = "This step does not follow the complaint's current step."
    message_ja = "現在の段階からはこの手続に進めません（手続は順番に行ってください）。"


class ComplaintClosedError(DomainError):
    code = "complaint_closed"
    message = "The complaint is closed."
    message_ja = "この苦情・要望は完結しています。"


class ComplaintDateInvalidError(DomainError):
    code = "complaint_date_invalid"
    message = "The date must lie between the complaint's previous step and today."
    message_ja = "日付は前の手続の日から今日までの間で指定してください。"


class ComplaintThirdPartyNotInformedError(DomainError):
    code = "complaint_third_party_not_informed"
    message = "The complainant asked to involve a third-party member: report to them too."
    message_ja = "申出人が第三者委員の関与を希望しています。第三者委員にも報告してください。"


class ComplaintNoteMissingError(DomainError):
    code = "complaint_note_missing"
    message = "Write what was discussed or decided."
    message_ja = "話し合い・結果の内容を入力してください。"


class ComplaintOutcomeUnknownError(DomainError):
    code = "complaint_outcome_unknown"
    message = "Choose an outcome from the list."
    message_ja = "結果の区分を一覧から選んでください。"


class ComplaintReportMethodUnknownError(DomainError):
    code = "complaint_report_method_unknown"
    message = "The report method is not one of visit, phone, letter, email or public_notice."
    message_ja = "報告方法は来所・電話・手紙・メール・掲示のいずれかを指定してください。"


class ComplaintAnonymousReportError(DomainError):
    code = "complaint_anonymous_report"
    message = "An anonymous complainant cannot be contacted: report by public notice."
    message_ja = "匿名の申出人には直接報告できません。掲示等で報告してください。"


class ComplaintSummaryMissingError(DomainError):
    code = "complaint_summary_missing"
    message = "Write the anonymised summary to publish."
    message_ja = "公表する要旨（個人が特定されない内容）を入力してください。"


class ComplaintSummaryNotAnonymousError(DomainError):
    code = "complaint_summary_not_anonymous"
    message = "The summary names the complainant or the family, or gives their contact."
    message_ja = "公表する要旨に申出人・家族の氏名または連絡先が含まれています。"


class ComplaintAlreadyEscalatedError(DomainError):
    code = "complaint_already_escalated"
    message = "The complaint was already escalated to the 運営適正化委員会."
    message_ja = "この苦情はすでに運営適正化委員会に申し立てられています。"


class ComplaintEscalationReasonMissingError(DomainError):
    code = "complaint_escalation_reason_missing"
    message = "Record why the complaint goes to the 運営適正化委員会."
    message_ja = "運営適正化委員会に申し立てる理由を記録してください。"


class ComplaintOfficerMissingError(DomainError):
    code = "complaint_officer_missing"
    message = "Name both the intake officer and the resolution officer."
    message_ja = "苦情受付担当者と苦情解決責任者の両方を指定してください。"


class ComplaintThirdPartyNotIndependentError(DomainError):
    code = "complaint_third_party_not_independent"
    message = "A third-party member cannot also be the intake or resolution officer."
    message_ja = "第三者委員は苦情受付担当者・苦情解決責任者を兼ねることはできません。"


class ComplaintRoleScopeUnknownError(DomainError):
    code = "complaint_role_scope_unknown"
    message = "Complaint roles are assigned per site or per contractor."
    message_ja = "苦情解決の体制は実施場所または受託事業者ごとに指定してください。"


class ComplaintDeadlineInvalidError(DomainError):
    code = "complaint_deadline_invalid"
    message = "A deadline is a known step and 1 to 365 days."
    message_ja = "期限は手続の段階ごとに1〜365日で指定してください。"


def _check_version(aggregate: Aggregate, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != aggregate.version:
        raise StaleVersionError(field="expectedVersion", current_version=aggregate.version)


def _clean(value: str | None) -> str | None:
    return (value or "").strip() or None


_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−・.()]+")


def normalised(text: str) -> str:
    """Text as compared for names and contacts: NFKC, case-folded, without spaces or dashes."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


def identifying_terms(names: Iterable[str | None]) -> set[str]:
    """Each full name, and each part of two or more characters ("架空 花子" → 架空花子, 架空, 花子)."""
    terms: set[str] = set()
    for name in names:
        if not name:
            continue
        terms.add(normalised(name))
        terms.update(normalised(p) for p in re.split(r"[\s　]+", unicodedata.normalize("NFKC", name))
                     if len(normalised(p)) >= 2)
    return {t for t in terms if t}


class ComplaintRoles(Aggregate):
    """Who handles complaints for one site or one contractor (one per scope, found by it)."""

    class Assigned(Aggregate.Event):
        # External members are named people: their names stay under this record's own key.
        personal_fields: ClassVar[tuple[str, ...]] = ("third_party_members",)
        household_id: UUID
        intake_officer: str
        resolution_officer: str
        third_party_members: list[dict[str, str]] | None

    @staticmethod
    def create_id(municipality_code: str, scope_kind: str, scope_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"yorisoi:complaint-roles:{municipality_code}:{scope_kind}:{scope_id}")

    @event("Started")
    def __init__(self, municipality_code: str, scope_kind: str, scope_id: str) -> None:
        self.municipality_code = municipality_code
        self.scope_kind = scope_kind
        self.scope_id = scope_id
        self.intake_officer: str | None = None
        self.resolution_officer: str | None = None
        self.third_party_members: list[dict[str, str]] = []

    @classmethod
    def start(cls, *, municipality_code: str, scope_kind: str, scope_id: str) -> ComplaintRoles:
        if scope_kind not in ROLE_SCOPES or not scope_id.strip():
            raise ComplaintRoleScopeUnknownError(field="scopeKind")
        return cls(municipality_code=municipality_code, scope_kind=scope_kind, scope_id=scope_id)

    def assign(self, *, intake_officer: str, resolution_officer: str,
               third_party_members: list[dict[str, str]], expected_version: int | None) -> None:
        """Assign the officers and third-party members (members are {kind: user|external, ref})."""
        _check_version(self, expected_version)
        if not intake_officer.strip() or not resolution_officer.strip():
            raise ComplaintOfficerMissingError(field="intakeOfficer")
        members = [{"kind": m["kind"], "ref": m["ref"].strip()} for m in third_party_members]
        officers = {intake_officer.strip(), resolution_officer.strip()}
        if any(m["kind"] == "user" and m["ref"] in officers for m in members):
            raise ComplaintThirdPartyNotIndependentError(field="thirdPartyMembers")
        self._assigned(household_id=self.id, intake_officer=intake_officer.strip(),
                       resolution_officer=resolution_officer.strip(),
                       third_party_members=members)

    @event(Assigned)
    def _assigned(self, household_id: UUID, intake_officer: str, resolution_officer: str,
                  third_party_members: list[dict[str, str]] | None) -> None:
        self.intake_officer = intake_officer
        self.resolution_officer = resolution_officer
        self.third_party_members = third_party_members or []

    @property
    def findings(self) -> list[str]:
        """Shortfalls to fix (a finding, not a refusal: small sites are still being staffed)."""
        few = len(self.third_party_members) < MIN_THIRD_PARTY_MEMBERS
        return [FINDING_FEW_THIRD_PARTY] if few else []


class ComplaintDeadlines(Aggregate):
    """The municipality's days allowed per complaint step (defaults when unset)."""

    @staticmethod
    def create_id(municipality_code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"yorisoi:complaint-deadlines:{municipality_code}")

    @event("Started")
    def __init__(self, municipality_code: str) -> None:
        self.municipality_code = municipality_code
        self.days = dict(DEFAULT_DEADLINES)

    def set(self, days: dict[str, int], *, expected_version: int | None) -> None:
        """Change some steps' days; the others keep theirs."""
        _check_version(self, expected_version)
        for step, value in days.items():
            if step not in DEFAULT_DEADLINES or not 1 <= value <= 365:
                raise ComplaintDeadlineInvalidError(field="deadlines")
        self._set(dict(days))

    @event("Set")
    def _set(self, days: dict[str, int]) -> None:
        self.days.update(days)


def due_on(step: str, since: date, days: dict[str, int]) -> date | None:
    """When the complaint must leave ``step`` entered on ``since`` (None: no deadline)."""
    allowed = days.get(step, DEFAULT_DEADLINES.get(step))
    return since + timedelta(days=allowed) if allowed is not None else None


class Complaint(Aggregate):
    """One complaint or request, from intake to its published summary."""

    class Received(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = (
            "complainant_name", "complainant_contact", "content", "wishes")
        household_id: UUID  # the complaint's own id: its personal data key
        municipality_code: str
        site_id: str
        contract_id: str | None
        contractor_id: str | None
        case_id: UUID | None
        kind: str
        channel: str
        received_on: date
        anonymous: bool
        involve_third_party: bool
        complainant_name: str | None
        complainant_contact: str | None
        content: str | None
        wishes: str | None

    class DiscussionAdded(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("note",)
        household_id: UUID
        held_on: date
        note: str | None

    class OutcomeRecorded(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("detail",)
        household_id: UUID
        decided_on: date
        outcome: str
        detail: str | None

    class Escalated(Aggregate.Event):
        personal_fields: ClassVar[tuple[str, ...]] = ("reason",)
        household_id: UUID
        escalated_on: date
        reason: str | None

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def receive(cls, *, municipality_code: str, site_id: str, contract_id: str | None,
                contractor_id: str | None, case_id: UUID | None, kind: str, channel: str,
                received_on: date, anonymous: bool, complainant_name: str | None,
                complainant_contact: str | None, content: str, wishes: str | None,
                involve_third_party: bool, today: date) -> Complaint:
        """Receive and record a complaint (anonymous ones keep no identity)."""
        if kind not in KINDS:
            raise ComplaintKindUnknownError(field="kind")
        if channel not in CHANNELS:
            raise ComplaintChannelUnknownError(field="channel")
        if received_on > today:
            raise ComplaintDateInvalidError(field="receivedOn")
        if not content.strip():
            raise ComplaintContentMissingError(field="content")
        if anonymous and (_clean(complainant_name) or _clean(complainant_contact)):
            raise ComplaintAnonymousIdentityError(field="complainantName")
        if not anonymous and not _clean(complainant_name):
            raise ComplaintComplainantMissingError(field="complainantName")
        complaint_id = cls.create_id()
        return cls._create(
            cls.Received, id=complaint_id, household_id=complaint_id,
            municipality_code=municipality_code, site_id=site_id, contract_id=contract_id,
            contractor_id=contractor_id, case_id=case_id, kind=kind, channel=channel,
            received_on=received_on, anonymous=anonymous,
            involve_third_party=involve_third_party,
            complainant_name=_clean(complainant_name),
            complainant_contact=_clean(complainant_contact), content=content.strip(),
            wishes=_clean(wishes))

    @event(Received)
    def __init__(self, household_id: UUID, municipality_code: str, site_id: str,
                 contract_id: str | None, contractor_id: str | None, case_id: UUID | None,
                 kind: str, channel: str, received_on: date, anonymous: bool,
                 involve_third_party: bool, complainant_name: str | None,
                 complainant_contact: str | None, content: str | None,
                 wishes: str | None) -> None:
        self.municipality_code = municipality_code
        self.site_id = site_id
        self.contract_id = contract_id
        self.contractor_id = contractor_id
        self.case_id = case_id
        self.kind = kind
        self.channel = channel
        self.received_on = received_on
        self.anonymous = anonymous
        self.involve_third_party = involve_third_party
        # None after crypto-shredding.
        self.complainant_name = complainant_name
        self.complainant_contact = complainant_contact
        self.content = content
        self.wishes = wishes
        self.step = RECEIVED
        self.step_since = received_on
        self.discussions: list[dict[str, Any]] = []
        self.outcome: str | None = None
        self.outcome_detail: str | None = None
        self.escalated_on: date | None = None
        self.escalation_reason: str | None = None
        self.summary: str | None = None

    # -- guards

    def _require(self, step: str | tuple[str, ...], expected_version: int | None,
                 on: date, today: date, field: str) -> None:
        _check_version(self, expected_version)
        if self.step == CLOSED:
            raise ComplaintClosedError(field="complaintId")
        if self.step not in ((step,) if isinstance(step, str) else step):
            raise ComplaintStepOutOfOrderError(field="complaintId")
        if not self.step_since <= on <= today:
            raise ComplaintDateInvalidError(field=field)

    # -- steps

    def report(self, *, reported_on: date, third_party_informed: bool, today: date,
               expected_version: int | None) -> None:
        """Report to the resolution officer (and the third-party members)."""
        self._require(RECEIVED, expected_version, reported_on, today, "reportedOn")
        if self.involve_third_party and not third_party_informed:
            raise ComplaintThirdPartyNotInformedError(field="thirdPartyInformed")
        self._reported(reported_on, third_party_informed)

    @event("Reported")
    def _reported(self, reported_on: date, third_party_informed: bool) -> None:
        self.step, self.step_since = REPORTED, reported_on
        self.third_party_informed = third_party_informed

    def add_discussion(self, *, held_on: date, note: str, today: date,
                       expected_version: int | None) -> None:
        """Record a discussion towards resolution (the first one opens the discussion step)."""
        self._require((REPORTED, IN_DISCUSSION), expected_version, held_on, today, "heldOn")
        if not note.strip():
            raise ComplaintNoteMissingError(field="note")
        self._discussion_added(household_id=self.id, held_on=held_on, note=note.strip())

    @event(DiscussionAdded)
    def _discussion_added(self, household_id: UUID, held_on: date, note: str | None) -> None:
        if self.step == REPORTED:
            self.step, self.step_since = IN_DISCUSSION, held_on
        self.discussions.append({"held_on": held_on, "note": note})

    def record_outcome(self, *, decided_on: date, outcome: str, detail: str, today: date,
                       expected_version: int | None) -> None:
        self._require(IN_DISCUSSION, expected_version, decided_on, today, "decidedOn")
        if outcome not in OUTCOMES:
            raise ComplaintOutcomeUnknownError(field="outcome")
        if not detail.strip():
            raise ComplaintNoteMissingError(field="detail")
        self._outcome_recorded(household_id=self.id, decided_on=decided_on, outcome=outcome,
                               detail=detail.strip())

    @event(OutcomeRecorded)
    def _outcome_recorded(self, household_id: UUID, decided_on: date, outcome: str,
                          detail: str | None) -> None:
        self.step, self.step_since = OUTCOME_RECORDED, decided_on
        self.outcome, self.outcome_detail = outcome, detail

    def report_outcome(self, *, reported_on: date, method: str, today: date,
                       expected_version: int | None) -> None:
        """Report the outcome to the complainant (an anonymous one only by public notice)."""
        self._require(OUTCOME_RECORDED, expected_version, reported_on, today, "reportedOn")
        if method not in REPORT_METHODS:
            raise ComplaintReportMethodUnknownError(field="method")
        if self.anonymous and method != "public_notice":
            raise ComplaintAnonymousReportError(field="method")
        self._outcome_reported(reported_on, method)

    @event("OutcomeReported")
    def _outcome_reported(self, reported_on: date, method: str) -> None:
        self.step, self.step_since = OUTCOME_REPORTED, reported_on
        self.report_method = method

    def publish_summary(self, *, published_on: date, summary: str, today: date,
                        other_names: Iterable[str], expected_version: int | None) -> None:
        """Publish the officer's anonymised summary (never the complaint's own text)."""
        self._require(OUTCOME_REPORTED, expected_version, published_on, today, "publishedOn")
        if not summary.strip():
            raise ComplaintSummaryMissingError(field="summary")
        text = normalised(summary)
        terms = identifying_terms([self.complainant_name, *other_names])
        contact = normalised(self.complainant_contact or "")
        if any(term in text for term in terms) or (contact and contact in text):
            raise ComplaintSummaryNotAnonymousError(field="summary")
        self._summary_published(published_on, summary.strip())

    @event("SummaryPublished")
    def _summary_published(self, published_on: date, summary: str) -> None:
        # Plaintext on purpose: it is the public text, checked above.
        self.step, self.step_since = PUBLISHED, published_on
        self.summary = summary

    def close(self, *, closed_on: date, today: date, expected_version: int | None) -> None:
        self._require(PUBLISHED, expected_version, closed_on, today, "closedOn")
        self._closed(closed_on)

    @event("Closed")
    def _closed(self, closed_on: date) -> None:
        self.step, self.step_since = CLOSED, closed_on

    def escalate(self, *, escalated_on: date, reason: str, today: date,
                 expected_version: int | None) -> None:
        """Record that the case went to the prefecture's 運営適正化委員会 (any open step)."""
        _check_version(self, expected_version)
        if self.step == CLOSED:
            raise ComplaintClosedError(field="complaintId")
        if self.escalated_on is not None:
            raise ComplaintAlreadyEscalatedError(field="complaintId")
        if not self.received_on <= escalated_on <= today:
            raise ComplaintDateInvalidError(field="escalatedOn")
        if not reason.strip():
            raise ComplaintEscalationReasonMissingError(field="reason")
        self._escalated(household_id=self.id, escalated_on=escalated_on, reason=reason.strip())

    @event(Escalated)
    def _escalated(self, household_id: UUID, escalated_on: date, reason: str | None) -> None:
        self.escalated_on = escalated_on
        self.escalation_reason = reason
