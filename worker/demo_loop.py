"""What the demo shows of the feedback loop: chargebacks reaching terminal risk, the review
stream's size and precision during and after the outage, and the re-scored items.

Ground truth comes from the demo's own simulation: the demo knows which events were frauds
and which terminals were compromised, the workers do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from worker.events import MS_PER_DAY
from worker.features.stateful import terminal_risk
from worker.features.store import RedisFeatureStore
from worker.features.windows import TERMINAL_WINDOWS
from worker.simulator.model import Transactions

COMPROMISED_TERMINAL = 2  # the simulator's fraud scenario 2


@dataclass(frozen=True)
class RiskSnapshot:
    """Terminal risk as the workers read it on one simulated day (30-day window)."""

    day: int  # simulation day
    chargebacks: int  # chargebacks produced so far
    compromised: int  # terminals compromised with frauds inside the window
    compromised_with_risk: int  # of those, terminals whose served risk is above 0
    risk_compromised: float  # mean served risk of those terminals
    risk_others: float  # mean served risk of every other terminal


@dataclass
class RiskWatch:
    """Reads the served terminal risk of every terminal at checkpoints of the stream."""

    transactions: Transactions
    store: RedisFeatureStore
    every_days: int = 5
    snapshots: list[RiskSnapshot] = field(default_factory=list)
    _next_day: int = 10

    def __post_init__(self) -> None:
        self.terminals = np.unique(self.transactions.terminal_id)
        self.first_epoch_day = int(self.transactions.event_time_ms[0] // MS_PER_DAY)

    def at(self, sim_day: int, chargebacks: int) -> None:
        """Called by the producer as the stream goes; snapshots every ``every_days``."""
        if sim_day < self._next_day:
            return
        self._next_day = sim_day + self.every_days
        try:
            self.snapshots.append(self._snapshot(sim_day, chargebacks))
        except Exception:  # Redis may be the thing that is down right now
            return

    def _snapshot(self, sim_day: int, chargebacks: int) -> RiskSnapshot:
        windows = self.store.terminal_aggregates(self.terminals, self.first_epoch_day + sim_day)
        risk = terminal_risk(windows[:, -1, :])  # as the workers serve it
        window = TERMINAL_WINDOWS[-1]
        day = self.transactions.day
        scenario = self.transactions.labels.fraud_scenario
        inside = (day >= sim_day + window.lo) & (day <= sim_day + window.hi)
        hit = np.isin(
            self.terminals,
            self.transactions.terminal_id[inside & (scenario == COMPROMISED_TERMINAL)],
        )
        return RiskSnapshot(
            sim_day,
            chargebacks,
            int(hit.sum()),
            int((risk[hit] > 0).sum()),
            float(risk[hit].mean()) if hit.any() else 0.0,
            float(risk[~hit].mean()) if (~hit).any() else 0.0,
        )


def risk_table(snapshots: Sequence[RiskSnapshot]) -> list[str]:
    if not snapshots:
        return ["(no snapshot of terminal risk: the stream was shorter than 10 simulated days)"]
    lines = [
        "terminal risk as the workers read it (30-day window, frauds known from chargebacks):",
        "  sim day  chargebacks  compromised terminals  with risk > 0  mean risk   others",
    ]
    for s in snapshots:
        lines.append(
            f"  {s.day:>7} {s.chargebacks:>12} {s.compromised:>22} {s.compromised_with_risk:>14} "
            f"{s.risk_compromised:>10.3f} {s.risk_others:>8.4f}"
        )
    return lines


@dataclass(frozen=True)
class ReviewFigures:
    items: int
    frauds: int
    events: int

    def line(self, name: str) -> str:
        per_1000 = 1000 * self.items / self.events if self.events else 0.0
        precision = f"{self.frauds / self.items:.0%}" if self.items else "-"
        return (
            f"  {name:<22} {self.items:>6} items  {per_1000:>6.1f} per 1,000 events  "
            f"precision {precision:>4}"
        )


def review_stream(
    items: list[dict[str, Any]],
    fraud_ids: set[str],
    event_times: dict[str, float],
    outage: tuple[float, float] | None,
) -> list[str]:
    """Review items of this run, split by whether their event was scored during the outage
    (by the time it was sent), with their precision against the simulation's truth."""
    in_outage = _during(outage)
    originals = [i for i in items if i["supersedes"] is None]
    rescored = [i for i in items if i["supersedes"] is not None]
    ids = {tx for tx in event_times}
    during_ids = {tx for tx, sent in event_times.items() if in_outage(sent)}
    lines = ["review stream (what analysts get), precision against the simulation's truth:"]
    for name, group, events in (
        ("during the outage", [i for i in originals if _id(i) in during_ids], len(during_ids)),
        ("outside it", [i for i in originals if _id(i) not in during_ids], len(ids - during_ids)),
        ("re-scored after it", rescored, len(during_ids)),
    ):
        figures = ReviewFigures(len(group), sum(_id(i) in fraud_ids for i in group), events)
        lines.append(figures.line(name))
    lines.append(
        "  (re-scored: degraded answers the primary scored again once Redis was back; each "
        "supersedes its degraded answer)"
    )
    return lines


def degraded_kept_apart(items: list[dict[str, Any]], fraud_ids: set[str]) -> str:
    frauds = sum(_id(i) in fraud_ids for i in items)
    return (
        f"degraded answers kept apart (transactions.degraded, for re-scoring, not analysts): "
        f"{len(items)}, {frauds} of them frauds"
    )


def _id(item: dict[str, Any]) -> str:
    return str(item["result"]["transaction_id"])


def _during(outage: tuple[float, float] | None) -> Any:
    if outage is None:
        return lambda _t: False
    # Events sent shortly before the outage are scored in it: a second of slack.
    begin, end = outage[0] - 1.0, outage[1]
    return lambda t: begin <= t <= end


def fraud_ids(transactions: Transactions, count: int) -> set[str]:
    mask: NDArray[np.bool_] = transactions.labels.is_fraud[:count]
    return set(transactions.transaction_id[:count][mask].tolist())
