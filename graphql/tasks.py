"""Tasks: "my tasks", the caller's open role assignments of case meetings and referral follow-ups."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.infra.clock import japan_today
from yorisoi.projections.meeting_queries import MeetingQueries, TaskRecord


@strawberry.type(description="A role assignment of a case meeting, or a referral follow-up.")
class Task:
    id: strawberry.ID
    kind: str = strawberry.field(description="meeting_action | referral_follow_up")
    source_id: strawberry.ID = strawberry.field(description="The meeting or referral")
    case_id: strawberry.ID
    owner_user_id: str
    due_on: str | None
    overdue: bool = strawberry.field(description="Due before today (Japan time) and still open")
    status: str
    completed_on: str | None
    title: str | None
    urgent: bool

    @classmethod
    def from_record(cls, r: TaskRecord, today: str) -> Task:
        return cls(id=strawberry.ID(r.task_id), kind=r.kind, source_id=strawberry.ID(r.source_id),
                   case_id=strawberry.ID(r.case_id), owner_user_id=r.owner_user_id,
                   due_on=r.due_on,
                   overdue=r.status == "open" and r.due_on is not None and r.due_on < today,
                   status=r.status, completed_on=r.completed_on, title=r.title, urgent=r.urgent)


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
            today = japan_today().isoformat()
            return TaskConnection(
                total_count=page.total_count,
                edges=[TaskEdge(cursor=c, node=Task.from_record(t, today))
                       for t, c in zip(page.items, page.cursors, strict=True)],
                page_info=PageInfo(has_next_page=page.has_next_page,
                                   end_cursor=page.cursors[-1] if page.cursors else None))

        return await read(run)
