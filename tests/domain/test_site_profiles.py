"""SiteProfile invariants and the site findings (open days, dedicated specialist).

Pure aggregate and function tests: no database needed.
"""

from __future__ import annotations

from datetime import date

import pytest

from yorisoi.domain.errors import StaleVersionError
from yorisoi.domain.findings import (
    no_dedicated_specialist,
    open_fewer_than_half_the_week,
    site_findings,
)
from yorisoi.domain.sites import (
    SiteAddressMissingError,
    SiteContractUnknownError,
    SiteExceptionKindUnknownError,
    SiteExceptionNotFoundError,
    SiteHoursInvalidError,
    SiteProfile,
    SiteTypeUnknownError,
    SiteWeekdayUnknownError,
)

CITY_A = "131016"
CONTRACTS = {"contract-a-npo": "npo-hidamari"}
WEEKDAYS_9_TO_5 = {d: ("09:00", "17:00") for d in ("mon", "tue", "wed", "thu", "fri")}


def profile(**overrides) -> SiteProfile:
    fields = {"municipality_code": CITY_A, "site_id": "a-hiroba", "site_type": "kihon",
              "address": "東京都千代田区九段南1-2-1", "contract_id": "contract-a-npo",
              "site_contracts": CONTRACTS}
    fields.update(overrides)
    return SiteProfile.register(**fields)


def test_a_contracted_site_records_its_contractor_and_a_stable_id():
    site = profile()
    assert site.id == SiteProfile.create_id(CITY_A, "a-hiroba")
    assert (site.contractor_id, site.contract_id, site.operation) == (
        "npo-hidamari", "contract-a-npo", "contracted")


def test_a_directly_run_site_has_no_contractor():
    site = profile(contract_id=None)
    assert (site.contractor_id, site.operation) == (None, "direct")


@pytest.mark.parametrize(("overrides", "error"), [
    ({"site_type": "mega"}, SiteTypeUnknownError),
    ({"address": "  "}, SiteAddressMissingError),
    ({"contract_id": "contract-elsewhere"}, SiteContractUnknownError),
])
def test_an_invalid_profile_is_refused(overrides, error):
    with pytest.raises(error):
        profile(**overrides)


def test_describing_without_a_change_stores_nothing_and_a_change_stores_one_event():
    site = profile()
    site.describe(site_type="kihon", address="東京都千代田区九段南1-2-1",
                  contract_id="contract-a-npo", site_contracts=CONTRACTS)
    assert len(site.collect_events()) == 1
    site.describe(site_type="kodomo_katei_center", address="東京都千代田区九段南1-2-1",
                  contract_id=None, site_contracts=CONTRACTS)
    assert [type(e).__name__ for e in site.collect_events()] == ["Described"]
    assert (site.site_type, site.operation) == ("kodomo_katei_center", "direct")


def test_a_stale_version_is_refused():
    site = profile()
    with pytest.raises(StaleVersionError):
        site.check_version(site.version + 1)


def test_the_weekly_schedule_is_kept_in_weekday_order():
    site = profile()
    site.set_schedule(weekly={"fri": ("10:00", "15:00"), "mon": ("09:00", "17:00")},
                      closed_on_public_holidays=False)
    assert list(site.weekly) == ["mon", "fri"]
    assert site.closed_on_public_holidays is False


@pytest.mark.parametrize(("weekly", "error"), [
    ({"mon": ("17:00", "09:00")}, SiteHoursInvalidError),
    ({"mon": ("9:00", "17:00")}, SiteHoursInvalidError),
    ({"mon": ("09:00", "24:00")}, SiteHoursInvalidError),
    ({"holiday": ("09:00", "17:00")}, SiteWeekdayUnknownError),
])
def test_an_invalid_schedule_is_refused_and_the_old_one_stays(weekly, error):
    site = profile()
    site.set_schedule(weekly=WEEKDAYS_9_TO_5, closed_on_public_holidays=True)
    with pytest.raises(error):
        site.set_schedule(weekly=weekly, closed_on_public_holidays=True)
    assert len(site.weekly) == 5


def test_dated_exceptions_close_or_open_a_day_and_can_be_removed():
    site = profile()
    site.add_exception(on=date(2025, 12, 29), kind="closed", opens="09:00", closes="17:00")
    site.add_exception(on=date(2026, 1, 10), kind="special_opening", opens="10:00",
                       closes="12:00")
    assert site.exceptions["2025-12-29"] == {"kind": "closed", "opens": None, "closes": None}
    assert site.exceptions["2026-01-10"]["opens"] == "10:00"
    site.remove_exception(on=date(2025, 12, 29))
    assert list(site.exceptions) == ["2026-01-10"]


@pytest.mark.parametrize(("kind", "opens", "error"), [
    ("holiday", None, SiteExceptionKindUnknownError),
    ("special_opening", None, SiteHoursInvalidError),
])
def test_an_invalid_exception_is_refused(kind, opens, error):
    site = profile()
    with pytest.raises(error):
        site.add_exception(on=date(2026, 1, 10), kind=kind, opens=opens, closes="12:00")
    assert site.exceptions == {}


def test_removing_an_exception_that_does_not_exist_is_refused():
    with pytest.raises(SiteExceptionNotFoundError):
        profile().remove_exception(on=date(2026, 1, 10))


# ------------------------------------------------------------------ findings


@pytest.mark.parametrize(("open_days", "found"), [(0, True), (3, True), (4, False), (7, False)])
def test_a_site_open_on_no_more_than_half_the_week_is_a_finding(open_days, found):
    weekly = dict(list({d: 1 for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
                       .items())[:open_days])
    finding = open_fewer_than_half_the_week(weekly)
    assert (finding is not None) == found
    if finding:
        assert finding.code == "open_fewer_than_half_the_week"
        assert finding.severity == "warning" and "半分" in finding.message_ja


def test_a_site_without_a_dedicated_specialist_is_a_finding():
    finding = no_dedicated_specialist(0)
    assert finding is not None and finding.code == "no_dedicated_specialist"
    assert finding.severity == "error" and "専任" in finding.message_ja
    assert no_dedicated_specialist(1) is None


def test_a_well_run_site_has_no_findings():
    assert site_findings(WEEKDAYS_9_TO_5, 1) == []
    assert [f.code for f in site_findings({}, 0)] == ["open_fewer_than_half_the_week",
                                                       "no_dedicated_specialist"]
