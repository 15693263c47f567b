"""A municipality's declared neighbours: whose published directory entries it also shows.

Families cross municipal borders for a nursery, a clinic or a 拠点, so a
municipality may show its neighbours' *published* directory entries beside
its own.  The relation spans tenants, so it lives in the platform registry,
not in either municipality's space.  It is one-way: declaring Kawasaki as a
neighbour lets Yokohama's searches include Kawasaki's public entries (which
anyone may read anyway), and asks nothing of Kawasaki.  A new aggregate rather
than a command on ``Municipality``: the registry's existing aggregates and
their stored events stay untouched.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError
from yorisoi.domain.ids import uuid5
from yorisoi.domain.registry import MunicipalityCodeInvalidError, check_municipality_code

MAX_NEIGHBOURS = 30


class NeighbourSelfError(DomainError):
    code = "neighbour_self"
    message = "A municipality cannot be its own neighbour."
    message_ja = "自分の自治体を近隣自治体には指定できません。"


class NeighbourLimitError(DomainError):
    code = "neighbour_limit"
    message = f"At most {MAX_NEIGHBOURS} neighbouring municipalities."
    message_ja = f"近隣自治体は{MAX_NEIGHBOURS}件までです。"


class NeighbourDeclaration(Aggregate):
    """The neighbours one municipality has declared (one per municipality)."""

    @staticmethod
    def create_id(municipality_code: str) -> UUID:
        # Deterministic: found without an index; two first declarations collide
        # on version 1 instead of forking into two lists.
        return uuid5(NAMESPACE_URL, f"yorisoi:neighbours:{municipality_code}")

    @event("Started")
    def __init__(self, municipality_code: str) -> None:
        self.municipality_code = municipality_code
        self.neighbours: list[str] = []

    def declare(self, neighbour_code: str) -> None:
        """Declare a neighbour (idempotent)."""
        try:
            check_municipality_code(neighbour_code)
        except MunicipalityCodeInvalidError:
            raise MunicipalityCodeInvalidError(field="neighbourCode") from None
        if neighbour_code == self.municipality_code:
            raise NeighbourSelfError(field="neighbourCode")
        if neighbour_code in self.neighbours:
            return
        if len(self.neighbours) >= MAX_NEIGHBOURS:
            raise NeighbourLimitError(field="neighbourCode")
        # The events repeat the declaring municipality's code, so the registry's
        # projection needs no lookup from the aggregate id back to the code.
        self._declared(self.municipality_code, neighbour_code)

    @event("NeighbourDeclared")
    def _declared(self, municipality_code: str, neighbour_code: str) -> None:
        self.neighbours.append(neighbour_code)

    def withdraw(self, neighbour_code: str) -> None:
        """Stop showing a neighbour's entries (idempotent)."""
        if neighbour_code in self.neighbours:
            self._withdrawn(self.municipality_code, neighbour_code)

    @event("NeighbourWithdrawn")
    def _withdrawn(self, municipality_code: str, neighbour_code: str) -> None:
        self.neighbours.remove(neighbour_code)
