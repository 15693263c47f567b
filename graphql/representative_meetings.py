"""Representative meetings (代表者会議): recording one, and the list of them.

Only organisations, regional issues and theme counts: never a case.  Theme
counts below the domain's threshold are not stored (see
domain/representative_meetings.py); the type says how many were left out.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from yorisoi.domain.representative_meetings import MIN_THEME_COUNT
from yorisoi.domain.vocabulary import AGENCY_KINDS
from yorisoi.graphql import paging
from yorisoi.graphql.cases import PageInfo
from yorisoi.graphql.commands import execute, read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from yorisoi.graphql.validation import Checker
from yorisoi.projections.meeting_queries import MeetingQueries
from yorisoi.services.meetings import RecordRepresentativeMeeting
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_NAME = 100
MAX_ATTENDEES = 30
MAX_ITEMS = 30


@strawberry.type
class Attendee:
    organisation: str
    kind: str = strawberry.field(description=f"An agency kind: {' | '.join(AGENCY_KINDS)}")


@strawberry.type(description=f"How many cases had the theme (always {MIN_THEME_COUNT} or more).")
class ThemeCount:
    theme: str
    cases: int


@strawberry.type(description="A representative meeting (代表者会議): organisations and counts, never a case.")
class RepresentativeMeeting:
    id: strawberry.ID
    held_on: str
    attendees: list[Attendee]
    regional_issues: list[str]
    resources_to_develop: list[str]
    themes_from: str
    themes_to: str
    theme_counts: list[ThemeCount] = strawberry.field(
        description=f"Themes counted on {MIN_THEME_COUNT} cases or more; smaller counts are not "
                    "stored, so that a small town's figure cannot point at a family")
    suppressed_themes: int = strawberry.field(
        description=f"How many themes had fewer than {MIN_THEME_COUNT} cases and were left out")
    minimum_count: int = strawberry.field(
        description="The smallest count stored (smaller counts are suppressed)")
    recorded_by: str | None

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> RepresentativeMeeting:
        return cls(id=strawberry.ID(r["meeting_id"]), held_on=r["held_on"],
                   attendees=[Attendee(**a) for a in r["attendees"]],
                   regional_issues=r["regional_issues"],
                   resources_to_develop=r["resources_to_develop"],
                   themes_from=r["themes_from"], themes_to=r["themes_to"],
                   theme_counts=[ThemeCount(theme=t, cases=n)
                                 for t, n in sorted(r["theme_counts"].items())],
                   suppressed_themes=int(r["suppressed_themes"]), minimum_count=MIN_THEME_COUNT,
                   recorded_by=r["recorded_by"])


@strawberry.type
class RepresentativeMeetingEdge:
    cursor: str
    node: RepresentativeMeeting


@strawberry.type
class RepresentativeMeetingConnection:
    total_count: int
    edges: list[RepresentativeMeetingEdge]
    nodes: list[RepresentativeMeeting] = paging.nodes_of_edges()
    page_info: PageInfo


@strawberry.type
class RepresentativeMeetingRecorded:
    meeting: RepresentativeMeeting


@strawberry.input
class AttendeeInput:
    organisation: str
    kind: str = strawberry.field(description=f"An agency kind: {' | '.join(AGENCY_KINDS)}")


@strawberry.input
class RecordRepresentativeMeetingInput:
    municipality_code: str
    held_on: str
    attendees: list[AttendeeInput]
    regional_issues: list[str] = strawberry.field(default_factory=list, description="About the region, never about a family")
    resources_to_develop: list[str] = strawberry.field(default_factory=list)
    themes_from: str = strawberry.field(description="Period of the case-theme counts, YYYY-MM-DD")
    themes_to: str


RepresentativeMeetingResult = Annotated[
    RepresentativeMeetingRecorded | ValidationError | NotAuthorizedError | NotFoundError
    | ConflictError, strawberry.union("RepresentativeMeetingResult")]


@strawberry.type
class RepresentativeMeetingMutation:
    @strawberry.mutation(description="Record a representative meeting (municipal staff only).")
    async def record_representative_meeting(
            self, info: Info[YorisoiContext, None],
            input: RecordRepresentativeMeetingInput) -> RepresentativeMeetingResult:
        check = Checker.of(info)
        check.count("attendees", input.attendees, MAX_ATTENDEES)
        check.count("regionalIssues", input.regional_issues, MAX_ITEMS)
        check.count("resourcesToDevelop", input.resources_to_develop, MAX_ITEMS)
        cmd = RecordRepresentativeMeeting(
            municipality_code=input.municipality_code,
            held_on=check.day("heldOn", input.held_on) or date.min,
            attendees=[(check.required(f"attendees.{i}.organisation", a.organisation, MAX_NAME),
                        check.required(f"attendees.{i}.kind", a.kind, 50))
                       for i, a in enumerate(input.attendees)],
            regional_issues=[check.text(f"regionalIssues.{i}", t)
                             for i, t in enumerate(input.regional_issues)],
            resources_to_develop=[check.text(f"resourcesToDevelop.{i}", t)
                                  for i, t in enumerate(input.resources_to_develop)],
            themes_from=check.day("themesFrom", input.themes_from) or date.min,
            themes_to=check.day("themesTo", input.themes_to) or date.min)

        def command(rt: TenantRuntime, grant: Grant) -> RepresentativeMeetingRecorded:
            meeting = rt.casework.record_representative_meeting(cmd)
            rt.catch_up()
            row = MeetingQueries(rt.casework.database, rt.casework.keyring).representative(
                str(meeting.id))
            if row is None:  # cannot happen: the view just caught up
                raise LookupError("representative meeting missing from the view")
            return RepresentativeMeetingRecorded(meeting=RepresentativeMeeting.from_row(row))

        return await execute(info, "representative_meeting.record", input.municipality_code,
                             command, check=check)


@strawberry.type
class RepresentativeMeetingQuery:
    @strawberry.field(description="Representative meetings, most recently held first.")
    async def representative_meetings(self, info: Info[YorisoiContext, None],
                                      municipality_code: str | None = None, first: int = 20,
                                      after: str | None = None) -> RepresentativeMeetingConnection:
        first = paging.page_size(first)

        def run() -> RepresentativeMeetingConnection:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                page = MeetingQueries(rt.casework.database, rt.casework.keyring
                                      ).representative_page(first=first, after=after)
            return RepresentativeMeetingConnection(
                total_count=page.total_count,
                edges=[RepresentativeMeetingEdge(cursor=c, node=RepresentativeMeeting.from_row(r))
                       for r, c in zip(page.items, page.cursors, strict=True)],
                page_info=PageInfo(has_next_page=page.has_next_page,
                                   end_cursor=page.cursors[-1] if page.cursors else None))

        return await read(run)
