"""The ladder's routing, with fake levels: every row gets exactly one answer, from the first
level that could give one, and carries what failed above it."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.factories import make_batch
from tests.ladder.fakes import FakeLevel, ladder_of, sources
from worker.ladder import Ladder, Source, score_batch
from worker.ladder.decision import DecisionPolicy
from worker.ladder.level import BatchContext, LevelResult
from worker.ladder.rules import RulesLevel
from worker.ladder.types import DECISIONS, Decision


def test_rows_fall_through_to_the_first_level_that_answers() -> None:
    batch = make_batch(*({"transaction_id": f"t{i}"} for i in range(4)))
    cache = FakeLevel(Source.CACHE, {0: 0.1})
    primary = FakeLevel(Source.PRIMARY, {1: 0.95}, failure="primary:timeout")
    fallback = FakeLevel(Source.FALLBACK, {2: 0.6})
    out = score_batch(batch, ladder_of(cache, primary, fallback))
    assert sources(out) == ["cache", "primary", "fallback", "safe_default"]
    assert out.score.tolist() == [0.1, 0.95, 0.6, 0.0]
    assert [DECISIONS[d] for d in out.decision] == [
        Decision.ALLOW,
        Decision.BLOCK,
        Decision.REVIEW,
        Decision.ALLOW,
    ]
    assert out.degraded.tolist() == [False, False, True, True]
    failed = [out.tags.names(bits) for bits in out.failures.tolist()]
    assert failed == [[], [], ["primary:timeout"], ["primary:timeout"]]
    assert primary.finished is out, "every level hears about the finished batch"


def test_unusable_inputs_skip_the_models_and_are_flagged() -> None:
    batch = make_batch({"amount": float("nan")}, {"amount": -5.0}, {"account_age_days": -1}, {})
    primary = FakeLevel(Source.PRIMARY, {0: 0.2, 1: 0.2, 2: 0.2, 3: 0.2})
    out = score_batch(batch, ladder_of(primary))
    assert sources(out) == ["safe_default", "safe_default", "safe_default", "primary"]
    flags = [out.tags.names(bits) for bits in out.flags.tolist()]
    assert flags[:3] == [["invalid_amount"], ["invalid_amount"], ["negative_account_age"]]
    assert out.needs_review().tolist() == [True, True, True, False]


def test_unknown_categories_are_flagged_but_still_scored_by_models() -> None:
    batch = make_batch({"merchant_category": "space_tourism", "entry_mode": "telepathy"})
    out = score_batch(batch, ladder_of(FakeLevel(Source.PRIMARY, {0: 0.3})))
    assert sources(out) == ["primary"]
    assert out.tags.names(int(out.flags[0])) == ["unknown_category", "unknown_entry_mode"]


def test_rules_answer_with_reasons_when_the_models_cannot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from worker.rules import load_rules

    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n  - {name: big, reason: BIG, weight: 0.7,\n"
        "     when: {field: amount, op: gt, value: 100}}\n"
    )
    ladder = ladder_of(
        FakeLevel(Source.PRIMARY, {}, failure="feature_store:unavailable"), RulesLevel()
    )
    ladder.rules = load_rules(path)
    out = score_batch(make_batch({"amount": 500.0}, {"amount": 5.0}), ladder)
    assert sources(out) == ["rules", "rules"]
    assert out.score.tolist() == [0.7, 0.0]
    assert out.rule_reasons == [["BIG"], []]
    records = out.records(scored_at_ms=1)
    assert records[0]["failed_dependencies"] == ["feature_store:unavailable"]
    assert records[0]["degraded"] is True and records[0]["confidence"] == 0.5


def test_without_rules_the_safe_default_answers_everything() -> None:
    out = score_batch(make_batch({}, {}), ladder_of(RulesLevel()))
    assert sources(out) == ["safe_default", "safe_default"]
    record = out.records(scored_at_ms=1)[0]
    assert record["decision"] == "allow" and record["confidence"] == 0.0
    assert record["failed_dependencies"] == ["rules:unavailable"]
    assert not out.needs_review().any(), "degraded alone is no reason for a human to look"
    assert out.kept_apart().all(), "a safe default is kept apart, to be scored again"


def test_a_level_that_raises_is_one_more_failure() -> None:
    class Broken(FakeLevel):
        def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
            raise RuntimeError("bug")

    out = score_batch(make_batch({}, {}), ladder_of(Broken(Source.PRIMARY, {})))
    assert sources(out) == ["safe_default", "safe_default"]
    assert out.tags.names(int(out.failures[0])) == ["primary:internal_error"]


def test_a_ladder_must_end_with_the_safe_default() -> None:
    with pytest.raises(ValueError, match="safe default"):
        Ladder([RulesLevel()], None, DecisionPolicy(), "v")
