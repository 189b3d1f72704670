"""Simulator output: reproducibility, handbook statistics, extension fields, invariants."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import date

import numpy as np
import pytest

from worker.simulator import (
    EVENT_FIELDS,
    TRANSACTION_COLUMNS,
    SimulationConfig,
    SimulationResult,
    Transactions,
    extensions,
    run_simulation,
    simulate,
)
from worker.simulator.catalog import (
    CHANNELS,
    COUNTRIES,
    CURRENCIES,
    ENTRY_MODES,
    HIGH_RISK_CATEGORIES,
)
from worker.simulator.fraud import compromise_windows

SMALL = SimulationConfig(n_customers=500, n_terminals=1000, n_days=60, seed=7)
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return run_simulation(SMALL)


@pytest.fixture(scope="module")
def tx(result: SimulationResult) -> Transactions:
    return result.transactions


def test_same_seed_gives_identical_output(tx: Transactions) -> None:
    again = simulate(SMALL)
    assert again.equals(tx)
    for name, column in tx.columns().items():
        assert np.array_equal(column, getattr(again, name)), name


def test_different_seed_gives_different_output(tx: Transactions) -> None:
    other = simulate(SimulationConfig(n_customers=500, n_terminals=1000, n_days=60, seed=8))
    assert not other.equals(tx)
    assert set(other.card_id.tolist()).isdisjoint(tx.card_id.tolist())
    assert not np.array_equal(other.transaction_id[:10], tx.transaction_id[:10])


def test_columns_and_dtypes(tx: Transactions) -> None:
    assert tuple(f.name for f in fields(Transactions)) == (*TRANSACTION_COLUMNS, "labels")
    for name, dtype in TRANSACTION_COLUMNS.items():
        assert getattr(tx, name).dtype == dtype, name
        assert len(getattr(tx, name)) == len(tx)
    assert tx.labels.is_fraud.dtype == np.bool_
    assert tx.labels.fraud_scenario.dtype == np.int8
    assert 40_000 < len(tx) < 75_000  # ~500 * 2 * 60 * 0.97, minus late-opened accounts


def test_sorted_by_time_and_within_each_day(tx: Transactions) -> None:
    assert np.all(np.diff(tx.event_time_ms) >= 0)
    start_ms = (SMALL.start_date - date(1970, 1, 1)).days * DAY_MS
    ms_in_day = tx.event_time_ms - start_ms - tx.day.astype(np.int64) * DAY_MS
    assert ms_in_day.min() >= 0
    assert ms_in_day.max() < DAY_MS
    assert tx.day.min() >= 0
    assert tx.day.max() < SMALL.n_days
    # N(43200 s, 20000 s): the middle of the day is busiest.
    assert abs(np.median(ms_in_day) / 1000 - 43_200) < 1_000


def test_amounts_follow_customer_profiles(result: SimulationResult, tx: Transactions) -> None:
    assert np.all(tx.amount >= 0)
    assert np.array_equal(tx.amount, np.round(tx.amount, 2))
    genuine = tx.labels.fraud_scenario == 0
    mu = result.customers.mean_amount[tx.customer_idx[genuine]]
    ratio = tx.amount[genuine] / mu
    assert 0.95 < ratio.mean() < 1.1
    assert 0.45 < ratio.std() < 0.55  # std = mu / 2


def test_terminals_within_radius(result: SimulationResult, tx: Transactions) -> None:
    genuine = tx.labels.fraud_scenario != 3  # scenario 3 may go anywhere
    c, t = tx.customer_idx[genuine], tx.terminal_idx[genuine]
    cust, term = result.customers, result.terminals
    distance = np.hypot(cust.x[c] - term.x[t], cust.y[c] - term.y[t])
    assert distance.max() < SMALL.radius


def test_fraud_rate_and_labels(tx: Transactions) -> None:
    scenario = tx.labels.fraud_scenario
    assert np.array_equal(tx.labels.is_fraud, scenario > 0)
    assert set(np.unique(scenario).tolist()) == {0, 1, 2, 3}
    # 2 of 1000 terminals and 3 of 500 customers a day make this far denser than the
    # reference's 0.8%; see test_reference_density_fraud_rate.
    assert 0.03 < tx.labels.is_fraud.mean() < 0.12


def test_scenario_1_every_amount_above_threshold(tx: Transactions) -> None:
    scenario = tx.labels.fraud_scenario
    above = tx.amount > SMALL.fraud_amount_threshold
    assert np.all(tx.labels.is_fraud[above])
    # Scenario 1 wins unless the amount is a scenario-3 (x5) one.
    assert np.array_equal(scenario == 1, above & (scenario != 3))
    assert np.all(tx.amount[scenario == 3] / 5 <= SMALL.fraud_amount_threshold + 0.01)


def test_scenario_2_compromised_terminals(result: SimulationResult, tx: Transactions) -> None:
    windows = result.compromised_terminals
    assert windows.shape == (SMALL.n_terminals, SMALL.n_days)
    assert windows[:, 0].sum() == SMALL.compromised_terminals_per_day
    in_window = windows[tx.terminal_idx, tx.day]
    assert np.all(tx.labels.is_fraud[in_window])
    scenario = tx.labels.fraud_scenario
    assert np.all(in_window[scenario == 2])
    assert np.array_equal(scenario == 2, in_window & (scenario != 1) & (scenario != 3))
    assert (scenario == 2).sum() > 1000


def test_scenario_3_compromised_customers(result: SimulationResult, tx: Transactions) -> None:
    windows = result.compromised_customers
    in_window = windows[tx.customer_idx, tx.day]
    scenario = tx.labels.fraud_scenario
    s3 = scenario == 3
    assert np.all(in_window[s3])
    candidates = in_window & ((scenario == 0) | s3)
    assert 0.28 < s3.sum() / candidates.sum() < 0.39  # a third
    # Amount x5 of the customer's normal draws, statistically.
    mu = result.customers.mean_amount[tx.customer_idx]
    fraud_ratio = (tx.amount[s3] / mu[s3]).mean()
    genuine_ratio = (tx.amount[scenario == 0] / mu[scenario == 0]).mean()
    assert 4.5 < fraud_ratio / genuine_ratio < 5.5


def test_scenario_3_is_card_not_present_like(tx: Transactions) -> None:
    s3 = tx.labels.fraud_scenario == 3
    genuine = tx.labels.fraud_scenario == 0
    ecommerce = tx.channel == "ecommerce"
    high_risk = np.isin(tx.merchant_category, sorted(HIGH_RISK_CATEGORIES))
    assert ecommerce[s3].mean() > 0.7
    assert ecommerce[genuine].mean() < 0.3
    assert 0.25 < high_risk[s3].mean() < 0.45
    assert high_risk[genuine].mean() < 0.08
    assert 0.3 < tx.is_international[s3].mean() < 0.5
    assert tx.is_international[genuine].mean() < 0.06


def test_new_accounts_are_preferred_for_compromise() -> None:
    n, days = 200, 2000
    open_day = np.where(np.arange(n) < 20, 0, -1000)  # first 20 accounts "new" every day
    weights = np.where(open_day == 0, 5.0, 1.0)
    windows = compromise_windows(np.random.default_rng(0), n, days, 3, 1, lambda _day: weights)
    assert np.all(windows.sum(axis=0) == 3)
    per_entity = windows.sum(axis=1)
    assert 3.5 < per_entity[:20].mean() / per_entity[20:].mean() < 6.5
    # Zero weight: never picked.
    zero = compromise_windows(
        np.random.default_rng(0), n, 10, 3, 1, lambda _day: (np.arange(n) < 2).astype(float)
    )
    assert zero[2:].sum() == 0
    assert np.all(zero[:2])


def test_international_fields(result: SimulationResult, tx: Transactions) -> None:
    assert set(tx.country.tolist()) <= set(COUNTRIES)
    assert np.array_equal(tx.is_international, tx.country != "FR")
    currency_of = dict(zip(COUNTRIES, CURRENCIES, strict=True))
    assert [currency_of[c] for c in tx.country.tolist()] == tx.currency.tolist()
    assert set(tx.currency[~tx.is_international].tolist()) == {"EUR"}
    assert {"GBP", "USD", "CHF"} <= set(tx.currency.tolist())
    history = result.customers.has_international_history
    assert 0.1 < history.mean() < 0.2
    assert np.array_equal(tx.has_international_history, history[tx.customer_idx])
    genuine = tx.labels.fraud_scenario == 0
    with_history = tx.has_international_history & genuine
    without = ~tx.has_international_history & genuine
    assert 0.11 < tx.is_international[with_history].mean() < 0.19
    assert 0.01 < tx.is_international[without].mean() < 0.03


def test_merchant_category_and_channel_are_terminal_level(
    result: SimulationResult, tx: Transactions
) -> None:
    terminals = result.terminals
    high_risk = np.isin(terminals.category, [6, 7, 8]).mean()
    assert 0.03 < high_risk < 0.07
    assert (terminals.channel == 0).mean() > 0.7  # mostly pos
    # One category per terminal across all its transactions.
    pairs = set(zip(tx.terminal_idx.tolist(), tx.merchant_category.tolist(), strict=True))
    assert len(pairs) == len(set(tx.terminal_idx.tolist()))
    # Scenarios 2 and 3 may move a transaction online; the others keep the terminal's.
    kept = ~np.isin(tx.labels.fraud_scenario, [2, 3])
    pairs = set(zip(tx.terminal_idx[kept].tolist(), tx.channel[kept].tolist(), strict=True))
    assert len(pairs) == len(set(tx.terminal_idx[kept].tolist()))
    assert np.array_equal(
        tx.channel[kept], np.array(CHANNELS, dtype=object)[terminals.channel[tx.terminal_idx[kept]]]
    )


def _shares(modes: np.ndarray) -> dict[str, float]:
    return {mode: float((modes == mode).mean()) for mode in ENTRY_MODES}


def test_entry_mode_vocabulary_and_channel_consistency(tx: Transactions) -> None:
    assert set(tx.entry_mode.tolist()) == set(ENTRY_MODES)
    assert tx.cardholder_verified.any()
    assert not tx.cardholder_verified.all()
    # Online entry exactly on the ecommerce channel, frauds included; ATMs read cards.
    assert np.array_equal(tx.entry_mode == "ecommerce", tx.channel == "ecommerce")
    assert set(tx.entry_mode[tx.channel == "atm"].tolist()) <= {"chip", "magstripe"}
    # No fraud shows a (channel, entry mode) pair that genuine transactions never show.
    scenario = tx.labels.fraud_scenario
    genuine = scenario == 0
    seen = set(zip(tx.channel[genuine].tolist(), tx.entry_mode[genuine].tolist(), strict=True))
    fraud = set(zip(tx.channel[~genuine].tolist(), tx.entry_mode[~genuine].tolist(), strict=True))
    assert fraud <= seen


def test_genuine_entry_modes_and_verification(tx: Transactions) -> None:
    genuine = tx.labels.fraud_scenario == 0
    pos = _shares(tx.entry_mode[genuine & (tx.channel == "pos")])
    assert 0.52 < pos["chip"] < 0.58
    assert 0.40 < pos["contactless"] < 0.46
    assert 0.008 < pos["magstripe"] < 0.025
    assert 0.001 < pos["keyed"] < 0.012
    atm = _shares(tx.entry_mode[genuine & (tx.channel == "atm")])
    assert atm["chip"] > 0.93
    assert atm["contactless"] == atm["keyed"] == atm["ecommerce"] == 0.0
    verified = {
        mode: float(tx.cardholder_verified[genuine & (tx.entry_mode == mode)].mean())
        for mode in ENTRY_MODES
    }
    assert verified["chip"] > 0.95
    assert 0.31 < verified["contactless"] < 0.39
    assert 0.35 < verified["magstripe"] < 0.65
    assert verified["keyed"] < 0.3
    assert 0.82 < verified["ecommerce"] < 0.88


def test_scenario_2_is_phished_card_data(result: SimulationResult, tx: Transactions) -> None:
    scenario = tx.labels.fraud_scenario
    s2, genuine = scenario == 2, scenario == 0
    phished = _shares(tx.entry_mode[s2])
    assert set(tx.entry_mode[s2].tolist()) == {"keyed", "ecommerce", "magstripe"}
    assert phished["keyed"] + phished["ecommerce"] > 0.75
    assert tx.cardholder_verified[s2].mean() < 0.15
    assert 0.22 < tx.is_international[s2].mean() < 0.38
    honest = _shares(tx.entry_mode[genuine])
    assert honest["chip"] + honest["contactless"] > 0.7
    assert tx.cardholder_verified[genuine].mean() > 0.6
    # At point-of-sale terminals the mode is drawn freely: keyed 0.45, online 0.40, cloned 0.15.
    at_pos = s2 & (result.terminals.channel[tx.terminal_idx] == CHANNELS.index("pos"))
    assert at_pos.sum() > 500
    drawn = _shares(tx.entry_mode[at_pos])
    assert 0.38 < drawn["keyed"] < 0.52
    assert 0.33 < drawn["ecommerce"] < 0.47
    assert 0.10 < drawn["magstripe"] < 0.20
    # Amounts are the customer's own draws, as in the handbook.
    mu = result.customers.mean_amount[tx.customer_idx]
    assert 0.9 < (tx.amount[s2] / mu[s2]).mean() < 1.15


def test_scenario_3_entry_mode_follows_channel_but_rarely_verified(tx: Transactions) -> None:
    s3 = tx.labels.fraud_scenario == 3
    assert 0.24 < tx.cardholder_verified[s3].mean() < 0.36
    present = s3 & (tx.channel != "ecommerce")
    assert present.sum() > 50
    card_read = _shares(tx.entry_mode[present])
    assert card_read["chip"] + card_read["contactless"] > 0.85
    assert card_read["ecommerce"] == 0.0
    # Verification no longer depends on the entry mode.
    chip = s3 & (tx.entry_mode == "chip")
    assert tx.cardholder_verified[chip].mean() < 0.6


def test_extension_probabilities_are_tunable(monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = SimulationConfig(n_customers=200, n_terminals=300, n_days=30, seed=5)
    monkeypatch.setattr(extensions, "PHISHED_VERIFIED_P", 1.0)
    monkeypatch.setattr(extensions, "PHISHED_ENTRY_MODE_P", {"magstripe": 1.0})
    monkeypatch.setattr(extensions, "CNP_VERIFIED_P", 0.0)
    tx = simulate(tiny)
    s2, s3 = tx.labels.fraud_scenario == 2, tx.labels.fraud_scenario == 3
    assert s2.any() and s3.any()
    assert np.all(tx.cardholder_verified[s2])
    assert set(tx.entry_mode[s2 & (tx.channel != "ecommerce")].tolist()) == {"magstripe"}
    assert not tx.cardholder_verified[s3].any()
    monkeypatch.setattr(extensions, "PHISHED_ENTRY_MODE_P", {"keyed": 0.5, "ecommerce": 0.4})
    with pytest.raises(ValueError, match="sum to 1"):
        simulate(tiny)
    monkeypatch.setattr(extensions, "PHISHED_ENTRY_MODE_P", {"swipe": 1.0})
    with pytest.raises(ValueError, match="unknown entry mode"):
        simulate(tiny)


def test_account_ages(result: SimulationResult, tx: Transactions) -> None:
    open_day = result.customers.account_open_day
    assert 0.04 < (open_day >= 0).mean() < 0.12  # ~8% open in the window
    assert np.all(tx.account_age_days >= 0)
    assert np.array_equal(tx.account_age_days, tx.day - open_day[tx.customer_idx])
    assert np.all(tx.day >= open_day[tx.customer_idx])  # nothing before the account opens
    old = open_day < 0
    assert np.all(-open_day[old] >= 30)
    assert np.all(-open_day[old] <= 3650)
    assert (tx.account_age_days < 30).any()


def test_ids_are_opaque_tokens(result: SimulationResult, tx: Transactions) -> None:
    card_ids = result.customers.card_id.tolist()
    terminal_ids = result.terminals.terminal_id.tolist()
    assert all(re.fullmatch(r"c_[0-9a-f]{16}", c) for c in card_ids)
    assert all(re.fullmatch(r"t_[0-9a-f]{16}", t) for t in terminal_ids)
    assert len(set(card_ids)) == len(card_ids)
    assert len(set(terminal_ids)) == len(terminal_ids)
    card_like = re.compile(r"\d{12,}")
    assert not any(card_like.search(c) for c in tx.card_id.tolist())
    assert np.array_equal(tx.card_id, result.customers.card_id[tx.customer_idx])
    assert np.array_equal(tx.terminal_id, result.terminals.terminal_id[tx.terminal_idx])
    ids = tx.transaction_id.tolist()
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, str) and i.startswith("tx_") for i in ids[:100])


def test_event_dicts_have_no_labels(tx: Transactions) -> None:
    events = tx.event_dicts(0, 50)
    assert len(events) == 50
    types = {
        "transaction_id": str,
        "event_time_ms": int,
        "card_id": str,
        "terminal_id": str,
        "amount": float,
        "currency": str,
        "merchant_category": str,
        "channel": str,
        "country": str,
        "is_international": bool,
        "has_international_history": bool,
        "account_age_days": int,
        "entry_mode": str,
        "cardholder_verified": bool,
    }
    assert tuple(types) == EVENT_FIELDS
    for event in events:
        assert tuple(event) == EVENT_FIELDS
        assert "is_fraud" not in event
        assert "fraud_scenario" not in event
        for key, value in event.items():
            assert type(value) is types[key], key
    assert events[3]["transaction_id"] == tx.transaction_id[3]
    assert events[3]["amount"] == tx.amount[3]
    assert EVENT_FIELDS[-2:] == ("entry_mode", "cardholder_verified")
    assert [e["entry_mode"] for e in events] == tx.entry_mode[:50].tolist()
    assert [e["cardholder_verified"] for e in events] == tx.cardholder_verified[:50].tolist()
    assert {e["entry_mode"] for e in events} <= set(ENTRY_MODES)
    assert tx.event_dicts(len(tx) - 2) == tx.event_dicts(len(tx) - 2, len(tx))
    assert len(tx.event_dicts(len(tx) - 2)) == 2


def test_slice(tx: Transactions) -> None:
    mask = tx.labels.is_fraud
    frauds = tx.slice(mask)
    assert len(frauds) == int(mask.sum())
    assert np.all(frauds.labels.is_fraud)
    picked = tx.slice(np.array([5, 1, 3]))
    assert picked.transaction_id.tolist() == [tx.transaction_id[i] for i in (5, 1, 3)]
    assert picked.labels.fraud_scenario.tolist() == tx.labels.fraud_scenario[[5, 1, 3]].tolist()
    assert tx.slice(slice(0, 10)).equals(tx.slice(np.arange(10)))
    with pytest.raises(ValueError, match="length"):
        Transactions(**{**tx.columns(), "amount": tx.amount[:-1]}, labels=tx.labels)


def test_reference_density_fraud_rate() -> None:
    """Reference customers and terminals over fewer days: fraud near the handbook's 0.8%."""
    tx = simulate(SimulationConfig(n_days=45, seed=3))
    counts = np.bincount(tx.labels.fraud_scenario, minlength=4)
    assert 0.004 < tx.labels.is_fraud.mean() < 0.013
    assert all(counts[1:] > 100)
