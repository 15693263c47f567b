"""Offline sync next to the same write made online, as the case grows.

Figure: ``offline note sync s/op ÷ online note form s/op`` — the same support note on the
same case, written once through the console's online form (its one-time key, CSRF and
all) and once as an offline draft through ``/offline/sync`` (its idempotency key, the
case stamp compared inside the command, the new stamp answered).  The stamp reads one
event per consultation of the case, so the ratio is measured on cases of 1, 20 and 60
consultations.  Both go through the same app (TestClient, embedded SQLite), in
alternating short rounds; the ratio reported is the median of the per-round ratios.

    .venv/bin/python bench/bench_offline_sync.py [--n 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "console"))

CITY = "131016"
NPO = "npo-hidamari"


def _case(world: Any, consultations: int) -> str:
    from world import consultation_command

    from yorisoi.services.context import ActingContext, acting_as

    staff = ActingContext(user_id="bench", role="specialist", organisation_kind="contractor",
                          organisation_id=NPO, contract_id="contract-a-npo", site_id="a-hiroba")
    with world.services.runtimes.lease(CITY) as rt, acting_as(staff):
        done = rt.casework.record_consultation(consultation_command())
        for _ in range(consultations - 1):
            rt.casework.record_consultation(consultation_command(
                case_id=done.case_id, household=None, consent=None))
        rt.catch_up()
    return str(done.case_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20, help="writes per side per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from console_steps import csrf_of, sign_in
    from fastapi.testclient import TestClient
    from world import build_world

    from yorisoi.infra.http.app import create_app
    from yorisoi.infra.clock import japan_today
    from yorisoi.infra.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Settings(backend="sqlite", data_dir=Path(tmp), environment="test"))
        app = create_app(world.services.settings, world.services)
        client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        sign_in(client, "contractor", NPO, "npo-staff-1", "specialist", ("a-hiroba",))
        base = f"/console/m/{CITY}/offline"
        csrf = csrf_of(client.get(base).text)
        headers = {"X-Yorisoi-Offline": "1", "X-CSRF-Token": csrf,
                   "Content-Type": "application/json"}
        device = client.post(base + "/devices", content=json.dumps({"label": "bench"}),
                             headers=headers).json()["deviceId"]
        today = japan_today().isoformat()
        rows = []
        for size in (1, 20, 60):
            case_id = _case(world, size)
            stamp = client.post(base + "/pack", content=json.dumps(
                {"deviceId": device, "caseIds": [case_id]}), headers=headers).json()[
                    "cases"][0]["base"]
            form_url = f"/console/m/{CITY}/cases/{case_id}/notes/new"

            def online(form_url: str = form_url) -> None:
                page = client.get(form_url).text
                once = re.search(r'name="once" value="([^"]+)"', page).group(1)
                answer = client.post(form_url, data={
                    "csrf": csrf, "once": once, "kind": "progress", "writtenOn": today,
                    "body": "電話で様子を確認した"})
                assert answer.status_code == 303, answer.text

            def offline(case_id: str = case_id) -> None:
                nonlocal stamp
                draft = {"key": str(uuid.uuid4()), "kind": "note", "caseId": case_id,
                         "base": stamp, "resolution": None,
                         "capturedAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                         "fields": {"writtenOn": today, "kind": "progress",
                                    "body": "電話で様子を確認した"}}
                answer = client.post(base + "/sync", content=json.dumps(
                    {"deviceId": device, "draft": draft}), headers=headers)
                assert answer.status_code == 200, answer.text
                stamp = answer.json()["stamp"]

            for fn in (online, offline):  # warm up
                fn()
            ratios, on_times, off_times = [], [], []
            for r in range(args.rounds):
                order = (online, offline) if r % 2 == 0 else (offline, online)
                took = {}
                for fn in order:
                    start = time.perf_counter()
                    for _ in range(args.n):
                        fn()
                    took[fn.__name__] = (time.perf_counter() - start) / args.n
                ratios.append(took["offline"] / took["online"])
                on_times.append(took["online"])
                off_times.append(took["offline"])
            rows.append((size, statistics.median(ratios), statistics.median(on_times),
                         statistics.median(off_times)))
        client.close()
        world.services.close()
    print(f"offline sync of a note vs the online note form (n={args.n}, rounds={args.rounds})")
    print(f"{'consultations':>14} {'offline ÷ online':>17} {'online ms':>10} {'offline ms':>11}")
    for size, ratio, on, off in rows:
        print(f"{size:>14} {ratio:>17.2f} {on * 1000:>10.1f} {off * 1000:>11.1f}")


if __name__ == "__main__":
    main()
