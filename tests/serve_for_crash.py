"""Serve the app for a crash test: ``python serve_for_crash.py PORT [--die-after-commit]``.

Settings come from the ``YORISOI_*`` environment.  With ``--die-after-commit``
the process ends (``os._exit``) the moment the first unit of work of a keyed
request has committed — after the events and the idempotency record are
durable, before any answer leaves: the failure a client cannot tell from a
lost request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from yorisoi.infra.db import Cursor, Database
from yorisoi.infra.http.app import create_app
from yorisoi.infra.settings import Settings
from yorisoi.infra.wiring.bootstrap import Services

CRASH_EXIT = 17

if "--die-after-commit" in sys.argv:
    committed = Database.unit_of_work

    @contextmanager
    def unit_then_die(self: Database) -> Iterator[Cursor]:
        with committed(self) as cursor:
            yield cursor
        os._exit(CRASH_EXIT)

    Database.unit_of_work = unit_then_die  # type: ignore[method-assign]

settings = Settings()
uvicorn.run(create_app(settings, Services(settings)), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
