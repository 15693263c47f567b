"""Offline capture, server side: the pack a device takes out, and a draft brought back.

A draft comes back as the form it would have been online (the same fields as
the console's forms, read by the same parsers and edge checks) with the case
*stamp* it was captured against.  Before anything runs, the stamp is compared
with the case as it is now: a case closed, handed over, out of reach, disposed,
its consent withdrawn, a record corrected or added meanwhile is a *conflict*,
answered with both sides and nothing written.  The specialist then chooses on
the device: record anyway with a reason (the command's own rules still decide:
a withdrawn consent or a closed case refuses it), attach to another case, or
discard.  A draft runs as an ordinary command under its own idempotency key, in
an acting context that carries the capture time and the device into the events'
metadata.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData

from yorisoi.domain.consent import ConsentWithdrawnError
from yorisoi.domain.errors import CaseClosedError, DomainError
from yorisoi.infra.clock import japan_today
from yorisoi.services.casework import CaseNotFoundError
from yorisoi.services.context import acting_as, current_context
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime

KINDS = ("consultation", "note", "new_case", "visit_outcome")
CONSULTATIONS_IN_PACK = 5
# What the rules refuse whatever the specialist says: no "record anyway".  A withdrawn
# consent refuses only what makes a record of a consultation (the consent rule's scope).
HARD = ("closed", "out_of_reach", "disposed", "visit_not_planned")


class DraftInvalidError(DomainError):
    code = "offline_draft_invalid"
    message = "The draft could not be read: it was not made by this console's offline pages."
    message_ja = "下書きを読み取れません。このコンソールのオフライン画面で作成されたものではありません。"


class ConflictReasonMissingError(DomainError):
    code = "offline_conflict_reason_missing"
    message = "Say why the record is kept although the case changed."
    message_ja = "ケースが変わっていても記録する理由を入力してください。"


@dataclass(frozen=True)
class DraftApplied:
    """A draft's command as kept for a repeat (ids only: the device reads the case again)."""

    case_id: str
    record_id: str
    reception_number: str | None


@dataclass(frozen=True)
class Captured:
    """Where a synced draft came from: stamped into its events' metadata."""

    device_id: str
    captured_at: str


# --------------------------------------------------------------------------- the case now


class HouseholdDisposedMeanwhile(Exception):
    """The household's key was destroyed (disposal): nothing of it can be written or read."""


def consent_in_force(rt: TenantRuntime, household_id: str) -> bool:
    # The consent rule itself, on the terms stored in clear: nothing personal is opened.
    return rt.casework.consent_covers(uuid.UUID(household_id), purpose="create_records",
                                      on=japan_today())


def case_stamp(rt: TenantRuntime, grant: Grant, case_id: str) -> dict[str, Any]:
    """What a draft is captured against: versions and states, nothing personal — and read
    without opening anything personal (a sync does not fill the access log)."""
    record = rt.cases.get(grant.scope, case_id)
    if record is None:
        raise CaseNotFoundError(field="caseId")
    store = getattr(rt.casework.keyring, "store", None)
    if store is not None and store.wrapped(uuid.UUID(record.household_id)) is None:
        raise HouseholdDisposedMeanwhile(case_id)
    case = rt.casework.readable_case(uuid.UUID(case_id), grant.scope.contract_ids)
    recorder = rt.casework.recorder
    # A consultation's version counts its corrections (1 when recorded, +1 for each).
    records = {str(cid): last[0].originator_version
               for cid in case.consultation_ids
               if (last := recorder.select_events(cid, desc=True, limit=1))}
    return {"caseId": case_id, "version": case.version, "status": record.status,
            "contractId": record.contract_id,
            "consentInForce": consent_in_force(rt, record.household_id),
            "records": records,
            "visits": {v.visit_id: [v.status, v.version]
                       for v in planned_visits(rt, grant, case_id)}}


def planned_visits(rt: TenantRuntime, grant: Grant, case_id: str) -> list[Any]:
    """The case's visits still planned (the outcomes a device may bring back)."""
    from yorisoi.projections.visit_queries import VisitQueries

    visits = VisitQueries(rt.casework.database, rt.casework.keyring).for_case(grant.scope,
                                                                             case_id)
    return [v for v in visits if v.status == "planned"]


def pack_case(rt: TenantRuntime, grant: Grant, case_id: str,
              site_name: Any) -> dict[str, Any]:
    """One case as the device keeps it (sealed there): the household, recent consultations,
    the consent, and the stamp drafts are captured against.  Reading it is logged."""
    stamp = case_stamp(rt, grant, case_id)
    record = rt.cases.get(grant.scope, case_id)
    household = rt.cases.households([record.household_id]).get(record.household_id)
    consultations = rt.cases.consultations([case_id])[case_id]
    return {
        "caseId": case_id, "receptionNumber": record.reception_number,
        "siteId": record.site_id, "siteName": site_name(record.site_id),
        "status": record.status, "openedOn": record.opened_on,
        "guardians": [{"name": g.get("name"), "relationship": g.get("relationship")}
                      for g in (household.guardians or [])] if household else [],
        "children": [{"name": c.get("name"), "birthDate": c.get("birth_date")}
                     for c in (household.children or [])] if household else [],
        "consultations": [{"occurredOn": c.occurred_on, "channel": c.channel,
                           "asked": c.asked, "direction": c.direction}
                          for c in consultations[-CONSULTATIONS_IN_PACK:]],
        "consentInForce": stamp["consentInForce"], "base": stamp,
        "visits": [{"visitId": v.visit_id, "kind": v.kind, "plannedOn": v.planned_on,
                    "startsAt": v.starts_at, "place": v.place, "purpose": v.purpose}
                   for v in sorted(planned_visits(rt, grant, case_id),
                                   key=lambda v: (v.planned_on, v.starts_at or ""))],
    }


def conflicts(rt: TenantRuntime, grant: Grant, draft: dict[str, Any],
              ) -> tuple[list[str], dict[str, Any] | None]:
    """(conflict kinds, the case as it is now) for a draft on an existing case."""
    base = draft.get("base") or {}
    case_id = str(draft.get("caseId") or "")
    try:
        now = case_stamp(rt, grant, case_id)
    except CaseNotFoundError:
        # Handed over to another contract, or disposed: the person may not learn which.
        return ["out_of_reach"], None
    except HouseholdDisposedMeanwhile:
        return ["disposed"], None
    kinds: list[str] = []
    if now["status"] == "closed" and base.get("status") != "closed":
        kinds.append("closed")
    if now["contractId"] != base.get("contractId"):
        kinds.append("handed_over")
    if base.get("consentInForce") and not now["consentInForce"]:
        kinds.append("consent_withdrawn")
    before = base.get("records") or {}
    if any(now["records"].get(cid, 0) > n for cid, n in before.items()):
        kinds.append("corrected")
    if set(now["records"]) - set(before):
        kinds.append("added")
    visit = (draft.get("fields") or {}).get("visitId") if draft.get("kind") == (
        "visit_outcome") else None
    if visit is not None:
        then = (base.get("visits") or {}).get(str(visit))
        found = now["visits"].get(str(visit))
        if found is None:  # done, not met or cancelled meanwhile (or never planned)
            kinds.append("visit_not_planned")
        elif then is None or found[1] != then[1]:
            kinds.append("visit_rescheduled")
    if not kinds and now["version"] != base.get("version"):
        kinds.append("changed")
    if not kinds:
        return [], now
    record = rt.cases.get(grant.scope, case_id)
    consultations = rt.cases.consultations([case_id])[case_id]
    current = {
        **now, "closedOn": record.closed_on if record else None,
        # The records that changed or were added meanwhile (the other side of the conflict).
        "consultations": [{"occurredOn": c.occurred_on, "asked": c.asked,
                           "direction": c.direction, "corrected": bool(c.corrections)}
                          for c in consultations
                          if c.consultation_id not in before
                          or now["records"].get(c.consultation_id, 0)
                          > before.get(c.consultation_id, 0)],
    }
    if visit is not None:
        current["visit"] = _visit_now(rt, grant, str(visit))
    return kinds, current


def makes_consultation(draft: dict[str, Any]) -> bool:
    """Whether the draft records a consultation (what a withdrawn consent refuses)."""
    fields = draft.get("fields") or {}
    return draft.get("kind") in ("consultation", "new_case") or (
        draft.get("kind") == "visit_outcome" and fields.get("result") == "done"
        and bool(str(fields.get("asked") or "").strip()))


def hard(kinds: list[str], draft: dict[str, Any]) -> set[str]:
    refused = set(kinds) & set(HARD)
    if "consent_withdrawn" in kinds and makes_consultation(draft):
        refused.add("consent_withdrawn")
    return refused


def _visit_now(rt: TenantRuntime, grant: Grant, visit_id: str) -> dict[str, Any] | None:
    from yorisoi.projections.visit_queries import VisitQueries

    found = VisitQueries(rt.casework.database, rt.casework.keyring).get(grant.scope, visit_id)
    if found is None:
        return None
    return {"status": found.status, "plannedOn": found.planned_on, "doneOn": found.done_on,
            "outcome": found.outcome}


def choices(kinds: list[str], draft: dict[str, Any]) -> list[str]:
    """What the specialist may choose: record anyway only where the rules allow it; another
    case only for what is not tied to its case (a visit is)."""
    anyway = [] if hard(kinds, draft) else ["record_anyway"]
    attach = [] if draft.get("kind") in ("visit_outcome", "new_case") else ["attach"]
    return [*anyway, *attach, "discard"]


def rule_of(kinds: list[str], draft: dict[str, Any]) -> tuple[str, str] | None:
    """The refusing rule's own words (en, ja) for a hard conflict."""
    refused = hard(kinds, draft)
    if "consent_withdrawn" in refused:
        return ConsentWithdrawnError.message, ConsentWithdrawnError.message_ja
    if "visit_not_planned" in refused:
        from yorisoi.domain.outreach import VisitNotPlannedError

        return VisitNotPlannedError.message, VisitNotPlannedError.message_ja
    if "closed" in refused:
        return CaseClosedError.message, CaseClosedError.message_ja
    if refused & {"out_of_reach", "disposed"}:
        return CaseNotFoundError.message, CaseNotFoundError.message_ja
    return None


# --------------------------------------------------------------------------- the draft's form


def as_form(draft: dict[str, Any]) -> FormData:
    """The draft's fields as the console form they stand for (lists for repeated fields)."""
    fields = draft.get("fields")
    if not isinstance(fields, dict):
        raise DraftInvalidError(field="draft")
    items: list[tuple[str, str]] = []
    for name, value in fields.items():
        if not isinstance(name, str) or len(name) > 80:
            raise DraftInvalidError(field="draft")
        for one in value if isinstance(value, list) else [value]:
            if not isinstance(one, str | int | float | bool) and one is not None:
                raise DraftInvalidError(field="draft")
            items.append((name, "" if one is None else str(one)))
    return FormData(items)


def checked_base(draft: dict[str, Any]) -> dict[str, Any]:
    """The stamp the draft was captured against, in the shape ``case_stamp`` gives (else
    DraftInvalidError: a hand-made draft is refused, never a server error)."""
    base = draft.get("base")
    if base is None:
        return {}
    if not isinstance(base, dict):
        raise DraftInvalidError(field="base")
    records, visits = base.get("records") or {}, base.get("visits") or {}
    if not isinstance(records, dict) or not isinstance(visits, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in records.values()) or not all(
            isinstance(v, list) and len(v) == 2 for v in visits.values()):
        raise DraftInvalidError(field="base")
    return {**base, "records": records, "visits": visits}


def captured_at(draft: dict[str, Any]) -> str:
    """The capture time the device recorded (ISO 8601, not in the future), in UTC."""
    text = draft.get("capturedAt")
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise DraftInvalidError(field="capturedAt") from None
    if moment.tzinfo is None:
        raise DraftInvalidError(field="capturedAt")
    moment = min(moment.astimezone(UTC), datetime.now(UTC))
    return moment.isoformat(timespec="seconds")


def stamped(captured: Captured, act: Any) -> Any:
    """``act()`` with the capture time and device in the acting context (→ event metadata)."""
    with acting_as(replace(current_context(), captured_at=captured.captured_at,
                           device_id=captured.device_id)):
        return act()
