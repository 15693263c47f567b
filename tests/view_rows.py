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
