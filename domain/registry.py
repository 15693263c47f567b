"""The platform registry: municipalities, contractors, sites, contracts, issuers.

These aggregates live in the ``platform`` schema.  Their ids are derived from
their natural keys (municipality code, contractor id, issuer URL), so the
registry cannot hold two records of one municipality or issuer.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol
from uuid import NAMESPACE_URL, UUID

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError
from yorisoi.domain.ids import uuid5

_NS = uuid5(NAMESPACE_URL, "https://yorisoi.jp/registry")


class MunicipalityCodeInvalidError(DomainError):
    code = "municipality_code_invalid"
    message = "A municipality code has six digits and a valid check digit (全国地方公共団体コード)."
    message_ja = "全国地方公共団体コード（6桁・検査数字付き）が正しくありません。"


class ContractPeriodInvalidError(DomainError):
    code = "contract_period_invalid"
    message = "A contract must end on or after the day it starts."
    message_ja = "契約の終了日は開始日以降にしてください。"


class ContractSitesMissingError(DomainError):
    code = "contract_sites_missing"
    message = "A contract covers at least one site."
    message_ja = "契約には一つ以上の実施場所が必要です。"


class ContractSuspensionReasonUnknownError(DomainError):
    code = "contract_suspension_reason_unknown"
    message = "The suspension reason is not one of the known reason codes."
    message_ja = "契約の停止理由が所定のコードではありません。"


class ContractNotActiveError(DomainError):
    code = "contract_not_active"
    message = "Only an active contract can be suspended."
    message_ja = "停止できるのは有効な契約だけです。"


class ContractNotSuspendedError(DomainError):
    code = "contract_not_suspended"
    message = "The contract is not suspended."
    message_ja = "この契約は停止されていません。"


class ContractNotFoundError(NotFoundDomainError):
    # Unknown and another municipality's contract answer alike.
    code = "contract_not_found"
    message = "No such contract in this municipality."
    message_ja = "指定された契約はこの自治体にありません。"


class HandOverContractStillActiveError(DomainError):
    code = "handover_contract_still_active"
    message = "Cases are handed over only from a contract that has ended or is suspended."
    message_ja = "ケースを引き継げるのは、終了または停止した契約からだけです。"


class SuccessorContractNotActiveError(DomainError):
    code = "successor_contract_not_active"
    message = "The successor contract is not active today."
    message_ja = "引継ぎ先の契約は本日有効ではありません。"


class ContractTerms(Protocol):
    """What a hand-over needs to know of a contract (the aggregate or its registry row)."""

    contract_id: str
    municipality_code: str
    site_ids: list[str]

    def is_active_on(self, day: date) -> bool: ...


def check_hand_over(predecessor: ContractTerms | None, successor: ContractTerms | None, *,
                    municipality_code: str, today: date) -> tuple[ContractTerms, ContractTerms]:
    """The municipality may move an ended or suspended contract's cases to an active one."""
    if predecessor is None or predecessor.municipality_code != municipality_code:
        raise ContractNotFoundError(field="fromContractId")
    if successor is None or successor.municipality_code != municipality_code:
        raise ContractNotFoundError(field="toContractId")
    if predecessor.is_active_on(today):
        raise HandOverContractStillActiveError(field="fromContractId")
    if not successor.is_active_on(today):
        raise SuccessorContractNotActiveError(field="toContractId")
    return predecessor, successor


# Why a contract was suspended (codes, not free text: the registry is read by
# operators, who never see personal data).
SUSPENSION_REASONS: dict[str, str] = {
    "audit_finding": "監査での指摘",
    "data_incident": "個人情報の事故",
    "contract_breach": "契約違反",
    "staffing_gap": "人員基準を満たさない",
    "other": "その他",
}


def check_municipality_code(code: str) -> str:
    """Validate a 全国地方公共団体コード: 5 digits + check digit (mod 11, weights 6..2)."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise MunicipalityCodeInvalidError(field="municipalityCode")
    total = sum(int(d) * w for d, w in zip(code[:5], (6, 5, 4, 3, 2), strict=True))
    # 11 - remainder, where 10 becomes 0 and 11 becomes 1.
    if (11 - total % 11) % 10 != int(code[5]):
        raise MunicipalityCodeInvalidError(field="municipalityCode")
    return code


class Municipality(Aggregate):
    """A 市町村 (or special ward): the implementing body and data controller."""

    @staticmethod
    def create_id(code: str) -> UUID:
        return uuid5(_NS, f"municipality:{code}")

    @classmethod
    def register(cls, *, code: str, name: str, prefecture: str) -> Municipality:
        return cls(code=check_municipality_code(code), name=name, prefecture=prefecture)

    @event("Registered")
    def __init__(self, code: str, name: str, prefecture: str) -> None:
        self.code = code
        self.name = name
        self.prefecture = prefecture


class Contractor(Aggregate):
    """A contractor (委託先) running sites for one or more municipalities."""

    @staticmethod
    def create_id(contractor_id: str) -> UUID:
        return uuid5(_NS, f"contractor:{contractor_id}")

    @event("Registered")
    def __init__(self, contractor_id: str, name: str, corporate_number: str | None) -> None:
        self.contractor_id = contractor_id
        self.name = name
        # 法人番号 where it has one (13 digits).
        self.corporate_number = corporate_number


class Site(Aggregate):
    """A place where the service is given (実施場所), kept by the municipality."""

    @staticmethod
    def create_id(municipality_code: str, site_id: str) -> UUID:
        return uuid5(_NS, f"site:{municipality_code}:{site_id}")

    @event("Registered")
    def __init__(self, municipality_code: str, site_id: str, name: str, site_type: str) -> None:
        self.municipality_code = municipality_code
        self.site_id = site_id
        self.name = name
        self.site_type = site_type


class Contract(Aggregate):
    """A 委託契約: a municipality entrusts sites to a contractor for a period."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"

    @staticmethod
    def create_id(contract_id: str) -> UUID:
        return uuid5(_NS, f"contract:{contract_id}")

    @classmethod
    def sign(cls, *, contract_id: str, municipality_code: str, contractor_id: str,
             site_ids: list[str], starts_on: date, ends_on: date) -> Contract:
        if ends_on < starts_on:
            raise ContractPeriodInvalidError(field="endsOn")
        if not site_ids:
            raise ContractSitesMissingError(field="siteIds")
        return cls(contract_id=contract_id, municipality_code=municipality_code,
                   contractor_id=contractor_id, site_ids=list(dict.fromkeys(site_ids)),
                   starts_on=starts_on, ends_on=ends_on)

    @event("Signed")
    def __init__(self, contract_id: str, municipality_code: str, contractor_id: str,
                 site_ids: list[str], starts_on: date, ends_on: date) -> None:
        self.contract_id = contract_id
        self.municipality_code = municipality_code
        self.contractor_id = contractor_id
        self.site_ids = site_ids
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.status = Contract.ACTIVE

    @event("Ended")
    def end(self, ended_on: date, reason: str) -> None:
        """End the contract early; access ends with it."""
        self.status = Contract.ENDED
        self.ends_on = min(self.ends_on, ended_on)

    def suspend(self, *, suspended_on: date, reason: str) -> None:
        """Suspend the contract: the contractor's access stops at once, until resumed."""
        if reason not in SUSPENSION_REASONS:
            raise ContractSuspensionReasonUnknownError(field="reason")
        if self.status != Contract.ACTIVE:
            raise ContractNotActiveError(field="contractId")
        self._suspended(suspended_on, reason)

    @event("Suspended")
    def _suspended(self, suspended_on: date, reason: str) -> None:
        self.status = Contract.SUSPENDED

    def resume(self, *, resumed_on: date) -> None:
        """Lift a suspension; access returns for the rest of the contract period."""
        if self.status != Contract.SUSPENDED:
            raise ContractNotSuspendedError(field="contractId")
        self._resumed(resumed_on)

    @event("Resumed")
    def _resumed(self, resumed_on: date) -> None:
        self.status = Contract.ACTIVE

    def is_active_on(self, day: date) -> bool:
        return self.status == Contract.ACTIVE and self.starts_on <= day <= self.ends_on


class IdentityProvider(Aggregate):
    """A tenant's OIDC issuer: its tokens are trusted for that tenant only."""

    @staticmethod
    def create_id(issuer: str) -> UUID:
        return uuid5(_NS, f"issuer:{issuer}")

    @event("Registered")
    def __init__(self, issuer: str, audience: str, tenant_kind: str, tenant_id: str,
                 jwks_uri: str | None, jwks: dict | None) -> None:
        self.issuer = issuer
        self.audience = audience
        self.tenant_kind = tenant_kind
        self.tenant_id = tenant_id
        self.jwks_uri = jwks_uri
        self.jwks = jwks
