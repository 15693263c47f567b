"""recordConsultation and correctConsultation: a specialist records, and corrects, a consultation.

Recording needs the family's consent (guideline §6(1)①): for a new household
it comes in the same input (``consent``), or the input records why the record
is made without it (``noConsentException``: reason and legal basis).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.consultations import TEXT_FIELDS
from yorisoi.domain.errors import DomainError
from yorisoi.domain.households import Child as ChildValue
from yorisoi.domain.households import Guardian as GuardianValue
from yorisoi.domain.households import Pregnancy
from yorisoi.domain.name_readings import phone_of, reading_of
from yorisoi.graphql.cases import Case, Consultation
from yorisoi.graphql.commands import case_after, execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.services.casework import CaseNotFoundError, NewHousehold, RecordConsultation
from yorisoi.services.duplicate_check import (
    REASON_LABELS,
    DuplicateFinding,
    find_duplicates,
    site_namer,
)
from yorisoi.services.consent import NewConsent, NewConsentException
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 100
MAX_THEMES = 20
MAX_PEOPLE = 20


@strawberry.input
class GuardianInput:
    name: str
    relationship: str
    reading: str | None = strawberry.field(
        default=None, description="フリガナ: katakana or hiragana, kept as typed")
    phone: str | None = strawberry.field(
        default=None, description="Digits, hyphens, parentheses; 10 or 11 digits, or +country")


@strawberry.input
class ChildInput:
    name: str
    birth_date: str = strawberry.field(description="YYYY-MM-DD")
    reading: str | None = strawberry.field(
        default=None, description="フリガナ: katakana or hiragana, kept as typed")


@strawberry.input(description="The people of a new case.")
class HouseholdInput:
    guardians: list[GuardianInput] = strawberry.field(default_factory=list)
    children: list[ChildInput] = strawberry.field(default_factory=list)
    pregnancy_due_date: str | None = strawberry.field(default=None, description="YYYY-MM-DD")
    outside_target_reason: str | None = None


def parse_household(check: Checker, h: HouseholdInput) -> NewHousehold:
    """The shape of a household's people (new, or corrected); the rules are the domain's."""
    check.count("household.guardians", h.guardians, MAX_PEOPLE)
    check.count("household.children", h.children, MAX_PEOPLE)
    guardians = [GuardianValue(
        name=check.required(f"household.guardians.{i}.name", g.name, MAX_NAME),
        relationship=check.required(f"household.guardians.{i}.relationship",
                                    g.relationship, MAX_NAME),
        reading=_checked(check, reading_of, g.reading, f"household.guardians.{i}.reading"),
        phone=_checked(check, phone_of, g.phone, f"household.guardians.{i}.phone"))
        for i, g in enumerate(h.guardians)]
    children = []
    for i, c in enumerate(h.children):
        name = check.required(f"household.children.{i}.name", c.name, MAX_NAME)
        born = check.day(f"household.children.{i}.birthDate", c.birth_date)
        reading = _checked(check, reading_of, c.reading, f"household.children.{i}.reading")
        if born is not None:
            children.append(ChildValue(name=name, birth_date=born, reading=reading))
    due = check.day("household.pregnancyDueDate", h.pregnancy_due_date)
    return NewHousehold(
        guardians=guardians, children=children,
        pregnancy=Pregnancy(due_date=due) if due else None,
        outside_target_reason=check.text("household.outsideTargetReason",
                                         h.outside_target_reason) or None)


def _checked(check: Checker, rule: Callable[..., str | None], value: str | None,
             field: str) -> str | None:
    """A reading or phone in its stored form; the domain's refusal joins the other problems."""
    try:
        return rule(value, field=field)
    except DomainError as error:
        check.errors.append(error)
        return None


@strawberry.input(description="The family's consent to keep records (同意), given now.")
class ConsentInput:
    given_by: str = strawberry.field(description="Who consented (the guardian's name)")
    relationship: str = strawberry.field(description="e.g. 母, 父, 本人")
    given_on: str = strawberry.field(description="YYYY-MM-DD")
    scope: str = strawberry.field(default="", description="What the consent covers, in the family's terms")


@strawberry.input(description="Why the record is made without consent, and under which law.")
class ConsentExceptionInput:
    reason: str
    legal_basis: str = strawberry.field(description="child_abuse_report | child_welfare_act_25 | emergency_life_safety | court_order | other")


@strawberry.input(description="Registering a new household although likely duplicates exist.")
class ConfirmNewHouseholdInput:
    reason: str = strawberry.field(description="Why this is another family (kept, sealed, with "
                                               "the registration)")


@strawberry.input
class RecordConsultationInput:
    municipality_code: str = strawberry.field(description="全国地方公共団体コード of the municipality whose record this is.")
    site_id: str
    occurred_on: str = strawberry.field(description="YYYY-MM-DD, Japan time")
    channel: str = strawberry.field(description="visit | phone | outreach | online")
    themes: list[str]
    asked: str
    wishes: str = ""
    direction: str = ""
    case_id: strawberry.ID | None = strawberry.field(default=None, description="An existing case; or give household.")
    household: HouseholdInput | None = None
    outer_situation: str | None = strawberry.field(default=None, description="外的状況")
    inner_situation: str | None = strawberry.field(default=None, description="内的状況")
    child_rearing_situation: str | None = strawberry.field(default=None, description="子育ての状況")
    consent: ConsentInput | None = strawberry.field(default=None, description="Required for a new household unless noConsentException is given")
    no_consent_exception: ConsentExceptionInput | None = None
    confirm_new_household: ConfirmNewHouseholdInput | None = strawberry.field(
        default=None, description="Register the household although likely duplicates were "
                                  "answered (PossibleDuplicates): why it is a new family.")
    expected_version: int | None = strawberry.field(
        default=None, description="The case's version as last read (with caseId): a stale one "
                                  "answers ConflictError with the current version.")


@strawberry.type
class ConsultationRecorded:
    case: Case
    consultation: Consultation


@strawberry.type(description="A household that is likely the one being registered.")
class DuplicateCandidate:
    case_id: strawberry.ID = strawberry.field(description="Record under it: caseId")
    reception_number: str | None
    site_name: str
    display_name: str
    reasons: list[str] = strawberry.field(
        description="Strongest first: reading_birth_date | phone | name_birth_date")
    reasons_ja: list[str]


@strawberry.type(description="Nothing was recorded: the family is likely on file already. "
                             "Record under a candidate's caseId, or send the household again "
                             "with confirmNewHousehold { reason }.")
class PossibleDuplicates:
    candidates: list[DuplicateCandidate] = strawberry.field(description="Best match first")
    exists_elsewhere: bool = strawberry.field(
        description="A likely duplicate you may not see exists (another site or contract): "
                    "ask the municipality. Nothing more is told about it.")
    message: str
    message_ja: str

    @classmethod
    def from_finding(cls, finding: DuplicateFinding) -> PossibleDuplicates:
        candidates = [DuplicateCandidate(
            case_id=strawberry.ID(c.case_id), reception_number=c.reception_number,
            site_name=c.site_name, display_name=c.display_name, reasons=list(c.reasons),
            reasons_ja=[REASON_LABELS[r][1] for r in c.reasons if r in REASON_LABELS])
            for c in finding.candidates]
        if candidates:
            message, message_ja = ("The family may already be on file: record under its case, "
                                   "or confirm a new household with a reason.",
                                   "同じ世帯が登録済みの可能性があります。既存のケースに記録するか、"
                                   "理由を入力して新しい世帯として登録してください。")
        else:
            message, message_ja = ELSEWHERE
        return cls(candidates=candidates, exists_elsewhere=finding.elsewhere > 0,
                   message=message, message_ja=message_ja)


ELSEWHERE = ("A possible duplicate exists at another site or contract; ask the municipality.",
             "他の実施場所または委託先に同じ世帯の可能性がある記録があります。自治体にお問い合わせください。")


RecordConsultationResult = Annotated[
    ConsultationRecorded | PossibleDuplicates | ValidationError | NotAuthorizedError
    | NotFoundError | ConflictError,
    strawberry.union("RecordConsultationResult"),
]


def parse_input(data: RecordConsultationInput, check: Checker) -> RecordConsultation:
    """Turn the GraphQL input into a command; every shape problem goes into ``check``."""
    occurred_on = check.day("occurredOn", data.occurred_on)
    household = None
    if data.household is not None and data.case_id is not None:
        check.bad("household", "Give either a caseId or a new household, not both.",
                   "ケースIDと新しい世帯の情報は、どちらか一方だけを指定してください。")
    elif data.household is not None:
        household = parse_household(check, data.household)
        if data.confirm_new_household is not None:
            household = replace(household, new_household_reason=check.required(
                "confirmNewHousehold.reason", data.confirm_new_household.reason, 400))
    elif data.case_id is None:
        check.bad("household", "Give a caseId or a new household.",
                   "ケースIDまたは新しい世帯の情報を指定してください。")
    check.count("themes", data.themes, MAX_THEMES)
    consent, exception = parse_consent(data, check)
    command = RecordConsultation(
        municipality_code=check.required("municipalityCode", data.municipality_code, 6),
        site_id=check.required("siteId", data.site_id, MAX_NAME),
        contract_id=None,
        occurred_on=occurred_on or date.min,
        channel=check.text("channel", data.channel, 20),
        themes=[check.text(f"themes.{i}", t, 50) for i, t in enumerate(data.themes)],
        asked=check.text("asked", data.asked), wishes=check.text("wishes", data.wishes),
        direction=check.text("direction", data.direction),
        case_id=check.case_id(data.case_id), household=household,
        outer_situation=check.text("outerSituation", data.outer_situation) or None,
        inner_situation=check.text("innerSituation", data.inner_situation) or None,
        child_rearing_situation=check.text("childRearingSituation",
                                           data.child_rearing_situation) or None,
        consent=consent, consent_exception=exception, expected_version=data.expected_version)
    if data.expected_version is not None and data.case_id is None:
        check.bad("expectedVersion", "Give expectedVersion only with a caseId.",
                  "expectedVersion は caseId と一緒に指定してください。")
    return command


def parse_consent(data: RecordConsultationInput, check: Checker,
                  ) -> tuple[NewConsent | None, NewConsentException | None]:
    """The consent (or the exception) that comes with a record; shapes only."""
    if data.consent is not None and data.no_consent_exception is not None:
        check.bad("noConsentException", "Give either consent or noConsentException, not both.",
                  "同意と同意によらない理由は、どちらか一方だけを指定してください。")
        return None, None
    if data.consent is not None:
        c = data.consent
        given_on = check.day("consent.givenOn", c.given_on)
        return NewConsent(
            given_by=check.required("consent.givenBy", c.given_by, MAX_NAME),
            relationship=check.required("consent.relationship", c.relationship, MAX_NAME),
            given_on=given_on or date.min, scope=check.text("consent.scope", c.scope)), None
    if data.no_consent_exception is not None:
        e = data.no_consent_exception
        return None, NewConsentException(
            reason=check.required("noConsentException.reason", e.reason),
            legal_basis=check.text("noConsentException.legalBasis", e.legal_basis, 50))
    return None, None


@strawberry.input(description="Corrected values (omit a field to keep it; \"\" clears an optional one).")
class CorrectConsultationInput:
    municipality_code: str
    case_id: strawberry.ID
    consultation_id: strawberry.ID
    reason: str = strawberry.field(description="Why the record is corrected (kept with the correction)")
    asked: str | None = None
    wishes: str | None = None
    direction: str | None = None
    outer_situation: str | None = None
    inner_situation: str | None = None
    child_rearing_situation: str | None = None
    expected_version: int | None = strawberry.field(default=None, description="The consultation version you decided on; a stale one is refused")


@strawberry.type
class ConsultationCorrected:
    consultation: Consultation


CorrectConsultationResult = Annotated[
    ConsultationCorrected | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("CorrectConsultationResult"),
]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@strawberry.type
class ConsultationMutation:
    @strawberry.mutation(description="Record a consultation (opening a case for a new household).")
    async def record_consultation(self, info: Info[YorisoiContext, None],
                                  input: RecordConsultationInput) -> RecordConsultationResult:
        check = Checker(info.context.services.settings.max_text_length)
        parsed = parse_input(input, check)
        services = info.context.services

        def command(rt: TenantRuntime, grant: Grant) -> ConsultationRecorded | PossibleDuplicates:
            if parsed.household is not None and input.confirm_new_household is None:
                finding = find_duplicates(rt, grant.scope, parsed.household, site_namer(
                    services, grant.municipality_code))
                if finding.any:
                    return PossibleDuplicates.from_finding(finding)
            recorded = rt.casework.record_consultation(replace(
                parsed, contract_id=grant.contract_id,
                writable_contract_ids=grant.scope.contract_ids))
            case = case_after(rt, grant, recorded.case_id)
            # This consultation alone: reading (and logging) the whole case's would grow
            # with every consultation the case has.
            mine = rt.cases.consultation(str(recorded.consultation_id))
            if mine is None:
                raise CaseNotFoundError(field="caseId")
            return ConsultationRecorded(case=Case.from_record(case),
                                        consultation=Consultation.from_record(mine))

        return await execute(info, "consultation.record", parsed.municipality_code, command,
                             check=check, site_id=parsed.site_id,
                             contended_on=parsed.case_id)

    @strawberry.mutation(description="Correct a consultation; the original stays in the log.")
    async def correct_consultation(self, info: Info[YorisoiContext, None],
                                   input: CorrectConsultationInput) -> CorrectConsultationResult:
        check = Checker(info.context.services.settings.max_text_length)
        case_id = check.case_id(input.case_id)
        consultation_id = None
        try:
            consultation_id = uuid.UUID(str(input.consultation_id))
        except ValueError:
            check.bad("consultationId", "Not a consultation id.", "相談記録IDの形式が正しくありません。")
        reason = check.required("reason", input.reason)
        changes = {name: check.text(_camel(name), getattr(input, name))
                   for name in TEXT_FIELDS if getattr(input, name) is not None}

        def command(rt: TenantRuntime, grant: Grant) -> ConsultationCorrected:
            rt.casework.correct_consultation(
                case_id, consultation_id, changes=changes, reason=reason,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids)
            rt.catch_up()
            mine = next(c for c in rt.cases.consultations([str(case_id)])[str(case_id)]
                        if c.consultation_id == str(consultation_id))
            return ConsultationCorrected(consultation=Consultation.from_record(mine))

        return await execute(info, "consultation.record", input.municipality_code, command,
                             check=check, case_id=case_id)
