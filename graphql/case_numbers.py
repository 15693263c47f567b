"""Reception numbers accepted wherever a GraphQL input takes a case id.

``Checker.case_id`` (graphql/validation.py) is the one place case ids are
parsed; a value that is a reception number (``R8-000123``, ``令和8年度-123``…)
is resolved there to the id of the case it names, among the cases the caller
may see.  The caller's request is made current for the operation by the
``CaseNumbers`` extension, the way ``PersonalReads`` makes its access current.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from strawberry.extensions import SchemaExtension

from yorisoi.projections.reception_lookup import case_id_for_number

_request: ContextVar[Any] = ContextVar("yorisoi_graphql_request", default=None)

# What a number that names no visible case resolves to: an id no case has, so the
# answer is the usual case_not_found (whether it exists elsewhere is not told).
NO_SUCH_CASE = uuid.UUID(int=0)


class CaseNumbers(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        token = _request.set(self.execution_context.context)
        try:
            yield
        finally:
            _request.reset(token)


def case_for_number(text: str) -> uuid.UUID:
    """The id of the case the caller may see under this number, else ``NO_SUCH_CASE``.

    A municipality's staff look in their own municipality; a contractor's in the
    municipalities it has contracts with (a number found in two is ambiguous:
    the caller names the case by id).
    """
    context = _request.get()
    principal = getattr(context, "principal", None)
    if principal is None:
        return NO_SUCH_CASE
    if principal.tenant_kind == "municipality":
        codes = [principal.tenant_id]
    elif principal.tenant_kind == "contractor":
        registry = context.services.directory.registry
        codes = sorted({c.municipality_code
                        for c in registry.contracts(contractor_id=principal.tenant_id)})
    else:
        return NO_SUCH_CASE
    found: list[str] = []
    for code in codes:
        try:
            grant = context.authorize("case.read", code)
        except Exception:  # noqa: BLE001 - no standing there: nothing to find there
            continue
        with context.services.runtimes.lease(grant.municipality_code) as runtime:
            case_id = case_id_for_number(runtime.casework.database, grant.scope, text)
        if case_id is not None:
            found.append(case_id)
    return uuid.UUID(found[0]) if len(found) == 1 else NO_SUCH_CASE
