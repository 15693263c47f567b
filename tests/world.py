"""A provisioned little world for tests: two municipalities, contractors, sites, contracts.

Names are fictional; tokens are real JWTs from the development issuer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from yorisoi.infra.clock import japan_today
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import OPERATOR, Services, init_platform
from yorisoi.services.context import acting_as

CITY_A = "131016"  # 千代田区
CITY_B = "141003"  # 横浜市
NPO = "npo-hidamari"  # contract with A covering site a-hiroba
IDLE_NPO = "npo-kaze"  # registered, contract with A already ended
MUNICIPAL_SITES = {CITY_A: ("a-hiroba", "a-counter"), CITY_B: ("b-hiroba",)}


@dataclass
class World:
    services: Services

    def token(self, kind: str, tenant: str, subject: str = "user-1",
              roles: tuple[str, ...] = ("specialist",), sites: tuple[str, ...] | None = None,
              expires_in: int = 600) -> str:
        assert self.services.dev_issuer is not None
        if sites is None:
            # Municipal specialists see only the sites they are assigned to; unless
            # a test says otherwise, its municipal staff are assigned to every site.
            site_roles = {"specialist", "site_manager"} & set(roles)
            sites = tuple(MUNICIPAL_SITES.get(tenant, ())) if (
                kind == "municipality" and site_roles) else ()
        return self.services.dev_issuer.mint(kind, tenant, subject, roles=list(roles),
                                             sites=list(sites), expires_in=expires_in)

    def headers(self, kind: str, tenant: str, **kwargs: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(kind, tenant, **kwargs)}"}


def build_world(settings: Settings) -> World:
    """Provision the world and return it (close ``world.services`` afterwards)."""
    settings = settings.model_copy(update={"dev_issuer": True})
    init_platform(settings)
    services = Services(settings)
    d = services.directory
    today = japan_today()
    with acting_as(OPERATOR):
        d.provision_municipality(code=CITY_A, name="千代田区", prefecture="東京都")
        d.provision_municipality(code=CITY_B, name="横浜市", prefecture="神奈川県")
        d.provision_contractor(contractor_id=NPO, name="NPO法人 ひだまり")
        d.provision_contractor(contractor_id=IDLE_NPO, name="NPO法人 かぜ")
        d.register_site(municipality_code=CITY_A, site_id="a-hiroba", name="ひろば", site_type="kihon")
        d.register_site(municipality_code=CITY_A, site_id="a-counter", name="窓口", site_type="tokutei")
        d.register_site(municipality_code=CITY_B, site_id="b-hiroba", name="ひろば", site_type="kihon")
        d.sign_contract(contract_id="contract-a-npo", municipality_code=CITY_A, contractor_id=NPO,
                        site_ids=["a-hiroba"], starts_on=today - timedelta(days=30),
                        ends_on=today + timedelta(days=300))
        d.sign_contract(contract_id="contract-a-kaze", municipality_code=CITY_A,
                        contractor_id=IDLE_NPO, site_ids=["a-hiroba"],
                        starts_on=date(2024, 4, 1), ends_on=date(2025, 3, 31))
        for kind, tenant in (("municipality", CITY_A), ("municipality", CITY_B),
                             ("contractor", NPO), ("contractor", IDLE_NPO),
                             ("platform", "platform")):
            d.register_identity_provider(services.dev_issuer.registration_for(kind, tenant))
    return World(services)


def consultation_input(**overrides: object) -> dict[str, object]:
    """A valid recordConsultation input for a new household at CITY_A's contracted site."""
    data: dict[str, object] = {
        "municipalityCode": CITY_A, "siteId": "a-hiroba",
        "occurredOn": (japan_today() - timedelta(days=1)).isoformat(),
        "channel": "visit", "themes": ["development", "daily_worries"],
        "asked": "二歳の子のことばが遅いのが心配", "wishes": "相談できる所を知りたい",
        "direction": "発達相談の案内",
        "household": {"guardians": [{"name": "架空 花子", "relationship": "母"}],
                      "children": [{"name": "架空 たろう", "birthDate": "2024-05-01"}]},
        # Creating records needs consent (guideline §6(1)①).
        "consent": {"givenBy": "架空 花子", "relationship": "母",
                    "givenOn": (japan_today() - timedelta(days=1)).isoformat(),
                    "scope": "相談記録の作成"},
        # Tests record this same fictional family many times: unless a test is about the
        # duplicate check (tests/graphql/test_duplicates.py), it registers each as new.
        "confirmNewHousehold": {"reason": "テスト用の架空世帯"},
    }
    data.update(overrides)
    return data


RECORD = """
mutation Record($input: RecordConsultationInput!) {
  recordConsultation(input: $input) {
    __typename
    ... on ConsultationRecorded { case { id consultationCount themes } consultation { id asked } }
    ... on UserError { code message messageJa }
    ... on ValidationError { fieldErrors { field code message messageJa } }
  }
}
"""

CASES = """
query Cases($code: String, $first: Int!, $after: String) {
  cases(municipalityCode: $code, first: $first, after: $after) {
    totalCount
    edges { cursor node { id contractId household { guardians { name } } consultations { asked } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def gql(client: Any, query: str, variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST a GraphQL document; the HTTP layer must answer 200."""
    response = client.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers=headers or {})
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def record(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """recordConsultation with consultation_input(**overrides); returns the result union."""
    body = gql(client, RECORD, {"input": consultation_input(**overrides)}, headers)
    assert "errors" not in body, body
    return body["data"]["recordConsultation"]


def consultation_command(**overrides: Any):  # noqa: ANN201 - RecordConsultation
    """A valid service-level command for a new household at CITY_A's contracted site."""
    from yorisoi.domain.households import Child, Guardian
    from yorisoi.services.casework import NewHousehold, RecordConsultation
    from yorisoi.services.consent import NewConsent

    fields: dict[str, Any] = dict(
        municipality_code=CITY_A, site_id="a-hiroba", contract_id="contract-a-npo",
        occurred_on=japan_today() - timedelta(days=1), channel="visit", themes=["development"],
        asked="ことばが遅い", wishes="相談先", direction="案内",
        household=NewHousehold(guardians=[Guardian("架空 花子", "母")],
                               children=[Child("架空 たろう", date(2024, 5, 1))],
                               pregnancy=None),
        consent=NewConsent(given_by="架空 花子", relationship="母",
                           given_on=japan_today() - timedelta(days=1), scope="相談記録の作成"))
    fields.update(overrides)
    return RecordConsultation(**fields)


def head(world: World, municipality: str = CITY_A) -> int:
    """The municipality's last notification id: compare before and after a refusal."""
    with world.services.runtimes.lease(municipality) as rt:
        return rt.casework.recorder.max_notification_id() or 0


def run(client: Any, document: str, headers: dict[str, str], **input: Any) -> dict[str, Any]:
    """A mutation taking ``input`` (with CITY_A's code); returns its result union member."""
    body = gql(client, document, {"input": {"municipalityCode": CITY_A, **input}}, headers)
    assert "errors" not in body, body
    (result,) = body["data"].values()
    return result


def open_case(world: World, *, site_id: str = "a-hiroba",
              contract_id: str | None = "contract-a-npo", opened_days_ago: int = 10) -> str:
    """A household and its case, saved by the application as municipal staff would."""
    from yorisoi.domain.cases import Case
    from yorisoi.domain.households import Guardian, Household
    from yorisoi.services.context import ActingContext, acting_as

    staff = ActingContext(user_id="seed", role="specialist", organisation_kind="municipality",
                          organisation_id=CITY_A, contract_id=contract_id, site_id=site_id)
    today = japan_today()
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(staff):
        household = Household.register(guardians=[Guardian("架空 花子", "母")], children=[],
                                       pregnancy=None, today=today,
                                       outside_target_reason="祖母からの相談")
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id=site_id,
                    contract_id=contract_id, opened_on=today - timedelta(days=opened_days_ago))
        rt.casework.save(household, case)
        rt.catch_up()
    return str(case.id)


def npo(world: World) -> dict[str, str]:
    """Headers of the NPO's specialist at its contracted site a-hiroba."""
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def supervisor(world: World) -> dict[str, str]:
    """Headers of CITY_A's municipal supervisor."""
    return world.headers("municipality", CITY_A, subject="a-supervisor",
                         roles=("municipal_supervisor",))
