"""A small line chart of a queue's rates, drawn server-side as inline SVG (no script, no
library): one line per direction, the y axis scaled to the largest bucket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from raftq.frontend.dashboard.markup import Markup, e, join, tag
from raftq.frontend.dashboard.rates import Direction

WIDTH: Final = 600
HEIGHT: Final = 120
_COLOURS: Final = {"send": "#2b7bb9", "receive": "#3a9a3a", "delete": "#b94a2b"}


def rate_chart(series: Mapping[Direction, Sequence[int]], bucket_s: int) -> Markup:
    """`series` (messages per bucket, oldest first, by direction) as per-second lines."""
    points_each = max((len(points) for points in series.values()), default=0)
    peak = max((max(points, default=0) for points in series.values()), default=0)
    top = max(peak / bucket_s, 1.0)
    lines = []
    for direction, points in series.items():
        if not points:
            continue
        step = WIDTH / max(points_each - 1, 1)
        coordinates = " ".join(
            f"{i * step:.1f},{HEIGHT - (count / bucket_s) / top * (HEIGHT - 10):.1f}"
            for i, count in enumerate(points)
        )
        colour = _COLOURS.get(direction, "#555")
        lines.append(
            Markup(
                f'<polyline fill="none" stroke-width="2" stroke="{e(colour)}"'
                f' points="{e(coordinates)}"><title>{e(direction)}</title></polyline>'
            )
        )
    label = f"{top:.3g} msg/s"
    axis = Markup(f'<text x="4" y="12" font-size="11">{e(label)}</text>')
    minutes = points_each * bucket_s // 60
    caption = tag(
        "figcaption",
        join(
            [
                f"messages per second over the last {minutes} minutes, by this frontend: ",
                join(
                    tag("span", d, class_=f"legend-{d}")
                    if i == 0
                    else join([", ", tag("span", d, class_=f"legend-{d}")])
                    for i, d in enumerate(series)
                ),
            ]
        ),
    )
    svg = Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="rates">{join(lines)}{axis}</svg>'
    )
    return tag("figure", join([svg, caption]))
