"""The evaluation itself, over columns: per level and per day, the training report's quality
measures (``worker.training.evaluate``) and the analysts' load.

Levels: each source of the real results (what was acted on), ``all`` of them together, and
each shadowing level on the events it shadowed (``fallback (shadow)``, …), with the real
answer's figures on those same events beside it for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import precision_recall_curve

from worker.events import MS_PER_DAY
from worker.ids import is_in
from worker.quality.days import DayRange, day_date
from worker.quality.results import (
    BLOCK,
    REVIEW,
    SOURCE_NAMES,
    Results,
    is_fraud,
)
from worker.training.evaluate import TOP_CARDS, card_precision_at_k, measure, reliability_table

ALL = "all"
PR_POINTS = 200
SHADOW_SUFFIX = " (shadow)"


@dataclass(frozen=True)
class Level:
    name: str
    kind: str  # "real", "all" or "shadow"
    results: Results
    is_fraud: NDArray[np.bool_]


def evaluate_columns(
    scored: Results,
    shadow: Results,
    frauds: NDArray[np.bytes_],
    days: DayRange | None = None,
    daily: bool = True,
) -> dict[str, Any]:
    """The whole evaluation: results as read (redeliveries included), the ids of the
    transactions known to be fraud (everything else counts as legitimate)."""
    days = days or DayRange()
    real = scored.last_per_transaction().in_days(days.first_day, days.last_day)
    shadowed = shadow.last_per_transaction(per_source=True).in_days(days.first_day, days.last_day)
    levels = build_levels(real, shadowed, frauds)
    everything = levels[0]
    out: dict[str, Any] = {
        "range": _range(real, days),
        "events": len(real),
        "frauds": int(everything.is_fraud.sum()),
        "analyst_load": analyst_load(everything.results, everything.is_fraud),
        "levels": {},
    }
    for level in levels:
        figures = level_figures(level, days.start_day, daily)
        if level.kind == "shadow":
            figures["real_on_same_events"] = _real_on_same_events(level, real, frauds)
        out["levels"][level.name] = figures
    return out


def build_levels(real: Results, shadow: Results, frauds: NDArray[np.bytes_]) -> list[Level]:
    """``all``, then each real source present, then each shadowing source present."""
    fraud_real = is_fraud(real.transaction_id, frauds)
    fraud_shadow = is_fraud(shadow.transaction_id, frauds)
    levels = [Level(ALL, "all", real, fraud_real)]
    for code, name in enumerate(SOURCE_NAMES):
        rows = real.source == code
        if rows.any():
            levels.append(Level(name, "real", real.take(rows), fraud_real[rows]))
    for code, name in enumerate(SOURCE_NAMES):
        rows = shadow.source == code
        if rows.any():
            levels.append(
                Level(name + SHADOW_SUFFIX, "shadow", shadow.take(rows), fraud_shadow[rows])
            )
    return levels


def level_figures(level: Level, start_day: int | None = None, daily: bool = True) -> dict[str, Any]:
    """One level's figures over the whole range, and per day."""
    results, fraud = level.results, level.is_fraud
    day = (results.event_time_ms // MS_PER_DAY).astype(np.int32)
    figures: dict[str, Any] = {
        "kind": level.kind,
        **_counts(results, fraud),
        **_measure(results, fraud, day),
        "analyst_load": analyst_load(results, fraud),
        "reliability": reliability_table(results.score, fraud),
        "pr_curve": pr_curve(results.score, fraud),
    }
    if daily:
        figures["daily"] = daily_figures(results, fraud, day, start_day)
    return figures


def pr_curve(
    scores: NDArray[np.float64], fraud: NDArray[np.bool_], points: int = PR_POINTS
) -> dict[str, list[float]] | None:
    """The precision-recall curve at about ``points`` recalls evenly spread (enough to draw;
    the whole curve has a point per distinct score), or None without both classes."""
    if not 0 < int(fraud.sum()) < len(fraud):
        return None
    precision, recall, _ = precision_recall_curve(fraud, scores)
    recall, precision = recall[::-1], precision[::-1]  # recall rising
    picked = np.unique(np.searchsorted(recall, np.linspace(0, 1, points), side="left"))
    picked = picked[picked < len(recall)]
    return {
        "recall": np.round(recall[picked], 5).tolist(),
        "precision": np.round(precision[picked], 5).tolist(),
    }


def daily_figures(
    results: Results,
    fraud: NDArray[np.bool_],
    day: NDArray[np.int32],
    start_day: int | None = None,
) -> list[dict[str, Any]]:
    """Per event day: the measures on that day's results. The handbook's card precision of
    a day leaves out the cards caught on earlier days of the range, so the mean of the
    daily values is the range's figure."""
    handbook = daily_handbook_card_precision(results.card_id, day, fraud, results.score)
    rows_out = []
    for d, handbook_value in zip(np.unique(day).tolist(), handbook, strict=True):
        rows = day == d
        subset, subset_fraud = results.take(rows), fraud[rows]
        figures = _measure(subset, subset_fraud, day[rows])
        figures["card_precision_at_100_handbook"] = handbook_value
        load = analyst_load(subset, subset_fraud)
        rows_out.append(
            {
                "date": day_date(d).isoformat(),
                **({"day": d - start_day} if start_day is not None else {}),
                **_counts(subset, subset_fraud),
                **figures,
                "review_per_1000": load["review_per_1000"],
                "block_per_1000": load["block_per_1000"],
            }
        )
    return rows_out


def daily_handbook_card_precision(
    card_id: NDArray[Any],
    day: NDArray[np.int32],
    fraud: NDArray[np.bool_],
    scores: NDArray[np.float64],
    k: int = TOP_CARDS,
) -> list[float]:
    """The handbook's card precision@k day by day (its mean over days is
    ``card_precision_at_k(..., remove_detected=True)``): each day's value is ours on that
    day's cards not caught on an earlier day."""
    caught = np.empty(0, dtype=card_id.dtype)
    values = []
    for d in np.unique(day).tolist():
        rows = np.flatnonzero(day == d)
        rows = rows[~is_in(card_id[rows], caught)] if len(caught) else rows
        cards, frauds_d, scores_d = card_id[rows], fraud[rows], scores[rows]
        values.append(card_precision_at_k(_text(cards), day[rows], frauds_d, scores_d, k))
        caught = np.concatenate([caught, caught_cards(cards, frauds_d, scores_d, k)])
    return values


def caught_cards(
    card_id: NDArray[Any], fraud: NDArray[np.bool_], scores: NDArray[np.float64], k: int
) -> NDArray[Any]:
    """The compromised cards among one day's k highest-scored cards, ranked as
    ``card_precision_at_k`` ranks them (a card's highest score; ties in card order)."""
    if len(card_id) == 0:
        return card_id[:0]
    # UTF-8 bytes sort as their text does: the same ranking as card_precision_at_k's
    names, card = np.unique(card_id, return_inverse=True)
    card = card.reshape(-1)
    best = np.full(len(names), -np.inf)
    np.maximum.at(best, card, scores)
    compromised = np.zeros(len(names), dtype=np.bool_)
    np.logical_or.at(compromised, card, fraud)
    top = np.argsort(-best, kind="stable")[:k]
    first_row = np.unique(card, return_index=True)[1]
    return np.asarray(card_id[first_row[top[compromised[top]]]])


def analyst_load(results: Results, fraud: NDArray[np.bool_]) -> dict[str, Any]:
    """What the decisions ask of analysts: review and block decisions per 1,000 events, and
    the share of them that were fraud (precision); ``flagged`` is review or block, and its
    recall the share of all frauds flagged."""
    n = len(results)
    review, block = results.decision == REVIEW, results.decision == BLOCK
    flagged = review | block
    frauds = int(fraud.sum())
    return {
        "events": n,
        "review": int(review.sum()),
        "block": int(block.sum()),
        "review_per_1000": _per_1000(int(review.sum()), n),
        "block_per_1000": _per_1000(int(block.sum()), n),
        "flagged_per_1000": _per_1000(int(flagged.sum()), n),
        "review_precision": _share(fraud[review]),
        "block_precision": _share(fraud[block]),
        "flagged_precision": _share(fraud[flagged]),
        "flagged_recall": int(fraud[flagged].sum()) / frauds if frauds else None,
    }


def _measure(
    results: Results, fraud: NDArray[np.bool_], day: NDArray[np.int32]
) -> dict[str, float]:
    """The training report's measures."""
    return measure(results.score, fraud, _text(results.card_id), day)


def _text(card_id: NDArray[Any]) -> NDArray[np.object_]:
    """Card ids that ``astype(str)`` reads: ASCII bytes as they are (numpy decodes them),
    anything else decoded from UTF-8."""
    if card_id.dtype.kind == "S" and len(card_id) and card_id.view(np.uint8).max() >= 0x80:
        return cast(NDArray[np.object_], np.char.decode(card_id, "utf-8"))
    return cast(NDArray[np.object_], card_id)


def _per_1000(count: int, n: int) -> float | None:
    return 1000.0 * count / n if n else None


def _share(values: NDArray[np.bool_]) -> float | None:
    return float(values.mean()) if len(values) else None


def _counts(results: Results, fraud: NDArray[np.bool_]) -> dict[str, Any]:
    n, frauds = len(results), int(fraud.sum())
    return {"events": n, "frauds": frauds, "fraud_rate": frauds / n if n else None}


def _real_on_same_events(level: Level, real: Results, frauds: NDArray[np.bytes_]) -> dict[str, Any]:
    """The real answers' figures on the events this shadow level scored."""
    rows = is_in(real.transaction_id, level.results.transaction_id)
    same = real.take(rows)
    fraud = is_fraud(same.transaction_id, frauds)
    day = (same.event_time_ms // MS_PER_DAY).astype(np.int32)
    sources = np.bincount(same.source, minlength=len(SOURCE_NAMES))
    return {
        **_counts(same, fraud),
        "sources": {name: int(c) for name, c in zip(SOURCE_NAMES, sources, strict=True) if c},
        **_measure(same, fraud, day),
        "analyst_load": analyst_load(same, fraud),
    }


def _range(real: Results, days: DayRange) -> dict[str, Any]:
    seen = real.event_time_ms // MS_PER_DAY
    first = days.first_day if days.first_day is not None else _end(seen, last=False)
    last = days.last_day if days.last_day is not None else _end(seen, last=True)
    out: dict[str, Any] = {
        "first_date": day_date(first).isoformat() if first is not None else None,
        "last_date": day_date(last).isoformat() if last is not None else None,
        "days": (last - first + 1) if first is not None and last is not None else 0,
    }
    if days.start_day is not None:
        out["start_date"] = day_date(days.start_day).isoformat()
        out["first_day"] = first - days.start_day if first is not None else None
        out["last_day"] = last - days.start_day if last is not None else None
    return out


def _end(day: NDArray[np.int64], last: bool) -> int | None:
    if not len(day):
        return None
    return int(day.max() if last else day.min())
