"""Seeded, reproducible card-transaction simulator.

Base design: the simulator of the Fraud Detection Handbook (Le Borgne et al., "Reproducible
Machine Learning for Credit Card Fraud Detection - Practical Handbook", chapter 3),
re-implemented with vectorized numpy:

* Customers sit at uniform points of a 100 x 100 grid. Each has a mean amount
  mu ~ U(5, 100), amount std mu / 2, and a mean daily transaction count lambda ~ U(0, 4).
* Terminals sit at uniform points of the same grid. A customer uses the terminals within
  radius 5, uniformly; a customer with none in reach makes no transactions.
* Each (customer, day) draws Poisson(lambda) transactions (one Poisson draw over the whole
  customers x days array, expanded with ``np.repeat``). A transaction's time of day is
  N(43200 s, 20000 s), kept only within [0, 86400); its amount is N(mu, mu / 2) with
  negative draws redrawn, rounded to cents.
* Fraud, labelled with ``fraud_scenario`` (first scenario to mark a transaction wins,
  in the order 1, 2, 3; note the handbook's own code lets later scenarios overwrite):

  1. every amount above 220 is fraud;
  2. each day 2 random terminals are compromised for 28 days (that day included): all
     their transactions in the window are fraud;
  3. each day 3 random customers are compromised for 14 days: each of their transactions
     in the window that is not already fraud becomes fraud with probability 1/3 (the
     handbook takes exactly a third) and gets its amount multiplied by 5.

  At the reference size (5,000 customers, 10,000 terminals, 183 days) this gives about
  1.7M transactions and about 0.8% fraud.

Our extension (not in the handbook), giving each event the fields the worker's fraud rules
read, built so that they carry realistic but imperfect signal:

* ``merchant_category``: every terminal is a merchant with a fixed category drawn from
  grocery 28%, restaurant 22%, retail 20%, fuel 10%, electronics 9%, travel 6%, and the
  high-risk gambling 2%, crypto 1.5%, wire_transfer 1.5% (5% together).
* ``channel``: every terminal has a base channel drawn given its category (pos, ecommerce
  or atm; about 80% pos overall, crypto and gambling mostly online). Genuine
  transactions take their terminal's channel (scenario-2 and -3 frauds may not).
* ``country`` / ``currency`` / ``is_international``: all customers live in FR (EUR).
  ``has_international_history`` flags ~15% of customers; a genuine transaction is made
  abroad with probability 0.15 for them and 0.02 for the others, in a foreign country
  weighted by travel share (neighbours first). The currency is the country's own (EUR
  inside the euro area, else GBP, CHF, USD, ...). ``amount`` is always the EUR-equivalent
  amount; it is not converted.
* ``entry_mode`` / ``cardholder_verified``: how the card data reached the terminal (the
  POS entry mode: chip, contactless, magstripe, keyed or ecommerce) and whether the
  cardholder was verified (PIN, chip and PIN, or 3-D Secure passed). A genuine
  transaction's entry mode follows its channel: ecommerce always ``ecommerce``; atm chip
  97%, magstripe 3%; pos chip 55%, contactless 43%, magstripe 1.5%, keyed 0.5%. It is
  verified with probability chip 0.97, contactless 0.35 (no PIN under the contactless
  limit), magstripe 0.5, keyed 0.1, ecommerce 0.85 (3-D Secure is common under PSD2).
* Scenario-2 frauds (compromised terminal) are, as the handbook puts it, a criminal use
  of the terminal with phished card data: the amount, time, customer and terminal stay
  the handbook's, but the card data is keyed in (p 0.45), used online (p 0.40; the
  channel becomes ecommerce) or read from a cloned stripe (p 0.15). At an online
  merchant it is always used online and at an ATM always cloned, so the channel and
  entry mode pair is one genuine data also shows. The cardholder is verified with
  probability 0.08 only, and with probability 0.3 the transaction is made in a uniformly
  random foreign country (else at home).
* ``account_age_days``: every customer has an account open date. ~8% open their account
  during the window, on a uniform day, and make no transactions before it; the others
  opened it 30 to 3650 days before the start. The age is the number of days between the
  open date and the transaction's day (0 on the opening day).
* Scenario-3 frauds (compromised card, card-not-present style) are not drawn like the
  customer's genuine transactions: with probability 0.3 they go to a random terminal of a
  high-risk category (anywhere on the grid), with probability 0.75 their channel is
  ecommerce (else the terminal's), with probability 0.4 they are made in a uniformly
  random foreign country, and their entry mode follows their channel as for genuine
  ones but the cardholder is verified with probability 0.3 only, whatever the mode.
  Customers whose account is under 30 days old on the day of the draw are 5 times more
  likely to be picked for compromise; accounts not yet open are never picked.
* Identifiers are opaque: ``card_id`` is ``"c_"`` + 16 hex chars of a BLAKE2b hash of the
  customer index keyed with a seed-derived key (never a card number: tokens with a run of
  8+ digits are re-hashed), ``terminal_id`` likewise with ``"t_"``, and
  ``transaction_id`` is ``"tx_" + <seed tag> + "_" + <zero-padded rank in time order>``.

The probabilities of the extension are named constants of ``worker.simulator.extensions``.
Times are UTC epoch milliseconds from the start date. The same seed gives identical output;
every component draws from its own child of ``SeedSequence(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from worker.simulator.catalog import (
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    CURRENCIES,
    ENTRY_MODES,
    HOME,
)
from worker.simulator.config import SimulationConfig
from worker.simulator.fraud import apply_fraud
from worker.simulator.model import Labels, Transactions
from worker.simulator.profiles import (
    CustomerProfiles,
    TerminalProfiles,
    generate_customers,
    generate_terminals,
)
from worker.simulator.tokens import seed_key, transaction_ids
from worker.simulator.transactions import DAY_MS, Draft, draw_genuine

__all__ = ["SimulationResult", "run_simulation", "simulate"]

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """The transactions with the profiles and compromise windows behind them (ground
    truth, for analysis and tests): ``compromised_terminals[t, d]`` and
    ``compromised_customers[c, d]`` are True on the days the entity is compromised."""

    config: SimulationConfig
    transactions: Transactions
    customers: CustomerProfiles
    terminals: TerminalProfiles
    compromised_terminals: NDArray[np.bool_]
    compromised_customers: NDArray[np.bool_]


def simulate(config: SimulationConfig) -> Transactions:
    """Simulate the transactions of ``config``, sorted by event time, labels apart."""
    return run_simulation(config).transactions


def run_simulation(config: SimulationConfig) -> SimulationResult:
    """Simulate ``config`` and keep the profiles and compromise windows as well."""
    terminal_seed, customer_seed, transaction_seed, fraud_seed = np.random.SeedSequence(
        config.seed
    ).spawn(4)
    key = seed_key(config.seed)
    terminals = generate_terminals(config, np.random.default_rng(terminal_seed), key)
    customers = generate_customers(config, np.random.default_rng(customer_seed), key, terminals)
    draft = draw_genuine(config, customers, terminals, np.random.default_rng(transaction_seed))
    draft = draft.sorted_by_time()
    fraud = apply_fraud(draft, config, customers, terminals, np.random.default_rng(fraud_seed))
    transactions = _assemble(config, draft, fraud.scenario, customers, terminals, key)
    return SimulationResult(
        config=config,
        transactions=transactions,
        customers=customers,
        terminals=terminals,
        compromised_terminals=fraud.compromised_terminals,
        compromised_customers=fraud.compromised_customers,
    )


def _names(values: tuple[str, ...]) -> NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _assemble(
    config: SimulationConfig,
    draft: Draft,
    scenario: NDArray[np.int8],
    customers: CustomerProfiles,
    terminals: TerminalProfiles,
    key: bytes,
) -> Transactions:
    """Turn the coded draft into the public columns (strings, ids, epoch times)."""
    start_ms = (config.start_date - _EPOCH).days * DAY_MS
    customer, terminal = draft.customer, draft.terminal
    age = draft.day - customers.account_open_day[customer]
    return Transactions(
        transaction_id=transaction_ids(len(draft), key),
        event_time_ms=start_ms + draft.time_ms(),
        day=draft.day,
        customer_idx=customer,
        terminal_idx=terminal,
        card_id=customers.card_id[customer],
        terminal_id=terminals.terminal_id[terminal],
        amount=draft.amount,
        currency=_names(CURRENCIES)[draft.country],
        merchant_category=_names(CATEGORIES)[terminals.category[terminal]],
        channel=_names(CHANNELS)[draft.channel],
        country=_names(COUNTRIES)[draft.country],
        is_international=draft.country != HOME,
        has_international_history=customers.has_international_history[customer],
        account_age_days=age.astype(np.int32),
        entry_mode=_names(ENTRY_MODES)[draft.entry_mode],
        cardholder_verified=draft.verified,
        labels=Labels(is_fraud=scenario > 0, fraud_scenario=scenario),
    )
