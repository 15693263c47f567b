"""Disclosure exports: stored sealed under the household's prefix, read through a short-lived link.

The pattern of ``infra/referral_packets.py``: the export's files are sealed
under the household key (as sealed objects: chunked, the object key bound in;
exports stored before that are single AES-GCM envelopes, still read) and stored at
``<space>/households/<household>/disclosures/<export>.<json|html>`` (so
disposal deletes them with the household's other objects, and a copy left in
a backup is unreadable once the key is destroyed); the officer gets an
HMAC-signed link valid for ``LINK_SECONDS`` under a secret of its own (a
disclosure link never opens ``/files/`` or a referral packet).  Reading the
link opens the file; once the household is disposed of the link answers 410.

This module stores and signs (used by the services' callers in graphql/ and the
console); the link is read by ``infra/http/disclosures.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import UUID

from yorisoi.infra.sealed_objects import Keyring, SealedObjects
from yorisoi.infra.storage import ExpiringLinks, ObjectStore, link_secret

# The formats of an export and the content type each is stored and served with.
FORMATS = {"json": "application/json", "html": "text/html; charset=utf-8"}

LINK_SECONDS = 15 * 60
_SECRET_FILE = "disclosure-link.secret"
KEY_PATTERN = re.compile(
    r"^(t_\d{6})/households/([0-9a-f-]{36})/disclosures/([0-9a-f-]{36})\.(json|html)$")


def disclosure_key(space: str, household_id: UUID, export_id: UUID, fmt: str) -> str:
    return f"{space}/households/{household_id}/disclosures/{export_id}.{fmt}"


def disclosure_secret(services: Any) -> bytes:
    return link_secret(Path(services.settings.keys_dir) / _SECRET_FILE)


class ObjectStoreDisclosurePublisher(ExpiringLinks):
    """Stores an export's sealed files and issues their expiring links."""

    def __init__(self, objects: ObjectStore, secret: bytes, space: str,
                 seconds: int = LINK_SECONDS) -> None:
        super().__init__(secret, seconds)
        self.objects = objects
        self.space = space

    def publish(self, household_id: UUID, export_id: UUID, fmt: str, data: bytes,
                keyring: Keyring) -> str:
        key = disclosure_key(self.space, household_id, export_id, fmt)
        return SealedObjects(self.objects, keyring).put(
            key, household_id, data, content_type=FORMATS[fmt]).stored_sha256

    def link(self, household_id: UUID, export_id: UUID, fmt: str) -> str:
        key = disclosure_key(self.space, household_id, export_id, fmt)
        return f"/disclosures/{self.sign(key)}"
