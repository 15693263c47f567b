"""ThemeTaxonomy invariants, and the casework application reading its municipality's taxonomy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from yorisoi.domain.cases import Case
from yorisoi.domain.consultations import Consultation
from yorisoi.domain.errors import ConsultationThemeUnknownError
from yorisoi.domain.households import Guardian, Household
from yorisoi.domain.themes import (
    ThemeAlreadyExistsError,
    ThemeCodeInvalidError,
    ThemeLabelMissingError,
    ThemeStandardError,
    ThemeTaxonomy,
    ThemeUnknownError,
)
from yorisoi.domain.vocabulary import STANDARD_THEMES
from yorisoi.infra.clock import japan_today
from yorisoi.services.context import ActingContext, acting_as

CITY_A, CITY_B = "131016", "141003"
STAFF = ActingContext(user_id="admin-1", role="municipal_admin",
                      organisation_kind="municipality", organisation_id=CITY_A)


def _taxonomy() -> ThemeTaxonomy:
    return ThemeTaxonomy(municipality_code=CITY_A)


# --------------------------------------------------------------------------- aggregate


def test_taxonomy_id_is_derived_from_the_municipality_code():
    assert ThemeTaxonomy.create_id(CITY_A) == ThemeTaxonomy.create_id(CITY_A)
    assert ThemeTaxonomy.create_id(CITY_A) != ThemeTaxonomy.create_id(CITY_B)
    assert _taxonomy().id == ThemeTaxonomy.create_id(CITY_A)


def test_new_taxonomy_offers_exactly_the_standard_themes_with_both_labels():
    taxonomy = _taxonomy()
    assert taxonomy.allowed() == list(STANDARD_THEMES)
    themes = taxonomy.themes()
    assert all(t.standard and not t.retired and t.label_ja and t.label_en for t in themes)
    assert {t.code: t.label_ja for t in themes} == STANDARD_THEMES


def test_added_theme_is_offered_after_the_standard_ones():
    taxonomy = _taxonomy()
    taxonomy.add_theme(code="foreign_language", label_ja=" 外国語での相談 ",
                       label_en="Consultation in a foreign language")
    taxonomy.add_theme(code="twins", label_ja="多胎児", label_en="  ")
    assert taxonomy.allowed() == [*STANDARD_THEMES, "foreign_language", "twins"]
    added = taxonomy.themes()[-2:]
    assert [(t.code, t.label_ja, t.label_en, t.standard) for t in added] == [
        ("foreign_language", "外国語での相談", "Consultation in a foreign language", False),
        ("twins", "多胎児", None, False)]


@pytest.mark.parametrize("code", ["Twins", "2nd_child", "x", "多胎", "twin-s", "twins ", "a" * 41])
def test_badly_shaped_code_is_refused(code):
    taxonomy = _taxonomy()
    with pytest.raises(ThemeCodeInvalidError) as caught:
        taxonomy.add_theme(code=code, label_ja="多胎児", label_en=None)
    assert caught.value.field == "code"
    assert taxonomy.allowed() == list(STANDARD_THEMES)


@pytest.mark.parametrize("code", ["development", "twins"])
def test_standard_or_already_added_code_is_refused(code):
    taxonomy = _taxonomy()
    taxonomy.add_theme(code="twins", label_ja="多胎児", label_en=None)
    taxonomy.retire_theme("twins")
    with pytest.raises(ThemeAlreadyExistsError):
        taxonomy.add_theme(code=code, label_ja="別の名称", label_en=None)


def test_theme_without_japanese_label_is_refused():
    with pytest.raises(ThemeLabelMissingError) as caught:
        _taxonomy().add_theme(code="twins", label_ja="  ", label_en="Twins")
    assert caught.value.field == "labelJa"


def test_retired_theme_is_listed_but_no_longer_allowed_and_retiring_again_changes_nothing():
    taxonomy = _taxonomy()
    taxonomy.add_theme(code="twins", label_ja="多胎児", label_en=None)
    taxonomy.retire_theme("twins")
    assert "twins" not in taxonomy.allowed()
    assert taxonomy.themes()[-1].retired
    version = taxonomy.version
    taxonomy.retire_theme("twins")
    assert taxonomy.version == version


def test_standard_theme_cannot_be_retired_and_unknown_one_is_reported():
    taxonomy = _taxonomy()
    with pytest.raises(ThemeStandardError):
        taxonomy.retire_theme("dv")
    with pytest.raises(ThemeUnknownError):
        taxonomy.retire_theme("twins")
    assert taxonomy.allowed() == list(STANDARD_THEMES)


# --------------------------------------------------------------------------- application


SQLITE_ONLY = pytest.mark.parametrize("backend_settings", ["sqlite"], indirect=True)


def _consultation(rt, themes: list[str]) -> Consultation:
    today = japan_today()
    household = Household.register(guardians=[Guardian("架空 花子", "母")], children=[],
                                   pregnancy=None, today=today, outside_target_reason="祖母")
    case = Case(household_id=household.id, municipality_code=CITY_A, site_id="a-counter",
                contract_id=None, opened_on=today - timedelta(days=1))
    return Consultation.record(
        case_id=case.id, household_id=household.id, site_id="a-counter", contract_id=None,
        occurred_on=today, channel="phone", themes=themes, asked="相談", wishes="",
        direction="", today=today, allowed_themes=rt.casework.allowed_themes())


@SQLITE_ONLY
def test_allowed_themes_follow_the_municipality_taxonomy_without_caching(world):
    services = world.services
    with services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        assert list(rt.casework.allowed_themes()) == list(STANDARD_THEMES)
        rt.casework.add_theme(code="twins", label_ja="多胎児", label_en="Twins")
        assert _consultation(rt, ["twins"]).themes == ["twins"]
        rt.casework.retire_theme(code="twins")
        with pytest.raises(ConsultationThemeUnknownError):
            _consultation(rt, ["twins"])
        assert rt.casework.themes()[-1].retired
    with services.runtimes.lease(CITY_B) as other:
        assert "twins" not in other.casework.allowed_themes()


@SQLITE_ONLY
def test_retiring_an_already_retired_theme_writes_nothing(world):
    with world.services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        rt.casework.add_theme(code="twins", label_ja="多胎児", label_en=None)
        rt.casework.retire_theme(code="twins")
        before = rt.casework.recorder.max_notification_id()
        rt.casework.retire_theme(code="twins")
        assert rt.casework.recorder.max_notification_id() == before

