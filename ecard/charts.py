"""Bar charts drawn on the server as SVG: no chart library, no script, nothing loaded.

Each bar carries its count (``data-count``) and a tooltip (``<title>``), so a reader can point
at a spike and a test can read the chart as a person would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str  # shown in the tooltip: "10:42", "11-25"
    count: int
    tick: str = ""  # shown under the axis when not empty: "10:00"


def bar_chart(bars: Sequence[Bar], *, title: str, height: int = 160, bar_width: float = 10) -> SafeString:
    """An SVG bar chart that scales to its container's width (viewBox)."""
    left, bottom, top = 40, 22, 8
    width = left + len(bars) * bar_width + 8
    peak = max((bar.count for bar in bars), default=0)
    scale = (height - bottom - top) / peak if peak else 0
    base = height - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height}" '
        f'role="img" aria-label="{escape(title)}" class="bar-chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{base}" x2="{width - 8:g}" y2="{base}" class="axis"/>',
        f'<text x="{left - 4}" y="{top + 8}" class="y-label">{peak}</text>',
        f'<text x="{left - 4}" y="{base}" class="y-label">0</text>',
    ]
    gap = 0.15 * bar_width if bar_width >= 4 else 0
    for index, bar in enumerate(bars):
        x = left + index * bar_width
        h = bar.count * scale
        parts.append(
            f'<rect x="{x + gap / 2:g}" y="{base - h:g}" width="{bar_width - gap:g}" height="{h:g}" '
            f'data-count="{bar.count}" data-label="{escape(bar.label)}">'
            f"<title>{escape(bar.label)}: {bar.count}</title></rect>"
        )
        if bar.tick:
            parts.append(f'<text x="{x:g}" y="{height - 6}" class="x-label">{escape(bar.tick)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
