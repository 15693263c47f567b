"""Every read model's rows and positions, to compare one way of projecting with another."""

from __future__ import annotations

from typing import Any

from yorisoi.projections.tenant_views import tenant_view_tables


def all_view_rows(rt: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of every read model (ciphertext only as "sealed": nonces differ)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with rt.casework.database.transaction(write=False) as cur:
        for table in tenant_view_tables():
            found = cur.execute(f"SELECT * FROM {{s}}{table}").fetchall()
            for row in found:
                for column, value in list(row.items()):
                    if isinstance(value, (bytes, memoryview)):
                        row[column] = "sealed"
            rows[table] = sorted(found, key=lambda r: repr(sorted(r.items())))
    return rows


def view_positions(rt: Any) -> dict[str, int]:
    return {p.view.name: p.status().position for p in rt.projectors}


def record_households(rt: Any, cases: int, per_case: int, seed: int = 0) -> None:
    """Per case: a household, the case and ``per_case`` consultations noted on it (one save)."""
    from datetime import date, timedelta

    from yorisoi.domain.cases import Case
    from yorisoi.domain.consultations import Consultation
    from yorisoi.domain.households import Child, Guardian, Household
    from yorisoi.domain.vocabulary import STANDARD_THEMES
    from yorisoi.infra.clock import japan_today
    from yorisoi.services.context import ActingContext, acting_as

    themes, today = list(STANDARD_THEMES), japan_today()
    code = rt.casework.municipality_code
    staff = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                          organisation_id=code, site_id="a-counter")
    with acting_as(staff):
        for i in range(cases):
            household = Household.register(
                guardians=[Guardian(f"架空 保護者{seed}-{i}", "母")],
                children=[Child(f"架空 子{seed}-{i}", date(2023, 1, 1))], pregnancy=None,
                today=today)
            case = Case(household_id=household.id, municipality_code=code,
                        site_id="a-counter", contract_id=None,
                        opened_on=today - timedelta(days=60))
            made = []
            for j in range(per_case):
                consultation = Consultation.record(
                    case_id=case.id, household_id=household.id, site_id="a-counter",
                    contract_id=None, occurred_on=today - timedelta(days=(i + j) % 50),
                    channel="visit", themes=[themes[(i + j) % len(themes)], themes[0]],
                    asked=f"相談 {seed}-{i}-{j}", wishes="", direction="", today=today,
                    allowed_themes=STANDARD_THEMES.keys())
                case.note_consultation(consultation.id)
                made.append(consultation)
            rt.casework.save(household, case, *made)
