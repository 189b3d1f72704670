"""Decisions: thresholds, decisive rules whichever level answered, and where a result goes
(review for a human, kept apart when only degraded), with its priority."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.factories import make_batch
from tests.ladder.fakes import FakeLevel, ladder_of, sources
from worker.ladder import Source, score_batch
from worker.ladder.decision import expected_loss, rule_floor
from worker.ladder.rules import RulesLevel
from worker.ladder.types import DECISIONS, ScoredBatch
from worker.rules import RuleSet, load_rules

RULES = """
rules:
  - {name: high_amount, reason: HIGH_AMOUNT, weight: 0.9, decides: review,
     when: {field: amount, op: gt, value: 220}}
  - {name: huge, reason: HUGE, weight: 0.99, decides: block,
     when: {field: amount, op: gt, value: 5000}}
  - {name: new_account, reason: NEW_ACCOUNT, weight: 0.1,
     when: {field: account_age_days, op: lt, value: 7}}
"""


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return load_rules(path)


def decisions(out: ScoredBatch) -> list[str]:
    return [DECISIONS[code].value for code in out.decision]


def test_a_decisive_rule_raises_an_allow_from_the_primary_and_the_cache(rules: RuleSet) -> None:
    batch = make_batch({"amount": 300.0}, {"amount": 300.0}, {"amount": 50.0})
    cache = FakeLevel(Source.CACHE, {0: 0.01})
    primary = FakeLevel(Source.PRIMARY, {1: 0.02, 2: 0.03})
    out = score_batch(batch, ladder_of(cache, primary, rules=rules))
    assert sources(out) == ["cache", "primary", "primary"]
    assert decisions(out) == ["review", "review", "allow"]
    assert out.raised_by_rule.tolist() == [True, True, False]
    assert out.score.tolist() == [0.01, 0.02, 0.03], "the score is the model's, untouched"
    record = out.records(scored_at_ms=1)[0]
    assert record["decision"] == "review" and "HIGH_AMOUNT" in record["reasons"]
    assert out.decisive_reasons(np.arange(3)) == [["HIGH_AMOUNT"], ["HIGH_AMOUNT"], []]


def test_a_decisive_rule_never_lowers_a_decision(rules: RuleSet) -> None:
    batch = make_batch({"amount": 300.0}, {"amount": 300.0}, {"amount": 9000.0})
    primary = FakeLevel(Source.PRIMARY, {0: 0.95, 1: 0.6, 2: 0.6})
    out = score_batch(batch, ladder_of(primary, rules=rules))
    assert decisions(out) == ["block", "review", "block"]
    assert out.raised_by_rule.tolist() == [False, False, True]


def test_decisive_rules_decide_for_every_level_below_the_primary(rules: RuleSet) -> None:
    batch = make_batch({"amount": 300.0}, {"amount": 300.0})
    fallback = FakeLevel(Source.FALLBACK, {0: 0.1})
    primary = FakeLevel(Source.PRIMARY, {}, failure="primary:timeout")
    out = score_batch(batch, ladder_of(primary, fallback, RulesLevel(), rules=rules))
    assert sources(out) == ["fallback", "rules"]
    assert decisions(out) == ["review", "block"], "the rules' own score (0.91) blocks"
    assert out.raised_by_rule.tolist() == [True, False]


def test_without_decisive_rules_the_floor_is_allow() -> None:
    matched = np.array([[True, False], [True, True]])
    assert rule_floor(matched, (None, None)).tolist() == [0, 0]
    assert rule_floor(np.zeros((3, 0), dtype=np.bool_), ()).tolist() == [0, 0, 0]
    assert rule_floor(matched, ("block", "review")).tolist() == [2, 2]
    assert rule_floor(matched, (None, "review")).tolist() == [0, 1]


def test_only_what_a_human_should_see_needs_review_and_degraded_is_kept_apart(
    rules: RuleSet,
) -> None:
    """Rows: primary allow, primary review, fallback allow, fallback allow of a high amount
    (the rule raises it), a flagged input answered by the fallback, the safe default."""
    batch = make_batch(
        {},
        {},
        {},
        {"amount": 300.0},
        {"merchant_category": "space_tourism"},
        {"amount": float("nan")},
    )
    primary = FakeLevel(Source.PRIMARY, {0: 0.1, 1: 0.7}, failure="primary:timeout")
    fallback = FakeLevel(Source.FALLBACK, {2: 0.1, 3: 0.1, 4: 0.1})
    out = score_batch(batch, ladder_of(primary, fallback, RulesLevel(), rules=rules))
    assert sources(out) == ["primary", "primary", "fallback", "fallback", "fallback", "rules"]
    assert out.needs_review().tolist() == [False, True, False, True, True, True]
    assert out.kept_apart().tolist() == [False, False, True, False, False, False]
    assert not (out.needs_review() & out.kept_apart()).any(), "never both"


def test_a_degraded_allow_is_not_reviewed_but_kept_apart() -> None:
    primary = FakeLevel(Source.PRIMARY, {}, failure="feature_store:unavailable")
    out = score_batch(make_batch({}, {}), ladder_of(primary, FakeLevel(Source.FALLBACK, {0: 0.2})))
    assert sources(out) == ["fallback", "safe_default"]
    assert out.needs_review().tolist() == [False, False]
    assert out.kept_apart().tolist() == [True, True]


def test_priority_is_the_expected_loss_and_zero_for_an_unusable_amount() -> None:
    scores = np.array([0.5, 0.1, 0.9, 0.9, 0.9, 1.0])
    amounts = np.array([100.0, 2500.0, float("nan"), -5.0, 1e15, 0.0])
    assert expected_loss(scores, amounts).tolist() == [50.0, 250.0, 0.0, 0.0, 0.0, 0.0]
