"""Charts as SVG written on the server: top-N bars and time series, no script and no CDN.

Text is escaped (labels are operators' names); colours are presentation attributes, so the
admin's Content-Security-Policy (no inline style) holds. Values arrive as exact decimal text;
only the geometry is computed in floating point, never a value shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH = 720
BAR_HEIGHT = 22
LABEL_WIDTH = 220
VALUE_WIDTH = 110
PLOT_HEIGHT = 220
MARGIN = 36
POSITIVE, NEGATIVE, LINE, AXIS, TEXT = "#2f6fae", "#c0392b", "#2f6fae", "#888888", "#222222"


@dataclass(frozen=True, slots=True)
class Point:
    label: str  # a name, or a bucket's time as the report reads it
    value: str | None  # exact decimal text; None: undefined (an ASR without attempts)


def _number(value: str | None) -> float | None:
    return None if value is None else float(Decimal(value))


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bar_chart(title: str, points: Sequence[Point]) -> Markup:
    """One horizontal bar per point, in the order given; a negative value (a loss) runs left
    of the zero line, in red."""
    values = [_number(point.value) or 0.0 for point in points]
    low, high = min([0.0, *values]), max([0.0, *values])
    span = (high - low) or 1.0
    plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    zero = LABEL_WIDTH + plot * (-low / span)
    height = BAR_HEIGHT * len(points) + 2 * MARGIN
    body = [
        f'<text x="{LABEL_WIDTH}" y="20" fill="{TEXT}" font-size="14">{escape(title)}</text>',
        f'<line x1="{zero:.1f}" y1="{MARGIN - 4}" x2="{zero:.1f}" '
        f'y2="{height - MARGIN + 4}" stroke="{AXIS}"/>',
    ]
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        y = MARGIN + index * BAR_HEIGHT
        length = plot * abs(value) / span
        x = zero - length if value < 0 else zero
        colour = NEGATIVE if value < 0 else POSITIVE
        body += [
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end" fill="{TEXT}" '
            f'font-size="12">{escape(point.label[:32])}</text>',
            f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{max(length, 1):.1f}" '
            f'height="{BAR_HEIGHT - 6}" fill="{colour}"><title>{escape(point.label)}: '
            f"{escape(point.value or '—')}</title></rect>",
            f'<text x="{WIDTH - VALUE_WIDTH + 6}" y="{y + 15}" fill="{TEXT}" '
            f'font-size="12">{escape(point.value or "—")}</text>',
        ]
    return _svg(WIDTH, height, title, body)


def line_chart(title: str, points: Sequence[Point]) -> Markup:
    """The points joined in order (time buckets, evenly spaced); an undefined value breaks
    the line. The axis shows the lowest and highest value and the first and last bucket."""
    values = [_number(point.value) for point in points]
    exact = [Decimal(point.value) for point in points if point.value is not None]
    lowest, highest = min([Decimal(0), *exact]), max([Decimal(0), *exact])
    low, high = float(lowest), float(highest)
    span = (high - low) or 1.0
    left, right, top = MARGIN + 40, WIDTH - MARGIN, MARGIN
    bottom = top + PLOT_HEIGHT
    step = (right - left) / max(len(points) - 1, 1)

    def y_of(value: float) -> float:
        return bottom - (value - low) / span * PLOT_HEIGHT

    body = [
        f'<text x="{left}" y="20" fill="{TEXT}" font-size="14">{escape(title)}</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="{AXIS}"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" fill="{TEXT}" '
        f'font-size="11">{escape(str(highest))}</text>',
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end" fill="{TEXT}" '
        f'font-size="11">{escape(str(lowest))}</text>',
    ]
    if points:
        body += [
            f'<text x="{left}" y="{bottom + 16}" fill="{TEXT}" font-size="11">'
            f"{escape(points[0].label)}</text>",
            f'<text x="{right}" y="{bottom + 16}" text-anchor="end" fill="{TEXT}" '
            f'font-size="11">{escape(points[-1].label)}</text>',
        ]
    segment: list[str] = []
    segments = [segment]
    for index, value in enumerate(values):
        if value is None:
            segment = []
            segments.append(segment)
            continue
        segment.append(f"{left + index * step:.1f},{y_of(value):.1f}")
    for line in segments:
        if len(line) > 1:
            body.append(
                f'<polyline class="series" points="{" ".join(line)}" fill="none" '
                f'stroke="{LINE}" stroke-width="2"/>'
            )
        elif line:
            x, y = line[0].split(",")
            body.append(f'<circle class="series" cx="{x}" cy="{y}" r="3" fill="{LINE}"/>')
    return _svg(WIDTH, bottom + MARGIN, title, body)
