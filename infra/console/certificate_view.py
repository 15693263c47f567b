"""The disposal certificate's Japanese document (Markdown from ``infra/certificates``) as HTML.

The document has headings, tables, lists and inline code only; every value is
escaped, so the page shows the signed certificate's words exactly, laid out for
reading and printing rather than as raw Markdown.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape


def _inline(text: str) -> str:
    parts = re.split(r"(`[^`]*`|\*\*[^*]+\*\*)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append(f"<code>{escape(part[1:-1])}</code>")
        elif part.startswith("**") and part.endswith("**") and len(part) >= 4:
            out.append(f"<strong>{escape(part[2:-2])}</strong>")
        else:
            out.append(str(escape(part)))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def document_html(markdown: str) -> Markup:
    """Headings (#, ##, ###), tables, "- " lists and paragraphs; nothing else is interpreted."""
    html: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line:
            i += 1
            continue
        heading = re.match(r"^(#{1,3}) (.*)$", line)
        if heading:
            level = len(heading.group(1)) + 1  # the page's own h1 comes first
            html.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            head = rows[0]
            body = [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
            html.append("<table><thead><tr>" + "".join(
                f'<th scope="col">{_inline(c)}</th>' for c in head) + "</tr></thead><tbody>")
            for row in body:
                html.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
            html.append("</tbody></table>")
        elif line.startswith("- "):
            html.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                html.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            html.append("</ul>")
        else:
            html.append(f"<p>{_inline(line)}</p>")
            i += 1
    return Markup("\n".join(html))
