"""Demo data for the embedded default: a municipality, a contractor, sites, a contract.

Every name here is fictional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from yorisoi.domain.households import Child, Guardian, Pregnancy
from yorisoi.infra.bootstrap import OPERATOR, Services
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import acting_as
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
        directory.sign_contract(contract_id=CONTRACT, municipality_code=MUNICIPALITY,
                                contractor_id=CONTRACTOR, site_ids=[CONTRACT_SITE],
                                starts_on=date(2026, 4, 1), ends_on=date(2027, 3, 31))
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
        runtime.casework.record_consultation(RecordConsultation(
            municipality_code=MUNICIPALITY, site_id=CONTRACT_SITE, contract_id=grant.contract_id,
            occurred_on=date(2026, 11, 2), channel="visit",
            themes=["temporary_care", "daily_worries"],
            asked="仕事復帰に向けて一時預かりを使いたい。寝かしつけにも悩んでいる。",
            wishes="近くで土曜日も使える所を知りたい。",
            direction="一時預かり事業の利用案内。2週間後に様子を伺う。",
            consent=NewConsent("試験 花子", "母", date(2026, 11, 2), "相談記録の作成"),
            household=NewHousehold(guardians=[Guardian("試験 花子", "母")],
                                   children=[Child("試験 さくら", date(2025, 6, 14))],
                                   pregnancy=None)))
        runtime.casework.record_consultation(RecordConsultation(
            municipality_code=MUNICIPALITY, site_id=CONTRACT_SITE, contract_id=grant.contract_id,
            occurred_on=date(2026, 11, 18), channel="phone", themes=["pregnancy_birth"],
            asked="初めての出産で不安。産後に手伝ってくれる人がいない。",
            wishes="産後ケアについて知りたい。",
            direction="保健センターの産後ケア事業を案内。本人の希望で保健師へつなぐ予定。",
            consent=NewConsent("見本 由美", "本人", date(2026, 11, 18), "相談記録の作成"),
            household=NewHousehold(guardians=[Guardian("見本 由美", "本人")], children=[],
                                   pregnancy=Pregnancy(due_date=japan_today() + timedelta(days=90)))))
        runtime.catch_up()


def demo_token(services: Services, user: DemoUser, expires_in: int = 8 * 3600) -> str:
    assert services.dev_issuer is not None, "the development issuer is off"
    return services.dev_issuer.mint(user.tenant_kind, user.tenant_id, user.subject,
                                    roles=list(user.roles), sites=list(user.sites),
                                    org_name=user.label, expires_in=expires_in)
