"""Request → tenant, and the one decision point for who may do what where.

The tenant a request acts in is decided here and nowhere else: from the
verified token's issuer (never from an unverified claim), the registry's
contracts and the municipality the request names.  Every resolver and
endpoint asks ``authorize`` and gets a ``Grant`` (or ``AccessDeniedError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from yorisoi.domain.access_grants import ROLES as ROLE_SPECS
from yorisoi.infra.clock import japan_today
from yorisoi.infra.identity import VerifiedToken
from yorisoi.projections.case_queries import CaseScope
from yorisoi.services.context import ActingContext
from yorisoi.tenants.registry import RegistryQueries

Action = Literal["case.read", "consultation.record", "case.manage", "taxonomy.manage",
                 "directory.manage", "complaint.intake", "complaint.report", "complaint.resolve",
                 "complaint.read",
                 "complaint.configure", "organisation.manage", "staff.manage", "oversight.read",
                 "contract.manage", "representative_meeting.record", "records.manage",
                 "disposal.approve", "dsr.manage", "audit.read", "audit.break_glass",
                 "platform.operate", "access.manage", "neighbour.manage", "reports.read",
                 "reports.issue"]

# Which roles may take which action.  Who may hold a role, its scope and its
# need to know are the role catalogue's (domain/access_grants.ROLES).
_ROLES: dict[Action, frozenset[str]] = {
    # Compliance auditors and admins read cases with personal fields masked.
    "case.read": frozenset({"specialist", "site_manager", "municipal_supervisor",
                            "municipal_admin", "contractor_admin", "compliance_auditor"}),
    "consultation.record": frozenset({"specialist", "site_manager"}),
    "representative_meeting.record": frozenset({"specialist", "site_manager",
                                                "municipal_supervisor"}),
    # Closing, reopening and flagging a case; consent, referrals, meetings.
    "case.manage": frozenset({"specialist", "site_manager", "municipal_supervisor"}),
    # The municipality's own consultation themes (statistics categories).
    "taxonomy.manage": frozenset({"municipal_admin", "municipal_supervisor"}),
    # The resource directory (社会資源): entries and their publication.
    "directory.manage": frozenset({"municipal_admin", "municipal_supervisor", "specialist"}),
    # Which neighbouring municipalities' directories to show: the municipality's own choice.
    "neighbour.manage": frozenset({"municipal_admin", "municipal_supervisor", "specialist"}),
    # Complaints and requests (苦情・要望, §6(2)); configure: roles and deadlines.
    "complaint.intake": frozenset({"complaint_intake_officer", "municipal_supervisor",
                                   "site_manager"}),
    # §6(2): the intake officer reports a complaint to the resolution officer.
    "complaint.report": frozenset({"complaint_intake_officer", "complaint_resolution_officer",
                                   "municipal_supervisor"}),
    "complaint.resolve": frozenset({"complaint_resolution_officer", "municipal_supervisor"}),
    "complaint.read": frozenset({"complaint_intake_officer", "complaint_resolution_officer",
                                 "complaint_third_party_member", "municipal_supervisor",
                                 "municipal_admin"}),
    "complaint.configure": frozenset({"municipal_supervisor", "municipal_admin"}),
    # Site profiles (municipal); staff records (a contractor_admin: its own staff only);
    # oversight of sites and contractors: aggregates only.
    "organisation.manage": frozenset({"municipal_admin", "municipal_supervisor"}),
    "staff.manage": frozenset({"municipal_admin", "municipal_supervisor", "contractor_admin"}),
    "oversight.read": frozenset({"municipal_admin", "municipal_supervisor"}),
    # Reporting figures and issued reports (counts only): a contractor's admin
    # reads and issues its own contracts' figures (the grant's contracts).
    "reports.read": frozenset({"municipal_admin", "municipal_supervisor", "contractor_admin"}),
    "reports.issue": frozenset({"municipal_admin", "municipal_supervisor", "contractor_admin"}),
    # Handing a contract's cases over to a successor: the municipality's decision only.
    "contract.manage": frozenset({"municipal_admin", "municipal_supervisor"}),
    # Records governance (§6(1)): retention schedules and holds; approving a
    # disposal batch; data-subject requests (APPI disclosure, correction, suspension).
    "records.manage": frozenset({"municipal_admin", "municipal_supervisor"}),
    "disposal.approve": frozenset({"municipal_admin", "municipal_supervisor"}),
    "dsr.manage": frozenset({"municipal_admin", "municipal_supervisor"}),
    # Compliance: audit trails (metadata only) and a recorded break-glass reason
    # to see one case's personal fields.
    "audit.read": frozenset({"compliance_auditor"}),
    "audit.break_glass": frozenset({"compliance_auditor"}),
    # Operating the hosted service: tenants, projections, health — never personal data.
    "platform.operate": frozenset({"platform_operator"}),
    # Explicit grants of a role to one person (the municipality's administrators).
    "access.manage": frozenset({"municipal_admin"}),
}


CONTRACTOR_ROLES = frozenset(r for r, spec in ROLE_SPECS.items() if "contractor" in spec.kinds)


# The 代表者会議 is the municipality's: its figures span every contract.
MUNICIPALITY_ONLY = frozenset({"representative_meeting.record", "records.manage",
                               "disposal.approve", "dsr.manage", "audit.read",
                               "audit.break_glass", "access.manage", "neighbour.manage"})


class AccessDeniedError(Exception):
    """The principal may not do this here. Messages never name what exists."""

    def __init__(self, code: str, message: str, message_ja: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_ja = message_ja


def _denied_role() -> AccessDeniedError:
    return AccessDeniedError("role_not_permitted", "Your role does not permit this action.",
                             "この操作を行う権限がありません。")


def _denied_tenant() -> AccessDeniedError:
    return AccessDeniedError(
        "municipality_not_permitted",
        "You have no access to this municipality's records.",
        "この自治体の記録にアクセスする権限がありません。")


def _denied_contract() -> AccessDeniedError:
    return AccessDeniedError(
        "contract_not_active",
        "Your organisation has no active contract with this municipality for this site.",
        "この自治体・実施場所について有効な委託契約がありません。")


def _site_unknown() -> AccessDeniedError:
    return AccessDeniedError("site_unknown", "No such site in this municipality.",
                             "指定された実施場所はこの自治体に登録されていません。")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a verified subject of a registered tenant."""

    subject: str
    tenant_kind: str  # municipality | contractor
    tenant_id: str
    roles: tuple[str, ...]
    sites: tuple[str, ...]

    @classmethod
    def from_token(cls, token: VerifiedToken) -> Principal:
        return cls(subject=token.subject, tenant_kind=token.tenant_kind,
                   tenant_id=token.tenant_id, roles=token.roles, sites=token.sites)

    @property
    def role(self) -> str:
        return self.roles[0] if self.roles else "none"


@dataclass(frozen=True)
class Grant:
    """What an authorised request may touch in one municipality."""

    municipality_code: str
    scope: CaseScope
    acting: ActingContext
    contract_id: str | None = None
    site_id: str | None = None
    # "full": the role needs personal fields; "masked": it reads them as null
    # (a compliance auditor may unmask one case with a recorded break-glass reason).
    personal: Literal["full", "masked"] = "masked"
    roles: frozenset[str] = frozenset()  # the roles this decision rests on


@dataclass(frozen=True)
class _Standing:
    """The roles a principal holds in one municipality, and the sites its site roles cover."""

    roles: frozenset[str]
    sites: frozenset[str]


def _standing(principal: Principal, municipality_code: str, registry: RegistryQueries,
              today: date) -> _Standing:
    # A role counts only if people of the principal's kind of organisation may
    # hold it: a contractor's identity provider can put any role in its
    # tokens, but municipal roles come only from the municipality's issuer.
    kind = principal.tenant_kind
    roles = {r for r in principal.roles if r in ROLE_SPECS and kind in ROLE_SPECS[r].kinds}
    sites = set(principal.sites)
    if kind != "platform":
        for g in registry.access_grants(municipality_code, subject_tenant=principal.tenant_id,
                                        subject=principal.subject):
            if g.subject_kind == kind and g.is_active_on(today) and kind in ROLE_SPECS[g.role].kinds:
                roles.add(g.role)
                sites.update(g.site_ids)
    return _Standing(frozenset(roles), frozenset(sites))


def _chosen(permitted: set[str]) -> tuple[frozenset[str], Literal["full", "masked"]]:
    # A person holding a role with the need to know and one without acts, for
    # this action, in the role(s) with the need (their scope); roles without
    # the need read personal fields masked.
    needing = {r for r in permitted if ROLE_SPECS[r].need}
    return (frozenset(needing), "full") if needing else (frozenset(permitted), "masked")


def authorize(principal: Principal, action: Action, municipality_code: str,
              registry: RegistryQueries, *, site_id: str | None = None,
              request_id: str | None = None, trace_id: str | None = None,
              today: date | None = None) -> Grant:
    """Decide whether ``principal`` may take ``action`` in ``municipality_code``."""
    today = today or japan_today()
    if principal.tenant_kind == "platform":
        return _platform_grant(principal, action, municipality_code, request_id, trace_id)
    if principal.tenant_kind == "municipality" and (
            principal.tenant_id != municipality_code or registry.tenant(municipality_code) is None):
        # Checked before any lookup: nothing about another municipality is read.
        if _ROLES[action] & set(principal.roles):
            raise _denied_tenant()
        raise _denied_role()
    standing = _standing(principal, municipality_code, registry, today)
    permitted = set(_ROLES[action] & standing.roles)
    if not permitted:
        raise _denied_role()
    roles, personal = _chosen(permitted)
    role = sorted(roles)[0]
    acting = ActingContext(user_id=principal.subject, role=role,
                           organisation_kind=principal.tenant_kind,
                           organisation_id=principal.tenant_id,
                           request_id=request_id, trace_id=trace_id)
    # Site roles alone limit the person to the sites they are assigned to
    # (token claim or explicit grant); any tenant-wide role lifts that.
    site_bound = all(ROLE_SPECS[r].scope == "site" for r in roles)
    if principal.tenant_kind != "municipality":
        if action in MUNICIPALITY_ONLY:
            raise AccessDeniedError(
                "municipality_only", "Only the municipality's own staff may do this.",
                "この操作は市町村の職員のみが行えます。")
        return _contractor_grant(municipality_code, registry, acting, site_id, today,
                                 standing.sites if site_bound else frozenset(), personal, roles)
    if site_id is not None and registry.site(municipality_code, site_id) is None:
        raise _site_unknown()
    assigned: frozenset[str] | None = standing.sites if site_bound else None
    if assigned is not None and not assigned:
        raise AccessDeniedError(
            "site_not_assigned",
            "You are not assigned to any site: ask your municipality's administrator.",
            "実施場所の担当として登録されていません。市町村の管理者に登録を依頼してください。")
    if site_id is not None and assigned is not None and site_id not in assigned:
        raise _not_assigned()
    contract_id = None
    if site_id is not None:
        # A site run under an active contract records that contract, even
        # when municipal staff record there.
        running = [c for c in registry.contract_for_site(municipality_code, site_id)
                   if c.is_active_on(today)]
        contract_id = running[0].contract_id if running else None
    return Grant(municipality_code, CaseScope(site_ids=assigned),
                 acting.at(contract_id=contract_id, site_id=site_id),
                 contract_id=contract_id, site_id=site_id, personal=personal, roles=roles)


def _not_assigned() -> AccessDeniedError:
    return AccessDeniedError("site_not_assigned", "You are not assigned to this site.",
                             "この実施場所の担当として登録されていません。")


def _contractor_grant(municipality_code: str, registry: RegistryQueries, acting: ActingContext,
                      site_id: str | None, today: date, assigned: frozenset[str],
                      personal: Literal["full", "masked"], roles: frozenset[str]) -> Grant:
    # Contracts first: a contractor learns nothing about municipalities or
    # sites beyond its own active contracts (unknown and foreign answer alike).
    active = [c for c in registry.contracts(contractor_id=acting.organisation_id,
                                            municipality_code=municipality_code)
              if c.is_active_on(today)]
    if not active:
        raise _denied_contract()
    # A contractor's specialist without a site assignment works at every site
    # of the organisation's contracts (the contract is the municipality's assignment).
    scope = CaseScope(contract_ids=[c.contract_id for c in active], include_direct=False,
                      site_ids=sorted(assigned) if assigned else None)
    if site_id is None:
        return Grant(municipality_code, scope, acting, personal=personal, roles=roles)
    covering = [c for c in active if site_id in c.site_ids]  # contracted sites exist
    if not covering:
        raise _denied_contract()
    if assigned and site_id not in assigned:
        raise _not_assigned()
    contract_id = covering[0].contract_id
    return Grant(municipality_code, scope, acting.at(contract_id=contract_id, site_id=site_id),
                 contract_id=contract_id, site_id=site_id, personal=personal, roles=roles)


def _platform_grant(principal: Principal, action: Action, municipality_code: str,
                    request_id: str | None, trace_id: str | None) -> Grant:
    # Operators run the service; they never see a case, and personal fields
    # are masked whatever they reach.
    roles = {r for r in principal.roles if r in ROLE_SPECS and "platform" in ROLE_SPECS[r].kinds}
    permitted = _ROLES[action] & roles
    if not permitted:
        raise _denied_role()
    acting = ActingContext(user_id=principal.subject, role=sorted(permitted)[0],
                           organisation_kind="platform", organisation_id=principal.tenant_id,
                           request_id=request_id, trace_id=trace_id)
    return Grant(municipality_code, CaseScope(contract_ids=[], include_direct=False), acting,
                 personal="masked", roles=frozenset(permitted))
