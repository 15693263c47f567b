"""Printable views: a case record, meeting minutes, the 情報提供書 and the disposal certificate.

One household is recorded the way staff would (consultation with consent, a
referral sent to an off-system agency, a case meeting with minutes and role
assignments); a second one, closed years ago, is disposed of by two officers
to its certificate.  Each print view names people, sites and agencies, shows
和暦 dates, and is laid out by the A4 print stylesheet.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from console_steps import sign_in
from world import CITY_A

from yorisoi.domain.households import Child, Guardian
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.clock import JST, japan_today
from yorisoi.infra.referral_packets import ObjectStorePacketPublisher, packet_secret
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disposal import Disposal
from yorisoi.services.meetings import ActionItem, InternalParticipant, Minutes, ScheduleCaseMeeting

SPECIALIST = ActingContext(user_id="a-specialist", role="specialist",
                           organisation_kind="municipality", organisation_id=CITY_A,
                           site_id="a-counter")
PROPOSER = ActingContext(user_id="a-records-officer", role="municipal_supervisor",
                         organisation_kind="municipality", organisation_id=CITY_A)
APPROVER = ActingContext(user_id="a-records-chief", role="municipal_admin",
                         organisation_kind="municipality", organisation_id=CITY_A)
ADMIN = ActingContext(user_id="a-admin", role="municipal_admin",
                      organisation_kind="municipality", organisation_id=CITY_A)


@dataclass
class Recorded:
    case_id: str
    referral_id: str
    meeting_id: str
    packet_link: str
    expires_at: datetime
    batch_id: str


def _consultation(guardian: str, child: str, asked: str, on: date,
                  born: date = date(2022, 5, 1)) -> RecordConsultation:
    return RecordConsultation(
        municipality_code=CITY_A, site_id="a-counter", contract_id=None, occurred_on=on,
        channel="visit", themes=["development"], asked=asked, wishes="発達の相談先を知りたい",
        direction="発達相談の窓口を案内", household=NewHousehold(
            guardians=[Guardian(guardian, "母")], children=[Child(child, born)],
            pregnancy=None),
        consent=NewConsent(guardian, "母", on, "相談記録の作成"))


@pytest.fixture
def recorded(console_world) -> Recorded:  # noqa: ANN001
    services = console_world.services
    today = japan_today()
    with services.runtimes.lease(CITY_A) as rt:
        casework = rt.casework
        with acting_as(ADMIN):
            casework.register_staff_member(
                subject="a-specialist", display_name="印刷 さくら",
                organisation_kind="municipality", organisation_id=CITY_A, roles=["specialist"],
                qualifications=[], allowed_organisations=[CITY_A])
        with acting_as(SPECIALIST):
            done = casework.record_consultation(_consultation(
                "印刷 花子", "印刷 たろう", "ことばが遅いのが心配", today - timedelta(days=3)))
            agency = casework.register_agency(
                municipality_code=CITY_A, name="架空区 こども発達支援センター",
                kind="child_development_center", on_system=False,
                contact_email="hattatsu@example.invalid", confidentiality_basis="contract_clause")
            referral = casework.draft_referral(
                case_id=done.case_id, agency_id=agency.id, reason="発達相談の予約を希望",
                urgent=True, accompanied=False,
                shared_fields=["referral.reason", "household.guardians", "household.children",
                               "consultation.asked"], writable_contract_ids=None)
            casework.give_consent(done.case_id, purpose="share", given_by="印刷 花子",
                                  relationship="母", given_on=today, scope="発達相談のため",
                                  agency_kind="child_development_center",
                                  writable_contract_ids=None)
            publisher = ObjectStorePacketPublisher(services.objects, packet_secret(services),
                                                   rt.space)
            casework.send_referral(referral.id, sent_on=today, confidentiality_basis=None,
                                   exception_reason=None, exception_legal_basis=None,
                                   expected_version=None, writable_contract_ids=None,
                                   publisher=publisher)
            start = datetime.combine(today - timedelta(days=1), datetime.min.time(),
                                     JST) + timedelta(hours=10)
            meeting = casework.schedule_case_meeting(ScheduleCaseMeeting(
                case_id=done.case_id, starts_at=start, ends_at=start + timedelta(hours=1),
                place="区役所 相談室", agenda="支援方針の確認",
                internal=[InternalParticipant("a-specialist", "specialist")]))
            casework.record_meeting_minutes(
                meeting.id, Minutes(wishes="早く相談したい", state_and_issues="ことばの遅れ",
                                    support_goals="発達相談につなぐ",
                                    concrete_support="予約に同行する"),
                actions=[ActionItem("a-specialist", "発達相談の予約を確認する",
                                    today + timedelta(days=7))],
                expected_version=None, writable_contract_ids=None)
            # A family served years ago, whose records have run their period.
            old = casework.record_consultation(_consultation(
                "廃棄 洋子", "廃棄 陽太", "入園の手続き", date(2018, 5, 1), date(2017, 5, 1)))
            casework.close_case(old.case_id, closed_on=date(2018, 9, 30),
                                reason="support_completed", expected_version=None,
                                writable_contract_ids=None)
        with acting_as(APPROVER):
            casework.set_retention_schedule(effective_from=today, two_person_approval=True,
                                            years={name: 1 for name in RECORD_CLASSES})
        rt.catch_up()
        disposal = Disposal(rt, services.objects, services.signer)
        with acting_as(PROPOSER):
            batch = disposal.propose([str(old.household_id)])
        with acting_as(APPROVER):
            casework.approve_disposal(batch.id, expected_version=None)
        with acting_as(PROPOSER):
            disposal.run(batch.id)
        rt.catch_up()
    return Recorded(str(done.case_id), str(referral.id), str(meeting.id),
                    f"{services.settings.public_url}/agency-packets/{publisher.token}",
                    publisher.expires_at, str(batch.id))


def _text(html: str) -> str:
    """The words a reader sees (tags dropped, whitespace folded)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _printable(response) -> str:  # noqa: ANN001
    assert response.status_code == 200, response.text[:500]
    assert "/console/static/print.css" in response.text
    assert 'onclick="window.print()"' in response.text
    return _text(response.text)


def test_a_case_record_prints_with_names_and_japanese_dates(  # noqa: ANN201
        recorded, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "municipality", CITY_A, "a-specialist", "specialist", ("a-counter",))
    page = _printable(browser_client.get(f"/console/m/{CITY_A}/cases/{recorded.case_id}/print"))
    assert "相談記録票" in page
    assert "印刷 花子" in page and "印刷 たろう" in page and "ことばが遅いのが心配" in page
    assert "架空区 こども発達支援センター" in page  # the agency by name
    assert "印刷 さくら" in page and "a-specialist" not in page  # staff by name, not by id
    assert "令和" in page
    assert recorded.case_id not in page


def test_meeting_minutes_print_with_the_role_assignments(  # noqa: ANN201
        recorded, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "municipality", CITY_A, "a-specialist", "specialist", ("a-counter",))
    page = _printable(browser_client.get(
        f"/console/m/{CITY_A}/meetings/{recorded.meeting_id}/print"))
    assert "ケース会議 記録" in page and "区役所 相談室" in page
    assert "ことばの遅れ" in page and "予約に同行する" in page
    assert "発達相談の予約を確認する" in page and "印刷 さくら" in page
    assert "a-specialist" not in page


def test_the_information_sheet_is_what_the_agency_receives_with_its_link(
        recorded, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "municipality", CITY_A, "a-specialist", "specialist", ("a-counter",))
    page = _printable(browser_client.get(
        f"/console/m/{CITY_A}/referrals/{recorded.referral_id}/print"))
    assert "情報提供書" in page and "架空区 こども発達支援センター 御中" in page
    assert "発達相談の予約を希望" in page and "印刷 花子" in page and "印刷 たろう" in page
    assert "ことばが遅いのが心配" in page  # consultation.asked was shared
    assert "発達の相談先を知りたい" not in page  # consultation.wishes was not
    # The very link the agency was given, and when it expires.
    assert recorded.packet_link in page
    assert "リンクの有効期限" in page
    token = recorded.packet_link.rsplit("/", 1)[1]
    opened = browser_client.get(f"/agency-packets/{token}")
    assert opened.status_code == 200 and opened.json()["reason"] == "発達相談の予約を希望"


def test_the_disposal_certificate_prints_from_the_signed_file(  # noqa: ANN201
        recorded, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "municipality", CITY_A, "a-records-chief", "municipal_admin")
    page = _printable(browser_client.get(
        f"/console/m/{CITY_A}/records/disposal/{recorded.batch_id}/certificate/print"))
    assert "廃棄証明書" in page and "署名を検証しました" in page
    assert "廃棄 洋子" not in page  # no personal data on a certificate
    assert "令和" in page and "相談記録（ケースファイル）" in page


def test_print_views_answer_404_for_what_is_not_there(  # noqa: ANN201
        recorded, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "municipality", CITY_A, "a-records-chief", "municipal_admin")
    for path in (f"cases/{uuid.uuid4()}/print", "cases/not-a-case/print",
                 f"meetings/{uuid.uuid4()}/print", f"referrals/{uuid.uuid4()}/print",
                 f"records/disposal/{uuid.uuid4()}/certificate/print"):
        response = browser_client.get(f"/console/m/{CITY_A}/{path}")
        assert response.status_code in (403, 404), (path, response.status_code)


def test_the_case_meeting_and_sent_referral_pages_link_their_print_views(  # noqa: ANN201
        recorded, browser_client) -> None:  # noqa: ANN001
    sign_in(browser_client, "municipality", CITY_A, "a-specialist", "specialist", ("a-counter",))
    m = f"/console/m/{CITY_A}"
    for page, link in ((f"{m}/cases/{recorded.case_id}", f"{m}/cases/{recorded.case_id}/print"),
                       (f"{m}/meetings/{recorded.meeting_id}",
                        f"{m}/meetings/{recorded.meeting_id}/print"),
                       (f"{m}/referrals/{recorded.referral_id}",
                        f"{m}/referrals/{recorded.referral_id}/print")):
        html = browser_client.get(page).text
        assert f'href="{link}"' in html, page
        assert browser_client.get(link).status_code == 200
