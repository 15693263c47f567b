"""Resource (社会資源) and NeighbourDeclaration invariants, and the search-text folding."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from yorisoi.domain.neighbours import NeighbourDeclaration, NeighbourSelfError
from yorisoi.domain.registry import MunicipalityCodeInvalidError
from yorisoi.domain.resources import (
    MAX_NAME,
    OpeningSlot,
    Resource,
    ResourceAttributeInvalidError,
    ResourceHoursInvalidError,
    ResourceKindUnknownError,
    ResourceVerificationDateInvalidError,
    ResourceVersionStaleError,
    checked_attributes,
    findings,
)
from yorisoi.projections.resource_directory import normalise, query_terms

CITY_A, CITY_B = "131016", "141003"
TODAY = date(2026, 4, 1)


def attributes(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "name": "ひまわり保育園", "kind": "education_childcare", "subkind": "nursery",
        "address": "千代田区一番町1-1", "area": "ichibancho", "operator_kind": "private",
        "hours": [OpeningSlot("mon", "07:30", "18:30")], "monthly_schedule": "第2土曜は休園",
        "content": "0〜5歳児の保育", "form": "facility", "fee": "paid",
        "owner": "kosodate-ka"}
    fields.update(overrides)
    return checked_attributes(**fields)  # type: ignore[arg-type]


def entry() -> Resource:
    return Resource.register(municipality_code=CITY_A, attributes=attributes(), today=TODAY)


# --------------------------------------------------------------------------- attributes


def test_a_registered_entry_is_unpublished_and_counts_as_verified_on_the_day():
    resource = entry()
    assert not resource.published
    assert resource.last_verified_on == TODAY
    assert resource.attributes["name"] == "ひまわり保育園"


@pytest.mark.parametrize(("override", "error", "field"), [
    ({"kind": "shop"}, ResourceKindUnknownError, "kind"),
    ({"subkind": "small_scale"}, ResourceKindUnknownError, "subkind"),  # not a 保育所 subkind
    ({"name": "  "}, ResourceAttributeInvalidError, "name"),
    ({"name": "あ" * (MAX_NAME + 1)}, ResourceAttributeInvalidError, "name"),
    ({"operator_kind": "church"}, ResourceAttributeInvalidError, "operatorKind"),
    ({"form": "online"}, ResourceAttributeInvalidError, "form"),
    ({"fee": "cheap"}, ResourceAttributeInvalidError, "fee"),
    ({"owner": ""}, ResourceAttributeInvalidError, "owner"),
    ({"hours": [OpeningSlot("xyz", "09:00", "17:00")]}, ResourceHoursInvalidError, "hours"),
    ({"hours": [OpeningSlot("mon", "9:00", "17:00")]}, ResourceHoursInvalidError, "hours"),
    ({"hours": [OpeningSlot("mon", "17:00", "09:00")]}, ResourceHoursInvalidError, "hours"),
])
def test_invalid_attributes_are_refused_without_echoing_the_value(override, error, field):
    with pytest.raises(error) as caught:
        attributes(**override)
    assert caught.value.field == field
    assert caught.value.message_ja
    value = str(next(iter(override.values()))).strip()
    assert not value or value not in caught.value.message


def test_every_kind_of_the_guideline_is_accepted_with_its_subkinds():
    for kind, sub in (("community_childcare", "small_scale"), ("local_support", "hub"),
                      ("medical", "clinic"), ("health_welfare", "health_center"),
                      ("informal", "circle"), ("informal", None)):
        assert attributes(kind=kind, subkind=sub)["kind"] == kind


def test_updating_with_the_same_attributes_records_nothing():
    resource = entry()
    resource.collect_events()
    resource.update(attributes())
    assert resource.collect_events() == []
    resource.update(attributes(fee="free"))
    assert [type(e).__name__ for e in resource.collect_events()] == ["Updated"]
    assert resource.attributes["fee"] == "free"


def test_a_stale_expected_version_is_refused():
    with pytest.raises(ResourceVersionStaleError):
        entry().check_version(7)


# --------------------------------------------------------------------------- verification


def test_verification_moves_the_date_forward_only_and_never_into_the_future():
    resource = entry()
    resource.verify(verified_on=TODAY + timedelta(days=3), today=TODAY + timedelta(days=5))
    assert resource.last_verified_on == TODAY + timedelta(days=3)
    for day in (TODAY, TODAY + timedelta(days=6)):
        with pytest.raises(ResourceVerificationDateInvalidError):
            resource.verify(verified_on=day, today=TODAY + timedelta(days=5))


def test_an_entry_unverified_for_more_than_a_year_is_stale():
    assert findings(TODAY, TODAY + timedelta(days=365)) == []
    assert findings(TODAY, TODAY + timedelta(days=366)) == ["stale"]


def test_publication_is_idempotent_both_ways():
    resource = entry()
    resource.collect_events()
    resource.publish()
    resource.publish()
    resource.unpublish()
    resource.unpublish()
    assert [type(e).__name__ for e in resource.collect_events()] == ["Published", "Unpublished"]
    assert not resource.published


# --------------------------------------------------------------------------- neighbours


def test_a_municipality_declares_and_withdraws_neighbours_idempotently():
    declaration = NeighbourDeclaration(municipality_code=CITY_A)
    assert declaration.id == NeighbourDeclaration.create_id(CITY_A)
    declaration.declare(CITY_B)
    declaration.declare(CITY_B)
    assert declaration.neighbours == [CITY_B]
    declaration.withdraw(CITY_B)
    declaration.withdraw(CITY_B)
    assert declaration.neighbours == []
    names = [type(e).__name__ for e in declaration.collect_events()]
    assert names == ["Started", "NeighbourDeclared", "NeighbourWithdrawn"]


def test_a_municipality_is_not_its_own_neighbour_and_codes_are_checked():
    declaration = NeighbourDeclaration(municipality_code=CITY_A)
    with pytest.raises(NeighbourSelfError):
        declaration.declare(CITY_A)
    with pytest.raises(MunicipalityCodeInvalidError) as caught:
        declaration.declare("141004")  # wrong check digit
    assert caught.value.field == "neighbourCode"


# --------------------------------------------------------------------------- folding


def test_folding_joins_kana_widths_case_and_spaces():
    assert normalise("ヒマワリ") == normalise("ひまわり") == normalise("ﾋﾏﾜﾘ")
    assert normalise("第２保育園") == normalise("第2保育園")
    assert normalise("ＮＰＯ法人 ひだまり") == "npo法人ひだまり"
    assert query_terms("ひまわり　保育園  ") == ["ひまわり", "保育園"]
    assert query_terms("   ") == []
