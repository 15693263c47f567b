"""A failed ``pg_restore`` is reported without the row values PostgreSQL quotes (issue 18).

The output below is what pg_restore 16 prints when a COPY or a constraint refuses a row of
a municipality's schema: the values (a name, an address) must not reach the error the
operator's terminal and the logs show, while the objects it names stay for diagnosis.
"""

from __future__ import annotations

from yorisoi.infra.bundle_store import without_row_values

_COPY_REFUSED = '''pg_restore: error: COPY failed for table "access_log": ERROR:  invalid input syntax for type uuid: "山田 花子"
CONTEXT:  COPY access_log, line 3, column household_id: "山田 花子"
pg_restore: error: could not execute query: ERROR:  duplicate key value violates unique constraint "household_keys_pkey"
DETAIL:  Key (household_id)=(東京都千代田区一番町1-2) already exists.
Command was: ALTER TABLE ONLY t_131016.household_keys ADD CONSTRAINT household_keys_pkey PRIMARY KEY (household_id);
pg_restore: warning: errors ignored on restore: 2
'''


def test_row_values_are_removed_and_object_names_kept() -> None:
    reported = without_row_values(_COPY_REFUSED)
    for value in ("山田", "花子", "東京都", "一番町"):
        assert value not in reported
    assert 'COPY failed for table "access_log"' in reported
    assert 'unique constraint "household_keys_pkey"' in reported
    assert "invalid input syntax for type uuid" in reported
    assert "errors ignored on restore: 2" in reported


def test_a_value_cut_off_at_the_end_is_removed_too() -> None:
    assert "山田" not in without_row_values('ERROR:  invalid input syntax for type uuid: "山田')
