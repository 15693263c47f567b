"""Running a command from a resolver: authorize, lease, act, catch up, answer — or a typed error.

Every mutation goes through ``execute`` so that the order is the same
everywhere: the shape of the input was checked by the caller, the grant is
decided by ``tenants/access.py``, the command runs as the acting person (under
the case's own contract and site when it concerns a case), the read models
catch up before the answer is built, and expected errors become members of
the mutation's result union.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TypeVar

from opentelemetry import trace
from strawberry.types import Info

from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import UserError, api_error, user_error
from yorisoi.graphql.validation import Checker
from yorisoi.infra.db import counted_statements
from yorisoi.projections.case_queries import CaseRecord
from yorisoi.infra.recorders import StaleReadError, caught_up_since_write
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.services.context import acting_as
from yorisoi.services.idempotency import run_once
from yorisoi.tenants.access import Action, Grant
from yorisoi.tenants.runtime import TenantRuntime

T = TypeVar("T")


async def execute(info: Info[YorisoiContext, None], action: Action, municipality_code: str | None,
                  command: Callable[[TenantRuntime, Grant], T], *, check: Checker | None = None,
                  case_id: uuid.UUID | None = None, site_id: str | None = None,
                  contended_on: uuid.UUID | None = None) -> T | UserError:
    """Run ``command(runtime, grant)`` for the caller; expected failures become UserErrors.

    ``check`` holds the input's shape problems: they are reported right after
    the grant is decided, before anything is looked up or written.
    ``contended_on`` (default: ``case_id``) is the aggregate the command writes:
    while commands on it have lately collided, this one queues on its lock from
    the start instead of going stale (``TenantApplication.serialised``).
    """
    contended_on = contended_on or case_id
    ctx = info.context

    def run() -> T:
        # Who may act comes first: a caller without standing learns nothing,
        # not even which values the input would need.
        grant = ctx.authorize(action, municipality_code, site_id=site_id)
        if check is not None:
            check.raise_if_any()
        # The command catches up what its answer reads itself (not every view).
        with ctx.services.runtimes.lease(grant.municipality_code, current=False) as runtime:
            acting = grant.acting
            if case_id is not None:
                record = runtime.cases.get(grant.scope, str(case_id))
                if record is None:
                    raise CaseNotFoundError(field="caseId")
                # A case's commands act under the case's own contract and site.
                acting = acting.at(contract_id=record.contract_id, site_id=record.site_id)
            app = runtime.casework
            # The answer is built from the rows the command's catch-up wrote, and its
            # reads are logged in that catch-up's transaction (TenantRuntime.answering).
            with runtime.answering(ctx.personal_access):
                with acting_as(acting), app.serialised(
                        contended_on if app.is_contended(contended_on) else None):
                    # With an idempotency key: exactly once, or the first answer again.
                    try:
                        result = run_once(app, ctx.idempotency,
                                          lambda: command(runtime, grant),
                                          access=ctx.personal_access)
                    except StaleReadError as error:
                        # The conflict says where the record stands now (one voice with
                        # a stale expectedVersion): the client reloads and retries.
                        error.current_version = _version_now(runtime, error.originator_id)
                        raise
                if not caught_up_since_write():  # the answer's own catch-up may have done it
                    runtime.catch_up()  # read-your-writes: answers are built from the views
            return result

    def counted() -> T:
        # A mutation's statements are counted on its span, not given one each: what
        # a trace shows of a write is its stages (command, insert, catch-up), and
        # spans cost ~20 µs apiece on the path every specialist waits on.
        with counted_statements() as statements:
            try:
                return run()
            finally:
                trace.get_current_span().set_attribute("yorisoi.sql.statements",
                                                       statements[0])

    try:
        return await asyncio.to_thread(counted)
    except Exception as exc:  # noqa: BLE001 - expected errors become union members
        return user_error(exc)


def _version_now(runtime: TenantRuntime, aggregate_id: uuid.UUID | None) -> int | None:
    """The stored version of an aggregate (None when unknown or absent)."""
    if aggregate_id is None:
        return None
    last = runtime.casework.recorder.select_events(aggregate_id, desc=True, limit=1)
    return last[0].originator_version if last else None


async def read(run: Callable[[], T]) -> T:
    """Run a query's ``run()`` off the event loop; expected errors become typed GraphQL errors."""
    try:
        return await asyncio.to_thread(run)
    except Exception as exc:  # noqa: BLE001 - api_error re-raises the unexpected
        raise api_error(exc) from None


def on_referral(runtime: TenantRuntime, grant: Grant, referral_id: uuid.UUID,
                act: Callable[[TenantRuntime, Grant], object]) -> None:
    """Run ``act`` under the referral's own contract and site (GraphQL and the console alike)."""
    referral = runtime.casework.readable_referral(referral_id, grant.scope.contract_ids)
    with acting_as(grant.acting.at(contract_id=referral.contract_id, site_id=referral.site_id)):
        act(runtime, grant)


def on_meeting(runtime: TenantRuntime, grant: Grant, meeting_id: uuid.UUID,
               act: Callable[[TenantRuntime, Grant], object]) -> None:
    """Run ``act`` under the meeting's case's own contract and site (GraphQL and the console)."""
    contract_id, site_id = runtime.casework.case_meeting_place(meeting_id,
                                                               grant.scope.contract_ids)
    with acting_as(grant.acting.at(contract_id=contract_id, site_id=site_id)):
        act(runtime, grant)


def case_after(runtime: TenantRuntime, grant: Grant, case_id: uuid.UUID) -> CaseRecord:
    """The case as the view shows it now: the case view caught up with the command's events.

    Only the views an answer reads (``tenants/runtime.ANSWER_VIEWS``) are caught
    up here; the rest follow on this process's next read or in the worker.
    """
    runtime.catch_up_answer()
    record = runtime.cases.get(grant.scope, str(case_id))
    if record is None:
        raise CaseNotFoundError(field="caseId")
    return record
