"""The console's chain page checks what ``audit verify --tenant`` checks, the registry included."""

from __future__ import annotations

import sqlite3

from console_steps import sign_in
from world import CITY_A

from yorisoi.infra.worker.audit_chaining import LedgerKeeper


def test_the_chain_page_verifies_the_registry_entries_and_names_a_changed_contract(
        console_world, browser_client) -> None:  # noqa: ANN001
    LedgerKeeper(console_world.services).keep()
    sign_in(browser_client, "municipality", CITY_A, "a-auditor", "compliance_auditor")
    page = browser_client.get(f"/console/m/{CITY_A}/audit/chain").text
    assert "この自治体が依拠する登録簿の記録" in page and "不整合があります" not in page
    # Someone with the file moves a contract's end date by one byte.
    path = console_world.services.settings.sqlite_dir / "platform.sqlite"
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("DROP TRIGGER events_no_update")
        rowid, state = conn.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE"
                                    " '%Contract.Signed' ORDER BY rowid LIMIT 1").fetchone()
        state = bytearray(state)
        state[state.index(b'"ends_on"') + 30] ^= 1
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(state), rowid))
    page = browser_client.get(f"/console/m/{CITY_A}/audit/chain").text
    assert "不整合があります" in page and "source_changed" in page
    assert f"event {rowid}" in page
