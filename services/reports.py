"""Reports: the fiscal year's figures laid out by a versioned form, with names, in 令和.

A report is (form layout, count cells, labels, fiscal year) → tables.  The
layout is data (``domain/report_forms/<form>.<first fiscal year>.json``): next
year's form is a new file, and a year uses the newest layout whose first
fiscal year is not after it.  Labels — site names, site types, contractors'
names, the vocabularies, the sites' staffing as of the year's end — are read
once, when the report is made, and recorded with an issued report, so that a
reproduction renders exactly what was submitted even after a site is renamed
or a form file is edited (the layout is recorded too).

Small cells: a form with ``suppress_small_cells`` (what leaves the
municipality) shows counts of 1 and 2 as ``*`` in its breakdowns; totals are
shown (docs/reports.md explains the rule and its limit).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from yorisoi.domain.age_bands import AGE_BANDS
from yorisoi.domain.errors import InvalidInputError
from yorisoi.domain.japanese_dates import wareki
from yorisoi.domain.referrals import OUTCOMES as REFERRAL_OUTCOMES
from yorisoi.domain.sites import SITE_TYPES
from yorisoi.domain.vocabulary import AGENCY_KINDS, CHANNEL_LABELS_JA
from yorisoi.projections.report_cells import NO_SITE, Cell

FORMS_DIR = Path(__file__).resolve().parent.parent / "domain" / "report_forms"
SUPPRESSED = "*"
SMALL_CELLS = (1, 2)

COMPLAINT_KINDS = {"complaint": "苦情", "request": "要望"}
COMPLAINT_OUTCOMES = {"resolved": "解決", "partially_resolved": "一部解決",
                      "not_resolved": "未解決", "withdrawn": "取下げ", "referred": "他機関へ"}
REQUEST_KINDS = {"disclosure": "開示", "correction": "訂正", "suspension": "利用停止"}
OPERATIONS = {"direct": "直営", "entrusted": "委託"}


class ReportFormUnknownError(InvalidInputError):
    code = "report_form_unknown"
    message = "No such report form for this fiscal year."
    message_ja = "この年度に使える様式がありません。"


# Any year a recorded consultation can fall in is a reportable year: a record typed
# with an old date must still be countable (the statistics once refused years before
# 2000, so such a record could never be counted).
FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR = 1900, 2100


class FiscalYearInvalidError(InvalidInputError):
    code = "fiscal_year_invalid"
    message = f"Not a fiscal year ({FIRST_FISCAL_YEAR}–{LAST_FISCAL_YEAR})."
    message_ja = f"年度の指定が正しくありません（{FIRST_FISCAL_YEAR}〜{LAST_FISCAL_YEAR}年度）。"


def check_fiscal_year(year: int, field_name: str = "fiscalYear") -> int:
    if not FIRST_FISCAL_YEAR <= year <= LAST_FISCAL_YEAR:
        raise FiscalYearInvalidError(field=field_name)
    return year


def fiscal_months(year: int) -> list[str]:
    return [f"{year + (m < 4)}-{m:02d}" for m in (*range(4, 13), 1, 2, 3)]


def fiscal_year_label(year: int) -> str:
    """令和8年度 (the era of 1 April of the year)."""
    label = wareki(date(year, 4, 1))  # e.g. 令和8年4月1日 (ISO before 大正)
    return (label[:label.index("年")] if "年" in label else str(year)) + "年度"


def available_forms() -> dict[str, list[int]]:
    """Form names and the first fiscal years of their layouts."""
    forms: dict[str, list[int]] = {}
    for path in sorted(FORMS_DIR.glob("*.json")):
        name, first = path.stem.rsplit(".", 1)
        forms.setdefault(name, []).append(int(first))
    return forms


def load_form(name: str, fiscal_year: int) -> dict[str, Any]:
    """The layout of ``name`` in force for ``fiscal_year`` (the newest not after it).

    A year before a form's first layout (figures recorded before the form
    existed) is laid out by that first layout.
    """
    known = available_forms().get(name)
    if not known:
        raise ReportFormUnknownError(field="form")
    firsts = [y for y in known if y <= fiscal_year] or [min(known)]
    return json.loads((FORMS_DIR / f"{name}.{max(firsts)}.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- labels


def vocabularies(theme_labels: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        "channels": {c.value: label for c, label in CHANNEL_LABELS_JA.items()},
        "themes": dict(theme_labels),
        "age_bands": dict(AGE_BANDS),
        "agency_kinds": dict(AGENCY_KINDS),
        "referral_outcomes": {"accepted": "受入れ", "declined": "受入れられなかった",
                              **REFERRAL_OUTCOMES},
        "complaint_kinds": COMPLAINT_KINDS,
        "complaint_outcomes": COMPLAINT_OUTCOMES,
        "request_kinds": REQUEST_KINDS,
    }


def registry_labels(registry: Any, municipality_code: str, cells: Counter[Cell],
                    theme_labels: dict[str, str],
                    site_profiles: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Names for everything the cells mention, read from the registry now."""
    sites: dict[str, str] = {}
    site_types: dict[str, str] = {}
    contractors: dict[str, str] = {}
    mentioned = [(c[1], c[2]) for c in cells]
    mentioned += [(p["site_id"], "") for p in site_profiles or []]
    for site_id, contract_id in mentioned:
        if site_id != NO_SITE and site_id not in sites:
            site = registry.site(municipality_code, site_id)
            sites[site_id] = site.name if site is not None and site.name else "（名称未登録の実施場所）"
            site_types[site_id] = SITE_TYPES.get(site.site_type, "（類型未登録）") \
                if site is not None else "（類型未登録）"
        if contract_id and contract_id not in contractors:
            contract = registry.contract(contract_id)
            tenant = registry.tenant(contract.contractor_id) if contract is not None else None
            contractors[contract_id] = (tenant.name if tenant is not None and tenant.name
                                        else "（名称未登録の委託先）")
    return {"sites": sites, "site_types": site_types, "contractors": contractors,
            "vocabularies": vocabularies(theme_labels),
            "site_profiles": site_profiles or []}


def site_profile_rows(organisation: Any, as_of: date) -> list[dict[str, Any]]:
    """Each site's type, opening days and hours a week and its specialists, as of a day."""
    rows = []
    staffing = organisation.staffing(as_of)
    for p in organisation.sites(as_of):
        minutes = 0
        for hours in p.weekly.values():
            opens, closes = hours[0], hours[1]
            minutes += (int(closes[:2]) * 60 + int(closes[3:])) - (int(opens[:2]) * 60
                                                                   + int(opens[3:]))
        rows.append({"site_id": p.site_id, "site_type": SITE_TYPES.get(p.site_type, p.site_type),
                     "days": len(p.weekly), "hours": round(minutes / 60, 1),
                     "dedicated": p.dedicated_specialists,
                     "assisting": staffing.get(p.site_id, {}).get("assisting", 0),
                     "trained": staffing.get(p.site_id, {}).get("trained", 0),
                     "operation": OPERATIONS["entrusted" if p.contract_id else "direct"]})
    return rows


# --------------------------------------------------------------------------- rendering


@dataclass
class RenderedTable:
    id: str
    sheet: str
    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)  # first column: the row's label


@dataclass
class RenderedReport:
    title: str
    form: str
    version: str
    fiscal_year: int
    fiscal_year_label: str
    note: str
    tables: list[RenderedTable]

    def table(self, table_id: str) -> RenderedTable:
        return next(t for t in self.tables if t.id == table_id)


def _row_keys(by: str, cell: Cell, labels: dict[str, Any]) -> str | None:
    month, site, contract, _, code = cell
    if by == "month":
        return month
    if by == "site":
        return site if site != NO_SITE else None
    if by == "site_type":
        return labels["site_types"].get(site) if site != NO_SITE else None
    if by == "operation":
        return None if site == NO_SITE else ("entrusted" if contract else "direct")
    if by == "contractor":
        return contract or None
    return code  # by code


def _month_label(month: str) -> str:
    return f"{int(month[5:])}月"


def _value(sums: dict[tuple[str, str], Counter[str]], column: dict[str, Any], key: str) -> Any:
    def total(measure: str, code: str | None) -> int:
        counts = sums.get((measure, key))
        if counts is None:
            return 0
        return counts.get(code, 0) if code is not None else sum(counts.values())
    if "ratio" in column:
        num, den = column["ratio"]
        d = total(den, None)
        return round(total(num, None) / d, 1) if d else ""
    return total(column["measure"], column.get("code"))


def render(form: dict[str, Any], cells: Counter[Cell], labels: dict[str, Any],
           fiscal_year: int) -> RenderedReport:
    """The form's tables filled from the cells of the fiscal year (already in scope)."""
    months = fiscal_months(fiscal_year)
    cells = Counter({c: n for c, n in cells.items() if c[0] in months})
    suppress = bool(form.get("suppress_small_cells"))
    tables = []
    for spec in form["tables"]:
        by = spec["rows"]["by"]
        if by == "site_profile":
            tables.append(_profiles(spec, labels))
            continue
        measure_filter = spec["rows"].get("measure")
        # (measure, row key) → code → count
        sums: dict[tuple[str, str], Counter[str]] = {}
        for cell, n in cells.items():
            if measure_filter is not None and cell[3] != measure_filter:
                continue
            key = _row_keys(by, cell, labels)
            if key is None:
                continue
            sums.setdefault((cell[3], key), Counter())[cell[4]] += n
        if by == "code":
            vocab = labels["vocabularies"].get(spec["rows"].get("vocabulary", ""), {})
            present = sorted({k for (_, k) in sums} - set(vocab))
            keys = [*vocab, *present]
            label = {**vocab, **{k: "（その他の区分）" for k in present}}
            # Per code, the column's measure is the row's own (its code is the row).
            columns = [{"header_ja": c["header_ja"], "measure": c["measure"], "by_row": True}
                       for c in spec["columns"]]
        elif by == "month":
            keys, label = months, {m: _month_label(m) for m in months}
            columns = spec["columns"]
        else:
            keys, label = _named_keys(by, sums, labels)
            columns = spec["columns"]
        table = RenderedTable(spec["id"], spec["sheet_ja"], spec["title_ja"],
                              [_first_header(by), *(c["header_ja"] for c in columns)])
        totals: list[Any] = ["合計", *([0] * len(columns))]
        for key in keys:
            values = []
            for i, column in enumerate(columns):
                if column.get("by_row"):
                    value = sums.get((column["measure"], key), Counter()).get(key, 0)
                else:
                    value = _value(sums, column, key)
                if isinstance(value, int):
                    totals[i + 1] += value
                values.append(value)
            table.rows.append([label[key], *[_suppressed(v, suppress) for v in values]])
        for i, column in enumerate(columns):
            if "ratio" in column:  # a ratio's total is the ratio of the totals
                totals[i + 1] = _value({(m, "*"): Counter({"": sum(
                    n for c, n in cells.items() if c[3] == m)}) for m in column["ratio"]},
                    column, "*")
        table.rows.append(totals)
        tables.append(table)
    return RenderedReport(form["title_ja"], form["form"], form["version"], fiscal_year,
                          fiscal_year_label(fiscal_year), form.get("note_ja", ""), tables)


def _first_header(by: str) -> str:
    return {"month": "月", "site": "実施場所", "site_type": "事業類型", "operation": "運営形態",
            "contractor": "委託先", "code": "区分"}.get(by, "区分")


def _named_keys(by: str, sums: dict[tuple[str, str], Counter[str]],
                labels: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    keys = sorted({k for (_, k) in sums})
    if by == "site":
        named = {k: labels["sites"].get(k, "（名称未登録の実施場所）") for k in keys}
    elif by == "contractor":
        named = {k: labels["contractors"].get(k, "（名称未登録の委託先）") for k in keys}
    elif by == "operation":
        keys = [k for k in OPERATIONS if k in keys]
        named = {k: OPERATIONS[k] for k in keys}
    else:  # site types are labels already
        named = {k: k for k in keys}
    # By name, then key: two contracts of one contractor stay two rows.
    keys.sort(key=lambda k: (named[k], k))
    return keys, named


def _suppressed(value: Any, suppress: bool) -> Any:
    return SUPPRESSED if suppress and isinstance(value, int) and value in SMALL_CELLS else value


def _profiles(spec: dict[str, Any], labels: dict[str, Any]) -> RenderedTable:
    table = RenderedTable(spec["id"], spec["sheet_ja"], spec["title_ja"],
                          ["実施場所", "事業類型", "直営・委託", "週あたり開所日数",
                           "週あたり開所時間", "専任の利用者支援専門員",
                           "兼任の利用者支援専門員", "うち専門研修修了"])
    for p in sorted(labels.get("site_profiles", []),
                    key=lambda p: (labels["sites"].get(p["site_id"], ""), p["site_id"])):
        table.rows.append([labels["sites"].get(p["site_id"], "（名称未登録の実施場所）"),
                           p["site_type"], p["operation"], p["days"], p["hours"],
                           p["dedicated"], p.get("assisting", 0), p.get("trained", 0)])
    return table


def figures_digest(report: RenderedReport) -> str:
    """SHA-256 of the rendered figures in a canonical JSON form (the content hash)."""
    import hashlib
    from dataclasses import asdict

    text = json.dumps(asdict(report), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
