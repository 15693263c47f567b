"""The tenant directory: registry commands, provisioning and issuer lookups.

Registry commands are rare, so each one brings the registry's lookup tables
up to date before it returns: the next request sees the new tenant, contract
or issuer at once (and a contract that ended is refused at once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from yorisoi.infra.identity import IssuerRegistration
from yorisoi.infra.keys import TenantKeyProvider
from yorisoi.infra.settings import Settings
from yorisoi.projections.runner import Projector
from yorisoi.services.platform import PlatformApplication, RegistryEntryExistsError
from yorisoi.tenants.neighbours import NeighbourView
from yorisoi.tenants.provisioning import Provisioner
from yorisoi.tenants.registry import RegistryQueries, RegistryView
from yorisoi.tenants.spaces import PLATFORM_SPACE, event_store_env, municipality_space
from yorisoi.tenants.view_columns import add_missing_columns


class TenantDirectory:
    """Registers and provisions tenants; answers who a token's issuer belongs to."""

    def __init__(self, settings: Settings, key_provider: TenantKeyProvider) -> None:
        self.provisioner = Provisioner(settings, key_provider)
        self.platform = PlatformApplication(event_store_env(settings, PLATFORM_SPACE),
                                            tenant=PLATFORM_SPACE, key_provider=key_provider)
        self.registry = RegistryQueries(self.platform.database)
        self.projector = Projector(self.platform.database, self.platform.mapper, RegistryView())
        self.neighbour_projector = Projector(self.platform.database, self.platform.mapper,
                                             NeighbourView())

    def _refreshed(self, result: Any) -> Any:
        self.projector.catch_up()
        # The registry's cached answers would be dropped by the next request anyway (its
        # version moved); dropping them now also covers the rest of this request.
        self.registry.changed()
        return result

    def _completed(self, register: Callable[[], Any], listed: Callable[[], Any]) -> Any:
        """Run a registration; complete one an earlier attempt left half done.

        The entry's event and the registry view are written one after the other:
        an attempt that stored the event and then failed (the view's catch-up, a
        lost connection) leaves an entry the view does not list.  Its retry is
        refused as existing by the event store — so when the view does not list
        the entry, the retry catches the view up and succeeds instead of
        answering "already registered" for something nobody can see.
        """
        try:
            return self._refreshed(register())
        except RegistryEntryExistsError:
            self.registry.changed()  # what the view lists now, not a cached answer
            if listed() is not None:
                raise  # really there already
            self._refreshed(None)
            if listed() is None:
                raise
            return None

    def provision_municipality(self, *, code: str, name: str, prefecture: str) -> str:
        """Create the municipality's space, then register it. Returns the space.

        Both steps are idempotent, so a provisioning that failed half-way is
        completed by running it again.
        """
        space = self.provisioner.create_municipality_space(code)
        self._completed(lambda: self.platform.register_municipality(
            code=code, name=name, prefecture=prefecture), lambda: self.registry.tenant(code))
        return space

    def provision_contractor(self, *, contractor_id: str, name: str,
                             corporate_number: str | None = None) -> None:
        self._completed(lambda: self.platform.register_contractor(
            contractor_id=contractor_id, name=name, corporate_number=corporate_number),
            lambda: self.registry.tenant(contractor_id))

    def register_site(self, *, municipality_code: str, site_id: str, name: str,
                      site_type: str) -> None:
        self._completed(lambda: self.platform.register_site(
            municipality_code=municipality_code, site_id=site_id, name=name,
            site_type=site_type), lambda: self.registry.site(municipality_code, site_id))

    def sign_contract(self, *, contract_id: str, municipality_code: str, contractor_id: str,
                      site_ids: list[str], starts_on: date, ends_on: date) -> None:
        self._completed(lambda: self.platform.sign_contract(
            contract_id=contract_id, municipality_code=municipality_code,
            contractor_id=contractor_id, site_ids=site_ids, starts_on=starts_on,
            ends_on=ends_on), lambda: self.registry.contract(contract_id))

    def end_contract(self, *, contract_id: str, ended_on: date, reason: str) -> None:
        self._refreshed(self.platform.end_contract(
            contract_id=contract_id, ended_on=ended_on, reason=reason))

    def suspend_contract(self, *, contract_id: str, suspended_on: date, reason: str) -> None:
        self._refreshed(self.platform.suspend_contract(
            contract_id=contract_id, suspended_on=suspended_on, reason=reason))

    def resume_contract(self, *, contract_id: str, resumed_on: date) -> None:
        self._refreshed(self.platform.resume_contract(
            contract_id=contract_id, resumed_on=resumed_on))

    def register_identity_provider(self, registration: IssuerRegistration) -> None:
        self._refreshed(self.platform.register_identity_provider(
            issuer=registration.issuer, audience=registration.audience,
            tenant_kind=registration.tenant_kind, tenant_id=registration.tenant_id,
            jwks_uri=registration.jwks_uri, jwks=registration.jwks))

    def grant_access(self, **kwargs: Any) -> str:
        """Grant a role to one person (``PlatformApplication.grant_access``); returns its id."""
        return str(self._refreshed(self.platform.grant_access(**kwargs)))

    def revoke_access(self, **kwargs: Any) -> None:
        self._refreshed(self.platform.revoke_access(**kwargs))

    def upgrade_spaces(self, codes: list[str] | None = None,
                       progress: Any = None) -> list[str]:
        """Re-run the (idempotent) space DDL: tables added since a space was provisioned appear.

        New tables appear, and columns listed in ``tenants/view_columns.py`` are
        added to existing tables first (the DDL's indexes may name them).  New
        read models then catch up from the start of the log.
        """
        self.provisioner.init_platform()
        done = []
        for code in codes or [t.tenant_id for t in self.registry.municipalities()]:
            self.upgrade_space(code)
            done.append(code)
            if progress is not None:
                progress(code)
        return done

    def upgrade_space(self, code: str) -> None:
        """One municipality's space: its views' new columns, then the (idempotent) DDL.

        ``tenants/upgrades.py`` runs this across every space, resumably.
        """
        self._add_view_columns(code)
        self.provisioner.create_municipality_space(code)

    def _add_view_columns(self, code: str) -> list[str]:
        """Columns views gained since the space was provisioned (as the schema owner)."""
        from yorisoi.services.casework import CaseworkApplication

        settings = self.provisioner.settings
        space = municipality_space(code)
        if settings.backend == "sqlite" and not (settings.sqlite_dir / f"{space}.sqlite").exists():
            return []  # not provisioned yet: the DDL creates the tables whole
        app = CaseworkApplication(event_store_env(settings, space, admin=True), tenant=space,
                                  key_provider=self.provisioner.key_provider)
        try:
            return add_missing_columns(app.database)
        finally:
            app.close()

    def issuer(self, issuer: str) -> IssuerRegistration | None:
        return self.registry.issuer(issuer)

    def close(self) -> None:
        self.registry.close()
        self.platform.close()
