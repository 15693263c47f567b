"""Agencies (関係機関): where a family can be connected to, in the municipality's space.

A minimal recipient, enough to refer a family and to know how an agency
receives information: on-system agencies have users, off-system ones receive
a packet behind an expiring link, announced to an organisation's address.
Nothing here is personal: an agency is an organisation.  An entry of the
resource directory (社会資源) that accepts referrals becomes the recipient
through an agency pointing back to it (``resource_id``, one per entry, with an
id derived from the entry's), so referral events, the board and packets see
an agency either way; ``checked_recipient`` is the one check of how a
recipient receives referrals, for both.
"""

from __future__ import annotations

import re
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError
from yorisoi.domain.ids import uuid5
from yorisoi.domain.vocabulary import AGENCY_KINDS, CONFIDENTIALITY_BASES

# Deliberately loose: the address is the organisation's, checked for shape only.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Agencies standing for a directory entry have ids derived from the entry's,
# so the first referral registers the agency and later ones find it.
_RESOURCE_AGENCY_NAMESPACE = UUID("6f1c4e0a-3b7d-5c2e-9a41-2d8f0b7e5c13")


class AgencyNameMissingError(DomainError):
    code = "agency_name_missing"
    message = "Give the agency's name."
    message_ja = "関係機関の名称を入力してください。"


class AgencyKindUnknownError(DomainError):
    code = "agency_kind_unknown"
    message = "Choose the agency's kind from the list."
    message_ja = "関係機関の種別を一覧から選んでください。"


class ConfidentialityBasisUnknownError(DomainError):
    code = "confidentiality_basis_unknown"
    message = ("The confidentiality basis is not one of council_member, public_servant, "
               "contract_clause or professional_duty.")
    message_ja = ("守秘義務の根拠は要対協構成員・公務員・契約上の守秘義務・法定守秘義務の"
                  "いずれかを指定してください。")


class AgencyContactMissingError(DomainError):
    code = "agency_contact_missing"
    message = "An agency outside the system needs its organisation's e-mail address."
    message_ja = "システムを利用しない関係機関には、機関の連絡先メールアドレスが必要です。"


def check_confidentiality_basis(basis: str | None, field: str) -> None:
    if basis is not None and basis not in CONFIDENTIALITY_BASES:
        raise ConfidentialityBasisUnknownError(field=field)


def checked_recipient(*, kind: str, on_system: bool, contact_email: str | None,
                      confidentiality_basis: str | None) -> dict[str, object]:
    """How a recipient receives referrals (kind, on/off system, contact, default basis), checked."""
    if kind not in AGENCY_KINDS:
        raise AgencyKindUnknownError(field="kind")
    check_confidentiality_basis(confidentiality_basis, "confidentialityBasis")
    contact = (contact_email or "").strip() or None
    if contact is not None and not _EMAIL.match(contact):
        raise AgencyContactMissingError(field="contactEmail")
    # Off-system agencies learn of a packet only through this address.
    if not on_system and contact is None:
        raise AgencyContactMissingError(field="contactEmail")
    return {"kind": kind, "on_system": on_system, "contact_email": contact,
            "confidentiality_basis": confidentiality_basis}


class Agency(Aggregate):
    """An agency of the municipality's directory that families can be referred to."""

    @staticmethod
    def create_id(resource_id: UUID | None = None) -> UUID:
        return uuid4() if resource_id is None else agency_id_for_resource(resource_id)

    @classmethod
    def register(cls, *, municipality_code: str, name: str, kind: str, on_system: bool,
                 contact_email: str | None, confidentiality_basis: str | None,
                 resource_id: UUID | None = None) -> Agency:
        """Register an agency, checking it can receive referrals the way it says."""
        if not name.strip():
            raise AgencyNameMissingError(field="name")
        recipient = checked_recipient(kind=kind, on_system=on_system, contact_email=contact_email,
                                      confidentiality_basis=confidentiality_basis)
        return cls(municipality_code=municipality_code, name=name.strip(), **recipient,
                   resource_id=resource_id)

    # resource_id defaults to None: agencies registered before it existed replay unchanged.
    @event("Registered")
    def __init__(self, municipality_code: str, name: str, kind: str, on_system: bool,
                 contact_email: str | None, confidentiality_basis: str | None,
                 resource_id: UUID | None = None) -> None:
        self.municipality_code = municipality_code
        self.name = name
        self.kind = kind
        self.on_system = on_system
        self.contact_email = contact_email
        # The default basis of a disclosure to this agency; a sending may name another.
        self.confidentiality_basis = confidentiality_basis
        # The directory entry this agency stands for, if any.
        self.resource_id = resource_id


def agency_id_for_resource(resource_id: UUID) -> UUID:
    """The id of the agency standing for a directory entry (the same every time)."""
    return uuid5(_RESOURCE_AGENCY_NAMESPACE, str(resource_id))
