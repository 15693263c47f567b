"""Site-profile commands of the casework application (mixed into CaseworkApplication).

The profile lives in the municipality's event log, next to the casework it is
checked against; the registry's site (identity only) stays in the platform.
The caller passes the registry's contracts covering the site, so the
aggregate can check a contracted site's contract without reaching outward.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.errors import NotFoundDomainError
from yorisoi.domain.sites import SiteProfile
from yorisoi.services.tenant_application import command


class SiteProfileNotFoundError(NotFoundDomainError):
    code = "site_profile_not_found"
    message = "The site has no profile yet: save its type and address first."
    message_ja = "実施場所の情報が未登録です。先に類型と所在地を登録してください。"


class SiteCommands:
    """Saving a site's profile and its opening schedule."""

    # Provided by CaseworkApplication.
    tenant: str
    repository: Any
    save: Any

    @command("command.save_site_profile")
    def save_site_profile(self, municipality_code: str, site_id: str, *, site_type: str,
                          address: str, contract_id: str | None,
                          site_contracts: Mapping[str, str],
                          expected_version: int | None) -> SiteProfile:
        """Create the profile, or describe it anew (type, address, operator)."""
        try:
            profile = self.site_profile(municipality_code, site_id)
        except SiteProfileNotFoundError:
            profile = SiteProfile.register(
                municipality_code=municipality_code, site_id=site_id, site_type=site_type,
                address=address, contract_id=contract_id, site_contracts=site_contracts)
        else:
            profile.check_version(expected_version)
            profile.describe(site_type=site_type, address=address, contract_id=contract_id,
                             site_contracts=site_contracts)
        self.save(profile)
        return profile

    @command("command.set_site_schedule")
    def set_site_schedule(self, municipality_code: str, site_id: str, *,
                          weekly: Mapping[str, tuple[str, str]], closed_on_public_holidays: bool,
                          expected_version: int | None) -> SiteProfile:
        profile = self.site_profile(municipality_code, site_id)
        profile.check_version(expected_version)
        profile.set_schedule(weekly=weekly, closed_on_public_holidays=closed_on_public_holidays)
        self.save(profile)
        return profile

    @command("command.add_site_exception")
    def add_site_exception(self, municipality_code: str, site_id: str, *, on: date, kind: str,
                           opens: str | None, closes: str | None) -> SiteProfile:
        profile = self.site_profile(municipality_code, site_id)
        profile.add_exception(on=on, kind=kind, opens=opens, closes=closes)
        self.save(profile)
        return profile

    @command("command.remove_site_exception")
    def remove_site_exception(self, municipality_code: str, site_id: str, *,
                              on: date) -> SiteProfile:
        profile = self.site_profile(municipality_code, site_id)
        profile.remove_exception(on=on)
        self.save(profile)
        return profile

    def site_profile(self, municipality_code: str, site_id: str) -> SiteProfile:
        try:
            profile: Any = self.repository.get(SiteProfile.create_id(municipality_code, site_id))
        except AggregateNotFoundError:
            raise SiteProfileNotFoundError(field="siteId") from None
        if not isinstance(profile, SiteProfile):
            raise SiteProfileNotFoundError(field="siteId")
        return profile
