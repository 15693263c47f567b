"""Shared pieces of the benchmarks: a provisioned municipality, the raw baseline table,
timing in interleaved rounds, and machine facts.

Every figure the benchmarks report is a ratio against a raw psycopg baseline measured in
the same run, on the same database, with the same connection settings: the machines are
shared and noisy, so absolute times mean little.  Service and baseline run in alternating
rounds, so drift in the machine's load hits both sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

CITY = "131016"
RAW_SCHEMA = "bench_raw"

# Who the benchmark acts as (every stored event carries it, so its size counts).
ACTOR = {"user_id": "bench-specialist-0001", "role": "specialist",
         "organisation_kind": "contractor", "organisation_id": "npo-hidamari",
         "contract_id": "contract-a-npo", "site_id": "a-hiroba"}


def acting_context():
    from yorisoi.services.context import ActingContext

    return ActingContext(**ACTOR, request_id=str(uuid.uuid4()), trace_id=uuid.uuid4().hex)


def configure_production_telemetry(enabled: bool) -> None:
    """As ``yorisoi serve`` does: the SDK tracer provider records every span.

    With ``OTEL_TRACES_EXPORTER`` unset nothing is exported, but spans are still
    built; ``enabled=False`` leaves OpenTelemetry's no-op proxy in place instead.
    """
    if enabled:
        from yorisoi.infra.telemetry import configure_telemetry

        configure_telemetry()


# --------------------------------------------------------------------------- #
# World
# --------------------------------------------------------------------------- #


@dataclass
class World:
    settings: Any
    key_provider: Any
    code: str
    runtime: Any  # yorisoi.tenants.runtime.TenantRuntime

    @property
    def space(self) -> str:
        return self.runtime.space

    def fresh_runtime(self):
        """A new runtime for the same municipality: cold key cache, new pool."""
        from yorisoi.tenants.runtime import TenantRuntime

        return TenantRuntime(self.settings, self.code, self.key_provider)

    def close(self) -> None:
        self.runtime.close()


MUNICIPALITIES = {"131016": ("千代田区", "東京都"), "141003": ("横浜市", "神奈川県"),
                  "271004": ("大阪市", "大阪府"), "131041": ("新宿区", "東京都"),
                  "271403": ("堺市", "大阪府"), "272035": ("豊中市", "大阪府")}


def municipality_code(five: str) -> str:
    """A valid 全国地方公共団体コード: the five digits and their check digit (mod 11)."""
    total = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2), strict=True))
    return five + str((11 - total % 11) % 10)


def provision(settings: Any, code: str = CITY) -> World:
    """The platform space (idempotent) and one municipality, as operators provision them."""
    from yorisoi.infra.wiring.bootstrap import OPERATOR, init_platform
    from yorisoi.infra.keys import build_key_provider
    from yorisoi.services.context import acting_as
    from yorisoi.tenants.directory import TenantDirectory
    from yorisoi.tenants.runtime import TenantRuntime

    init_platform(settings)
    key_provider = build_key_provider(settings)
    directory = TenantDirectory(settings, key_provider)
    try:
        with acting_as(OPERATOR):
            name, prefecture = MUNICIPALITIES[code]
            directory.provision_municipality(code=code, name=name, prefecture=prefecture)
    finally:
        directory.close()
    return World(settings, key_provider, code, TenantRuntime(settings, code, key_provider))


def yesterday() -> date:
    from yorisoi.infra.clock import japan_today

    return japan_today() - timedelta(days=1)


def new_household():
    from yorisoi.domain.households import Child, Guardian
    from yorisoi.services.casework import NewHousehold

    return NewHousehold(guardians=[Guardian(name="架空 花子", relationship="母")],
                        children=[Child(name="架空 たろう", birth_date=date(2024, 5, 1))],
                        pregnancy=None)


ASKED = "二歳の子のことばが遅いのが心配。保育園の先生にも言われて、どこに相談すればよいか分からない。"
WISHES = "相談できる所を知りたい。同じ年頃の子の親とも話してみたい。"
DIRECTION = "発達相談の案内。次回ひろばで様子を一緒に見ることにした。"


def consultation(case_id: uuid.UUID | None = None, *, household: Any = None,
                 code: str = CITY):
    """A realistic RecordConsultation (texts of the length specialists type)."""
    from yorisoi.services.casework import RecordConsultation
    from yorisoi.services.consent import NewConsent

    # A new household's first record carries the family's consent, as in production.
    consent = (NewConsent(given_by="架空 花子", relationship="母", given_on=yesterday(),
                          scope="相談記録の作成") if household is not None else None)
    return RecordConsultation(
        municipality_code=code, site_id=ACTOR["site_id"], contract_id=ACTOR["contract_id"],
        occurred_on=yesterday(), channel="visit", themes=["development", "daily_worries"],
        asked=ASKED, wishes=WISHES, direction=DIRECTION,
        case_id=case_id, household=household, consent=consent,
        writable_contract_ids=[ACTOR["contract_id"]])


# --------------------------------------------------------------------------- #
# The raw baseline
# --------------------------------------------------------------------------- #


def raw_connect(cluster: Any):
    """A connection as the application role, set up as the library sets up its pool's."""
    conn = cluster.connect("app", row_factory=dict_row)
    conn.autocommit = True
    conn.execute("SET idle_in_transaction_session_timeout = '10000ms'")
    return conn


def create_raw_table(cluster: Any, name: str) -> str:
    """A table shaped like the library's events table; returns its qualified name."""
    with cluster.connect("owner", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        conn.execute(f"GRANT USAGE ON SCHEMA {RAW_SCHEMA} TO yorisoi_app")
        conn.execute(
            f"CREATE TABLE {RAW_SCHEMA}.{name} (originator_id uuid NOT NULL,"
            " originator_version bigint NOT NULL, topic text, state bytea,"
            " notification_id bigserial, PRIMARY KEY (originator_id, originator_version))")
        conn.execute(f"CREATE UNIQUE INDEX {name}_nid ON {RAW_SCHEMA}.{name} (notification_id)")
        conn.execute(f"GRANT SELECT, INSERT ON {RAW_SCHEMA}.{name} TO yorisoi_app")
        conn.execute(f"GRANT USAGE ON SEQUENCE {RAW_SCHEMA}.{name}_notification_id_seq"
                     " TO yorisoi_app")
    return f"{RAW_SCHEMA}.{name}"


def stored_samples(cluster: Any, space: str, events_table: str
                   ) -> dict[str, list[tuple[str, bytes]]]:
    """Stored (topic, state) of the tenant's events, by topic's short name."""
    samples: dict[str, list[tuple[str, bytes]]] = {}
    with cluster.connect("owner") as conn:
        for topic, state in conn.execute(
                f'SELECT topic, state FROM "{space}".{events_table} ORDER BY notification_id'):
            samples.setdefault(topic.rsplit(":", 1)[-1], []).append((topic, bytes(state)))
    return samples


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #


@dataclass
class Pair:
    """A service figure and its raw baseline, measured in interleaved rounds."""

    name: str
    unit: str  # "ops/s" or "events/s"
    service_units: int = 0
    service_seconds: float = 0.0
    raw_units: int = 0
    raw_seconds: float = 0.0
    round_ratios: list[float] = field(default_factory=list)
    target: float | None = None
    note: str = ""

    def add(self, service: tuple[int, float], raw: tuple[int, float]) -> None:
        self.service_units += service[0]
        self.service_seconds += service[1]
        self.raw_units += raw[0]
        self.raw_seconds += raw[1]
        self.round_ratios.append((service[0] / service[1]) / (raw[0] / raw[1]))

    @property
    def service_rate(self) -> float:
        return self.service_units / self.service_seconds

    @property
    def raw_rate(self) -> float:
        return self.raw_units / self.raw_seconds

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios: robust to one round the machine disturbed."""
        return statistics.median(self.round_ratios)

    @property
    def pooled_ratio(self) -> float:
        """All service work over all baseline work (the rates in the table)."""
        return self.service_rate / self.raw_rate

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "unit": self.unit,
            "service_rate": round(self.service_rate, 1), "raw_rate": round(self.raw_rate, 1),
            "ratio": round(self.ratio, 4),  # median of the per-round ratios
            "pooled_ratio": round(self.pooled_ratio, 4),
            "round_ratios": [round(r, 4) for r in self.round_ratios],
            "target": self.target, "note": self.note,
            "service_units": self.service_units, "raw_units": self.raw_units,
        }


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    """(units done, seconds) of one call."""
    start = time.perf_counter()
    units = fn()
    return units, time.perf_counter() - start


def split(n: int, rounds: int) -> list[int]:
    base, extra = divmod(n, rounds)
    return [base + (1 if i < extra else 0) for i in range(rounds) if base or i < extra]


def print_table(pairs: list[Pair], out: Any = sys.stdout) -> None:
    print(f"{'figure':48} {'service':>12} {'raw':>12} {'ratio':>7} {'per round':>13}"
          f" {'target':>7}", file=out)
    for p in pairs:
        unit = "/s"
        spread = f"{min(p.round_ratios):.1%}–{max(p.round_ratios):.1%}"
        target = f"≥{p.target:.0%}" if p.target else ""
        print(f"{p.name:48} {p.service_rate:>10,.0f}{unit} {p.raw_rate:>10,.0f}{unit}"
              f" {p.ratio:>7.1%} {spread:>13} {target:>7}", file=out)


# --------------------------------------------------------------------------- #
# Machine facts
# --------------------------------------------------------------------------- #


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(cluster: Any) -> dict[str, Any]:
    import eventsourcing
    import psycopg

    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    try:
        with open("/proc/meminfo") as meminfo:
            mem_kb = int(next(line.split()[1] for line in meminfo
                              if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        mem_kb = 0
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=here, check=False).stdout.strip()
        # Uncommitted changes to product code make the commit alone not describe the run.
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", ":/", ":!/bench", ":!/docs", ":!/tests"],
            capture_output=True, text=True, cwd=here, check=False).stdout.strip()
        if commit and changed:
            commit += f"+{len(changed.splitlines())} uncommitted"
    except OSError:
        commit = ""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(), "cpu": _cpu_model(), "memory_gb": round(mem_kb / 2**20, 1),
        "load_average_at_start": [round(x, 2) for x in load],
        "os": platform.platform(), "python": platform.python_version(),
        "postgres": cluster.server_version(),
        "postgres_durable": cluster.durable,
        "eventsourcing": getattr(eventsourcing, "__version__", "9.5.6"),
        "psycopg": psycopg.__version__, "git_commit": commit,
    }


def settle() -> None:
    """Collect garbage before a timed section, so one side does not pay for the other's."""
    import gc

    gc.collect()


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)
