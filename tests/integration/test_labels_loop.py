"""The loop as it runs in production: ``fraud-worker simulate`` streams events and their
chargebacks, a real worker scores the events and counts them in the feature store, the labels
consumer counts the chargebacks — and the terminal-risk windows the worker reads are exactly
what training computes from the same feed (same delay, same coverage)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.integration.harness import running_worker, worker_settings
from tests.integration.test_labels import counter, running_labels, wait_for
from worker.cli import app
from worker.events import MS_PER_DAY
from worker.features.windows import (
    TERMINAL_WINDOWS,
    entity_codes,
    known_window_sums,
    window_sums,
)
from worker.kafka.topics import topic_size
from worker.labels import LabelsConsumer
from worker.runtime import feature_store, redis_client
from worker.settings import Settings
from worker.simulator import SimulationConfig, simulate
from worker.simulator.labels import ChargebackConfig, chargebacks

SEED, CUSTOMERS, TERMINALS, DAYS = 23, 400, 800, 50


def processed(labels: LabelsConsumer) -> float:
    return counter(labels, "fraud_labels_counted_total") + counter(
        labels, "fraud_labels_repeated_total"
    )


def offline_terminal_windows(
    terminal_id: np.ndarray, time_ms: np.ndarray, reported: np.ndarray, delay_ms: int,
    probe_terminals: np.ndarray, probe_time_ms: int,
) -> np.ndarray:  # fmt: skip
    """Training's computation for events at ``probe_time_ms`` on ``probe_terminals``: the
    history's transactions per window, and its reported frauds known by then."""
    n, k = len(terminal_id), len(probe_terminals)
    ids = np.concatenate([terminal_id, probe_terminals])
    times = np.concatenate([time_ms, np.full(k, probe_time_ms, dtype=np.int64)])
    codes = entity_codes(ids)
    history = np.concatenate([np.ones(n, np.int64), np.zeros(k, np.int64)])
    counts = window_sums(codes, times // MS_PER_DAY, history[:, None], TERMINAL_WINDOWS)[:, :, 0]
    weights = np.concatenate([reported.astype(np.int64), np.zeros(k, np.int64)])
    frauds = known_window_sums(codes, times, weights, TERMINAL_WINDOWS, delay_ms)
    return np.stack([counts, frauds], axis=-1)[n:]


@pytest.mark.parametrize("delay_days", [7.0])
def test_chargebacks_reach_terminal_risk_exactly_as_training_computes_it(
    live_stack: Settings,
    make_topic: Callable[[int], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    delay_days: float,
) -> None:
    settings = worker_settings(live_stack, make_topic)
    config_file = tmp_path / "worker.yaml"
    config_file.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    monkeypatch.setenv("FRAUD_CONFIG_FILE", str(config_file))
    transactions = simulate(
        SimulationConfig(n_customers=CUSTOMERS, n_terminals=TERMINALS, n_days=DAYS, seed=SEED)
    )
    n = len(transactions)
    args = [
        "simulate", "--events", str(n), "--seed", str(SEED), "--customers", str(CUSTOMERS),
        "--terminals", str(TERMINALS), "--days", str(DAYS),
        "--label-delay-days", str(delay_days), "--label-coverage", "0.9",
    ]  # fmt: skip
    with running_worker(settings), running_labels(settings) as labels:
        produced = CliRunner().invoke(app, args)
        assert produced.exit_code == 0, produced.output
        found = re.search(r"and (\d+) chargebacks", produced.output)
        assert found, produced.output
        chargebacks_sent = int(found.group(1))
        wait_for(lambda: topic_size(settings, settings.topics.scored) >= n, timeout_s=300)
        assert topic_size(settings, settings.topics.labels) == chargebacks_sent
        # Counted now, or by an attempt whose reply was lost (then "repeated" on the retry).
        wait_for(lambda: processed(labels) == chargebacks_sent)
        time.sleep(0.5)  # the worker's last feature-store writes were sent before its results

    feed = chargebacks(transactions, SEED, ChargebackConfig(delay_days, 0.9))
    last_time = int(transactions.event_time_ms[-1])
    assert chargebacks_sent == int((feed.known_at_ms <= last_time).sum()) > 0
    terminals = np.unique(transactions.terminal_id)
    expected = offline_terminal_windows(
        transactions.terminal_id, transactions.event_time_ms, feed.reported(n),
        feed.config.delay_ms, terminals, last_time,
    )  # fmt: skip
    store = feature_store(settings, redis_client(settings))
    served = store.terminal_aggregates(terminals, last_time // MS_PER_DAY)
    assert np.array_equal(served, expected)

    # Terminals compromised in the 30-day window carry risk; the rest carry none.
    day = transactions.event_time_ms // MS_PER_DAY
    window = TERMINAL_WINDOWS[-1]
    in_window = (day >= day[-1] + window.lo) & (day <= day[-1] + window.hi)
    reported = feed.reported(n) & in_window
    risky = set(transactions.terminal_id[reported].tolist())
    served_frauds = dict(zip(terminals.tolist(), served[:, -1, 1].tolist(), strict=True))
    assert risky and all(served_frauds[t] > 0 for t in risky)
    assert sum(served_frauds.values()) == int(reported.sum())
    compromised = transactions.labels.fraud_scenario == 2
    assert len(risky & set(transactions.terminal_id[compromised & in_window].tolist())) > 0
