"""Makes the request's PersonalAccess current while the operation runs, then writes its log.

Every resolver (and every thread or DataLoader batch it starts) sees the
request's ``PersonalAccess``; reads of personal fields are decided and logged
there (services/personal_access.py).  The log is written before the response
leaves: a read that cannot be logged is not answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from yorisoi.services.personal_access import reading_as
from yorisoi.tenants.reading import write_access_log


class PersonalReads(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        access = getattr(context, "personal_access", None)
        if access is None:  # a schema used without our context (SDL export, tests)
            yield
            return
        with reading_as(access):
            yield
        if access.pending():
            await asyncio.to_thread(write_access_log, context.services, access)
