"""Demo data for the embedded default: a municipality, a contractor, sites, a contract.

Every name here is fictional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from yorisoi.domain.households import Child, Guardian, Pregnancy
from yorisoi.infra.bootstrap import OPERATOR, Services
from yorisoi.infra.clock import JST, japan_today
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import acting_as
from yorisoi.services.meetings import (
    ActionItem,
    ExternalParticipant,
    InternalParticipant,
    Minutes,
    ScheduleCaseMeeting,
)
from yorisoi.tenants.access import Principal, authorize

MUNICIPALITY = "131016"  # 千代田区
CONTRACTOR = "npo-hidamari"
CONTRACT = "c-2026-001"
CONTRACT_SITE = "kanda-hiroba"
DIRECT_SITE = "chiyoda-counter"


@dataclass(frozen=True)
class DemoUser:
    subject: str
    tenant_kind: str
    tenant_id: str
    roles: tuple[str, ...]
    sites: tuple[str, ...]
    label: str


DEMO_USERS = (
    DemoUser("demo-specialist", "contractor", CONTRACTOR, ("specialist",), (CONTRACT_SITE,),
             "NPO ひだまり 利用者支援専門員"),
    DemoUser("demo-city-specialist", "municipality", MUNICIPALITY, ("specialist",),
             (DIRECT_SITE,), "千代田区 こども支援課 利用者支援専門員"),
    DemoUser("demo-supervisor", "municipality", MUNICIPALITY, ("municipal_supervisor",), (),
             "千代田区 こども支援課 係長"),
)


def has_demo(services: Services) -> bool:
    return services.directory.registry.tenant(MUNICIPALITY) is not None


def load_demo(services: Services) -> None:
    """Register and provision the demo tenants, their issuers and two cases."""
    directory = services.directory
    with acting_as(OPERATOR):
        directory.provision_municipality(code=MUNICIPALITY, name="千代田区", prefecture="東京都")
        directory.provision_contractor(contractor_id=CONTRACTOR, name="NPO法人 ひだまり",
                                       corporate_number=None)
        directory.register_site(municipality_code=MUNICIPALITY, site_id=CONTRACT_SITE,
                                name="神田ひろば（地域子育て支援拠点）", site_type="kihon")
        directory.register_site(municipality_code=MUNICIPALITY, site_id=DIRECT_SITE,
                                name="区役所 子育て相談窓口", site_type="tokutei")
        starts_on, ends_on = _this_fiscal_year()
        directory.sign_contract(contract_id=CONTRACT, municipality_code=MUNICIPALITY,
                                contractor_id=CONTRACTOR, site_ids=[CONTRACT_SITE],
                                starts_on=starts_on, ends_on=ends_on)
        if services.dev_issuer is not None:
            for kind, tenant in (("municipality", MUNICIPALITY), ("contractor", CONTRACTOR)):
                directory.register_identity_provider(
                    services.dev_issuer.registration_for(kind, tenant))
    specialist = DEMO_USERS[0]
    principal = Principal(specialist.subject, specialist.tenant_kind, specialist.tenant_id,
                          specialist.roles, specialist.sites)
    grant = authorize(principal, "consultation.record", MUNICIPALITY,
                      directory.registry, site_id=CONTRACT_SITE)
    with services.runtimes.lease(MUNICIPALITY) as runtime, acting_as(grant.acting):
        _casework_story(runtime.casework, grant.contract_id)
        runtime.catch_up()


def _this_fiscal_year() -> tuple[date, date]:
    """1 April to 31 March of the current Japanese fiscal year (年度)."""
    today = japan_today()
    start_year = today.year if today.month >= 4 else today.year - 1
    return date(start_year, 4, 1), date(start_year + 1, 3, 31)


def _casework_story(casework, contract_id: str | None) -> None:  # noqa: ANN001
    """Two families, a referral in progress, a case meeting with its tasks."""
    today = japan_today()

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    first = casework.record_consultation(RecordConsultation(
        municipality_code=MUNICIPALITY, site_id=CONTRACT_SITE, contract_id=contract_id,
        occurred_on=ago(23), channel="visit", themes=["temporary_care", "daily_worries"],
        asked="仕事復帰に向けて一時預かりを使いたい。寝かしつけにも悩んでいる。",
        wishes="近くで土曜日も使える所を知りたい。",
        direction="一時預かり事業の利用案内。2週間後に様子を伺う。",
        consent=NewConsent("試験 花子", "母", ago(23), "相談記録の作成"),
        household=NewHousehold(guardians=[Guardian("試験 花子", "母")],
                               children=[Child("試験 さくら", ago(530))], pregnancy=None)))
    casework.write_support_note(first.case_id, written_on=ago(9), kind="follow_up",
                                body="電話で様子を確認。一時預かりの登録を済ませた。夜泣きは続いている。",
                                writable_contract_ids=None)
    second = casework.record_consultation(RecordConsultation(
        municipality_code=MUNICIPALITY, site_id=CONTRACT_SITE, contract_id=contract_id,
        occurred_on=ago(7), channel="phone", themes=["pregnancy_birth"],
        asked="初めての出産で不安。産後に手伝ってくれる人がいない。",
        wishes="産後ケアについて知りたい。",
        direction="保健センターの産後ケア事業を案内。本人の希望で保健師へつなぐ。",
        consent=NewConsent("見本 由美", "本人", ago(7), "相談記録の作成"),
        household=NewHousehold(guardians=[Guardian("見本 由美", "本人")], children=[],
                               pregnancy=Pregnancy(due_date=today + timedelta(days=90)))))

    # The family chose to be connected to the health centre: consent to share, then つなぎ.
    health_centre = casework.register_agency(
        municipality_code=MUNICIPALITY, name="千代田区 保健センター", kind="health_center",
        on_system=True, contact_email=None, confidentiality_basis="public_servant")
    casework.register_agency(
        municipality_code=MUNICIPALITY, name="神田こども発達支援センター",
        kind="child_development_center", on_system=False,
        contact_email="soudan@kanda-hattatsu.example.jp", confidentiality_basis="contract_clause")
    casework.give_consent(second.case_id, purpose="share", given_by="見本 由美",
                          relationship="本人", given_on=ago(7), scope="産後ケアの利用調整のため",
                          agency_kind="health_center", writable_contract_ids=None)
    referral = casework.draft_referral(
        case_id=second.case_id, agency_id=health_centre.id,
        reason="産後の支援者がいない。産後ケア事業と保健師の訪問を希望。", urgent=False,
        accompanied=False, shared_fields=["household.guardians", "household.pregnancy",
                                          "consultation.wishes"],
        writable_contract_ids=None)
    casework.send_referral(referral.id, sent_on=today, confidentiality_basis=None,
                           exception_reason=None, exception_legal_basis=None,
                           expected_version=None, writable_contract_ids=None, publisher=None)
    casework.acknowledge_referral(referral.id, acknowledged_on=today, via="staff",
                                  expected_version=None, writable_contract_ids=None)
    casework.respond_to_referral(referral.id, accepted=True, on=today,
                                 note="保健師が来週訪問予定。", expected_version=None,
                                 writable_contract_ids=None)
    casework.schedule_referral_follow_up(
        referral.id, follow_up_id="visit-check", due_on=today + timedelta(days=7),
        owner_user_id=DEMO_USERS[0].subject, expected_version=None,
        writable_contract_ids=None)

    # A case meeting about the first family, with role assignments that became tasks.
    meeting = casework.schedule_case_meeting(ScheduleCaseMeeting(
        case_id=first.case_id, starts_at=_at(ago(3), 14), ends_at=_at(ago(3), 15),
        place="神田ひろば 相談室", agenda="一時預かり利用後の様子と今後の支援",
        internal=[InternalParticipant(DEMO_USERS[0].subject, "specialist")],
        external=[ExternalParticipant("架空 一郎", "神田保育園（園長）", "contract_clause")]))
    casework.record_meeting_minutes(
        meeting.id, Minutes(wishes="土曜日も預けられる所を増やしたい。",
                            state_and_issues="母の睡眠不足が続いている。",
                            support_goals="母の休息時間を週に一度確保する。",
                            concrete_support="ファミリー・サポートの案内と登録支援。"),
        actions=[ActionItem(DEMO_USERS[0].subject, "ファミリー・サポートの登録状況を確認する", ago(1)),
                 ActionItem(DEMO_USERS[0].subject, "2週間後に電話で様子を伺う",
                            today + timedelta(days=11))],
        expected_version=None, writable_contract_ids=None)


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=JST)


def demo_token(services: Services, user: DemoUser, expires_in: int = 8 * 3600) -> str:
    assert services.dev_issuer is not None, "the development issuer is off"
    return services.dev_issuer.mint(user.tenant_kind, user.tenant_id, user.subject,
                                    roles=list(user.roles), sites=list(user.sites),
                                    org_name=user.label, expires_in=expires_in)
