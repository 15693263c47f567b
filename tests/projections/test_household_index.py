"""The blind index and the case search over it, on SQLite and PostgreSQL.

Families are registered through the real application (aggregates saved as
the application saves them); the search is read through ``CaseQueries.page``
with a ``CaseFilter``, as GraphQL and the console call it.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import pytest

from yorisoi.domain.cases import Case
from yorisoi.domain.households import Child, Guardian, Household
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_queries import CaseScope
from yorisoi.projections.case_search import CaseFilter, SearchTextTooLongError
from yorisoi.projections.household_index import (
    HouseholdIndex,
    PersonQuery,
    SearchTooBroadError,
)
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.index_key import INDEX_KEY_ID
from yorisoi.tenants.runtime import TenantRuntime

CITY_A = "131016"
STAFF = ActingContext(user_id="staff-1", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
ALL = CaseScope()

TAKAHASHI = dict(guardian="髙橋 美咲", guardian_reading="タカハシ ミサキ",
                 phone="090-1234-5678", child="髙橋 陽翔", child_reading="たかはし はると",
                 born=date(2024, 4, 1))
YOSHIDA = dict(guardian="𠮷田 恵子", guardian_reading="ヨシダ ケイコ", phone="03-3333-4444",
               child="𠮷田 蓮", child_reading="よしだ れん", born=date(2023, 11, 20))
WATANABE = dict(guardian="渡邊 由美", guardian_reading="ワタナベ ユミ", phone="080-2222-1111",
                child="渡邊 葵", child_reading="わたなべ あおい", born=date(2022, 6, 15))


def register(rt: TenantRuntime, family: dict, *, site_id: str = "a-counter",
             opened_days_ago: int = 5) -> tuple[str, str]:
    """A household and its case, saved as the application saves them: (case id, household id)."""
    today = japan_today()
    with acting_as(STAFF):
        household = Household.register(
            guardians=[Guardian(family["guardian"], "母", reading=family["guardian_reading"],
                                phone=family["phone"])],
            children=[Child(family["child"], family["born"], reading=family["child_reading"])],
            pregnancy=None, today=today)
        case = Case(household_id=household.id, municipality_code=CITY_A, site_id=site_id,
                    contract_id=None, opened_on=today - timedelta(days=opened_days_ago))
        rt.casework.save(household, case)
    rt.catch_up()
    return str(case.id), str(household.id)


def found(rt: TenantRuntime, text: str, scope: CaseScope = ALL, **filters) -> list[str]:
    page = rt.cases.page(scope, first=50, filter=CaseFilter(text=text, **filters))
    assert page.total_count == len(page.cases)
    return [c.case_id for c in page.cases]


@pytest.fixture
def families(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        cases = {name: register(rt, family) for name, family in
                 (("takahashi", TAKAHASHI), ("yoshida", YOSHIDA), ("watanabe", WATANABE))}
        yield rt, cases


FORMS = [
    "たかはし", "タカハシ", "ﾀｶﾊｼ", "かはし", "ﾊﾙﾄ", "はると", "たかはし みさき", "ミサキ",
    "高橋", "髙橋", "高橋美咲", "高橋 陽翔", "陽翔",
    "09012345678", "090-1234-5678", "０９０－１２３４－５６７８", "090 1234 5678",
    "令和6年4月1日", "R6.4.1", "2024/4/1", "2024-04-01", "２０２４年４月１日",
]


def test_a_family_is_found_by_any_form_of_its_values(families):
    rt, cases = families
    for text in FORMS:
        assert found(rt, text) == [cases["takahashi"][0]], text


def test_variant_kanji_find_each_other(families):
    rt, cases = families
    assert found(rt, "吉田") == [cases["yoshida"][0]]
    assert found(rt, "𠮷田 蓮") == [cases["yoshida"][0]]
    for spelling in ("渡辺", "渡邉", "渡邊", "わたなべ"):
        assert found(rt, spelling) == [cases["watanabe"][0]], spelling


def test_case_numbers_find_their_case(families):
    rt, cases = families
    case_id = cases["yoshida"][0]
    assert found(rt, case_id) == [case_id]
    assert found(rt, case_id[:8]) == [case_id]
    assert found(rt, case_id[:8].upper()) == [case_id]


def test_no_match_and_mismatched_terms(families):
    rt, _ = families
    assert found(rt, "すずき") == []
    assert found(rt, "たかはし 2023-11-20") == []  # every term must hold
    assert found(rt, "090-9999-9999") == []
    with pytest.raises(SearchTextTooLongError):
        found(rt, "あ" * 101)


def test_false_positives_of_truncated_tokens_are_confirmed_away(families):
    """A household holding every token of a term but not the term itself is not listed."""
    rt, cases = families
    index = HouseholdIndex(rt.casework.database, rt.casework.keyring)
    takahashi = cases["takahashi"][1]
    # Give Yoshida's household Takahashi's reading tokens, as a collision would.
    groups = index.term_groups(folded="たかはし")
    with rt.casework.database.transaction() as cur:
        for token in {t for g in groups for t in g}:
            cur.execute("INSERT INTO {s}household_index_token (token, household_id)"
                        " VALUES (%s, %s) ON CONFLICT (token, household_id) DO NOTHING",
                        (token, cases["yoshida"][1]))
    assert found(rt, "たかはし") == [cases["takahashi"][0]]
    assert takahashi != cases["yoshida"][1]


def test_filters_scope_and_paging_stay_right_under_a_search(world):
    with world.services.runtimes.lease(CITY_A) as rt:
        made = []
        for i in range(7):
            family = dict(TAKAHASHI, guardian=f"高橋 花{i}", phone=f"090-0000-{1000 + i}")
            made.append(register(rt, family, site_id="a-counter" if i % 2 else "a-hiroba",
                                 opened_days_ago=i + 1)[0])
        register(rt, YOSHIDA)
        assert sorted(found(rt, "たかはし")) == sorted(made)
        # Keyset pages of 3 under the search: every case once, the count on each page.
        seen, after = [], None
        while True:
            page = rt.cases.page(ALL, first=3, after=after, filter=CaseFilter(text="高橋"))
            assert page.total_count == 7
            seen += [c.case_id for c in page.cases]
            if not page.has_next_page:
                break
            after = page.end_cursor
        assert sorted(seen) == sorted(made)
        # Other filters and the scope combine with the search.
        at_hiroba = [c for i, c in enumerate(made) if i % 2 == 0]
        assert sorted(found(rt, "たかはし", site_id="a-hiroba")) == sorted(at_hiroba)
        assert sorted(found(rt, "たかはし", CaseScope(site_ids=["a-counter"]))) == sorted(
            c for c in made if c not in at_hiroba)
        today = japan_today()
        recent = found(rt, "たかはし", opened_from=today - timedelta(days=3))
        assert sorted(recent) == sorted(made[:3])
        assert found(rt, "たかはし", opened_to=today - timedelta(days=7)) == [made[6]]
        assert found(rt, "たかはし", status="closed") == []
        assert sorted(found(rt, "たかはし", has_overdue_tasks=False)) == sorted(made)
        assert found(rt, "たかはし", has_overdue_tasks=True) == []


def test_corrections_replace_tokens_and_rebuild_is_identical(world):
    from view_rows import all_view_rows

    with world.services.runtimes.lease(CITY_A) as rt:
        case_id, household_id = register(rt, TAKAHASHI)
        with acting_as(STAFF):
            household = rt.casework.repository.get(UUID(household_id))
            household.correct(guardians=[Guardian("佐藤 美咲", "母", reading="サトウ ミサキ",
                                                  phone="090-1234-5678")],
                              children=[Child("佐藤 陽翔", date(2024, 4, 1),
                                              reading="さとう はると")],
                              pregnancy=None, outside_target_reason=None, reason="婚姻による改姓",
                              today=japan_today())
            rt.casework.save(household)
        rt.catch_up()
        assert found(rt, "たかはし") == []
        assert found(rt, "佐藤") == [case_id]
        assert found(rt, "サトウ ハルト") == [case_id]
        before = all_view_rows(rt)["household_index_token"]
        projector = next(p for p in rt.projectors if p.view.name == "household_index")
        projector.rebuild()
        assert all_view_rows(rt)["household_index_token"] == before


def test_no_token_table_holds_plaintext(families):
    rt, _ = families
    values = []
    for family in (TAKAHASHI, YOSHIDA, WATANABE):
        values += [family["guardian"], family["child"], family["guardian_reading"],
                   family["child_reading"], family["phone"], family["phone"].replace("-", ""),
                   family["born"].isoformat()]
        values += [v.replace(" ", "") for v in values]
    with rt.casework.database.transaction(write=False) as cur:
        rows = cur.execute("SELECT * FROM {s}household_index_token").fetchall()
        key_row = cur.execute("SELECT wrapped_key FROM {s}household_keys"
                              " WHERE household_id = %s", (str(INDEX_KEY_ID),)).fetchone()
    assert rows and key_row is not None and key_row["wrapped_key"] is not None
    dump = repr(rows)
    for value in values:
        assert value not in dump
    # Tokens are small integers (truncated): many households share each.
    assert all(0 <= int(r["token"]) < 2 ** 24 for r in rows)


def test_likely_matches_for_the_duplicate_check(families):
    rt, cases = families
    index = HouseholdIndex(rt.casework.database, rt.casework.keyring)
    same_child = index.likely_matches([PersonQuery(reading="タカハシ ハルト",
                                                   birth_date="令和6年4月1日")])
    assert [(m.household_id, m.reasons) for m in same_child] == [
        (cases["takahashi"][1], ("reading_birth_date",))]
    by_phone = index.likely_matches([{"name": "別人", "phone": "03(3333)4444"}])
    assert [(m.household_id, m.reasons) for m in by_phone] == [
        (cases["yoshida"][1], ("phone",))]
    both = index.likely_matches([PersonQuery(name="渡辺 葵", birth_date="2022-06-15"),
                                 PersonQuery(phone="080-2222-1111")])
    assert [(m.household_id, m.reasons) for m in both] == [
        (cases["watanabe"][1], ("phone", "name_birth_date"))]
    assert index.likely_matches([PersonQuery(reading="たかはし はると",
                                             birth_date="2024-04-02")]) == []


def test_a_search_too_broad_asks_for_more(families, monkeypatch):
    import yorisoi.projections.case_search as case_search

    rt, _ = families
    monkeypatch.setattr(case_search, "MAX_CANDIDATES", 0)
    with pytest.raises(SearchTooBroadError):
        found(rt, "たかはし")
