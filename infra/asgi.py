"""The ASGI application built from the environment: what each of N server processes runs.

``yorisoi serve --workers N`` (or ``uvicorn --factory yorisoi.infra.asgi:application
--workers N``, or gunicorn with uvicorn workers) starts N processes; each
builds its own services from the same ``YORISOI_*`` settings.  Nothing a
request relies on lives only in one process: the aggregate and registry
caches validate against the database on use, rate limits and console
sign-outs are shared through the database, and read models are caught up
from the log by whichever process (or the worker) gets there first.
"""

from __future__ import annotations

from typing import Any


def application() -> Any:
    from yorisoi.infra.app import create_app
    from yorisoi.infra.settings import get_settings

    return create_app(get_settings())
