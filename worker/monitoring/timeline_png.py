"""The demo's PNG timeline: answers per second by source (the demo's own results, stacked),
the Redis outage shaded, and the degraded-share alert's pending and firing intervals (from
Prometheus' ``ALERTS``). matplotlib comes with the ``train`` extra, as the demo's quality
figures do (scikit-learn): the demo needs that extra in any case."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from worker.monitoring.queries import ALERT, AlertTimeline

SOURCES = ("cache", "primary", "fallback", "rules", "safe_default")
COLOURS = {
    "cache": "#4c72b0",
    "primary": "#55a868",
    "fallback": "#dd8452",
    "rules": "#c44e52",
    "safe_default": "#8172b3",
}


def per_second(results: list[tuple[dict[str, Any], int]], t0: float) -> dict[str, list[int]]:
    """Answers per whole second since ``t0`` by source, from (record, timestamp ms) pairs."""
    buckets: Counter[tuple[int, str]] = Counter()
    for record, ts_ms in results:
        buckets[(int(ts_ms / 1000 - t0), record["source"])] += 1
    seconds = 1 + max((second for second, _ in buckets), default=-1)
    return {s: [buckets[(i, s)] for i in range(seconds)] for s in SOURCES}


def write_timeline(
    path: Path,
    results: list[tuple[dict[str, Any], int]],
    t0: float,
    outage: tuple[float, float] | None,
    alert: AlertTimeline | None,
) -> Path:
    """Draw the timeline into ``path`` (PNG); times in seconds from ``t0``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    counts = per_second(results, t0)
    seconds = list(range(len(counts["primary"])))
    figure, axes = plt.subplots(figsize=(11, 5), dpi=100)
    shown = [s for s in SOURCES if any(counts[s])]
    if shown:  # no answers at all: the axes and the outage alone
        axes.stackplot(
            seconds,
            *[counts[s] for s in shown],
            labels=shown,
            colors=[COLOURS[s] for s in shown],
            step="post",
        )
    if outage:
        axes.axvspan(outage[0] - t0, outage[1] - t0, color="grey", alpha=0.25, label="Redis down")
    _alert_band(axes, alert, t0)
    axes.set_xlabel("seconds since the first answer")
    axes.set_ylabel("answers per second")
    axes.set_title("Answers per second by ladder level, the Redis outage and the alert")
    axes.set_xlim(0, max(seconds, default=1))
    # Below the plot: the alert's band runs along the top of it.
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4, fontsize="small",
                    frameon=False)  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    plt.close(figure)
    return path


def _alert_band(axes: Any, alert: AlertTimeline | None, t0: float) -> None:
    """Pending and firing as bands along the top of the plot (headroom made for them)."""
    if alert is None or alert.pending_at is None:
        return
    axes.set_ylim(0, axes.get_ylim()[1] * 1.15)
    end = alert.resolved_at if alert.resolved_at is not None else axes.get_xlim()[1] + t0
    firing = alert.firing_at
    band = {"ymin": 0.9, "ymax": 0.97}
    pending_end = firing if firing is not None else end
    axes.axvspan(alert.pending_at - t0, pending_end - t0, color="gold", **band,
                 label=f"{ALERT} pending")  # fmt: skip
    if firing is not None:
        axes.axvspan(firing - t0, end - t0, color="crimson", **band, label=f"{ALERT} firing")
