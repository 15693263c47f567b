"""From a grant to a reader of personal fields, and the request's access log to the database.

``admit`` tells the request's ``PersonalAccess`` what a grant allows: full
reads for roles with the need to know; masked reads otherwise, except the
households a compliance auditor has an active break-glass for.
``write_access_log`` is how the request's reads reach each municipality's
``access_log`` table (one batch per municipality per request).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from yorisoi.infra.access_log_store import AccessEntry, AccessLogStore
from yorisoi.infra.db import counted_statements
from yorisoi.projections.break_glass_view import BreakGlassQueries
from yorisoi.services.personal_access import PersonalAccess, Reader
from yorisoi.tenants.access import Grant
from yorisoi.tenants.spaces import municipality_space, space_municipality


def admit(services: Any, access: PersonalAccess, grant: Grant) -> None:
    if not grant.municipality_code:
        return  # a platform-wide grant reads no municipality's records
    space = municipality_space(grant.municipality_code)
    revealed: dict[str, str] = {}
    if grant.personal == "masked" and "compliance_auditor" in grant.roles:
        with services.runtimes.lease(grant.municipality_code) as rt:
            revealed = BreakGlassQueries(rt.casework.database).active_for(grant.acting.user_id)
    access.admit(space, Reader(grant.acting, grant.personal, revealed))


def write_access_log(services: Any, access: PersonalAccess) -> int:
    """Write the request's pending reads; returns how many entries were written."""

    def write(space: str, entries: list[AccessEntry]) -> None:
        # A write, not a read: no views to bring up to date first.
        with services.runtimes.lease(space_municipality(space), current=False) as rt:
            AccessLogStore(rt.casework.database).append(entries)

    # Counted on the request's span rather than a span of its own (one per request).
    with counted_statements() as statements:
        written = access.flush(write)
    if statements[0]:
        span = trace.get_current_span()
        span.set_attribute("yorisoi.access_log.statements", statements[0])
    return written
