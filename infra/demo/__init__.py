"""Demo data for the embedded default: a municipality, a contractor, sites, a contract.

Casework (two families, a referral, a case meeting) and the organisation
around it (site profiles, staff and training, the resource directory,
complaints), so a newcomer sees every part of the product, oversight findings
included. Every name, address and number here is fictional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

from yorisoi.domain.households import Child, Guardian, Pregnancy
from yorisoi.domain.resources import OpeningSlot, checked_attributes
from yorisoi.infra.clock import JST, japan_today
from yorisoi.infra.http.staff_files import pledge_key
from yorisoi.infra.sealed_objects import SealedObjects
from yorisoi.infra.wiring.bootstrap import OPERATOR, Services
from yorisoi.services.casework import CaseworkApplication, NewHousehold, RecordConsultation
from yorisoi.services.complaints import NewComplaint
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import acting_as
from yorisoi.services.meetings import (
    ActionItem,
    ExternalParticipant,
    InternalParticipant,
    Minutes,
    ScheduleCaseMeeting,
)
from yorisoi.tenants.access import Action, Grant, Principal, authorize
from yorisoi.tenants.runtime import TenantRuntime

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
    DemoUser("demo-complaint-intake", "contractor", CONTRACTOR, ("complaint_intake_officer",),
             (CONTRACT_SITE,), "NPO ひだまり 苦情受付担当者"),
    DemoUser("demo-complaint-resolver", "contractor", CONTRACTOR,
             ("complaint_resolution_officer",), (), "NPO ひだまり 苦情解決責任者（理事長）"),
    DemoUser("demo-admin", "municipality", MUNICIPALITY, ("municipal_admin",), (),
             "千代田区 こども支援課 システム管理者"),
    DemoUser("demo-auditor", "municipality", MUNICIPALITY, ("compliance_auditor",), (),
             "千代田区 個人情報保護担当（監査）"),
    DemoUser("demo-operator", "platform", "platform", ("platform_operator",), (),
             "Yorisoi 運用担当者"),
)
SPECIALIST, CITY_SPECIALIST, SUPERVISOR, INTAKE, RESOLVER, ADMIN, AUDITOR, OPERATOR_USER = DEMO_USERS


def ensure_platform_issuer(services: Services) -> None:
    """The development issuer for platform operators (data directories older than it lack it)."""
    issuer = services.dev_issuer
    if issuer is None or services.directory.issuer(issuer.issuer_for("platform", "platform")):
        return
    with acting_as(OPERATOR):
        services.directory.register_identity_provider(
            issuer.registration_for("platform", "platform"))


def has_demo(services: Services) -> bool:
    return services.directory.registry.tenant(MUNICIPALITY) is not None


def load_demo(services: Services) -> None:
    """Register and provision the demo tenants and issuers, then casework and organisation."""
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
            for kind, tenant in (("municipality", MUNICIPALITY), ("contractor", CONTRACTOR),
                                 ("platform", "platform")):
                directory.register_identity_provider(
                    services.dev_issuer.registration_for(kind, tenant))
    grant = _grant(services, SPECIALIST, "consultation.record", site_id=CONTRACT_SITE)
    with services.runtimes.lease(MUNICIPALITY) as runtime:
        with acting_as(grant.acting):
            _casework_story(runtime.casework, grant.contract_id)
        _site_profiles(services, runtime.casework)
        _staff(services, runtime)
        with acting_as(_grant(services, SUPERVISOR, "directory.manage").acting):
            _resource_directory(runtime.casework)
        _complaints(services, runtime.casework)
        _records_governance(services, runtime.casework)
        runtime.catch_up()


def _records_governance(services: Services, casework: CaseworkApplication) -> None:
    """A retention schedule, and a family served years ago whose records have run their period.

    The schedule (version 1, from today, two-person approval) keeps a household's
    files 5 years from the April after its case closed: the family below (closed
    in the fiscal year six years ago) is due, so disposal can be tried end to end
    — proposed by one officer, approved by another, run to its certificate.
    """
    with acting_as(_grant(services, ADMIN, "records.manage").acting):
        casework.set_retention_schedule(
            effective_from=japan_today(), two_person_approval=True,
            years={"consultation_file": 5, "referral": 5, "meeting_minutes": 5,
                   "consent_form": 5, "complaint": 10, "access_log": 5})
    opened_on = date(japan_today().year - 7, 6, 10)
    with acting_as(_grant(services, CITY_SPECIALIST, "consultation.record",
                          site_id=DIRECT_SITE).acting):
        old = casework.record_consultation(RecordConsultation(
            municipality_code=MUNICIPALITY, site_id=DIRECT_SITE, contract_id=None,
            occurred_on=opened_on, channel="visit", themes=["childcare_place"],
            asked="保育園の入園手続きについて知りたい。", wishes="4月入園を希望。",
            direction="保育課の窓口と申込期限を案内。",
            consent=NewConsent("旧例 洋子", "母", opened_on, "相談記録の作成"),
            household=NewHousehold(
                guardians=[Guardian("旧例 洋子", "母", reading="キュウレイ ヨウコ")],
                children=[Child("旧例 陽太", date(opened_on.year - 1, 9, 1))], pregnancy=None)))
        casework.close_case(old.case_id, closed_on=date(opened_on.year, 9, 30),
                            reason="support_completed", expected_version=None,
                            writable_contract_ids=None)


def _grant(services: Services, user: DemoUser, action: Action,
           site_id: str | None = None) -> Grant:
    """What the demo user may do, decided exactly as for a request with their token."""
    principal = Principal(user.subject, user.tenant_kind, user.tenant_id, user.roles, user.sites)
    return authorize(principal, action, MUNICIPALITY, services.directory.registry,
                     site_id=site_id)


def _this_fiscal_year() -> tuple[date, date]:
    """1 April to 31 March of the current Japanese fiscal year (年度)."""
    today = japan_today()
    start_year = today.year if today.month >= 4 else today.year - 1
    return date(start_year, 4, 1), date(start_year + 1, 3, 31)


def _casework_story(casework: CaseworkApplication, contract_id: str | None) -> None:
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
        # Readings as typed at the counter (one in katakana, one in hiragana); fictional phones.
        household=NewHousehold(guardians=[Guardian("試験 花子", "母", reading="シケン ハナコ",
                                                   phone="090-0000-1234")],
                               children=[Child("試験 さくら", ago(530), reading="しけん さくら")],
                               pregnancy=None)))
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
        household=NewHousehold(guardians=[Guardian("見本 由美", "本人", reading="ミホン ユミ",
                                                   phone="03-0000-5678")], children=[],
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
    _outreach(casework, first.case_id, second.case_id)


def _outreach(casework: CaseworkApplication, first_case: UUID, second_case: UUID) -> None:
    """Outreach: a visit with the public-health nurse done (its follow-up a task), and a
    home visit planned for this week."""
    from yorisoi.services import outreach

    today = japan_today()
    lead = [DEMO_USERS[0].subject]
    went = outreach.plan_visit(casework, outreach.PlanVisit(
        case_id=second_case, kind="with_public_health_nurse", planned_on=today - timedelta(days=2),
        starts_at="10:00", ends_at="11:00", visitors=lead, place="home", place_note=None,
        purpose="保健師と同行し、出産の準備と産後に手伝ってくれる人について伺う。"),
        writable_contract_ids=None)
    outreach.record_visit_done(casework, went.id, outreach.VisitOutcome(
        on=today - timedelta(days=2), outcome="connected", next_step="phone_check",
        summary="出産準備は進んでいる。産後ケアの申込み方法を保健師から説明した。",
        next_step_note="申込みが済んだか電話で確認する", follow_up_on=today + timedelta(days=12)),
        consultation=None, municipality_code=MUNICIPALITY, expected_version=None,
        writable_contract_ids=None)
    outreach.plan_visit(casework, outreach.PlanVisit(
        case_id=first_case, kind="home_visit", planned_on=today + timedelta(days=2),
        starts_at="14:00", ends_at="15:00", visitors=lead, place="home", place_note=None,
        purpose="夜泣きと母の休息の様子を伺い、ファミリー・サポートの登録を手伝う。"),
        writable_contract_ids=None)


def _ago(days: int) -> date:
    return japan_today() - timedelta(days=days)


def _site_profiles(services: Services, casework: CaseworkApplication) -> None:
    """The hub runs under the contract five days a week; the counter is the city's own."""
    contract = {CONTRACT: CONTRACTOR}
    with acting_as(_grant(services, SUPERVISOR, "organisation.manage", CONTRACT_SITE).acting):
        casework.save_site_profile(MUNICIPALITY, CONTRACT_SITE, site_type="kihon",
                                   address="東京都千代田区神田架空町1-2-3 ひろばビル2階",
                                   contract_id=CONTRACT, site_contracts=contract,
                                   expected_version=None)
        casework.set_site_schedule(
            MUNICIPALITY, CONTRACT_SITE, closed_on_public_holidays=True, expected_version=None,
            weekly={day: ("09:30", "16:30") for day in ("tue", "wed", "thu", "fri", "sat")})
        # A dated closure: the hub closes for its staff's in-house training.
        casework.add_site_exception(MUNICIPALITY, CONTRACT_SITE,
                                    on=japan_today() + timedelta(days=12), kind="closed",
                                    opens=None, closes=None)
    with acting_as(_grant(services, SUPERVISOR, "organisation.manage", DIRECT_SITE).acting):
        casework.save_site_profile(MUNICIPALITY, DIRECT_SITE, site_type="tokutei",
                                   address="東京都千代田区架空一丁目1番1号 区役所3階",
                                   contract_id=None, site_contracts={}, expected_version=None)
        casework.set_site_schedule(
            MUNICIPALITY, DIRECT_SITE, closed_on_public_holidays=True, expected_version=None,
            weekly={day: ("08:30", "17:15") for day in ("mon", "tue", "wed", "thu", "fri")})


def _staff(services: Services, runtime: TenantRuntime) -> None:
    """Both specialists dedicated (専任) to a site; each leaves one finding for oversight."""
    casework = runtime.casework
    organisations = {MUNICIPALITY, CONTRACTOR}
    with acting_as(_grant(services, SUPERVISOR, "staff.manage").acting):
        contracted = casework.register_staff_member(
            subject=SPECIALIST.subject, display_name="架空 ゆり", organisation_kind="contractor",
            organisation_id=CONTRACTOR, roles=["specialist"],
            qualifications=["hoikushi", "kosodate_shienin"], allowed_organisations=organisations)
        casework.assign_staff(contracted.id, site_id=CONTRACT_SITE, kind="dedicated",
                              starts_on=_this_fiscal_year()[0], ends_on=None,
                              organisation_id=None, assignable_sites=None)
        for kind, completed in (("kosodate_shienin_kihon", 800), ("kosodate_shienin_senmon", 700),
                                ("privacy_confidentiality", 60)):
            casework.record_staff_training(contracted.id, kind=kind, completed_on=_ago(completed),
                                           valid_until=None, organisation_id=None)
        # No pledge (誓約書) on file for her: oversight shows "pledge_missing".

        city = casework.register_staff_member(
            subject=CITY_SPECIALIST.subject, display_name="見本 健太",
            organisation_kind="municipality", organisation_id=MUNICIPALITY, roles=["specialist"],
            qualifications=["hokenshi"], allowed_organisations=organisations)
        casework.assign_staff(city.id, site_id=DIRECT_SITE, kind="dedicated",
                              starts_on=_this_fiscal_year()[0], ends_on=None,
                              organisation_id=None, assignable_sites=None)
        # Privacy training lasts a year: taken 400 days ago, it has lapsed ("training_lapsed").
        for kind, completed in (("kosodate_shienin_kihon", 1200), ("kosodate_shienin_senmon", 1100),
                                ("privacy_confidentiality", 400)):
            casework.record_staff_training(city.id, kind=kind, completed_on=_ago(completed),
                                           valid_until=None, organisation_id=None)
        attachment_id = uuid4()

        def store(data: bytes) -> str:
            # Sealed like an uploaded pledge (infra/http/staff_files.py): never at rest in
            # clear, not even the demo's placeholder.
            key = pledge_key(runtime.space, city.id, str(attachment_id))
            return SealedObjects(services.objects, casework.keyring).put(
                key, city.id, data, content_type="application/pdf").sha256

        casework.attach_staff_pledge(city.id, attachment_id=attachment_id, signed_on=_ago(400),
                                     content_type="application/pdf", data=_DEMO_PLEDGE,
                                     store=store, organisation_id=None)


# A minimal placeholder PDF standing in for a scanned, signed pledge.
_DEMO_PLEDGE = b"%PDF-1.4\n% Yorisoi demo: confidentiality pledge (fictional)\n%%EOF\n"


def _resource(name: str, kind: str, subkind: str, *, operator: str, fee: str, content: str,
              hours: list[OpeningSlot] | None = None, schedule: str | None = None,
              address: str | None = None, form: str = "facility",
              reading: str | None = None) -> dict[str, object]:
    return checked_attributes(name=name, kind=kind, subkind=subkind, address=address,
                              area="神田", operator_kind=operator, hours=hours or [],
                              monthly_schedule=schedule, content=content, form=form, fee=fee,
                              owner="こども支援課 利用者支援係", reading=reading)


def _days(days: str, opens: str, closes: str) -> list[OpeningSlot]:
    return [OpeningSlot(day, opens, closes) for day in days.split()]


def _resource_directory(casework: CaseworkApplication) -> None:
    """Five published entries of different kinds and one draft still being checked."""
    published = [
        _resource("神田架空保育園", "education_childcare", "nursery", operator="private",
                  fee="paid", reading="カンダカクウホイクエン", address="東京都千代田区神田架空町2-4-6",
                  hours=_days("mon tue wed thu fri sat", "07:00", "19:00"),
                  content="0歳から5歳までのお子さんの保育。毎週水曜日10時から園庭開放（どなたでも参加できます）。"),
        _resource("一時預かり ひだまりルーム", "local_support", "temporary_care", operator="npo",
                  fee="paid", reading="イチジアズカリ ヒダマリルーム", address="東京都千代田区神田架空町1-2-3 ひろばビル1階",
                  hours=_days("mon tue wed thu fri sat", "09:00", "17:00"),
                  content="生後6か月から就学前のお子さんを、理由を問わず一時的にお預かりします。"
                          "利用には事前登録が必要です。土曜日も利用できます。"),
        _resource("子育てサークル にこにこ", "informal", "circle", operator="other", fee="free",
                  reading="コソダテサークル ニコニコ",
                  schedule="毎月第2・第4木曜日 10:00〜11:30（神田ひろばにて）",
                  content="0〜2歳の親子が集まって、手遊びや季節の行事、おしゃべりを楽しむサークルです。"),
        _resource("千代田区 架空保健センター", "health_welfare", "health_center",
                  operator="public", fee="free", reading="チヨダク カクウホケンセンター", address="東京都千代田区架空二丁目3番4号",
                  hours=_days("mon tue wed thu fri", "08:30", "17:15"),
                  content="乳幼児健診、産後ケア事業、保健師による妊娠・出産・子育ての相談。"
                          "母子健康手帳の交付もこちらです。"),
        _resource("神田ファミリー・サポート・センター", "local_support", "family_support",
                  operator="public", fee="paid", form="home_visit",
                  reading="カンダファミリーサポートセンター",
                  hours=_days("mon tue wed thu fri", "09:00", "17:00"),
                  content="地域の援助会員が、保育園の送迎や短時間の預かりをお手伝いします。"
                          "利用には会員登録と事前の打ち合わせが必要です。"),
    ]
    for attributes in published:
        resource = casework.register_resource(attributes)
        casework.publish_resource(resource.id, expected_version=None)
    # A draft: staff see it, the public directory does not.
    casework.register_resource(_resource(
        "病児保育室 かみや（開設準備中）", "local_support", "sick_child_care", operator="private",
        fee="paid", reading="ビョウジホイクシツ カミヤ", content="病気の回復期にあるお子さんを看護師と保育士がお預かりする予定です。"))


def _complaints(services: Services, casework: CaseworkApplication) -> None:
    """The hub's complaint officers; one request in progress, one complaint completed."""
    with acting_as(_grant(services, SUPERVISOR, "complaint.configure").acting):
        casework.assign_complaint_roles(
            scope_kind="site", scope_id=CONTRACT_SITE, intake_officer=INTAKE.subject,
            resolution_officer=RESOLVER.subject,
            third_party_members=[{"kind": "external", "ref": "架空 和夫（民生委員・児童委員）"},
                                 {"kind": "external", "ref": "見本 法子（弁護士）"}],
            expected_version=None)
    intake = _grant(services, INTAKE, "complaint.intake", CONTRACT_SITE)
    with acting_as(intake.acting):
        completed = casework.receive_complaint(NewComplaint(
            site_id=CONTRACT_SITE, contract_id=intake.contract_id, contractor_id=CONTRACTOR,
            kind="complaint", channel="phone", received_on=_ago(60), anonymous=False,
            complainant_name="架空 恵子", complainant_contact="090-0000-1234",
            content="初めてひろばを利用した際、職員からの声かけがなく居心地が悪かった。",
            wishes="初めての利用者への案内を工夫してほしい。", involve_third_party=True),
            intake.scope.contract_ids)
        in_progress = casework.receive_complaint(NewComplaint(
            site_id=CONTRACT_SITE, contract_id=intake.contract_id, contractor_id=CONTRACTOR,
            kind="request", channel="suggestion_box", received_on=_ago(4), anonymous=True,
            content="土曜日の午後もひろばを開けてほしい。",
            wishes="月に一度でも土曜午後の開所を検討してほしい。"),
            intake.scope.contract_ids)
    resolve = _grant(services, RESOLVER, "complaint.resolve")
    steps = [
        ("report", {"reported_on": _ago(58), "third_party_informed": True}),
        ("add_discussion", {"held_on": _ago(50),
                            "note": "第三者委員を交えて協議。初回利用者向けの声かけ手順を作ることにした。"}),
        ("record_outcome", {"decided_on": _ago(45), "outcome": "resolved",
                            "detail": "初回利用者向けの案内カードと声かけ手順を作成し、職員研修で共有した。"}),
        ("report_outcome", {"reported_on": _ago(40), "method": "phone"}),
        ("publish_summary", {"published_on": _ago(30),
                             "summary": "地域子育て支援拠点を初めて利用した際の案内が不十分とのご意見をいただきました。"
                                        "初めての方向けの案内カードを作成し、職員の声かけの手順を見直しました。"}),
        ("close", {"closed_on": _ago(30)}),
    ]
    with acting_as(resolve.acting):
        for step, args in steps:
            casework.complaint_step(completed.id, step, expected_version=None,
                                    writable_contract_ids=resolve.scope.contract_ids, **args)
        casework.complaint_step(in_progress.id, "report", reported_on=_ago(2),
                                third_party_informed=False, expected_version=None,
                                writable_contract_ids=resolve.scope.contract_ids)


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=JST)


def demo_token(services: Services, user: DemoUser, expires_in: int = 8 * 3600) -> str:
    assert services.dev_issuer is not None, "the development issuer is off"
    return services.dev_issuer.mint(user.tenant_kind, user.tenant_id, user.subject,
                                    roles=list(user.roles), sites=list(user.sites),
                                    org_name=user.label, expires_in=expires_in)
