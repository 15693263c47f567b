"""Charts for the statistics page, drawn on the server as SVG (no script, no CDN).

Bars only — what the figures need (months, themes, channels, age bands) —
with every label escaped, a title and an ``aria-label`` so a screen reader
says what the chart shows, and the same figures in a table next to it.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR = "#3a6ea5"
TEXT = "#222"


def _label_width(labels: list[str]) -> int:
    # Japanese characters are about one em; Latin about half.
    return max((sum(14 if ord(ch) > 0x2E7F else 8 for ch in label) for label in labels),
               default=40) + 12


def horizontal_bars(title: str, items: list[tuple[str, int]], *, width: int = 640) -> Markup:
    """One bar per item, longest for the largest count; the count at the bar's end."""
    row, top = 24, 8
    labels = [label for label, _ in items]
    left = min(_label_width(labels), width // 2)
    span = width - left - 56
    most = max((n for _, n in items), default=0) or 1
    height = top * 2 + row * max(len(items), 1)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"'
             f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
             f' aria-label="{escape(title)}"><title>{escape(title)}</title>')]
    for i, (label, n) in enumerate(items):
        y = top + i * row
        length = round(span * n / most)
        parts.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="13"'
                     f' fill="{TEXT}">{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{length}" height="{row - 8}"'
                     f' fill="{BAR}"><title>{escape(label)}: {n}</title></rect>')
        parts.append(f'<text x="{left + length + 4}" y="{y + 16}" font-size="13"'
                     f' fill="{TEXT}">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def monthly_bars(title: str, items: list[tuple[str, int]], *, width: int = 640,
                 height: int = 200) -> Markup:
    """Twelve columns, April to March, with the count above each."""
    bottom, top, left = 24, 20, 8
    slot = (width - left * 2) / max(len(items), 1)
    most = max((n for _, n in items), default=0) or 1
    span = height - bottom - top
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"'
             f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
             f' aria-label="{escape(title)}"><title>{escape(title)}</title>')]
    for i, (label, n) in enumerate(items):
        x = left + i * slot
        bar = round(span * n / most)
        y = height - bottom - bar
        parts.append(f'<rect x="{x + slot * 0.15:.1f}" y="{y}" width="{slot * 0.7:.1f}"'
                     f' height="{bar}" fill="{BAR}"><title>{escape(label)}: {n}</title></rect>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{y - 4}" text-anchor="middle"'
                     f' font-size="12" fill="{TEXT}">{n}</text>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - 6}" text-anchor="middle"'
                     f' font-size="12" fill="{TEXT}">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
