"""Disclosure exports are sealed objects (the object key bound in); older envelopes still open."""

from __future__ import annotations

import uuid
from datetime import date

from world import CITY_A

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra.disclosure_links import (
    ObjectStoreDisclosurePublisher,
    disclosure_key,
    disclosure_secret,
)
from yorisoi.infra.sealed_objects import is_sealed
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as
from yorisoi.services.disclosure import disclosure_aad

STAFF = ActingContext(user_id="a-specialist", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
DOCUMENT = '{"records": ["開示 花子 の相談記録"]}'.encode()
HTML = "<html><body>開示 花子 の相談記録</body></html>".encode()


def test_exports_are_sealed_objects_bound_to_their_key_and_old_envelopes_still_open(client, world):
    services = world.services
    with services.runtimes.lease(CITY_A) as rt, acting_as(STAFF):
        household = rt.casework.record_consultation(RecordConsultation(
            municipality_code=CITY_A, site_id="a-counter", contract_id=None,
            occurred_on=date(2025, 5, 1), channel="visit", themes=["development"],
            asked="相談", wishes="", direction="",
            household=NewHousehold(guardians=[Guardian("開示 花子", "母")],
                                   children=[Child("開示 たろう", date(2022, 5, 1))],
                                   pregnancy=None),
            consent=NewConsent("開示 花子", "母", date(2025, 5, 1), "相談記録の作成"))).household_id
        publisher = ObjectStoreDisclosurePublisher(services.objects, disclosure_secret(services),
                                                   rt.space)
        export = uuid.uuid4()
        digest = publisher.publish(household, export, "json", DOCUMENT, rt.casework.keyring)
        publisher.publish(household, export, "html", HTML, rt.casework.keyring)
        stored, info = services.objects.get(disclosure_key(rt.space, household, export, "json"))
        assert is_sealed(stored) and "開示".encode() not in stored
        assert info.sha256 == digest  # the event records the stored bytes' digest
        # An export stored before sealed objects: one envelope under the household key.
        legacy = uuid.uuid4()
        services.objects.put(disclosure_key(rt.space, household, legacy, "json"),
                             rt.casework.keyring.seal(household, DOCUMENT,
                                                      disclosure_aad(legacy, "json")),
                             content_type="application/octet-stream")
    json_link, html_link = (publisher.link(household, export, f) for f in ("json", "html"))
    opened = client.get(json_link)
    assert opened.status_code == 200 and opened.content == DOCUMENT
    assert opened.headers["content-type"].startswith("application/json")
    assert client.get(html_link).content == HTML
    assert client.get(publisher.link(household, legacy, "json")).content == DOCUMENT

    # The JSON file's bytes put in the HTML file's place: the object key is bound in.
    html_key = disclosure_key(f"t_{CITY_A}", household, export, "html")
    services.objects.put(html_key, stored, content_type="application/octet-stream")
    swapped = client.get(html_link)
    assert swapped.status_code == 409, swapped.text
    assert swapped.json()["detail"]["code"] == "object_integrity"
