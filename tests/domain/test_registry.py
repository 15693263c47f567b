"""Registry aggregates: municipality codes, contracts (no database)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from yorisoi.domain.registry import (
    Contract,
    ContractPeriodInvalidError,
    ContractSitesMissingError,
    Municipality,
    MunicipalityCodeInvalidError,
    check_municipality_code,
)
from yorisoi.tenants.spaces import municipality_space

START, END = date(2025, 4, 1), date(2026, 3, 31)


@pytest.mark.parametrize("code", [
    "131016",  # 千代田区
    "011002",  # 札幌市
    "141003",  # 横浜市
    "271004",  # 大阪市
    "401307",  # 福岡市
    "130001",  # 東京都 (remainder 10: check digit 1)
    "012050",  # 室蘭市 (remainder 1: 11 - 1 = 10 → check digit 0)
    "012131",  # 苫小牧市 (remainder 0: 11 - 0 = 11 → check digit 1)
])
def test_real_municipality_codes_pass_the_check_digit(code):
    assert check_municipality_code(code) == code


@pytest.mark.parametrize("code", [
    "131017",  # wrong check digit
    "13101",  # five digits
    "1310160",  # seven digits
    "13101a",
    "１３１０１６",  # full-width digits
    "",
    " 13101",
    "-13101",
])
def test_malformed_municipality_codes_are_refused(code):
    with pytest.raises(MunicipalityCodeInvalidError) as caught:
        check_municipality_code(code)
    assert caught.value.field == "municipalityCode"


def test_every_wrong_check_digit_is_refused():
    for digit in "0123456789":
        code = "13101" + digit
        if digit == "6":
            assert check_municipality_code(code) == code
        else:
            with pytest.raises(MunicipalityCodeInvalidError):
                check_municipality_code(code)


def test_municipality_registration_checks_the_code_and_derives_a_stable_id():
    with pytest.raises(MunicipalityCodeInvalidError):
        Municipality.register(code="131017", name="千代田区", prefecture="東京都")
    city = Municipality.register(code="131016", name="千代田区", prefecture="東京都")
    assert city.id == Municipality.create_id("131016")
    assert Municipality.create_id("131016") != Municipality.create_id("141003")


def test_space_name_of_an_invalid_code_is_refused_so_no_schema_name_is_injected():
    assert municipality_space("131016") == "t_131016"
    with pytest.raises(MunicipalityCodeInvalidError):
        municipality_space('131016"; DROP SCHEMA platform; --')


def _sign(**overrides):
    fields = dict(contract_id="c-1", municipality_code="131016", contractor_id="npo",
                  site_ids=["a-hiroba"], starts_on=START, ends_on=END)
    fields.update(overrides)
    return Contract.sign(**fields)


def test_contract_ending_before_it_starts_is_refused():
    with pytest.raises(ContractPeriodInvalidError) as caught:
        _sign(ends_on=START - timedelta(days=1))
    assert caught.value.field == "endsOn"


def test_one_day_contract_is_accepted():
    contract = _sign(ends_on=START)
    assert contract.is_active_on(START)
    assert not contract.is_active_on(START + timedelta(days=1))


def test_contract_without_sites_is_refused():
    with pytest.raises(ContractSitesMissingError) as caught:
        _sign(site_ids=[])
    assert caught.value.field == "siteIds"


def test_contract_sites_are_de_duplicated_in_order():
    assert _sign(site_ids=["b", "a", "b", "a"]).site_ids == ["b", "a"]


def test_contract_is_active_inclusively_between_its_first_and_last_day():
    contract = _sign()
    assert contract.status == Contract.ACTIVE
    assert not contract.is_active_on(START - timedelta(days=1))
    assert contract.is_active_on(START)
    assert contract.is_active_on(date(2025, 12, 31))
    assert contract.is_active_on(END)
    assert not contract.is_active_on(END + timedelta(days=1))


def test_ended_contract_is_inactive_even_inside_its_original_period():
    contract = _sign()
    contract.end(ended_on=date(2025, 9, 30), reason="委託先の事情")
    assert contract.status == Contract.ENDED
    assert contract.ends_on == date(2025, 9, 30)
    assert not contract.is_active_on(date(2025, 9, 1))
    assert not contract.is_active_on(START)


def test_ending_after_the_planned_end_keeps_the_planned_end():
    contract = _sign()
    contract.end(ended_on=END + timedelta(days=10), reason="満了")
    assert contract.ends_on == END
