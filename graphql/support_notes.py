"""Support notes (支援記録) and the case timeline they form.

writeSupportNote and correctSupportNote are case commands ("case.manage"),
run under the case's own contract and site; a correction keeps the original
in the log.  ``Case.timeline`` (graphql/cases.py) reads the timeline view.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from yorisoi.domain.support_notes import SupportNote as SupportNoteAggregate
from yorisoi.graphql import paging
from yorisoi.graphql.cases import Case, PageInfo
from yorisoi.graphql.commands import case_after, execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
    api_error,
)
from yorisoi.graphql.validation import Checker
from yorisoi.projections.timeline import (
    TimelineQueries,
    TimelineRecord,
    encode_timeline_cursor,
)
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

MAX_REASON = 500

# --------------------------------------------------------------------------- timeline


@strawberry.type(description="One thing that happened in a case.")
class TimelineEntry:
    id: strawberry.ID
    kind: str = strawberry.field(description="consultation | support_note | consent_given | consent_withdrawn | consent_exception | attachment_added | referral_drafted | referral_sent | referral_acknowledged | referral_accepted | referral_declined | referral_outcome | referral_follow_up_scheduled | referral_follow_up_completed | referral_closed | case_meeting_scheduled | case_meeting_held | case_meeting_action_assigned | case_meeting_action_completed | case_meeting_cancelled | case_opened | case_closed | case_reopened | case_handed_over | council_case_marked | household_corrected (one entry on each case of the household)")
    occurred_on: str
    recorded_at: str
    summary: str | None = strawberry.field(description="What was asked or noted; null once the household is disposed of. Personal data.")
    actor: str | None
    actor_role: str | None
    corrected: bool = strawberry.field(description="Corrected since it was written; the original stays in the log")
    note_kind: str | None = strawberry.field(description="progress | observation | contact | follow_up (support notes)")
    channel: str | None
    themes: list[str] | None
    closure_reason: str | None
    council_case: bool | None
    record_version: int | None = strawberry.field(description="The support note's version: send it as expectedVersion when correcting")

    @classmethod
    def from_record(cls, r: TimelineRecord) -> TimelineEntry:
        d = r.detail
        return cls(id=strawberry.ID(r.entry_id), kind=r.kind, occurred_on=r.occurred_on,
                   recorded_at=r.recorded_at, summary=r.summary, actor=r.actor,
                   actor_role=r.actor_role, corrected=r.corrected,
                   note_kind=d.get("note_kind"), channel=d.get("channel"),
                   themes=d.get("themes"), closure_reason=d.get("closure_reason"),
                   council_case=d.get("council_case"), record_version=d.get("version"))


@strawberry.type
class TimelineEdge:
    cursor: str
    node: TimelineEntry


@strawberry.type
class TimelineConnection:
    total_count: int
    edges: list[TimelineEdge]
    nodes: list[TimelineEntry] = paging.nodes_of_edges()
    page_info: PageInfo


async def case_timeline(info: Info[YorisoiContext, None], municipality_code: str, case_id: str,
                        *, first: int, after: str | None) -> TimelineConnection:
    """A visible case's timeline, newest first (the Case was already authorised).

    Through a per-request DataLoader: a case list asking for each case's
    timeline reads them all in two statements, not two per case.
    """
    first = paging.page_size(first)
    ctx = info.context
    key = f"timeline_loader:{municipality_code}"
    if key not in ctx.__dict__:
        def load(keys: list[tuple[str, int, str | None]]) -> list[Any]:
            pages: dict[tuple[str, int, str | None], Any] = {}
            with ctx.services.runtimes.lease(municipality_code) as rt:
                queries = TimelineQueries(rt.casework.database, rt.casework.keyring)
                for size, cursor in dict.fromkeys((k[1], k[2]) for k in keys):
                    group = [k[0] for k in keys if (k[1], k[2]) == (size, cursor)]
                    for cid, page in queries.pages(group, first=size, after=cursor).items():
                        pages[(cid, size, cursor)] = page
            return [pages[k] for k in keys]

        async def batch(keys: list[tuple[str, int, str | None]]) -> list[Any]:
            try:
                return await asyncio.to_thread(load, keys)
            except Exception as exc:  # noqa: BLE001 - each load raises the typed error
                return [exc] * len(keys)

        ctx.__dict__[key] = DataLoader(batch)

    try:
        page = await ctx.__dict__[key].load((case_id, first, after))
    except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
        raise api_error(exc) from None

    return TimelineConnection(
        total_count=page.total_count,
        edges=[TimelineEdge(cursor=encode_timeline_cursor(e),
                            node=TimelineEntry.from_record(e)) for e in page.entries],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor))


# --------------------------------------------------------------------------- mutations


@strawberry.type(description="A support note (支援記録). Personal data.")
class SupportNote:
    id: strawberry.ID
    case_id: strawberry.ID
    written_on: str
    kind: str
    body: str | None
    corrected: bool
    version: int = strawberry.field(description="Send it back as expectedVersion when correcting")

    @classmethod
    def from_aggregate(cls, note: SupportNoteAggregate) -> SupportNote:
        return cls(id=strawberry.ID(str(note.id)), case_id=strawberry.ID(str(note.case_id)),
                   written_on=note.written_on.isoformat(), kind=note.kind, body=note.body,
                   corrected=note.corrected, version=note.version)


@strawberry.type
class SupportNoteSaved:
    note: SupportNote
    case: Case


SupportNoteResult = Annotated[
    SupportNoteSaved | ValidationError | NotAuthorizedError | NotFoundError | ConflictError,
    strawberry.union("SupportNoteResult"),
]


@strawberry.input
class WriteSupportNoteInput:
    municipality_code: str
    case_id: strawberry.ID
    written_on: str = strawberry.field(description="YYYY-MM-DD, Japan time")
    kind: str = strawberry.field(description="progress | observation | contact | follow_up")
    body: str


@strawberry.input
class CorrectSupportNoteInput:
    municipality_code: str
    case_id: strawberry.ID
    note_id: strawberry.ID
    body: str = strawberry.field(description="The corrected text, in full")
    reason: str = strawberry.field(description="Why the note is corrected")
    expected_version: int | None = strawberry.field(default=None, description="The note version you decided on; a stale one is refused")


def _note_id(check: Checker, value: strawberry.ID) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        check.bad("noteId", "Not a support note id.", "支援記録IDの形式が正しくありません。")
        return None


def _saved(rt: TenantRuntime, grant: Grant, note: SupportNoteAggregate) -> SupportNoteSaved:
    return SupportNoteSaved(note=SupportNote.from_aggregate(note),
                            case=Case.from_record(case_after(rt, grant, note.case_id)))


@strawberry.type
class SupportNoteMutation:
    @strawberry.mutation(description="Write a support note about an open case.")
    async def write_support_note(self, info: Info[YorisoiContext, None],
                                 input: WriteSupportNoteInput) -> SupportNoteResult:
        check = Checker(info.context.services.settings.max_text_length)
        written_on = check.day("writtenOn", input.written_on)
        case_id = check.case_id(input.case_id)
        kind = check.text("kind", input.kind, 20)
        body = check.required("body", input.body)

        def command(rt: TenantRuntime, grant: Grant) -> SupportNoteSaved:
            note = rt.casework.write_support_note(
                case_id, written_on=written_on, kind=kind, body=body,
                writable_contract_ids=grant.scope.contract_ids)
            return _saved(rt, grant, note)

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)

    @strawberry.mutation(description="Correct a support note; the original stays in the log.")
    async def correct_support_note(self, info: Info[YorisoiContext, None],
                                   input: CorrectSupportNoteInput) -> SupportNoteResult:
        check = Checker(info.context.services.settings.max_text_length)
        case_id = check.case_id(input.case_id)
        note_id = _note_id(check, input.note_id)
        body = check.required("body", input.body)
        reason = check.required("reason", input.reason, MAX_REASON)

        def command(rt: TenantRuntime, grant: Grant) -> SupportNoteSaved:
            note = rt.casework.correct_support_note(
                note_id, case_id=case_id, body=body, reason=reason,
                expected_version=input.expected_version,
                writable_contract_ids=grant.scope.contract_ids)
            return _saved(rt, grant, note)

        return await execute(info, "case.manage", input.municipality_code, command,
                             check=check, case_id=case_id)
