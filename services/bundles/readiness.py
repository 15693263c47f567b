"""Is a municipality's tenant key here, and does it open its household keys?

A tenant restored without its key (the key store not restored with the
database) would answer every list and fail every personal read.  This check
is what ``tenant restore`` and ``tenant import`` end with, and what the
readiness probe may call per tenant (``/readyz``: see the report of issue 19).
"""

from __future__ import annotations

from typing import Any

from yorisoi.infra.bundle_store import newest_live_household_key
from yorisoi.infra.keys import TenantKeyMissingError
from yorisoi.services.bundles.errors import TenantNotReadyError


def tenant_key_problem(key_provider: Any, database: Any, space: str) -> TenantNotReadyError | None:
    """None when the tenant's key opens one of its live household keys (or it has none yet)."""
    if not key_provider.live_versions(space):
        return TenantNotReadyError()
    row = newest_live_household_key(database)
    if row is None:
        return None
    try:
        key_provider.unwrap(space, bytes(row["wrapped_key"]), {"household": row["household_id"]})
    except (TenantKeyMissingError, ValueError, Exception):  # noqa: BLE001 - any failure: not ready
        return TenantNotReadyError()
    return None


def runtime_key_problem(runtime: Any) -> TenantNotReadyError | None:
    """The check for a leased ``TenantRuntime``."""
    keyring = runtime.casework.keyring
    return tenant_key_problem(keyring.provider, runtime.casework.database, runtime.space)
