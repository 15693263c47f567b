"""docs/operations.md and docs/architecture.md stay true to the code and to each other.

Every setting the application reads is documented for the operator; every decision
file is linked from the overview; links between the documents resolve.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from yorisoi.infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
OPERATIONS = (DOCS / "operations.md").read_text(encoding="utf-8")
OVERVIEW = (DOCS / "architecture.md").read_text(encoding="utf-8")
# Written by other engineers (runbooks, backups, Citus): checked once they exist.
ELSEWHERE = {"runbook-outages.md", "backup-restore.md", "citus.md"}


def local_links(text: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#")[0] for t in targets
            if not t.startswith(("http://", "https://", "#", "mailto:")) and t.split("#")[0]]


def test_every_setting_is_documented_for_the_operator():
    section = OPERATIONS.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [f"YORISOI_{name.upper()}" for name in Settings.model_fields
               if f"`YORISOI_{name.upper()}`" not in section]
    assert not missing, missing


def test_the_documented_metrics_are_the_ones_the_metrics_page_defines():
    section = OPERATIONS.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(yorisoi_[a-z_]+)`", section))
    assert len(named) >= 8
    metrics_page = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in metrics_page for name in named), named


def test_the_overview_links_every_decision_and_stays_short():
    linked = {Path(t).name for t in local_links(OVERVIEW) if t.startswith("decisions/")}
    on_disk = {p.name for p in (DOCS / "decisions").glob("*.md")}
    assert on_disk <= linked, sorted(on_disk - linked)
    assert len(OVERVIEW) < 12_000


@pytest.mark.parametrize("document", ["operations.md", "architecture.md",
                                      *(f"decisions/{p.name}" for p in
                                        sorted((DOCS / "decisions").glob("*.md")))])
def test_links_between_documents_resolve(document):
    path = DOCS / document
    broken = [t for t in local_links(path.read_text(encoding="utf-8"))
              if Path(t).name not in ELSEWHERE and not (path.parent / t).exists()]
    assert not broken, broken


@pytest.mark.parametrize("name", sorted(ELSEWHERE))
def test_the_pages_operations_links_to_exist_once_written(name):
    assert f"]({name})" in OPERATIONS
    if not (DOCS / name).exists():
        pytest.skip(f"docs/{name} is another engineer's, not written yet")
