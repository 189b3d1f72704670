"""Shadow scoring: a deterministic sample of the primary's and the cache's rows scored by the
fallback and the rules too, apart, never changing the real results, never failing a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.factories import make_batch
from tests.ladder.fakes import FakeLevel, ladder_of, sources
from worker.ladder import Source, score_batch
from worker.ladder.level import BatchContext, LevelResult
from worker.ladder.rules import RulesLevel
from worker.ladder.shadow import sampled
from worker.ladder.types import DECISIONS, SOURCES, ScoredBatch
from worker.rules import RuleSet, load_rules


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {name: big, reason: BIG, weight: 0.3, decides: review,\n"
        "     when: {field: amount, op: gt, value: 220}}\n"
    )
    return load_rules(path)


def ids(n: int, prefix: str = "tx") -> NDArray[np.object_]:
    return np.array([f"{prefix}{i}" for i in range(n)], dtype=object)


def test_the_sample_is_a_function_of_the_transaction_id() -> None:
    first = sampled(ids(10_000), 0.3)
    assert first.tolist() == sampled(ids(10_000), 0.3).tolist(), "the same ids, the same draw"
    shuffled = ids(10_000)[::-1]
    assert sampled(shuffled, 0.3).tolist() == first[::-1].tolist(), "whatever the batch"
    assert 0.27 < first.mean() < 0.33
    assert sampled(ids(10_000), 0.5)[first].all(), "a larger rate keeps what a smaller took"


def test_rate_zero_samples_nothing_and_rate_one_everything() -> None:
    assert not sampled(ids(100), 0.0).any()
    assert sampled(ids(100), 1.0).all()
    assert sampled(ids(0), 0.5).tolist() == []


def primary_and_fallback(n: int) -> tuple[FakeLevel, FakeLevel, FakeLevel]:
    """Rows 0..n-1: the cache answers row 0, the primary rows 1..n-2, the fallback the last
    (the primary timed out on it); the fallback would answer any row with 0.4."""
    cache = FakeLevel(Source.CACHE, {0: 0.1})
    primary = FakeLevel(
        Source.PRIMARY, {i: 0.2 for i in range(1, n - 1)}, failure="primary:timeout"
    )
    fallback = FakeLevel(Source.FALLBACK, {i: 0.4 for i in range(n)})
    return cache, primary, fallback


def shadow_of(out: ScoredBatch) -> ScoredBatch:
    assert out.shadow is not None and out.shadow.scored is not None
    return out.shadow.scored


def test_rate_one_shadows_every_primary_and_cache_row_with_one_fallback_call(
    rules: RuleSet,
) -> None:
    batch = make_batch(*({"transaction_id": f"t{i}", "amount": 300.0 * (i == 2)} for i in range(5)))
    cache, primary, fallback = primary_and_fallback(5)
    out = score_batch(
        batch, ladder_of(cache, primary, fallback, RulesLevel(), rules=rules, shadow_rate=1.0)
    )
    assert sources(out) == ["cache", "primary", "primary", "primary", "fallback"]
    assert fallback.calls == [[4], [0, 1, 2, 3]], "one real call, one shadow call"
    shadow = shadow_of(out)
    pairs = sorted(zip(shadow.batch.transaction_id.tolist(), sources(shadow), strict=True))
    assert pairs == sorted((f"t{i}", level) for i in range(4) for level in ("fallback", "rules"))
    assert shadow.degraded.all() and not shadow.failures.any()
    by_row = {
        (tid, SOURCES[s].value): (score, DECISIONS[d].value)
        for tid, s, score, d in zip(
            shadow.batch.transaction_id.tolist(),
            shadow.source,
            shadow.score,
            shadow.decision,
            strict=True,
        )
    }
    assert by_row[("t2", "fallback")] == (0.4, "review"), "the decisive rule holds in shadow"
    assert by_row[("t1", "rules")] == (0.0, "allow")
    assert out.shadow is not None and out.shadow.failures == ()
    assert "shadow" in out.stage_ms


def test_the_shadow_never_changes_the_real_results(rules: RuleSet) -> None:
    batch = make_batch(*({"transaction_id": f"t{i}"} for i in range(5)))
    outs = []
    for rate in (0.0, 1.0):
        cache, primary, fallback = primary_and_fallback(5)
        ladder = ladder_of(cache, primary, fallback, RulesLevel(), rules=rules, shadow_rate=rate)
        outs.append(score_batch(batch, ladder))
    off, on = outs
    assert off.shadow is None
    for column in ("score", "source", "decision", "degraded", "failures", "flags"):
        assert getattr(off, column).tolist() == getattr(on, column).tolist(), column


def test_a_partial_rate_shadows_the_same_rows_when_the_batch_comes_again(rules: RuleSet) -> None:
    batch = make_batch(*({"transaction_id": f"tx-{i}"} for i in range(200)))
    drawn = []
    for _ in range(2):
        primary = FakeLevel(Source.PRIMARY, {i: 0.2 for i in range(200)})
        fallback = FakeLevel(Source.FALLBACK, {i: 0.4 for i in range(200)})
        out = score_batch(batch, ladder_of(primary, fallback, rules=rules, shadow_rate=0.25))
        assert len(fallback.calls) == 1
        drawn.append(fallback.calls[0])
    assert drawn[0] == drawn[1] and 25 < len(drawn[0]) < 75
    assert sorted(shadow_of(out).batch.transaction_id.tolist()) == sorted(
        f"tx-{i}" for i in drawn[0] for _ in range(2)
    )


class Raising(FakeLevel):
    def score(self, ctx: BatchContext, rows: NDArray[np.intp]) -> LevelResult:
        raise RuntimeError("bug in the fallback")


def test_a_failing_shadow_fallback_is_counted_and_the_rules_shadow_stays(rules: RuleSet) -> None:
    batch = make_batch({"transaction_id": "a"}, {"transaction_id": "b"})
    primary = FakeLevel(Source.PRIMARY, {0: 0.2, 1: 0.3})
    out = score_batch(
        batch, ladder_of(primary, Raising(Source.FALLBACK, {}), rules=rules, shadow_rate=1.0)
    )
    assert sources(out) == ["primary", "primary"] and out.score.tolist() == [0.2, 0.3]
    assert out.shadow is not None and out.shadow.failures == ("fallback:internal_error",)
    assert sources(shadow_of(out)) == ["rules", "rules"]


def test_a_shadow_that_fails_whole_leaves_the_batch_as_it_was(
    rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worker.ladder.shadow as shadow_module

    def broken(*args: object) -> None:
        raise ValueError("bug")

    monkeypatch.setattr(shadow_module, "_as_results", broken)
    primary = FakeLevel(Source.PRIMARY, {0: 0.2})
    ladder = ladder_of(primary, FakeLevel(Source.FALLBACK, {0: 0.4}), rules=rules, shadow_rate=1.0)
    out = score_batch(make_batch({}), ladder)
    assert sources(out) == ["primary"] and out.score.tolist() == [0.2]
    assert out.shadow is not None
    assert out.shadow.scored is None and out.shadow.failures == ("shadow:internal_error",)


def test_without_a_fallback_or_rules_the_shadow_says_what_is_missing() -> None:
    primary = FakeLevel(Source.PRIMARY, {0: 0.2})
    out = score_batch(make_batch({}), ladder_of(primary, shadow_rate=1.0))
    assert out.shadow is not None and out.shadow.scored is None
    assert out.shadow.failures == ("fallback:unavailable", "rules:unavailable")


def test_degraded_rows_are_never_shadowed(rules: RuleSet) -> None:
    primary = FakeLevel(Source.PRIMARY, {}, failure="primary:timeout")
    fallback = FakeLevel(Source.FALLBACK, {0: 0.4})
    out = score_batch(make_batch({}), ladder_of(primary, fallback, rules=rules, shadow_rate=1.0))
    assert sources(out) == ["fallback"] and fallback.calls == [[0]]
    assert out.shadow is not None and out.shadow.scored is None and out.shadow.failures == ()
