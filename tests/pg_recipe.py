"""The suite's throwaway-cluster recipe (``tests/conftest.py``), for suites that start their own.

Loaded by its path: ``from conftest import …`` finds whichever ``conftest`` module
was imported first in the session (``tests/console/conftest.py`` in a full run).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_NAME = "yorisoi_tests_pg_cluster"


def suite_conftest() -> ModuleType:
    if _NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            _NAME, Path(__file__).resolve().parent / "conftest.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[_NAME] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[_NAME]
