"""Re-sealing clear objects (stored before sealing existed): in place, idempotent, resumable."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from world import CITY_A, build_world

from yorisoi.domain.households import Child, Guardian
from yorisoi.infra import cli
from yorisoi.infra.cli.reseal import reseal_space
from yorisoi.infra.http.app import create_app
from yorisoi.infra.http.rest import file_link
from yorisoi.infra.sealed_objects import ObjectKeyDestroyedError, SealedObjects, is_sealed
from yorisoi.infra.settings import get_settings
from yorisoi.services.casework import NewHousehold, RecordConsultation
from yorisoi.services.consent import NewConsent
from yorisoi.services.context import ActingContext, acting_as

SPACE = f"t_{CITY_A}"
STAFF = ActingContext(user_id="a-specialist", role="specialist", organisation_kind="municipality",
                      organisation_id=CITY_A, site_id="a-counter")
FORM = "%PDF-1.4 同意書 再封緘 花子 ".encode() * 5000  # beyond one chunk
PLEDGE = "%PDF-1.4 誓約書 再封緘 健太".encode()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def any_world(request: pytest.FixtureRequest, backend_settings: Any) -> Any:
    settings = backend_settings
    if request.param == "s3":
        settings = settings.model_copy(update={
            "storage": "s3", "s3_endpoint_url": request.getfixturevalue("s3_env"),
            "s3_bucket": f"yorisoi-reseal-{uuid.uuid4().hex[:12]}"})
    built = build_world(settings)
    built.services.objects.ensure_bucket()
    yield built
    built.services.close()


def _raw(world: Any) -> dict[str, bytes]:
    """Every stored byte: each version of each key (S3), each file (local)."""
    settings = world.services.settings
    if settings.storage == "s3":
        s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url,
                          region_name=settings.s3_region)
        found = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=settings.s3_bucket):
            for v in page.get("Versions", []):
                got = s3.get_object(Bucket=settings.s3_bucket, Key=v["Key"],
                                    VersionId=v["VersionId"])
                found[f"{v['Key']}@{v['VersionId']}"] = got["Body"].read()
        return found
    root = Path(settings.objects_dir)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _clear_in(world: Any) -> set[str]:
    return {key for key, data in _raw(world).items()
            if "再封緘".encode() in data or b"%PDF" in data}


class _Interrupted(Exception):
    pass


class _FailingAfter:
    """A store that fails on its n-th streamed write (a crash half-way through)."""

    def __init__(self, objects: Any, n: int) -> None:
        self.objects, self.left = objects, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.objects, name)

    def put_stream(self, *args: Any, **kwargs: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _Interrupted
        return self.objects.put_stream(*args, **kwargs)


def test_clear_objects_are_resealed_in_place_idempotently_and_resumably(any_world):
    world = any_world
    services = world.services
    with services.runtimes.lease(CITY_A) as rt:
        with acting_as(STAFF):
            recorded = rt.casework.record_consultation(RecordConsultation(
                municipality_code=CITY_A, site_id="a-counter", contract_id=None,
                occurred_on=date(2024, 5, 1), channel="visit", themes=["development"],
                asked="相談", wishes="", direction="",
                household=NewHousehold(guardians=[Guardian("再封緘 花子", "母")],
                                       children=[Child("再封緘 たろう", date(2021, 5, 1))],
                                       pregnancy=None),
                consent=NewConsent("再封緘 花子", "母", date(2024, 5, 1), "相談記録の作成")))
        household = recorded.household_id
        # As stored before sealing existed: in clear, with its type as clear metadata.
        attachments = [f"{SPACE}/households/{household}/attachments/{uuid.uuid4()}"
                       for _ in range(3)]
        for key in attachments:
            services.objects.put(key, FORM, content_type="application/pdf")
        staff = uuid.uuid4()
        pledge = f"{SPACE}/staff/{staff}/pledge/{uuid.uuid4()}"
        services.objects.put(pledge, PLEDGE, content_type="image/png")
        packet = f"{SPACE}/households/{household}/referrals/{uuid.uuid4()}.json"
        services.objects.put(packet, b"\x01sealed-envelope",
                             content_type="application/octet-stream")
        assert len(_clear_in(world)) == 4

        # Interrupted after the first object: what was done stays done.
        with pytest.raises(_Interrupted):
            reseal_space(_FailingAfter(services.objects, 1), rt.casework.keyring, SPACE)
        first = reseal_space(services.objects, rt.casework.keyring, SPACE)
        assert (first.sealed, first.already, first.removed) == (3, 1, 0)
        assert _clear_in(world) == set()  # on S3: the older clear versions are gone too
        again = reseal_space(services.objects, rt.casework.keyring, SPACE)
        assert (again.sealed, again.already, again.old_versions) == (0, 4, 0)

        sealed = SealedObjects(services.objects, rt.casework.keyring)
        for key in attachments:
            assert is_sealed(services.objects.get(key)[0])
            opened = sealed.open(key, household)
            assert (opened.content_type, b"".join(opened.chunks)) == ("application/pdf", FORM)
            assert services.objects.get(key)[1].content_type == "application/octet-stream"
        opened = sealed.open(pledge, staff)
        assert (opened.content_type, b"".join(opened.chunks)) == ("image/png", PLEDGE)
        assert services.objects.get(packet)[0] == b"\x01sealed-envelope"  # not touched

    # The application's link opens the re-sealed file.
    with TestClient(create_app(services.settings, services)) as client:
        response = client.get(file_link(services, attachments[0]))
        assert response.status_code == 200 and response.content == FORM


def test_a_clear_copy_of_a_disposed_household_is_removed(sqlite_settings):
    world = build_world(sqlite_settings)
    services = world.services
    try:
        with services.runtimes.lease(CITY_A) as rt:
            household = uuid.uuid4()
            rt.casework.keyring.for_writing(household)
            rt.casework.keyring.destroy(household)  # SQLite: no batch needed
            key = f"{SPACE}/households/{household}/attachments/{uuid.uuid4()}"
            services.objects.put(key, FORM, content_type="application/pdf")
            # Not handed out meanwhile either: the household is disposed of.
            with pytest.raises(ObjectKeyDestroyedError):
                SealedObjects(services.objects, rt.casework.keyring).open(key, household)
            report = reseal_space(services.objects, rt.casework.keyring, SPACE)
        assert (report.sealed, report.removed) == (0, 1)
        assert not services.objects.exists(key)
    finally:
        services.close()


def test_the_demo_stores_nothing_in_clear_and_the_cli_reseals_what_predates_sealing(
        tmp_path, monkeypatch):
    """`yorisoi demo` seals its pledge as it stores it; a clear copy such as an older
    version left behind is sealed in place by `storage reseal`, and opens the same."""
    from yorisoi.infra.wiring.bootstrap import Services

    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    try:
        runner = CliRunner()

        def invoke(*args: str) -> str:
            result = runner.invoke(cli.app, list(args), catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output

        invoke("platform", "init")
        invoke("demo")
        objects = tmp_path / "objects"
        files = [p for p in objects.rglob("*") if p.is_file()]
        assert files and all(is_sealed(p.read_bytes().partition(b"\n")[2]) for p in files)
        assert "0 sealed" in invoke("storage", "reseal")

        # The pledge as a version before sealing stored it: in clear.
        services = Services(get_settings())
        try:
            with services.runtimes.lease(CITY_A) as runtime:
                [key] = [k for k in services.objects.keys(f"{runtime.space}/staff/")
                         if "/pledge/" in k]
                opened = SealedObjects(services.objects, runtime.casework.keyring).open(
                    key, uuid.UUID(key.split("/")[-3]))
                pledge = b"".join(opened.chunks)
                services.objects.put(key, pledge, content_type="application/pdf")
        finally:
            services.close()
        assert "1 sealed" in invoke("storage", "reseal")
        for path in objects.rglob("*"):
            if path.is_file():
                assert b"%PDF" not in path.read_bytes().partition(b"\n")[2]
        assert "0 sealed" in invoke("storage", "reseal", "--tenant", CITY_A)
    finally:
        get_settings.cache_clear()


def test_the_embedded_server_seals_the_demo_on_start(tmp_path, monkeypatch):
    """`yorisoi serve` (embedded) loads the demo and leaves no file in clear, at once."""
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    try:
        cli._embedded_setup()
        cli._embedded_setup()  # a second start: nothing left to do, nothing broken
        files = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
        assert files
        for path in files:
            body = path.read_bytes().partition(b"\n")[2]
            assert b"%PDF" not in body
            assert is_sealed(body) or "/referrals/" in path.as_posix()
    finally:
        get_settings.cache_clear()
