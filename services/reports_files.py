"""A report as files people open in Excel: CSV (UTF-8 with BOM, CRLF) and .xlsx.

Both are made from the rendered tables only, deterministically: the same
report gives the same bytes (an issued report is reproduced byte for byte).
Every text cell goes through ``spreadsheet_safety.neutralise``.

- CSV: one file, the tables one after another, each under its title, a blank
  line between them; a BOM so Excel reads UTF-8, CRLF line ends.
- .xlsx (openpyxl): one sheet per table, the header row frozen, column widths
  set for Japanese text, the fiscal year as 令和N年度.  openpyxl stamps the
  workbook's and the zip entries' times with "now": both are fixed here so the
  bytes depend on the report alone.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from typing import Any

from yorisoi.services.reports import RenderedReport
from yorisoi.services.spreadsheet_safety import neutralise

FIXED_TIME = datetime(2000, 1, 1)


def _heading(report: RenderedReport) -> list[list[Any]]:
    return [[report.title], ["年度", report.fiscal_year_label], ["様式", report.version],
            *([[report.note]] if report.note else [])]


def to_csv(report: RenderedReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in _heading(report):
        writer.writerow([neutralise(v) for v in row])
    for table in report.tables:
        writer.writerow([])
        writer.writerow([neutralise(table.title)])
        writer.writerow([neutralise(h) for h in table.headers])
        for row in table.rows:
            writer.writerow([neutralise(v) for v in row])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _width(values: list[Any]) -> float:
    # East Asian characters take about two columns of a Latin digit.
    def cols(v: Any) -> int:
        text = str(v)
        return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
    return min(max((cols(v) for v in values), default=8) + 2, 60)


def to_xlsx(report: RenderedReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    for table in report.tables:
        sheet = book.create_sheet(title=table.sheet[:31])
        sheet.append([neutralise(f"{report.title}　{report.fiscal_year_label}　{table.title}")])
        sheet.append([neutralise(h) for h in table.headers])
        for row in table.rows:
            sheet.append([neutralise(v) for v in row])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "B3"  # the title and header rows, and the row labels
        for i in range(len(table.headers)):
            column = [table.headers[i], *(row[i] for row in table.rows if i < len(row))]
            sheet.column_dimensions[get_column_letter(i + 1)].width = _width(column)
    book.properties.created = FIXED_TIME
    book.properties.modified = FIXED_TIME
    book.properties.creator = "Yorisoi"
    raw = io.BytesIO()
    book.save(raw)
    return _fixed_zip(raw.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same archive with every entry's time fixed (zip entries carry the time written)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl sets "modified" on save
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>2000-01-01T00:00:00Z\g<2>", content)
            target.writestr(entry, content)
    return out.getvalue()
