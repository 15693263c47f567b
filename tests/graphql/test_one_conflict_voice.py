"""One conflict voice: a stale ``expectedVersion`` and a concurrent write are both
``ConflictError`` with ``retryable: true``; the stale one also says the version to retry with.

The schema walk covers every mutation (a new one that takes ``expectedVersion`` is
checked without anyone adding it here); the source walk proves every stale-version
refusal in the domain and services says the current version; the scenarios run a
stale call against each kind of aggregate a mutation versions (case, consultation
path, support note, meeting, household) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import ast
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError
from world import CITY_A, NPO, consultation_input, gql, head, record, run

from graphql import GraphQLInputObjectType, GraphQLNonNull, GraphQLUnionType, get_named_type
from yorisoi.domain.errors import StaleVersionError
from yorisoi.graphql.errors import ConflictError, user_error
from yorisoi.graphql.schema import build_schema
from yorisoi.infra.clock import japan_today

SCHEMA = build_schema(production=False)._schema
ROOT = Path(__file__).resolve().parents[2]

CONFLICT = """
  __typename
  ... on UserError { code message messageJa }
  ... on ConflictError { retryable currentVersion }
"""
CLOSE = "mutation($input: CloseCaseInput!) { closeCase(input: $input) {" + CONFLICT + "} }"
RECORD_ON_CASE = ("mutation($input: RecordConsultationInput!) { recordConsultation(input: $input) {"
                  + CONFLICT + " ... on ValidationError { fieldErrors { field code } } } }")
WRITE_NOTE = ("mutation($input: WriteSupportNoteInput!) { writeSupportNote(input: $input) {"
              " __typename ... on SupportNoteSaved { note { id version } } } }")
CORRECT_NOTE = ("mutation($input: CorrectSupportNoteInput!) { correctSupportNote(input: $input) {"
                + CONFLICT + "} }")
SCHEDULE = ("mutation($input: ScheduleCaseMeetingInput!) { scheduleCaseMeeting(input: $input) {"
            " __typename ... on CaseMeetingChanged { meeting { id version } }" + CONFLICT
            + "} }")
CANCEL = ("mutation($input: MeetingRefInput!) { cancelCaseMeeting(input: $input) {"
          + CONFLICT + "} }")
CORRECT_HOUSEHOLD = ("mutation($input: CorrectHouseholdInput!) { correctHousehold(input: $input) {"
                     + CONFLICT + "} }")
CASE_VERSION = "query($id: ID!) { case(id: $id) { version } }"


def _versioned_inputs(field: Any) -> list[str]:
    """Where a mutation takes an expected version: argument names or ``input.<field>``."""
    found = []
    for arg_name, arg in field.args.items():
        if arg_name.startswith("expected") and arg_name.endswith("Version"):
            found.append(arg_name)
        base = get_named_type(arg.type)
        if isinstance(base, GraphQLInputObjectType):
            found += [f"{arg_name}.{name}" for name in base.fields
                      if name.startswith("expected") and name.endswith("Version")]
    return found


def test_every_mutation_answers_conflict_error_and_it_carries_retryable_and_current_version():
    conflict = SCHEMA.type_map["ConflictError"]
    assert str(conflict.fields["retryable"].type) == "Boolean!"
    assert str(conflict.fields["currentVersion"].type) == "Int"
    versioned = []
    for name, field in SCHEMA.mutation_type.fields.items():
        result = get_named_type(field.type)
        # Every mutation writes events, so every one can meet a concurrent write.
        assert isinstance(result, GraphQLUnionType), name
        assert "ConflictError" in {t.name for t in result.types}, name
        if _versioned_inputs(field):
            versioned.append(name)
    # recordConsultation takes the case's version now; ~50 mutations take one.
    assert "recordConsultation" in versioned and len(versioned) >= 45, versioned
    record_input = SCHEMA.type_map["RecordConsultationInput"]
    assert not isinstance(record_input.fields["expectedVersion"].type, GraphQLNonNull)


def test_every_stale_version_refusal_in_the_code_says_the_current_version():
    """A source walk: each StaleVersionError raised names ``current_version``."""
    raised = []
    for folder in ("domain", "services"):
        for path in sorted((ROOT / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                        and getattr(node.exc.func, "id", "").endswith(
                            ("StaleVersionError", "VersionStaleError"))):
                    keywords = {k.arg for k in node.exc.keywords}
                    raised.append((f"{folder}/{path.name}:{node.lineno}",
                                   "current_version" in keywords))
    assert len(raised) >= 12, raised
    assert [where for where, says in raised if not says] == []


def test_the_one_mapping_makes_both_kinds_of_conflict_one_retryable_type():
    stale = user_error(StaleVersionError(current_version=4))
    raced = user_error(IntegrityError("duplicate key"))
    assert isinstance(stale, ConflictError) and isinstance(raced, ConflictError)
    assert (stale.code, stale.retryable, stale.current_version) == ("stale_version", True, 4)
    assert (raced.code, raced.retryable, raced.current_version) == ("concurrent_change", True,
                                                                    None)
    assert stale.message_ja and raced.message_ja


def test_a_raced_write_says_the_version_the_record_has_now():
    from yorisoi.infra.recorders import StaleReadError

    raced = StaleReadError(uuid.uuid4())
    raced.current_version = 7  # graphql/commands.execute reads it from the log
    answer = user_error(raced)
    assert isinstance(answer, ConflictError)
    assert (answer.code, answer.retryable, answer.current_version) == (
        "concurrent_change", True, 7)


# --------------------------------------------------------------------------- scenarios


def _npo(world: Any) -> dict[str, str]:
    return world.headers("contractor", NPO, subject="npo-staff-1", roles=("specialist",),
                         sites=("a-hiroba",))


def _conflict(result: dict[str, Any], current: int) -> None:
    assert result["__typename"] == "ConflictError", result
    assert (result["code"], result["retryable"], result["currentVersion"]) == (
        "stale_version", True, current), result
    assert result["messageJa"] and result["message"]


def _case_version(client: Any, world: Any, case_id: str) -> int:
    supervisor = world.headers("municipality", CITY_A, roles=("municipal_supervisor",))
    return gql(client, CASE_VERSION, {"id": case_id}, supervisor)["data"]["case"]["version"]


def _at(days: int, hour: int) -> str:
    return f"{(japan_today() + timedelta(days=days)).isoformat()}T{hour:02d}:00:00+09:00"


def test_a_stale_case_version_is_a_retryable_conflict_on_every_case_mutation(client, world):
    headers = _npo(world)
    recorded = record(client, headers)
    case_id = recorded["case"]["id"]
    version = _case_version(client, world, case_id)
    before = head(world)
    # recordConsultation on an existing case: the case's version, like every case command.
    again = consultation_input(caseId=case_id, expectedVersion=version + 3)
    del again["household"], again["confirmNewHousehold"]
    body = gql(client, RECORD_ON_CASE, {"input": again}, headers)
    _conflict(body["data"]["recordConsultation"], version)
    _conflict(run(client, CLOSE, headers, caseId=case_id, expectedVersion=version + 1,
                  closedOn=japan_today().isoformat(), reason="support_completed"), version)
    _conflict(run(client, SCHEDULE, headers, caseId=case_id, expectedCaseVersion=version - 1,
                  startsAt=_at(1, 10), endsAt=_at(1, 11), place="ひろば",
                  internalParticipants=[{"userId": "npo-staff-1", "role": "specialist"}]),
              version)
    _conflict(run(client, CORRECT_HOUSEHOLD, headers, caseId=case_id, expectedVersion=9,
                  household={"guardians": [{"name": "架空 華子", "relationship": "母"}],
                             "children": []}, reason="氏名の誤記"), 1)
    assert head(world) == before  # nothing was written by any of them
    # With the current version the same call goes through (the retry the answer invites).
    again["expectedVersion"] = version
    body = gql(client, RECORD_ON_CASE, {"input": again}, headers)
    assert body["data"]["recordConsultation"]["__typename"] == "ConsultationRecorded", body


def test_stale_notes_and_meetings_are_retryable_conflicts_with_their_version(client, world):
    headers = _npo(world)
    case_id = record(client, headers)["case"]["id"]
    note = run(client, WRITE_NOTE, headers, caseId=case_id, kind="contact", body="電話で確認",
               writtenOn=japan_today().isoformat())["note"]
    meeting = run(client, SCHEDULE, headers, caseId=case_id, startsAt=_at(1, 10),
                  endsAt=_at(1, 11), place="ひろば",
                  internalParticipants=[{"userId": "npo-staff-1", "role": "specialist"}])
    meeting = meeting["meeting"]
    before = head(world)
    _conflict(run(client, CORRECT_NOTE, headers, caseId=case_id, noteId=note["id"],
                  body="電話で確認（再）", reason="追記", expectedVersion=note["version"] + 1),
              note["version"])
    _conflict(run(client, CANCEL, headers, meetingId=meeting["id"],
                  expectedVersion=meeting["version"] + 2), meeting["version"])
    assert head(world) == before


SAVE_SITE = ("mutation($input: SaveSiteProfileInput!) { saveSiteProfile(input: $input) {"
             " __typename ... on SiteProfileSaved { site { version } }" + CONFLICT + "} }")
SITE_SCHEDULE = ("mutation($input: SetSiteScheduleInput!) { setSiteSchedule(input: $input) {"
                 + CONFLICT + "} }")
REGISTER_STAFF = ("mutation($input: RegisterStaffMemberInput!) {"
                  " registerStaffMember(input: $input) { __typename"
                  " ... on StaffMemberSaved { staffMember { id version } }" + CONFLICT + "} }")
UPDATE_STAFF = ("mutation($input: UpdateStaffMemberInput!) { updateStaffMember(input: $input) {"
                + CONFLICT + "} }")


def test_stale_site_profiles_and_staff_records_are_retryable_conflicts(client, world):
    supervisor = world.headers("municipality", CITY_A, subject="sv-1",
                               roles=("municipal_supervisor",))
    site = run(client, SAVE_SITE, supervisor, siteId="a-hiroba", siteType="kihon",
               address="東京都千代田区九段南1-2-1", contractId="contract-a-npo")
    assert site["__typename"] == "SiteProfileSaved", site
    staff = run(client, REGISTER_STAFF, supervisor, subject="npo-staff-1",
                displayName="架空 職員", roles=["specialist"], qualifications=["hoikushi"])
    assert staff["__typename"] == "StaffMemberSaved", staff
    before = head(world)
    _conflict(run(client, SITE_SCHEDULE, supervisor, siteId="a-hiroba",
                  weekly=[{"weekday": "mon", "opens": "09:00", "closes": "17:00"}],
                  expectedVersion=site["site"]["version"] + 5), site["site"]["version"])
    member = staff["staffMember"]
    _conflict(run(client, UPDATE_STAFF, supervisor, staffId=member["id"], displayName="架空",
                  roles=["specialist"], expectedVersion=member["version"] + 9),
              member["version"])
    assert head(world) == before


REGISTER_AGENCY = ("mutation($input: RegisterAgencyInput!) { registerAgency(input: $input) {"
                   " __typename ... on AgencyRegistered { agency { id } }" + CONFLICT + "} }")
DRAFT_REFERRAL = ("mutation($input: DraftReferralInput!) { draftReferral(input: $input) {"
                  " __typename ... on ReferralChanged { referral { id version } }" + CONFLICT
                  + "} }")
CLOSE_REFERRAL = ("mutation($input: CloseReferralInput!) { closeReferral(input: $input) {"
                  + CONFLICT + "} }")
ACCEPT_REFERRAL = ("mutation($input: ReferralStepInput!) { acceptReferral(input: $input) {"
                   + CONFLICT + "} }")


def test_a_stale_referral_step_is_a_retryable_conflict_with_its_version(client, world):
    headers = _npo(world)
    case_id = record(client, headers)["case"]["id"]
    agency = run(client, REGISTER_AGENCY, headers, name="千代田区保健センター",
                 kind="health_center", onSystem=False, contactEmail="hoken@city.example.jp",
                 confidentialityBasis="public_servant")["agency"]
    referral = run(client, DRAFT_REFERRAL, headers, caseId=case_id, agencyId=agency["id"],
                   reason="発達相談につなぐ", accompanied=False, sharedFields=[])["referral"]
    before = head(world)
    # The version is checked before the step's own rules (a draft cannot be accepted).
    _conflict(run(client, ACCEPT_REFERRAL, headers, referralId=referral["id"],
                  on=japan_today().isoformat(), expectedVersion=referral["version"] + 1),
              referral["version"])
    _conflict(run(client, CLOSE_REFERRAL, headers, referralId=referral["id"],
                  closedOn=japan_today().isoformat(), reason="family_withdrew",
                  expectedVersion=referral["version"] + 4), referral["version"])
    assert head(world) == before
