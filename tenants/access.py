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

from yorisoi.infra.clock import japan_today
from yorisoi.infra.identity import VerifiedToken
from yorisoi.projections.case_queries import CaseScope
from yorisoi.services.context import ActingContext
from yorisoi.tenants.registry import RegistryQueries

Action = Literal["case.read", "consultation.record", "case.manage", "taxonomy.manage",
                 "directory.manage", "complaint.intake", "complaint.resolve", "complaint.read",
                 "complaint.configure", "organisation.manage", "staff.manage", "oversight.read",
                 "contract.manage", "representative_meeting.record", "records.manage",
                 "disposal.approve", "dsr.manage", "audit.read", "audit.break_glass",
                 "platform.operate"]

# Which roles may take which action (the full role model arrives with access control).
_ROLES: dict[Action, frozenset[str]] = {
    "case.read": frozenset({"specialist", "site_manager", "municipal_supervisor",
                            "municipal_admin", "contractor_admin"}),
    "consultation.record": frozenset({"specialist", "site_manager"}),
    "representative_meeting.record": frozenset({"specialist", "site_manager",
                                                "municipal_supervisor"}),
    # Closing, reopening and flagging a case; consent, referrals, meetings.
    "case.manage": frozenset({"specialist", "site_manager", "municipal_supervisor"}),
    # The municipality's own consultation themes (statistics categories).
    "taxonomy.manage": frozenset({"municipal_admin", "municipal_supervisor"}),
    # The resource directory (社会資源): entries and their publication.
    "directory.manage": frozenset({"municipal_admin", "municipal_supervisor", "specialist"}),
    # Complaints and requests (苦情・要望, §6(2)); configure: roles and deadlines.
    "complaint.intake": frozenset({"complaint_intake_officer", "municipal_supervisor",
                                   "site_manager"}),
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
}


CONTRACTOR_ROLES = frozenset({"specialist", "site_manager", "contractor_admin",
                              "complaint_intake_officer", "complaint_resolution_officer",
                              "complaint_third_party_member"})


# The 代表者会議 is the municipality's: its figures span every contract.
MUNICIPALITY_ONLY = frozenset({"representative_meeting.record", "records.manage",
                               "disposal.approve", "dsr.manage", "audit.read",
                               "audit.break_glass"})


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


def _check_assigned(principal: Principal, site_id: str | None) -> None:
    # A token that names its holder's sites limits them to those sites.
    if site_id is not None and principal.sites and site_id not in principal.sites:
        raise AccessDeniedError("site_not_assigned", "You are not assigned to this site.",
                                "この実施場所の担当として登録されていません。")


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


def authorize(principal: Principal, action: Action, municipality_code: str,
              registry: RegistryQueries, *, site_id: str | None = None,
              request_id: str | None = None, trace_id: str | None = None,
              today: date | None = None) -> Grant:
    """Decide whether ``principal`` may take ``action`` in ``municipality_code``."""
    today = today or japan_today()
    # A contractor's identity provider can put any role in its tokens; only the
    # roles a contractor's staff can hold count (municipal roles come only from
    # the municipality's own issuer).
    roles = set(principal.roles)
    if principal.tenant_kind != "municipality":
        roles &= CONTRACTOR_ROLES
    permitted = _ROLES[action] & roles
    if not permitted:
        raise _denied_role()
    role = sorted(permitted)[0]
    acting = ActingContext(user_id=principal.subject, role=role,
                           organisation_kind=principal.tenant_kind,
                           organisation_id=principal.tenant_id,
                           request_id=request_id, trace_id=trace_id)
    if principal.tenant_kind != "municipality":
        if action in MUNICIPALITY_ONLY:
            raise AccessDeniedError(
                "municipality_only", "Only the municipality's own staff may do this.",
                "この操作は市町村の職員のみが行えます。")
        return _contractor_grant(principal, municipality_code, registry, acting, site_id, today)
    if principal.tenant_id != municipality_code or registry.tenant(municipality_code) is None:
        raise _denied_tenant()
    if site_id is not None and registry.site(municipality_code, site_id) is None:
        raise _site_unknown()
    contract_id = None
    if site_id is not None:
        # A site run under an active contract records that contract, even
        # when municipal staff record there.
        running = [c for c in registry.contract_for_site(municipality_code, site_id)
                   if c.is_active_on(today)]
        contract_id = running[0].contract_id if running else None
    _check_assigned(principal, site_id)
    return Grant(municipality_code, CaseScope(),
                 acting.at(contract_id=contract_id, site_id=site_id),
                 contract_id=contract_id, site_id=site_id)


def _contractor_grant(principal: Principal, municipality_code: str, registry: RegistryQueries,
                      acting: ActingContext, site_id: str | None, today: date) -> Grant:
    # Contracts first: a contractor learns nothing about municipalities or
    # sites beyond its own active contracts (unknown and foreign answer alike).
    active = [c for c in registry.contracts(contractor_id=principal.tenant_id,
                                            municipality_code=municipality_code)
              if c.is_active_on(today)]
    if not active:
        raise _denied_contract()
    scope = CaseScope(contract_ids=[c.contract_id for c in active], include_direct=False)
    if site_id is None:
        return Grant(municipality_code, scope, acting)
    covering = [c for c in active if site_id in c.site_ids]  # contracted sites exist
    if not covering:
        raise _denied_contract()
    contract_id = covering[0].contract_id
    _check_assigned(principal, site_id)
    return Grant(municipality_code, scope, acting.at(contract_id=contract_id, site_id=site_id),
                 contract_id=contract_id, site_id=site_id)
