"""Readiness: whether this process can serve a request now, probed in the background.

``/readyz`` is asked every few seconds by a load balancer or an orchestrator, and
most often exactly when things are bad: it must answer at once, from the last
probe, never by waiting on a pool or a dead server itself.  A daemon thread
probes every ``readiness_probe_seconds`` what a request needs:

* **database** — one connection of the prober's own runs ``SELECT 1`` (and is
  made again after a failure); its verdict also closes (or opens) the process's
  "database is down" circuit (``infra/outages.py``), so requests resume the moment
  the server is back instead of waiting for a request to try; then the registry
  answers through the application's own pool.
* **keys** — each municipality's key-encryption key wraps and unwraps a random
  key (a missing key file, a disabled KMS key: not ready, naming the municipality
  by its code — an organisation, nothing personal).  Key files every round; with
  KMS active tenants every round, the others a few per round, a good answer kept
  a minute.
* **storage** — the object store answers a lookup.

The answer names the failed checks only by kind (``database``, ``keys``,
``storage``): never an exception's text.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from yorisoi.infra.outages import database_circuit

_log = logging.getLogger("yorisoi.readiness")

KEY_RECHECK_SECONDS = 60.0
KEYS_PER_ROUND = 16
_PROBE_OBJECT = "readiness-probe"


@dataclass
class Verdict:
    checks: dict[str, str] = field(default_factory=dict)  # check → "ok" / "unavailable" / …
    tenants_without_key: list[str] = field(default_factory=list)
    at: float = 0.0

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(v == "ok" for v in self.checks.values())

    def body(self) -> dict[str, Any]:
        if self.ready:
            return {"status": "ready"}
        body: dict[str, Any] = {"status": "unavailable",
                                "checks": dict(sorted(self.checks.items()))}
        if self.tenants_without_key:
            body["tenantsWithoutKey"] = sorted(self.tenants_without_key)
        return body


class Readiness:
    """The background prober of one process (``start`` / ``stop``) and its last verdict."""

    def __init__(self, services: Any, interval: float | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.interval = interval or self.settings.readiness_probe_seconds
        self.verdict = Verdict(checks={"database": "starting"})
        self._conn: Any = None
        self._keys_ok: dict[str, float] = {}  # municipality code → when its key last worked
        self._missing: set[str] = set()
        self._said: dict[str, str] = {}  # check → the failure last logged
        self._cursor = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Readiness:
        """The first probe now (so the first answer is a real one), then every interval."""
        self.probe()
        self._thread = threading.Thread(target=self._run, name="yorisoi-readiness",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.probe()

    # -- probes ---------------------------------------------------------------

    def probe(self) -> Verdict:
        checks: dict[str, str] = {}
        checks["database"] = self._database()
        codes: list[str] = []
        if checks["database"] == "ok":
            try:
                codes = [t.tenant_id for t in self.services.directory.registry.municipalities()]
            except Exception as error:  # noqa: BLE001 - any failure means not ready
                self._say("registry", f"the registry did not answer ({type(error).__name__})")
                checks["database"] = "unavailable"
        if checks["database"] == "ok":
            checks["keys"] = self._keys(codes)
        checks["storage"] = self._storage()
        for check, state in checks.items():
            if state == "ok" and self._said.pop(check, None) is not None:
                _log.warning("readiness: %s ok again", check)
        if checks.get("database") == "ok":
            self._said.pop("registry", None)
        self.verdict = Verdict(checks, sorted(self._missing), time.monotonic())
        return self.verdict

    def _say(self, check: str, what: str) -> None:
        """Log a failing check when it starts failing, not at every probe (each second)."""
        if self._said.get(check) != what:
            self._said[check] = what
            _log.warning("readiness: %s", what)

    def _database(self) -> str:
        if self.settings.backend != "postgres":
            return "ok"  # SQLite files: the registry read below is the check
        circuit = database_circuit(self.settings)
        try:
            if self._conn is None or self._conn.closed:
                import psycopg

                s = self.settings
                self._conn = psycopg.connect(
                    host=s.pg_host, port=s.pg_port, dbname=s.pg_dbname, user=s.pg_user,
                    password=s.pg_password.get_secret_value(), autocommit=True,
                    connect_timeout=s.pg_connect_timeout_seconds,
                    application_name="yorisoi-readiness")
            self._conn.execute("SELECT 1")
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            self._close()
            circuit.failed(error)
            return "unavailable"
        circuit.succeeded()
        return "ok"

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001, S110 - it is being thrown away
                pass
            self._conn = None

    def _due_keys(self, codes: list[str]) -> list[str]:
        """Active tenants and the ones missing a key, then a few others in turn."""
        # Key files cost a stat and an AES operation: all of them, every round (a few
        # hundred at most per round); KMS costs two calls a key: each a minute, a few a round.
        local = getattr(self.services.key_provider, "name", "") == "local"
        recheck, per_round = (0.0, 256) if local else (KEY_RECHECK_SECONDS, KEYS_PER_ROUND)
        now = time.monotonic()
        active = set(self.services.runtimes.active()) & set(codes)
        due = [c for c in codes if c in active or c in self._missing
               or now - self._keys_ok.get(c, -recheck) >= recheck]
        first = [c for c in due if c in active or c in self._missing]
        rest = [c for c in due if c not in first]
        if rest:
            start = self._cursor % len(rest)
            rest = (rest[start:] + rest[:start])[:per_round]
            self._cursor += per_round
        return first + rest

    def _keys(self, codes: list[str]) -> str:
        from yorisoi.infra.keys import TenantKeyMissingError
        from yorisoi.tenants.spaces import municipality_space

        provider = self.services.key_provider
        self._missing &= set(codes)
        unreachable = False
        for code in self._due_keys(codes):
            probe, context = os.urandom(32), {"purpose": "readiness"}
            try:
                space = municipality_space(code)
                if provider.unwrap(space, provider.wrap(space, probe, context), context) != probe:
                    raise TenantKeyMissingError(code)
            except TenantKeyMissingError:
                if code not in self._missing:
                    _log.warning("readiness: municipality %s has no usable key", code)
                self._missing.add(code)
                continue
            except Exception as error:  # noqa: BLE001 - the provider is unreachable
                self._say("keys", f"the key provider did not answer ({type(error).__name__})")
                unreachable = True
                break
            self._missing.discard(code)
            self._keys_ok[code] = time.monotonic()
        if unreachable:
            return "unavailable"
        return "missing" if self._missing else "ok"

    def _storage(self) -> str:
        try:
            self.services.objects.exists(_PROBE_OBJECT)
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            self._say("storage", f"object storage did not answer ({type(error).__name__})")
            return "unavailable"
        return "ok"

    # -- the answer -----------------------------------------------------------

    def answer(self) -> tuple[int, dict[str, Any]]:
        verdict = self.verdict
        registry = getattr(self.services.directory, "registry", None)
        if getattr(registry, "_closed", False):  # this process is shutting down its services
            return 503, {"status": "unavailable", "checks": {"database": "closed"}}
        if verdict.ready and database_circuit(self.settings).is_open \
                and self.settings.backend == "postgres":
            # Requests saw the database go since the last probe: not ready either.
            verdict = Verdict({**verdict.checks, "database": "unavailable"},
                              verdict.tenants_without_key, verdict.at)
        return (200 if verdict.ready else 503), verdict.body()
