"""``models/report/``: metrics per ladder level as JSON and markdown, and a PNG of the
precision-recall curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import precision_recall_curve

HANDBOOK_ROWS = (
    ("handbook: logistic regression (1 train week)", 0.871, 0.606, 0.291),
    ("handbook: XGBoost after model selection", 0.869, 0.687, 0.303),
)


def markdown_table(levels: dict[str, dict[str, float]]) -> str:
    lines = [
        "| level | ROC AUC | average precision | card precision@100 |",
        "|---|---|---|---|",
    ]
    for name, m in levels.items():
        lines.append(
            f"| {name} | {m['roc_auc']:.3f} | {m['average_precision']:.3f} | "
            f"{m['card_precision_at_100']:.3f} |"
        )
    for name, auc, ap, cp in HANDBOOK_ROWS:
        lines.append(f"| {name} | {auc:.3f} | {ap:.3f} | {cp:.3f} |")
    return "\n".join(lines)


def plot_pr_curves(
    path: Path, is_fraud: NDArray[np.bool_], scores: dict[str, NDArray[np.float64]]
) -> None:
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(is_fraud, s)
        ax.plot(recall, precision, label=name, drawstyle="steps-post")
    ax.axhline(float(is_fraud.mean()), color="grey", linestyle=":", label="random")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall on the held-out weeks, per ladder level")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def write_report(
    report_dir: Path,
    summary: dict[str, Any],
    is_fraud: NDArray[np.bool_],
    scores: dict[str, NDArray[np.float64]],
) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    plot_pr_curves(report_dir / "pr_curves.png", is_fraud, scores)
    data = summary["data"]
    timings = summary["fallback_predict_ms_one_thread"]
    text = [
        "# Model report",
        "",
        "Written by `fraud-worker train`; the same seed gives the same figures.",
        "",
        f"Held-out test weeks: days {data['test_days']} of the simulation, "
        f"{data['test_transactions']:,} transactions, {data['test_frauds']:,} frauds "
        f"(by scenario 1/2/3: {data['test_frauds_by_scenario']}). "
        f"Trained on days {data['train_days']} ({data['train_transactions']:,} transactions).",
        "",
        markdown_table(summary["levels"]),
        "",
        "The handbook's rows are its published baselines (one training week, one test week) "
        "for comparison; ours train on more weeks and test on several.",
        "",
        "Fallback predict time on one thread (median ms): "
        + ", ".join(f"{n} rows {ms} ms" for n, ms in timings.items())
        + ".",
        "",
        "![precision-recall](pr_curves.png)",
        "",
    ]
    (report_dir / "README.md").write_text("\n".join(text))
