"""Rolling live quality per source, over results old enough to have their labels.

A result counts once it is *matured*: its event time is at least ``label_delay`` older than
the newest event time seen (the chargebacks come 7 days after the transaction), and it is
inside the rolling ``window`` of matured event time before that. Unlabelled counts as
legitimate, as offline.

Memory is bounded twice over:

- a **deterministic hash sample** of transaction ids (``sample_rate``): the same transactions
  are kept in the scored, shadow and labels streams alike, so a label that arrives a week
  later still finds its result, and a shadow level is compared with the real answer on the
  same events; the sample is the same after a restart and on every replica. A bounded ring
  per source would instead drop the result before its label came, unevenly per source;
- a **hard cap** per store (``max_rows``): past it, the oldest event times go first, so a
  surge shortens the window (``fraud_live_window_start_seconds`` says by how much) rather
  than growing memory.

Stores hold numbers only (64-bit hash of the id, event time, score, decision and source
codes: 26 bytes a row); a row is appended per batch and compacted (deduplicated, evicted,
capped) when the pending rows pass a quarter of the cap, and at each refresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

from worker.events import MS_PER_DAY
from worker.ids import id_hash
from worker.quality.results import BLOCK, REVIEW, SOURCE_NAMES, last_of_groups

ALL = "all"
_SAMPLE_SPACE = 1 << 32


@dataclass(frozen=True)
class LiveConfig:
    label_delay_ms: int = 7 * MS_PER_DAY
    window_ms: int = 7 * MS_PER_DAY
    sample_rate: float = 0.25
    max_rows: int = 1_000_000

    def __post_init__(self) -> None:
        if not 0 < self.sample_rate <= 1:
            raise ValueError("sample_rate must be in (0, 1]")
        if self.label_delay_ms < 0 or self.window_ms <= 0 or self.max_rows < 1:
            raise ValueError("label delay >= 0, window > 0 and max_rows >= 1 are needed")

    def sampled(self, keys: NDArray[np.uint64]) -> NDArray[np.bool_]:
        """Whether each hashed id is in the sample (its low 32 bits under the rate)."""
        threshold = np.uint64(math.ceil(self.sample_rate * _SAMPLE_SPACE))
        return (keys & np.uint64(_SAMPLE_SPACE - 1)) < threshold


@dataclass
class _Store:
    """Rows of one stream: columns appended per batch, compacted now and then."""

    names: tuple[str, ...]
    dedupe_on: tuple[str, ...]
    columns: dict[str, NDArray[Any]] = field(default_factory=dict)
    pending: list[dict[str, NDArray[Any]]] = field(default_factory=list)
    pending_rows: int = 0

    def append(self, columns: dict[str, NDArray[Any]]) -> None:
        self.pending.append(columns)
        self.pending_rows += len(columns["key"])

    def __len__(self) -> int:
        return len(self.columns.get("key", ())) + self.pending_rows

    def compact(self, low_ms: int | None, max_rows: int) -> dict[str, NDArray[Any]]:
        """Deduplicated (the last row per key wins), rows before ``low_ms`` dropped, and at
        most ``max_rows`` of the newest event times kept."""
        parts = ([self.columns] if self.columns else []) + self.pending
        if not parts:
            return {}
        merged = {n: np.concatenate([p[n] for p in parts]) for n in self.names}
        rows = last_of_groups([merged[n] for n in self.dedupe_on])
        if low_ms is not None:
            rows = rows[merged["event_time_ms"][rows] >= low_ms]
        if len(rows) > max_rows:
            newest = np.argsort(merged["event_time_ms"][rows], kind="stable")[-max_rows:]
            rows = np.sort(rows[newest])
        self.columns = {n: merged[n][rows] for n in self.names}
        self.pending, self.pending_rows = [], 0
        return self.columns


_RESULT_NAMES = ("key", "event_time_ms", "score", "decision", "source")


class RollingQuality:
    """Live figures per source from the three streams (see the module's docstring)."""

    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.scored = _Store(_RESULT_NAMES, ("key",))
        self.shadow = _Store(_RESULT_NAMES, ("key", "source"))
        self.labels = _Store(("key", "event_time_ms"), ("key",))
        self.watermark_ms: int | None = None  # the newest event time of a scored result

    def add_results(self, columns: dict[str, NDArray[Any]], shadow: bool = False) -> None:
        """Results as decoded (``worker.quality.results.RESULT_FIELDS``)."""
        keys = id_hash(columns["transaction_id"])
        keep = self.config.sampled(keys)
        times = np.asarray(columns["event_time_ms"], dtype=np.int64)
        if not shadow and len(times):
            newest = int(times.max())
            self.watermark_ms = max(newest, self.watermark_ms or newest)
        store = self.shadow if shadow else self.scored
        store.append(
            {
                "key": keys[keep],
                "event_time_ms": times[keep],
                "score": np.asarray(columns["score"], dtype=np.float64)[keep],
                "decision": np.asarray(columns["decision"], dtype=np.int8)[keep],
                "source": np.asarray(columns["source"], dtype=np.int8)[keep],
            }
        )
        self._compact_if_large(store)

    def add_frauds(self, transaction_id: NDArray[np.bytes_], event_time_ms: NDArray[Any]) -> None:
        """Transactions a fraud label names (other labels change nothing: unlabelled counts
        as legitimate already)."""
        keys = id_hash(transaction_id)
        keep = self.config.sampled(keys)
        times = np.asarray(event_time_ms, dtype=np.int64)[keep]
        self.labels.append({"key": keys[keep], "event_time_ms": times})
        self._compact_if_large(self.labels)

    def window(self) -> tuple[int, int] | None:
        """(first, last) matured event time in the window, ms; None before any result."""
        if self.watermark_ms is None:
            return None
        last = self.watermark_ms - self.config.label_delay_ms
        return last - self.config.window_ms, last

    def figures(self) -> dict[tuple[str, bool], dict[str, float]]:
        """Per (source, shadow): the live figures over the matured window's sampled rows."""
        bounds = self.window()
        low = bounds[0] if bounds else None
        cap = self.config.max_rows
        scored = self.scored.compact(low, cap)
        shadow = self.shadow.compact(low, cap)
        frauds = self.labels.compact(low, cap).get("key", np.empty(0, np.uint64))
        if bounds is None:
            return {}
        out: dict[tuple[str, bool], dict[str, float]] = {}
        for is_shadow, columns in ((False, scored), (True, shadow)):
            if not columns:
                continue
            matured = columns["event_time_ms"] <= bounds[1]
            fraud = np.isin(columns["key"], frauds)
            if not is_shadow:
                out[(ALL, False)] = live_figures(columns, fraud, matured)
            for code, name in enumerate(SOURCE_NAMES):
                rows = matured & (columns["source"] == code)
                if rows.any():
                    out[(name, is_shadow)] = live_figures(columns, fraud, rows)
        return out

    def sizes(self) -> dict[str, int]:
        return {"scored": len(self.scored), "shadow": len(self.shadow), "labels": len(self.labels)}

    def _compact_if_large(self, store: _Store) -> None:
        if store.pending_rows > self.config.max_rows // 4:
            bounds = self.window()
            store.compact(bounds[0] if bounds else None, self.config.max_rows)


def live_figures(
    columns: dict[str, NDArray[Any]], fraud: NDArray[np.bool_], rows: NDArray[np.bool_]
) -> dict[str, float]:
    """The gauges' values for ``rows``: NaN where a figure is undefined (no fraud yet, no
    review decision)."""
    fraud, score, decision = fraud[rows], columns["score"][rows], columns["decision"][rows]
    n, frauds = len(fraud), int(fraud.sum())
    both = 0 < frauds < n
    review, flagged = decision == REVIEW, (decision == REVIEW) | (decision == BLOCK)
    return {
        "labelled_results": float(n),
        "frauds": float(frauds),
        "average_precision": float(average_precision_score(fraud, score)) if both else math.nan,
        "roc_auc": float(roc_auc_score(fraud, score)) if both else math.nan,
        "review_precision": float(fraud[review].mean()) if review.any() else math.nan,
        "block_precision": (
            float(fraud[decision == BLOCK].mean()) if (decision == BLOCK).any() else math.nan
        ),
        "recall_at_review": float(fraud[flagged].sum() / frauds) if frauds else math.nan,
    }
