"""Which records the read models hold about one household, in document order (disclosure).

Only ids and kinds: the disclosure export then reads each record's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from yorisoi.infra.db import Database


@dataclass(frozen=True)
class HouseholdRecordIds:
    case_ids: list[str]  # oldest opened first
    timeline: list[dict[str, Any]]  # entry_id, kind — of the given kinds, in time order
    complaint_ids: list[str]  # complaints about its cases, oldest received first


def household_view_records(database: Database, household_id: str,
                         timeline_kinds: Sequence[str]) -> HouseholdRecordIds:
    with database.transaction(write=False) as cur:
        cases = [r["case_id"] for r in cur.execute(
            "SELECT case_id FROM {s}case_view WHERE household_id = %s ORDER BY opened_on, case_id",
            (household_id,)).fetchall()]
        marks = ", ".join(["%s"] * len(timeline_kinds))
        timeline = cur.execute(
            f"SELECT entry_id, kind FROM {{s}}timeline_view WHERE household_id = %s"
            f" AND kind IN ({marks}) ORDER BY occurred_on, recorded_at",
            (household_id, *timeline_kinds)).fetchall()
        complaints: list[str] = []
        if cases:
            marks = ", ".join(["%s"] * len(cases))
            complaints = [r["complaint_id"] for r in cur.execute(
                f"SELECT complaint_id FROM {{s}}complaint_view WHERE case_id IN ({marks})"
                " ORDER BY received_on, complaint_id", cases).fetchall()]
    return HouseholdRecordIds(cases, timeline, complaints)
