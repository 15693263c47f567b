"""Roles, and explicit grants of a role to one person by a municipality.

A role is held either through the person's own identity provider (a claim in
the token) or through an explicit grant the municipality records here: "this
person of this organisation holds this role, at these sites, from … until …,
for this reason".  Grants live in the platform registry, like contracts, so
revoking one takes effect on the next request.

The role catalogue says who may hold each role and what scope it has:
``site`` roles see the cases of the sites they are assigned to; ``tenant``
roles see the municipality's cases (a contractor's: its contracts' cases);
``need`` says whether the role needs personal fields at all (roles without the
need read records with personal fields masked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError

Scope = Literal["site", "tenant", "platform"]


@dataclass(frozen=True)
class RoleSpec:
    kinds: frozenset[str]  # organisation kinds whose people may hold it
    scope: Scope
    need: bool  # needs personal fields to do the job
    label_ja: str


_M, _C, _P = "municipality", "contractor", "platform"
ROLES: dict[str, RoleSpec] = {
    "specialist": RoleSpec(frozenset({_M, _C}), "site", True, "利用者支援専門員"),
    "site_manager": RoleSpec(frozenset({_M, _C}), "site", True, "実施場所の責任者"),
    "municipal_supervisor": RoleSpec(frozenset({_M}), "tenant", True, "市町村の監督職員"),
    "municipal_admin": RoleSpec(frozenset({_M}), "tenant", False, "市町村の管理者"),
    "compliance_auditor": RoleSpec(frozenset({_M}), "tenant", False, "監査担当者"),
    "contractor_admin": RoleSpec(frozenset({_C}), "tenant", False, "受託事業者の管理者"),
    "complaint_intake_officer": RoleSpec(frozenset({_M, _C}), "tenant", True, "苦情受付担当者"),
    "complaint_resolution_officer": RoleSpec(frozenset({_M, _C}), "tenant", True,
                                             "苦情解決責任者"),
    "complaint_third_party_member": RoleSpec(frozenset({_M, _C}), "tenant", True,
                                             "第三者委員"),
    "platform_operator": RoleSpec(frozenset({_P}), "platform", False, "運用担当者"),
}

MAX_REASON = 400


class GrantRoleUnknownError(DomainError):
    code = "grant_role_unknown"
    message = "No such role."
    message_ja = "指定された役割は存在しません。"


class GrantRoleNotForOrganisationError(DomainError):
    code = "grant_role_not_for_organisation"
    message = "People of this kind of organisation cannot hold this role."
    message_ja = "この種類の組織の職員にはこの役割を付与できません。"


class GrantSitesRequiredError(DomainError):
    code = "grant_sites_required"
    message = "A site role is granted at one or more sites."
    message_ja = "実施場所単位の役割には、実施場所を1つ以上指定してください。"


class GrantPeriodInvalidError(DomainError):
    code = "grant_period_invalid"
    message = "The grant ends before it starts."
    message_ja = "付与の終了日が開始日より前です。"


class GrantReasonRequiredError(DomainError):
    code = "grant_reason_required"
    message = f"Say why the role is granted (1–{MAX_REASON} characters, no personal data)."
    message_ja = f"付与の理由を入力してください（1〜{MAX_REASON}文字、個人情報は書かないでください）。"


class GrantNotFoundError(NotFoundDomainError):
    code = "grant_not_found"
    message = "No such grant in this municipality."
    message_ja = "指定された付与はこの自治体にありません。"


class GrantAlreadyRevokedError(DomainError):
    code = "grant_already_revoked"
    message = "The grant was already revoked."
    message_ja = "この付与はすでに取り消されています。"


def check_grant(*, role: str, subject_kind: str, site_ids: list[str], starts_on: date,
                ends_on: date | None, reason: str) -> None:
    spec = ROLES.get(role)
    if spec is None or spec.scope == "platform":
        raise GrantRoleUnknownError(field="role")
    if subject_kind not in spec.kinds:
        raise GrantRoleNotForOrganisationError(field="role")
    if spec.scope == "site" and not site_ids:
        raise GrantSitesRequiredError(field="siteIds")
    if ends_on is not None and ends_on < starts_on:
        raise GrantPeriodInvalidError(field="endsOn")
    if not reason.strip() or len(reason) > MAX_REASON:
        raise GrantReasonRequiredError(field="reason")


class AccessGrant(Aggregate):
    """One role granted to one person by one municipality (platform registry)."""

    @classmethod
    def grant(cls, *, municipality_code: str, subject_kind: str, subject_tenant: str,
              subject: str, role: str, site_ids: list[str], starts_on: date,
              ends_on: date | None, reason: str) -> AccessGrant:
        check_grant(role=role, subject_kind=subject_kind, site_ids=site_ids,
                    starts_on=starts_on, ends_on=ends_on, reason=reason)
        return cls(grant_id=uuid4(), municipality_code=municipality_code,
                   subject_kind=subject_kind, subject_tenant=subject_tenant, subject=subject,
                   role=role, site_ids=sorted(set(site_ids)), starts_on=starts_on,
                   ends_on=ends_on, reason=reason.strip())

    @staticmethod
    def create_id(grant_id: UUID) -> UUID:
        return grant_id

    @event("Granted")
    def __init__(self, grant_id: UUID, municipality_code: str, subject_kind: str,
                 subject_tenant: str, subject: str, role: str, site_ids: list[str],
                 starts_on: date, ends_on: date | None, reason: str) -> None:
        self.municipality_code = municipality_code
        self.subject_kind = subject_kind
        self.subject_tenant = subject_tenant
        self.subject = subject
        self.role = role
        self.site_ids = site_ids
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.reason = reason
        self.revoked_on: date | None = None

    def revoke(self, *, revoked_on: date, reason: str) -> None:
        if self.revoked_on is not None:
            raise GrantAlreadyRevokedError()
        if not reason.strip() or len(reason) > MAX_REASON:
            raise GrantReasonRequiredError(field="reason")
        self._revoked(revoked_on=revoked_on, reason=reason.strip())

    @event("Revoked")
    def _revoked(self, revoked_on: date, reason: str) -> None:
        self.revoked_on = revoked_on
