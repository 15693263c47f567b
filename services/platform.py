"""The platform registry application (``platform`` space)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.access_grants import AccessGrant, GrantNotFoundError
from yorisoi.domain.errors import DomainError
from yorisoi.domain.registry import (
    Contract,
    Contractor,
    IdentityProvider,
    Municipality,
    Site,
)
from yorisoi.services.neighbours import NeighbourCommands
from yorisoi.services.tenant_application import TenantApplication, command


class RegistryEntryMissingError(DomainError):
    code = "registry_entry_missing"
    message = "The municipality, contractor, site or contract is not registered."
    message_ja = "自治体・受託事業者・実施場所・契約のいずれかが登録されていません。"


class RegistryEntryExistsError(DomainError):
    code = "registry_entry_exists"
    message = "That entry is already registered."
    message_ja = "すでに登録されています。"


class PlatformApplication(NeighbourCommands, TenantApplication):
    """Municipalities, contractors, sites, contracts and identity providers."""

    name = "platform"

    def _exists(self, aggregate_id: UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    def _require(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise RegistryEntryMissingError() from None

    def _save_new(self, aggregate: Any) -> UUID:
        if self._exists(aggregate.id):
            raise RegistryEntryExistsError()
        self.save(aggregate)
        return aggregate.id

    def register_municipality(self, *, code: str, name: str, prefecture: str) -> UUID:
        return self._save_new(Municipality.register(code=code, name=name, prefecture=prefecture))

    def register_contractor(self, *, contractor_id: str, name: str,
                            corporate_number: str | None = None) -> UUID:
        return self._save_new(Contractor(contractor_id=contractor_id, name=name,
                                         corporate_number=corporate_number))

    def register_site(self, *, municipality_code: str, site_id: str, name: str,
                      site_type: str) -> UUID:
        self._require(Municipality.create_id(municipality_code))
        return self._save_new(Site(municipality_code=municipality_code, site_id=site_id,
                                   name=name, site_type=site_type))

    def sign_contract(self, *, contract_id: str, municipality_code: str, contractor_id: str,
                      site_ids: list[str], starts_on: date, ends_on: date) -> UUID:
        self._require(Municipality.create_id(municipality_code))
        self._require(Contractor.create_id(contractor_id))
        for site_id in site_ids:
            self._require(Site.create_id(municipality_code, site_id))
        return self._save_new(Contract.sign(
            contract_id=contract_id, municipality_code=municipality_code,
            contractor_id=contractor_id, site_ids=site_ids, starts_on=starts_on,
            ends_on=ends_on))

    @command("command.end_contract")
    def end_contract(self, *, contract_id: str, ended_on: date, reason: str) -> None:
        contract: Contract = self._require(Contract.create_id(contract_id))
        contract.end(ended_on=ended_on, reason=reason)
        self.save(contract)

    @command("command.suspend_contract")
    def suspend_contract(self, *, contract_id: str, suspended_on: date, reason: str) -> None:
        contract: Contract = self._require(Contract.create_id(contract_id))
        contract.suspend(suspended_on=suspended_on, reason=reason)
        self.save(contract)

    @command("command.resume_contract")
    def resume_contract(self, *, contract_id: str, resumed_on: date) -> None:
        contract: Contract = self._require(Contract.create_id(contract_id))
        contract.resume(resumed_on=resumed_on)
        self.save(contract)

    def register_identity_provider(self, *, issuer: str, audience: str, tenant_kind: str,
                                   tenant_id: str, jwks_uri: str | None = None,
                                   jwks: dict | None = None) -> UUID:
        if tenant_kind != "platform":  # the operators' issuer has no registry owner
            owner = (Municipality.create_id(tenant_id) if tenant_kind == "municipality"
                     else Contractor.create_id(tenant_id))
            self._require(owner)
        return self._save_new(IdentityProvider(
            issuer=issuer, audience=audience, tenant_kind=tenant_kind, tenant_id=tenant_id,
            jwks_uri=jwks_uri, jwks=jwks))

    def grant_access(self, *, municipality_code: str, subject_kind: str, subject_tenant: str,
                     subject: str, role: str, site_ids: list[str], starts_on: date,
                     ends_on: date | None, reason: str) -> UUID:
        """Grant a role to one person; their organisation must be registered (and the sites)."""
        self._require(Municipality.create_id(municipality_code))
        if subject_kind == "contractor":
            self._require(Contractor.create_id(subject_tenant))
        elif subject_tenant != municipality_code:
            raise RegistryEntryMissingError()  # a municipality grants only its own staff
        for site_id in site_ids:
            self._require(Site.create_id(municipality_code, site_id))
        return self._save_new(AccessGrant.grant(
            municipality_code=municipality_code, subject_kind=subject_kind,
            subject_tenant=subject_tenant, subject=subject, role=role, site_ids=site_ids,
            starts_on=starts_on, ends_on=ends_on, reason=reason))

    @command("command.revoke_access")
    def revoke_access(self, *, municipality_code: str, grant_id: UUID, revoked_on: date,
                      reason: str) -> None:
        try:
            grant: AccessGrant = self.repository.get(grant_id)
        except AggregateNotFoundError:
            raise GrantNotFoundError(field="grantId") from None
        if not isinstance(grant, AccessGrant) or grant.municipality_code != municipality_code:
            raise GrantNotFoundError(field="grantId")
        grant.revoke(revoked_on=revoked_on, reason=reason)
        self.save(grant)
