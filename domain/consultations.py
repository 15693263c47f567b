"""A consultation (相談記録): what the family asked, wished and what was agreed.

The fields follow the guideline's consultation record (§4(3)①).  What the
family said is personal and encrypted under the household key; the date,
channel, themes, site and contract are not, so statistics survive disposal.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import (
    ConsultationChannelUnknownError,
    ConsultationDateInFutureError,
    ConsultationRequestMissingError,
    ConsultationThemesMissingError,
    ConsultationThemeUnknownError,
)
from yorisoi.domain.vocabulary import Channel


class Consultation(Aggregate):
    """One consultation with a family, recorded under a site (and contract)."""

    class Recorded(Aggregate.Created):
        personal_fields: ClassVar[tuple[str, ...]] = ("asked", "wishes", "direction")
        case_id: UUID
        household_id: UUID
        site_id: str
        contract_id: str | None
        occurred_on: date
        channel: str
        themes: list[str]
        asked: str | None
        wishes: str | None
        direction: str | None

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def record(cls, *, case_id: UUID, household_id: UUID, site_id: str,
               contract_id: str | None, occurred_on: date, channel: str,
               themes: list[str], asked: str, wishes: str, direction: str,
               today: date, allowed_themes: Collection[str]) -> Consultation:
        """Record a consultation, enforcing the record's invariants."""
        if occurred_on > today:
            raise ConsultationDateInFutureError(field="occurredOn")
        if channel not in {c.value for c in Channel}:
            raise ConsultationChannelUnknownError(field="channel")
        if not themes:
            raise ConsultationThemesMissingError(field="themes")
        for index, theme in enumerate(themes):
            if theme not in allowed_themes:
                raise ConsultationThemeUnknownError(field=f"themes.{index}")
        if not asked.strip():
            raise ConsultationRequestMissingError(field="asked")
        return cls(
            case_id=case_id, household_id=household_id, site_id=site_id,
            contract_id=contract_id, occurred_on=occurred_on, channel=channel,
            # Order-preserving de-duplication: a theme counts once in statistics.
            themes=list(dict.fromkeys(themes)),
            asked=asked.strip(), wishes=wishes.strip(), direction=direction.strip(),
        )

    @event(Recorded)
    def __init__(self, case_id: UUID, household_id: UUID, site_id: str,
                 contract_id: str | None, occurred_on: date, channel: str,
                 themes: list[str], asked: str | None, wishes: str | None,
                 direction: str | None) -> None:
        self.case_id = case_id
        self.household_id = household_id
        self.site_id = site_id
        self.contract_id = contract_id
        self.occurred_on = occurred_on
        self.channel = channel
        self.themes = themes
        # None after crypto-shredding.
        self.asked = asked
        self.wishes = wishes
        self.direction = direction
