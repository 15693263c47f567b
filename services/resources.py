"""Resource-directory commands of the casework application (mixed into CaseworkApplication).

The directory lives in the municipality's own space beside its casework, so
one casework application per municipality also keeps its directory; the
municipality code comes from the application's space, never from a request.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.resources import Resource, ResourceNotFoundError
from yorisoi.infra.clock import japan_today
from yorisoi.services.tenant_application import command


class ResourceCommands:
    """Registering, updating, verifying and (un)publishing directory entries."""

    # Provided by CaseworkApplication (municipality_code by ThemeCommands).
    tenant: str
    repository: Any
    save: Any
    municipality_code: str

    def _get_resource(self, resource_id: UUID, expected_version: int | None) -> Resource:
        try:
            resource: Any = self.repository.get(resource_id)
        except AggregateNotFoundError:
            raise ResourceNotFoundError(field="resourceId") from None
        if not isinstance(resource, Resource):  # another aggregate's id answers alike
            raise ResourceNotFoundError(field="resourceId")
        resource.check_version(expected_version)
        return resource

    @command("command.register_resource")
    def register_resource(self, attributes: dict[str, object]) -> Resource:
        """Add an entry (unpublished) with attributes checked by domain.resources."""
        resource = Resource.register(municipality_code=self.municipality_code,
                                     attributes=attributes, today=japan_today())
        self.save(resource)
        return resource

    @command("command.update_resource")
    def update_resource(self, resource_id: UUID, attributes: dict[str, object], *,
                        expected_version: int | None) -> Resource:
        resource = self._get_resource(resource_id, expected_version)
        resource.update(attributes)
        if resource.pending_events:
            self.save(resource)
        return resource

    @command("command.verify_resource")
    def verify_resource(self, resource_id: UUID, *, verified_on: date,
                        expected_version: int | None) -> Resource:
        resource = self._get_resource(resource_id, expected_version)
        resource.verify(verified_on=verified_on, today=japan_today())
        self.save(resource)
        return resource

    @command("command.publish_resource")
    def publish_resource(self, resource_id: UUID, *, expected_version: int | None) -> Resource:
        resource = self._get_resource(resource_id, expected_version)
        resource.publish()
        if resource.pending_events:
            self.save(resource)
        return resource

    @command("command.accept_referrals")
    def accept_referrals(self, resource_id: UUID, *, agency_kind: str, on_system: bool,
                         contact_email: str | None, confidentiality_basis: str | None,
                         expected_version: int | None) -> Resource:
        """Make the entry a recipient of referrals (or change how it receives them)."""
        resource = self._get_resource(resource_id, expected_version)
        resource.accept_referrals(agency_kind=agency_kind, on_system=on_system,
                                  contact_email=contact_email,
                                  confidentiality_basis=confidentiality_basis)
        if resource.pending_events:
            self.save(resource)
        return resource

    @command("command.unpublish_resource")
    def unpublish_resource(self, resource_id: UUID, *,
                           expected_version: int | None) -> Resource:
        resource = self._get_resource(resource_id, expected_version)
        resource.unpublish()
        if resource.pending_events:
            self.save(resource)
        return resource
