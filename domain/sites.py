"""The site profile: what a site is and when it is open, kept in the municipality's space.

The platform registry (``domain/registry.py`` ``Site``) keeps only a site's
identity (municipality, site id, name, type code), because access decisions
need it before any tenant space is opened.  Everything the municipality
manages and monitors about the site (§4(2), §4(6)) — its type, address, who
runs it, its weekly hours, holidays and dated exceptions — is the
municipality's own record, so it lives here, in the municipality's event log,
beside the casework it is checked against.  Nothing here is personal data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from uuid import NAMESPACE_URL, UUID

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, StaleVersionError
from yorisoi.domain.ids import uuid5

_NS = uuid5(NAMESPACE_URL, "https://yorisoi.jp/site-profile")

SITE_TYPES: dict[str, str] = {
    "kihon": "基本型",
    "tokutei": "特定型",
    "kodomo_katei_center": "こども家庭センター型",
    "ninpu_houkatsu": "妊婦等包括相談支援事業型",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXCEPTION_KINDS = ("closed", "special_opening")
DIRECT = "direct"
CONTRACTED = "contracted"
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
MAX_EXCEPTIONS = 400  # more than a year of dated exceptions


class SiteTypeUnknownError(DomainError):
    code = "site_type_unknown"
    message = "The site type is not one of kihon, tokutei, kodomo_katei_center or ninpu_houkatsu."
    message_ja = "事業類型は基本型・特定型・こども家庭センター型・妊婦等包括相談支援事業型のいずれかを指定してください。"


class SiteAddressMissingError(DomainError):
    code = "site_address_missing"
    message = "Give the site's address."
    message_ja = "実施場所の所在地を入力してください。"


class SiteContractUnknownError(DomainError):
    code = "site_contract_unknown"
    message = "A contracted site names a contract of this municipality that covers the site."
    message_ja = "委託の場合は、この実施場所を対象とする本自治体の委託契約を指定してください。"


class SiteHoursInvalidError(DomainError):
    code = "site_hours_invalid"
    message = "Opening hours are HH:MM and the closing time is after the opening time."
    message_ja = "開所時間はHH:MM形式で、終了時刻は開始時刻より後にしてください。"


class SiteWeekdayUnknownError(DomainError):
    code = "site_weekday_unknown"
    message = "A weekday is one of mon, tue, wed, thu, fri, sat or sun, each at most once."
    message_ja = "曜日は mon〜sun のいずれかを、それぞれ一度だけ指定してください。"


class SiteExceptionKindUnknownError(DomainError):
    code = "site_exception_kind_unknown"
    message = "An exception is either closed or special_opening (with hours)."
    message_ja = "例外日は休所（closed）または臨時開所（special_opening、時間付き）を指定してください。"


class SiteExceptionNotFoundError(DomainError):
    code = "site_exception_not_found"
    message = "There is no exception on that date."
    message_ja = "その日付の例外日は登録されていません。"


class SiteExceptionsTooManyError(DomainError):
    code = "site_exceptions_too_many"
    message = "Too many dated exceptions: remove past ones first."
    message_ja = "例外日が多すぎます。過去の例外日を削除してください。"


def check_hours(opens: str, closes: str, field: str) -> tuple[str, str]:
    """HH:MM hours on one day; overnight opening is not part of this service."""
    if not (_HHMM.fullmatch(opens) and _HHMM.fullmatch(closes)) or closes <= opens:
        raise SiteHoursInvalidError(field=field)
    return opens, closes


def check_weekly(weekly: Mapping[str, tuple[str, str]]) -> dict[str, list[str]]:
    """The week's opening hours by weekday; a missing weekday is closed."""
    result: dict[str, list[str]] = {}
    for day, (opens, closes) in weekly.items():
        if day not in WEEKDAYS:
            raise SiteWeekdayUnknownError(field="weekly")
        result[day] = list(check_hours(opens, closes, "weekly"))
    return {day: result[day] for day in WEEKDAYS if day in result}


class SiteProfile(Aggregate):
    """A municipality's record of one of its sites: type, address, operator, opening schedule."""

    @staticmethod
    def create_id(municipality_code: str, site_id: str) -> UUID:
        # One profile per registered site: saving twice can only update it.
        return uuid5(_NS, f"{municipality_code}:{site_id}")

    @classmethod
    def register(cls, *, municipality_code: str, site_id: str, site_type: str, address: str,
                 contract_id: str | None, site_contracts: Mapping[str, str]) -> SiteProfile:
        """Start the profile of a registered site."""
        contractor_id = _check_profile(site_type, address, contract_id, site_contracts)
        return cls(municipality_code=municipality_code, site_id=site_id, site_type=site_type,
                   address=address.strip(), contractor_id=contractor_id, contract_id=contract_id)

    @event("Registered")
    def __init__(self, municipality_code: str, site_id: str, site_type: str, address: str,
                 contractor_id: str | None, contract_id: str | None) -> None:
        self.municipality_code = municipality_code
        self.site_id = site_id
        self.site_type = site_type
        self.address = address
        # Both None when the municipality runs the site itself (直営).
        self.contractor_id = contractor_id
        self.contract_id = contract_id
        self.weekly: dict[str, list[str]] = {}
        self.closed_on_public_holidays = True
        self.exceptions: dict[str, dict[str, str | None]] = {}

    @property
    def operation(self) -> str:
        return DIRECT if self.contract_id is None else CONTRACTED

    def check_version(self, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != self.version:
            raise StaleVersionError(field="expectedVersion", current_version=self.version)

    def describe(self, *, site_type: str, address: str, contract_id: str | None,
                 site_contracts: Mapping[str, str]) -> None:
        """Change type, address or operator; nothing is stored when nothing changed."""
        contractor_id = _check_profile(site_type, address, contract_id, site_contracts)
        if (site_type, address.strip(), contract_id) != (self.site_type, self.address,
                                                          self.contract_id):
            self._described(site_type, address.strip(), contractor_id, contract_id)

    @event("Described")
    def _described(self, site_type: str, address: str, contractor_id: str | None,
                   contract_id: str | None) -> None:
        self.site_type = site_type
        self.address = address
        self.contractor_id = contractor_id
        self.contract_id = contract_id

    def set_schedule(self, *, weekly: Mapping[str, tuple[str, str]],
                     closed_on_public_holidays: bool) -> None:
        """Replace the weekly opening schedule."""
        self._schedule_set(check_weekly(weekly), closed_on_public_holidays)

    @event("ScheduleSet")
    def _schedule_set(self, weekly: dict[str, list[str]], closed_on_public_holidays: bool) -> None:
        self.weekly = weekly
        self.closed_on_public_holidays = closed_on_public_holidays

    def add_exception(self, *, on: date, kind: str, opens: str | None,
                      closes: str | None) -> None:
        """A dated closure (年末年始, 研修) or special opening; replaces one on the same day."""
        if kind not in EXCEPTION_KINDS:
            raise SiteExceptionKindUnknownError(field="kind")
        if kind == "special_opening":
            opens, closes = check_hours(opens or "", closes or "", "opens")
        else:
            opens = closes = None
        if on.isoformat() not in self.exceptions and len(self.exceptions) >= MAX_EXCEPTIONS:
            raise SiteExceptionsTooManyError(field="on")
        self._exception_added(on, kind, opens, closes)

    @event("ExceptionAdded")
    def _exception_added(self, on: date, kind: str, opens: str | None,
                         closes: str | None) -> None:
        self.exceptions[on.isoformat()] = {"kind": kind, "opens": opens, "closes": closes}

    def remove_exception(self, *, on: date) -> None:
        if on.isoformat() not in self.exceptions:
            raise SiteExceptionNotFoundError(field="on")
        self._exception_removed(on)

    @event("ExceptionRemoved")
    def _exception_removed(self, on: date) -> None:
        del self.exceptions[on.isoformat()]


def _check_profile(site_type: str, address: str, contract_id: str | None,
                   site_contracts: Mapping[str, str]) -> str | None:
    """The contractor running the site (None: direct), after checking type and address."""
    if site_type not in SITE_TYPES:
        raise SiteTypeUnknownError(field="siteType")
    if not address.strip():
        raise SiteAddressMissingError(field="address")
    if contract_id is None:
        return None
    # site_contracts: the registry's contracts covering this site (contract → contractor).
    if contract_id not in site_contracts:
        raise SiteContractUnknownError(field="contractId")
    return site_contracts[contract_id]
