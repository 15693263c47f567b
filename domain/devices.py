"""The devices a municipality's staff take cases offline on (オフライン端末).

A specialist registers the device she takes the day's cases out on; the server
derives that device's wrapping key (``services/devices.py``) and hands it only
to a live console session of the device's owner while the device stands
registered.  Revoking a device — by its owner or an administrator — ends that:
no session gets its key again, so whatever it still holds (the pack, queued
drafts) can no longer be opened.

One register per municipality (found by its code): registrations and
revocations are rare, the administrator reads every device in one place, and
nothing here is personal data about families (an owner is a sign-in subject,
a label is the name the specialist gave the device, e.g. 「訪問用タブレット」).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.errors import DomainError, NotFoundDomainError
from yorisoi.domain.ids import uuid5

LABEL_MAX = 60
DEVICES_PER_OWNER = 10  # live devices a person may hold at once


class DeviceLabelInvalidError(DomainError):
    code = "offline_device_label_invalid"
    message = "Name the device in 1 to 60 characters."
    message_ja = "端末の名前を1〜60文字で入力してください。"


class DeviceLimitReachedError(DomainError):
    code = "offline_device_limit_reached"
    message = "You already have 10 registered devices: revoke one you no longer use first."
    message_ja = "登録済みの端末が10台あります。使わなくなった端末の登録を先に取り消してください。"


class DeviceNotFoundError(NotFoundDomainError):
    code = "offline_device_not_found"
    message = "This device is not registered for offline work here."
    message_ja = "この端末はオフライン作業用に登録されていません。"


class DeviceRevokedError(DomainError):
    code = "offline_device_revoked"
    message = ("This device's registration was revoked: it gets no key, and what it holds "
               "offline cannot be opened. Register the device again to work offline.")
    message_ja = ("この端末の登録は取り消されています。鍵は渡されず、端末に残ったデータは開けません。"
                  "オフラインで作業するには端末を登録し直してください。")


class DeviceRevokeNotAllowedError(DomainError):
    code = "offline_device_revoke_not_allowed"
    message = "Only the device's owner or an administrator may revoke it."
    message_ja = "端末の登録を取り消せるのは、その端末の利用者か管理者だけです。"


class OfflineDevices(Aggregate):
    """The municipality's register of devices used offline."""

    @staticmethod
    def create_id(municipality_code: str) -> UUID:
        # Deterministic: found without an index; two first registrations at once
        # collide on version 1 (the command runs again) instead of forking.
        return uuid5(NAMESPACE_URL, f"yorisoi:offline-devices:{municipality_code}")

    @event("Started")
    def __init__(self, municipality_code: str) -> None:
        self.municipality_code = municipality_code
        self.devices: dict[str, dict[str, Any]] = {}

    # -- rules ---------------------------------------------------------------------

    def register(self, *, device_id: str, owner: str, label: str, registered_at: str) -> None:
        label = " ".join(label.split())
        if not 1 <= len(label) <= LABEL_MAX:
            raise DeviceLabelInvalidError(field="label")
        if len(self.live_of(owner)) >= DEVICES_PER_OWNER:
            raise DeviceLimitReachedError(field="label")
        self._registered(device_id=device_id, owner=owner, label=label,
                         registered_at=registered_at)

    def revoke(self, device_id: str, *, by: str, administrator: bool, revoked_at: str) -> None:
        device = self.device(device_id)
        if not administrator and device["owner"] != by:
            # Someone else's device reads as absent: its existence is not disclosed.
            raise DeviceNotFoundError(field="deviceId")
        if device.get("revoked_at"):
            return  # revoking twice changes nothing
        self._revoked(device_id=device_id, revoked_by=by, revoked_at=revoked_at)

    def device(self, device_id: str) -> dict[str, Any]:
        found = self.devices.get(device_id)
        if found is None:
            raise DeviceNotFoundError(field="deviceId")
        return found

    def live(self, device_id: str, owner: str) -> dict[str, Any]:
        """The owner's device if it stands registered (else not found / revoked)."""
        device = self.device(device_id)
        if device["owner"] != owner:
            raise DeviceNotFoundError(field="deviceId")
        if device.get("revoked_at"):
            raise DeviceRevokedError(field="deviceId")
        return device

    def live_of(self, owner: str) -> list[dict[str, Any]]:
        return [d for d in self.devices.values() if d["owner"] == owner and not d.get("revoked_at")]

    # -- events --------------------------------------------------------------------

    @event("Registered")
    def _registered(self, device_id: str, owner: str, label: str, registered_at: str) -> None:
        self.devices[device_id] = {"device_id": device_id, "owner": owner, "label": label,
                                   "registered_at": registered_at, "revoked_at": None,
                                   "revoked_by": None}

    @event("Revoked")
    def _revoked(self, device_id: str, revoked_by: str, revoked_at: str) -> None:
        self.devices[device_id].update(revoked_at=revoked_at, revoked_by=revoked_by)
