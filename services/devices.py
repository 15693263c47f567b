"""Registering and revoking offline devices, and deriving a device's wrapping key.

The wrapping key is never stored: it is derived (HMAC-SHA256) from a secret of
the deployment, the municipality, the device id and the time it was registered.
The console hands it to a live session of the device's owner only while the
device stands registered (``infra/console/routes_offline.py``); a revoked device
gets nothing, so the drafts and the pack it still holds stay sealed for good.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from yorisoi.domain.devices import OfflineDevices

KEY_LABEL = b"yorisoi-offline-device-key\x00"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _register_of(casework: Any, municipality_code: str) -> OfflineDevices:
    try:
        return casework.repository.get(OfflineDevices.create_id(municipality_code))
    except AggregateNotFoundError:
        return OfflineDevices(municipality_code=municipality_code)


def devices(casework: Any, municipality_code: str) -> list[dict[str, Any]]:
    """Every device of the municipality (registered and revoked), newest first."""
    try:
        found: OfflineDevices = casework.repository.get(
            OfflineDevices.create_id(municipality_code))
    except AggregateNotFoundError:
        return []
    return sorted((dict(d) for d in found.devices.values()),
                  key=lambda d: d["registered_at"], reverse=True)


def register_device(casework: Any, municipality_code: str, *, owner: str,
                    label: str) -> dict[str, Any]:
    """A new device for ``owner`` (a caller: tenant kind, tenant, subject)."""
    def run() -> dict[str, Any]:
        register = _register_of(casework, municipality_code)
        device_id = str(uuid.uuid4())
        register.register(device_id=device_id, owner=owner, label=label, registered_at=_now())
        casework.save(register)
        return dict(register.device(device_id))

    return casework.run_command("command.register_offline_device", run)


def revoke_device(casework: Any, municipality_code: str, device_id: str, *, by: str,
                  administrator: bool) -> None:
    def run() -> None:
        register = _register_of(casework, municipality_code)
        register.revoke(device_id, by=by, administrator=administrator, revoked_at=_now())
        casework.save(register)

    casework.run_command("command.revoke_offline_device", run)


def live_device(casework: Any, municipality_code: str, device_id: str,
                owner: str) -> dict[str, Any]:
    """The owner's device while registered; DeviceNotFoundError / DeviceRevokedError else."""
    return _register_of(casework, municipality_code).live(device_id, owner)


def wrapping_key(secret: bytes, municipality_code: str, device: dict[str, Any]) -> bytes:
    """The device's 256-bit wrapping key (derived, never stored anywhere)."""
    message = "\x00".join((municipality_code, device["device_id"], device["registered_at"]))
    return hmac.new(hashlib.sha256(KEY_LABEL + secret).digest(), message.encode(),
                    hashlib.sha256).digest()
