"""The lead's stats: queue depth, the oldest open item's age, decisions per hour, and how
often review and block decisions turned out to be fraud as analysts judged them."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from worker.triage.types import Stats
from worker.triage.web.auth import SessionUser
from worker.triage.web.formatting import clock
from worker.triage.web.rendering import render
from worker.triage.web.state import in_thread, web_state

CHART_HEIGHT = 80  # px of the tallest bar in the decisions-per-hour chart
BAR_WIDTH = 16
BAR_GAP = 4
LABEL_EVERY = 6  # an hour label under every sixth bar


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    hour_start_ms: int
    decisions: int
    label: str  # "14:00" under some bars, else empty


async def stats_page(request: Request, user: SessionUser) -> Response:
    stats = await in_thread(web_state(request).store.stats)
    context = {
        "stats": stats,
        "bars": hourly_bars(stats),
        "chart": {"width": max(1, len(stats.decisions_per_hour)) * (BAR_WIDTH + BAR_GAP),
                  "height": CHART_HEIGHT, "bar_width": BAR_WIDTH},
    }  # fmt: skip
    return render(request, "stats.html", context)


def hourly_bars(stats: Stats) -> list[Bar]:
    """The decisions per hour as SVG bars (attributes, no inline style: the CSP forbids it)."""
    most = max((n for _, n in stats.decisions_per_hour), default=0) or 1
    bars = []
    for index, (hour_start_ms, decisions) in enumerate(stats.decisions_per_hour):
        height = round(CHART_HEIGHT * decisions / most)
        x = index * (BAR_WIDTH + BAR_GAP)
        label = clock(hour_start_ms).removesuffix(" UTC") if index % LABEL_EVERY == 0 else ""
        bars.append(Bar(x, CHART_HEIGHT - height, height, hour_start_ms, decisions, label))
    return bars
