"""Neighbour declarations in the platform registry (mixed into PlatformApplication).

A mixin, so the registry application gains the commands without its existing
methods changing; both municipalities must be registered.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.neighbours import NeighbourDeclaration
from yorisoi.domain.registry import Municipality
from yorisoi.services.tenant_application import command


class NeighbourCommands:
    """Declaring and withdrawing a municipality's neighbours."""

    # Provided by PlatformApplication.
    tenant: str
    repository: Any
    save: Any
    _require: Any

    def neighbour_declaration(self, municipality_code: str) -> NeighbourDeclaration | None:
        try:
            found: Any = self.repository.get(NeighbourDeclaration.create_id(municipality_code))
        except AggregateNotFoundError:
            return None
        return found

    @command("command.declare_neighbour")
    def declare_neighbour(self, *, municipality_code: str,
                          neighbour_code: str) -> NeighbourDeclaration:
        """Declare ``neighbour_code`` a neighbour of ``municipality_code``."""
        self._require(Municipality.create_id(municipality_code))
        declaration = (self.neighbour_declaration(municipality_code)
                       or NeighbourDeclaration(municipality_code=municipality_code))
        declaration.declare(neighbour_code)
        # An unregistered neighbour would widen searches to a space that
        # does not exist: refused like any unknown registry entry.
        self._require(Municipality.create_id(neighbour_code))
        if declaration.pending_events:
            self.save(declaration)
        return declaration

    @command("command.withdraw_neighbour")
    def withdraw_neighbour(self, *, municipality_code: str,
                           neighbour_code: str) -> NeighbourDeclaration | None:
        """Stop showing ``neighbour_code``'s entries (idempotent)."""
        declaration = self.neighbour_declaration(municipality_code)
        if declaration is None:
            return None
        declaration.withdraw(neighbour_code)
        if declaration.pending_events:
            self.save(declaration)
        return declaration
