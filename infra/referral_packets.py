"""Referral packets for off-system agencies: stored sealed, read through an expiring link.

When a referral to an agency without users is sent, the chosen fields (and
nothing else) are sealed under the household key and stored under the
household's prefix, so disposal deletes and shreds them with everything else.
The agency gets an HMAC-signed, expiring link token (the storage module's
download token, under its own secret so it never opens ``/files/``); with it
the agency reads the packet and acknowledges receipt, which is recorded as
``Referral.Acknowledged`` with ``acknowledged_via="packet_link"``.

This module stores and signs; the agency's link is read by
``infra/http/agency_packets.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import UUID

from yorisoi.infra.storage import ExpiringLinks, ObjectStore, link_secret

PACKET_LINK_SECONDS = 3 * 24 * 3600
_SECRET_FILE = "referral-packet-link.secret"
KEY_PATTERN = re.compile(r"^(t_\d{6})/households/([0-9a-f-]{36})/referrals/([0-9a-f-]{36})\.json$")


def packet_key(space: str, household_id: UUID, referral_id: UUID) -> str:
    # Under the household prefix: disposal deletes packets with the household's objects.
    return f"{space}/households/{household_id}/referrals/{referral_id}.json"


def packet_secret(services: Any) -> bytes:
    """The packet links' signing secret (its own file: a packet link is not a file link)."""
    return link_secret(Path(services.settings.keys_dir) / _SECRET_FILE)


class ObjectStorePacketPublisher(ExpiringLinks):
    """Stores one sealed packet and issues the agency's expiring link to it."""

    def __init__(self, objects: ObjectStore, secret: bytes, space: str,
                 seconds: int = PACKET_LINK_SECONDS) -> None:
        super().__init__(secret, seconds)
        self.objects = objects
        self.space = space
        self.key: str | None = None
        self.token: str | None = None

    def publish(self, household_id: UUID, referral_id: UUID, sealed: bytes) -> None:
        self.key = packet_key(self.space, household_id, referral_id)
        self.objects.put(self.key, sealed, content_type="application/octet-stream")
        self.token = self.sign(self.key)
