"""Finding a family at 100,000 households: a name search's p95 against an unfiltered page's.

One municipality on PostgreSQL holds ``--households`` households (default 100,000), each
with a case.  The population is written in bulk, straight into the read models, as the
projections would have written it — household keys wrapped by the tenant key, the household
row sealed under its key, the case row, the blind-index tokens computed by the index's own
``household_tokens`` — because a hundred thousand commands would take an hour.  The
households searched for come from real commands (``record_consultation`` with readings and
phones), projected by the real projector.  Names are drawn from common surnames and given
names, so a full-name search meets namesakes and a reading meets homophones.

Both figures go through the production GraphQL schema in-process (every extension, the
access log on), as a municipal supervisor (the need to know, every site):

* search — ``cases(first: 20, filter: {text: …})`` with a searched family's full name in
  kanji, or in katakana reading, alternately (token lookup, candidate confirmation after
  decryption, the page and its totalCount, the access-log rows);
* page — ``cases(first: 20)`` unfiltered (the count over every case and the first page).

Both select the same fields (the households' guardians).  Rounds alternate the two, and the
p95 of each is printed with the ratio search ÷ page (target ≤ 2).

    .venv/bin/python bench/bench_search.py [--households 100000] [--rounds 6] [--requests 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from typing import Any

from common import CITY, acting_context, configure_production_telemetry, consultation, settle

SURNAMES = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("髙橋", "タカハシ"), ("田中", "タナカ"),
            ("伊藤", "イトウ"), ("渡邊", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
            ("小林", "コバヤシ"), ("加藤", "カトウ"), ("𠮷田", "ヨシダ"), ("山田", "ヤマダ"),
            ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
            ("木村", "キムラ"), ("林", "ハヤシ"), ("齋藤", "サイトウ"), ("清水", "シミズ"),
            ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
            ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"),
            ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"), ("岡田", "オカダ"),
            ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
            ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト")]
GUARDIAN_NAMES = [("美咲", "ミサキ"), ("陽子", "ヨウコ"), ("恵子", "ケイコ"), ("由美", "ユミ"),
                  ("真由美", "マユミ"), ("智子", "トモコ"), ("直美", "ナオミ"), ("愛", "アイ"),
                  ("彩", "アヤ"), ("舞", "マイ"), ("麻衣", "マイ"), ("奈々", "ナナ"),
                  ("健太", "ケンタ"), ("大輔", "ダイスケ"), ("翔太", "ショウタ"), ("拓也", "タクヤ"),
                  ("亮", "リョウ"), ("誠", "マコト"), ("剛", "ツヨシ"), ("修", "オサム"),
                  ("香織", "カオリ"), ("瞳", "ヒトミ"), ("沙織", "サオリ"), ("理恵", "リエ"),
                  ("千尋", "チヒロ"), ("結衣", "ユイ"), ("明美", "アケミ"), ("久美子", "クミコ")]
CHILD_NAMES = [("陽翔", "ハルト"), ("蓮", "レン"), ("湊", "ミナト"), ("蒼", "アオイ"),
               ("樹", "イツキ"), ("悠真", "ユウマ"), ("大和", "ヤマト"), ("結翔", "ユイト"),
               ("陽葵", "ヒマリ"), ("凛", "リン"), ("芽依", "メイ"), ("紬", "ツムギ"),
               ("結菜", "ユイナ"), ("葵", "アオイ"), ("澪", "ミオ"), ("咲良", "サクラ"),
               ("莉子", "リコ"), ("美月", "ミツキ"), ("颯", "ハヤテ"), ("律", "リツ")]
# Surnames as in Japan: the 40 commonest hold about a quarter of the population (佐藤 ~1.5%,
# falling to ~0.3%), the rest a long tail (here ~900 two-kanji names of ~0.08% each).
_PARTS = [("山", "ヤマ"), ("川", "カワ"), ("中", "ナカ"), ("石", "イシ"), ("松", "マツ"),
          ("竹", "タケ"), ("森", "モリ"), ("原", "ハラ"), ("大", "オオ"), ("小", "コ"),
          ("長", "ナガ"), ("北", "キタ"), ("西", "ニシ"), ("岡", "オカ"), ("宮", "ミヤ"),
          ("藤", "フジ"), ("浜", "ハマ"), ("谷", "タニ"), ("平", "ヒラ"), ("福", "フク"),
          ("今", "イマ"), ("吉", "ヨシ"), ("清", "キヨ"), ("安", "ヤス"), ("内", "ウチ"),
          ("金", "カネ"), ("野", "ノ"), ("田", "タ"), ("村", "ムラ"), ("沢", "サワ")]
_TAIL = [(a + b, ar + br) for a, ar in _PARTS for b, br in _PARTS if a != b]
SURNAME_POOL = SURNAMES + _TAIL
_SURNAME_WEIGHTS = ([0.25 * (1 / (rank + 4)) / sum(1 / (r + 4) for r in range(len(SURNAMES)))
                     for rank in range(len(SURNAMES))]
                    + [0.75 / len(_TAIL)] * len(_TAIL))
SITES = ["a-hiroba", "a-counter", "b-hiroba", "c-center"]

SEARCH = """query Search($code: String, $text: String!) {
  cases(municipalityCode: $code, first: 20, filter: {text: $text}) { totalCount
    edges { node { id status household { guardians { name } } } } } }"""
PAGE = """query Page($code: String) {
  cases(municipalityCode: $code, first: 20) { totalCount
    edges { node { id status household { guardians { name } } } } } }"""


def person_draw(rng: random.Random) -> tuple[tuple[str, str], tuple[str, str], tuple[str, str],
                                             tuple[str, str]]:
    """(surname, guardian name, second guardian name, child name), surnames Zipf-weighted."""
    surname = rng.choices(SURNAME_POOL, weights=_SURNAME_WEIGHTS)[0]
    return (surname, rng.choice(GUARDIAN_NAMES), rng.choice(GUARDIAN_NAMES),
            rng.choice(CHILD_NAMES))


def family(rng: random.Random, i: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    (sur, sur_r), (g1, g1_r), (g2, g2_r), (c, c_r) = person_draw(rng)
    guardians = [{"name": f"{sur} {g1}", "relationship": "母", "reading": f"{sur_r} {g1_r}",
                  "phone": f"090-{i // 10000 % 10000:04d}-{i % 10000:04d}"}]
    if rng.random() < 0.6:
        guardians.append({"name": f"{sur} {g2}", "relationship": "父",
                          "reading": f"{sur_r} {g2_r}", "phone": None})
    born = date(2016, 1, 1) + timedelta(days=rng.randrange(365 * 9))
    children = [{"name": f"{sur} {c}", "birth_date": born.isoformat(), "reading": f"{sur_r} {c_r}"}]
    return guardians, children


# --------------------------------------------------------------------------- population


def bulk_population(cluster: Any, world: Any, households: int, seed: int = 7) -> None:
    """``households`` households with a case each, written straight into the read models."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from yorisoi.projections.case_view import household_aad
    from yorisoi.projections.household_index import household_tokens
    from yorisoi.services.index_key import HouseholdIndexKey

    rt = world.runtime
    keyring = rt.casework.keyring
    provider, tenant = keyring.provider, keyring.tenant
    index_key = HouseholdIndexKey(keyring)
    index_key.key()  # created (and committed) before the bulk transactions
    rng = random.Random(seed)
    space = rt.space
    today = date.today()
    started = time.perf_counter()
    tokens_written = 0
    # One connection per table: a connection runs one COPY at a time.
    conns = [cluster.connect("owner") for _ in range(4)]
    try:
        with conns[0].cursor().copy(
                f'COPY "{space}".household_keys (household_id, wrapped_key, created_at)'
                " FROM STDIN") as keys_copy, \
             conns[1].cursor().copy(
                f'COPY "{space}".household_view (household_id, sealed, registered_at)'
                " FROM STDIN") as households_copy, \
             conns[2].cursor().copy(
                f'COPY "{space}".case_view (case_id, household_id, municipality_code,'
                " site_id, contract_id, status, opened_on, last_activity_on,"
                " consultation_count, themes, version, position) FROM STDIN") as cases_copy, \
             conns[3].cursor().copy(
                f'COPY "{space}".household_index_token (token, household_id)'
                " FROM STDIN") as tokens_copy:
            for i in range(households):
                hid = str(uuid.uuid4())
                data_key = AESGCM.generate_key(bit_length=256)
                keys_copy.write_row((hid, provider.wrap(tenant, data_key, {"household": hid}),
                                     "2024-01-01T00:00:00+00:00"))
                guardians, children = family(rng, i)
                plain = json.dumps({"guardians": guardians, "children": children,
                                    "pregnancy_due_date": None, "outside_target_reason": None},
                                   ensure_ascii=False).encode()
                nonce = os.urandom(12)
                sealed = b"\x01" + nonce + AESGCM(data_key).encrypt(nonce, plain,
                                                                     household_aad(hid))
                households_copy.write_row((hid, sealed, "2024-01-01T00:00:00+00:00"))
                opened = today - timedelta(days=30 + rng.randrange(1500))
                activity = min(today - timedelta(days=1),
                               opened + timedelta(days=rng.randrange(200)))
                status = "closed" if rng.random() < 0.3 else "active"
                cases_copy.write_row((str(uuid.uuid4()), hid, world.code, rng.choice(SITES),
                                      None, status, opened.isoformat(), activity.isoformat(), 1,
                                      '["development"]', 1, 0))
                for token in household_tokens(index_key, guardians, children):
                    tokens_copy.write_row((token, hid))
                    tokens_written += 1
        for conn in conns:
            conn.commit()
        conns[0].autocommit = True
        # As autovacuum leaves them in production: statistics and the visibility map
        # (so the token lists are read by index-only scans).
        for table in ("household_keys", "household_view", "case_view", "household_index_token"):
            conns[0].execute(f'VACUUM ANALYZE "{space}".{table}')
    finally:
        for conn in conns:
            conn.close()
    print(f"bulk: {households:,} households, {tokens_written:,} tokens"
          f" ({tokens_written / households:.1f} per household) in"
          f" {time.perf_counter() - started:.0f} s", file=sys.stderr)


def searched_families(world: Any, count: int, seed: int = 11) -> list[dict[str, Any]]:
    """``count`` families recorded through real commands, projected by the real projector."""
    from yorisoi.domain.households import Child, Guardian
    from yorisoi.services.casework import NewHousehold
    from yorisoi.services.context import acting_as

    rng = random.Random(seed)
    made = []
    app = world.runtime.casework
    with acting_as(acting_context()):
        for i in range(count):
            guardians, children = family(rng, 900_000 + i)
            household = NewHousehold(
                guardians=[Guardian(g["name"], g["relationship"], reading=g["reading"],
                                    phone=g["phone"]) for g in guardians],
                children=[Child(c["name"], date.fromisoformat(c["birth_date"]),
                                reading=c["reading"]) for c in children],
                pregnancy=None)
            case_id = app.record_consultation(consultation(household=household)).case_id
            made.append({"case_id": str(case_id), "name": guardians[0]["name"],
                         "reading": guardians[0]["reading"], "phone": guardians[0]["phone"],
                         "child": children[0]})
    world.runtime.catch_up()
    return made


# --------------------------------------------------------------------------- timing


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def run(cluster: Any, world: Any, *, households: int, rounds: int, requests: int,
        searched: int = 30) -> dict[str, Any]:
    from yorisoi.graphql.context import YorisoiContext
    from yorisoi.graphql.schema import build_schema
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.tenants.access import Principal

    bulk_population(cluster, world, households)
    targets = searched_families(world, searched)
    services = Services(world.settings)
    schema = build_schema(production=True)
    reader = Principal(subject="bench-supervisor", tenant_kind="municipality",
                       tenant_id=world.code, roles=("municipal_supervisor",), sites=())

    async def execute(document: str, values: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        context = YorisoiContext(services, reader, str(uuid.uuid4()))
        start = time.perf_counter()
        result = await schema.execute(document, variable_values=values, context_value=context)
        elapsed = time.perf_counter() - start
        assert not result.errors, result.errors
        return elapsed, result.data or {}

    texts = [t["name"] if i % 2 == 0 else t["reading"] for i, t in enumerate(targets)]

    async def measure() -> dict[str, Any]:
        # Every searched family is found, through its name and its reading.
        found_counts = []
        for target, text in zip(targets, texts, strict=True):
            _, data = await execute(SEARCH, {"code": world.code, "text": text})
            ids = [e["node"]["id"] for e in data["cases"]["edges"]]
            found_counts.append(data["cases"]["totalCount"])
            assert target["case_id"] in ids or data["cases"]["totalCount"] > 20, text
        _, page = await execute(PAGE, {"code": world.code})
        assert page["cases"]["totalCount"] == households + searched
        searches: list[float] = []
        pages: list[float] = []
        for _ in range(3):  # warm-up
            await execute(PAGE, {"code": world.code})
            await execute(SEARCH, {"code": world.code, "text": texts[0]})
        for r in range(rounds):
            settle()
            for k in range(requests):
                text = texts[(r * requests + k) % len(texts)]
                if (r + k) % 2 == 0:
                    searches.append((await execute(SEARCH, {"code": world.code, "text": text}))[0])
                    pages.append((await execute(PAGE, {"code": world.code}))[0])
                else:
                    pages.append((await execute(PAGE, {"code": world.code}))[0])
                    searches.append((await execute(SEARCH, {"code": world.code, "text": text}))[0])
        # The duplicate check at registration: the same child (reading + birth date), the
        # same phone, the same name + birth date, as registering the family again would ask.
        from yorisoi.projections.household_index import HouseholdIndex, PersonQuery

        index = HouseholdIndex(world.runtime.casework.database, world.runtime.casework.keyring)
        checks: list[float] = []
        for r in range(rounds * requests):
            t = targets[r % len(targets)]
            people = [PersonQuery(name=t["child"]["name"], reading=t["child"]["reading"],
                                  birth_date=t["child"]["birth_date"]),
                      PersonQuery(name=t["name"], reading=t["reading"], phone=t["phone"])]
            start = time.perf_counter()
            matches = await asyncio.to_thread(index.likely_matches, people)
            checks.append(time.perf_counter() - start)
            assert matches, t["reading"]
        return {"households": households + searched, "search_p95_ms": 1000 * p95(searches),
                "duplicate_check_p95_ms": 1000 * p95(checks),
                "duplicate_check_median_ms": 1000 * statistics.median(checks),
                "page_p95_ms": 1000 * p95(pages),
                "search_median_ms": 1000 * statistics.median(searches),
                "page_median_ms": 1000 * statistics.median(pages),
                "ratio_p95": p95(searches) / p95(pages),
                "matches_per_search_median": statistics.median(found_counts),
                "samples": len(searches)}

    try:
        return asyncio.run(measure())
    finally:
        services.close()


def main() -> None:
    from common import provision
    from pgcluster import throwaway_cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=30, help="requests per side per round")
    parser.add_argument("--no-telemetry", action="store_true")
    args = parser.parse_args()
    configure_production_telemetry(not args.no_telemetry)
    started = time.perf_counter()
    with throwaway_cluster() as cluster:
        world = provision(cluster.settings(), CITY)
        try:
            figures = run(cluster, world, households=args.households, rounds=args.rounds,
                          requests=args.requests)
        finally:
            world.close()
    print(json.dumps(figures, indent=2))
    print(f"name search p95 {figures['search_p95_ms']:.1f} ms vs unfiltered cases(first: 20)"
          f" p95 {figures['page_p95_ms']:.1f} ms: ratio {figures['ratio_p95']:.2f}"
          f" (target ≤ 2) at {figures['households']:,} households; duplicate check p95"
          f" {figures['duplicate_check_p95_ms']:.1f} ms;"
          f" {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
