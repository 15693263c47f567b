"""Tasks: "my tasks", the caller's open role assignments of case meetings and referral follow-ups."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.infra.clock import japan_today
from yorisoi.projections.case_labels import CaseLabel, case_labels, registry_site_names
from yorisoi.projections.meeting_queries import MeetingQueries, TaskRecord
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime


@strawberry.type(description="A role assignment of a case meeting, a referral follow-up, an outreach visit one goes on, or the follow-up agreed after a visit.")
class Task:
    id: strawberry.ID
    kind: str = strawberry.field(description="meeting_action | referral_follow_up | outreach_visit | visit_follow_up")
    source_id: strawberry.ID = strawberry.field(description="The meeting, referral or visit")
    case_id: strawberry.ID
    owner_user_id: str
    due_on: str | None
    overdue: bool = strawberry.field(description="Due before today (Japan time) and still open")
    status: str
    completed_on: str | None
    title: str | None
    urgent: bool
    reception_number: str | None = strawberry.field(
        default=None, description="The case's 受付番号 (null for a case opened before numbers)")
    site_name: str | None = strawberry.field(default=None, description="The case's site, by name")
    household_name: str | None = strawberry.field(
        default=None, description="The family's display name; null for roles that may not see it")

    @classmethod
    def from_record(cls, r: TaskRecord, today: str,
                    labels: dict[str, CaseLabel] | None = None) -> Task:
        label = (labels or {}).get(r.case_id)
        return cls(id=strawberry.ID(r.task_id), kind=r.kind, source_id=strawberry.ID(r.source_id),
                   case_id=strawberry.ID(r.case_id), owner_user_id=r.owner_user_id,
                   due_on=r.due_on,
                   overdue=r.status == "open" and r.due_on is not None and r.due_on < today,
                   status=r.status, completed_on=r.completed_on, title=r.title, urgent=r.urgent,
                   reception_number=label.reception_number if label else None,
                   site_name=label.site_name if label else None,
                   household_name=label.household_name if label else None)


def task_labels(rt: TenantRuntime, grant: Grant, registry: Any,
                tasks: list[TaskRecord]) -> dict[str, CaseLabel]:
    """How the tasks' cases are named (number, site name, family), in two statements.

    For the GraphQL field and the console's task page alike.
    """
    return case_labels(rt.cases, grant.scope, [t.case_id for t in tasks],
                       registry_site_names(registry, grant.municipality_code))


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class TaskConnection:
    total_count: int
    edges: list[TaskEdge]
    nodes: list[Task] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type
class TaskQuery:
    @strawberry.field(description="The caller's open tasks: overdue first, then by due date.")
    async def my_tasks(self, info: Info[YorisoiContext, None],
                       municipality_code: str | None = None, first: int = 20,
                       after: str | None = None) -> TaskConnection:
        first = paging.page_size(first)

        def run() -> TaskConnection:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = MeetingQueries(rt.casework.database, rt.casework.keyring).my_tasks(
                    grant.scope, grant.acting.user_id, first=first, after=after)
                labels = task_labels(rt, grant, info.context.services.directory.registry,
                                     page.items)
            today = japan_today().isoformat()
            return TaskConnection(
                total_count=page.total_count,
                edges=[TaskEdge(cursor=c, node=Task.from_record(t, today, labels))
                       for t, c in zip(page.items, page.cursors, strict=True)],
                page_info=PageInfo(has_next_page=page.has_next_page,
                                   end_cursor=page.cursors[-1] if page.cursors else None))

        return await read(run)
