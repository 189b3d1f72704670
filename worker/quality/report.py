"""The evaluation as a compact table, as ``evaluation.json``, and as two PNGs: the PR curve
of each level, and each level's average precision day by day."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

JSON_NAME = "evaluation.json"
PR_PNG = "pr_curves.png"
DAILY_PNG = "daily_average_precision.png"

# (header, width, getter) of the table's columns; a getter reads a level's figures.
COLUMNS: tuple[tuple[str, int, str], ...] = (
    ("events", 10, "events"),
    ("frauds", 7, "frauds"),
    ("ROC AUC", 8, "roc_auc"),
    ("AP", 6, "average_precision"),
    ("CP@100", 7, "card_precision_at_100"),
    ("CP@100hb", 9, "card_precision_at_100_handbook"),
    ("Brier", 7, "brier"),
    ("rev/1k", 7, "analyst_load.review_per_1000"),
    ("rev prec", 9, "analyst_load.review_precision"),
    ("blk/1k", 7, "analyst_load.block_per_1000"),
    ("blk prec", 9, "analyst_load.block_precision"),
)
NAME_WIDTH = 20
# A day's AP on a handful of frauds swings between 0 and 1: such days are left off the plot.
MIN_DAILY_FRAUDS = 5


def table(report: dict[str, Any]) -> str:
    """A few lines: the range, then one row per level."""
    span = report["range"]
    head = f"events {span['first_date']} .. {span['last_date']} ({span['days']} days)"
    if "start_date" in span:
        head += f", days {span['first_day']}..{span['last_day']} from {span['start_date']}"
    inputs = report.get("inputs", {})
    lines = [
        head,
        f"labels: {inputs.get('labels', '?')}; {report['events']} events, "
        f"{report['frauds']} frauds",
        "",
        f"{'level':<{NAME_WIDTH}}" + "".join(f"{h:>{w}}" for h, w, _ in COLUMNS),
    ]
    for name, figures in report["levels"].items():
        cells = "".join(f"{_cell(_get(figures, key)):>{w}}" for _, w, key in COLUMNS)
        lines.append(f"{name:<{NAME_WIDTH}}" + cells)
        same = figures.get("real_on_same_events")
        if same:
            cells = "".join(f"{_cell(_get(same, key)):>{w}}" for _, w, key in COLUMNS)
            lines.append(f"{'  real, same events':<{NAME_WIDTH}}" + cells)
    lines += [
        "",
        "CP@100: card precision@100 (ours, each day's top 100 cards); CP@100hb: the handbook's "
        "(cards caught on earlier days left out); rev/blk per 1,000 events and precision",
    ]
    return "\n".join(lines)


def write_json(report: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / JSON_NAME
    path.write_text(json.dumps(_finite(report), indent=2) + "\n", encoding="utf-8")
    return path


def write_pngs(report: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / PR_PNG, out_dir / DAILY_PNG]
    fig, ax = plt.subplots(figsize=(8, 6))
    for name, figures in report["levels"].items():
        curve = figures.get("pr_curve")
        if curve:
            label = f"{name} (AP {figures['average_precision']:.3f})"
            ax.step(curve["recall"], curve["precision"], where="post", label=label)
    _finish(ax, "recall", "precision", f"Precision-recall per level, {_span(report)}")
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    for ax, shadow in zip(axes, (False, True), strict=True):
        for name, figures in report["levels"].items():
            if (figures["kind"] == "shadow") == shadow:
                _plot_daily(ax, name, figures.get("daily") or [])
        kind = "shadow levels, on the events they shadowed" if shadow else "answering levels"
        title = f"Average precision per day, {kind} (days with {MIN_DAILY_FRAUDS}+ frauds)"
        _finish(ax, "event day (UTC)" if shadow else "", "average precision", title)
    fig.suptitle(_span(report))
    fig.autofmt_xdate()
    fig.savefig(paths[1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


def _plot_daily(ax: Any, name: str, daily: list[dict[str, Any]]) -> None:
    """A level's daily AP, on the days with enough frauds for AP to mean something."""
    rows = [row for row in daily if row["frauds"] >= MIN_DAILY_FRAUDS]
    if rows:
        days = np.array([row["date"] for row in rows], dtype="datetime64[D]")
        ax.plot(days, [row["average_precision"] for row in rows], marker=".", label=name)


def _finish(ax: Any, x: str, y: str, title: str) -> None:
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))


def _span(report: dict[str, Any]) -> str:
    return f"{report['range']['first_date']} .. {report['range']['last_date']}"


def _get(figures: dict[str, Any], key: str) -> Any:
    value: Any = figures
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"


def _finite(value: Any) -> Any:
    """NaN and infinities as null: JSON has neither."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
