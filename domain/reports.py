"""An issued report (報告の発行): what was submitted, recorded so it can be reproduced.

Issuing records the report's parameters (form, fiscal year, scope), the
event-log position its figures were computed at, the form layout and the
labels it was rendered with, content hashes of the figures and of the files,
and who issued it.  Nothing here is personal: counts are not even stored —
they are recomputed from the log up to ``position`` — so a later correction
or disposal cannot change a reproduction, and the hashes prove it is the same.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event


class IssuedReport(Aggregate):
    """One report as issued."""

    class Issued(Aggregate.Created):
        municipality_code: str
        form: str
        form_version: str
        fiscal_year: int
        contract_ids: list[str] | None  # a contractor's own contracts; None: every figure
        position: int
        layout: dict[str, Any]
        labels: dict[str, Any]
        figures_sha256: str
        csv_sha256: str
        xlsx_sha256: str
        issued_on: date
        issued_by: str  # the issuer's sign-in subject (screens show the name)

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @event(Issued)
    def __init__(self, municipality_code: str, form: str, form_version: str, fiscal_year: int,
                 contract_ids: list[str] | None, position: int, layout: dict[str, Any],
                 labels: dict[str, Any], figures_sha256: str, csv_sha256: str,
                 xlsx_sha256: str, issued_on: date, issued_by: str) -> None:
        self.municipality_code = municipality_code
        self.form = form
        self.form_version = form_version
        self.fiscal_year = fiscal_year
        self.contract_ids = contract_ids
        self.position = position
        self.layout = layout
        self.labels = labels
        self.figures_sha256 = figures_sha256
        self.csv_sha256 = csv_sha256
        self.xlsx_sha256 = xlsx_sha256
        self.issued_on = issued_on
        self.issued_by = issued_by
