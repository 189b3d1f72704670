"""The primary level with model files that misbehave for real (NaN, runtime error, slow) and
a feature store that fails; the rows fall through, tagged with what failed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.factories import make_batch
from tests.ladder.fakes import FakeStore, SentWrites
from tests.onnx_models import (
    models_dir_with_primary,
    nan_model,
    nan_where_model,
    raising_model,
    slow_model,
    wrong_shape_model,
)
from worker.breaker import BreakerConfig, BreakerState, CircuitBreaker
from worker.events import EventBatch
from worker.features.event import EVENT_FEATURES
from worker.features.stateful import STATEFUL_FEATURES
from worker.ladder import Ladder, score_batch
from worker.ladder.decision import DecisionPolicy
from worker.ladder.default import SafeDefaultLevel
from worker.ladder.fallback import FallbackLevel
from worker.ladder.primary import PrimaryLevel
from worker.ladder.types import SOURCES
from worker.models.fallback import FallbackModel
from worker.models.manifest import load_manifest
from worker.models.primary import PrimaryModel

N_FEATURES = len(EVENT_FEATURES) + len(STATEFUL_FEATURES)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(name: str, clock: FakeClock | None = None) -> CircuitBreaker:
    config = BreakerConfig(window_size=4, minimum_calls=2, open_wait_s=60, half_open_permits=1)
    return CircuitBreaker(name, config, clock or time.monotonic)


def ladder_with(
    models: Path, store: FakeStore, timeout_s: float = 1.0, clock: FakeClock | None = None
) -> tuple[Ladder, PrimaryLevel]:
    manifest = load_manifest(models)
    primary = PrimaryLevel(
        PrimaryModel.load(models, manifest, prefer_gpu=False),
        store,  # type: ignore[arg-type]
        breaker("feature_store", clock),
        breaker("primary", clock),
        timeout_s,
        SentWrites(),  # type: ignore[arg-type]
    )
    fallback = FallbackLevel(FallbackModel.load(models, manifest))
    ladder = Ladder([primary, fallback, SafeDefaultLevel()], None, DecisionPolicy(), "v")
    return ladder, primary


def answered_by(batch: EventBatch, ladder: Ladder) -> tuple[set[str], set[str]]:
    out = score_batch(batch, ladder)
    failures = {name for bits in out.failures.tolist() for name in out.tags.names(bits)}
    return {SOURCES[c].value for c in out.source}, failures


@pytest.fixture
def batch() -> EventBatch:
    return make_batch(*({"transaction_id": f"t{i}", "amount": 10.0 + i} for i in range(16)))


def test_the_real_primary_answers_and_updates_the_store(tmp_path: Path, batch: EventBatch) -> None:
    store = FakeStore()
    ladder, primary = ladder_with(
        models_dir_with_primary(tmp_path / "m", _committed_primary()), store
    )
    assert answered_by(batch, ladder) == ({"primary"}, set())
    assert store.updates == 1
    assert primary.writes.sent == [[["UPDATE", "16"]]]  # type: ignore[attr-defined]


def test_held_terminal_counts_go_a_few_calls_a_batch_unless_a_read_could_see_them(
    tmp_path: Path, batch: EventBatch
) -> None:
    """Ten due script calls go four with each batch on the flush connection (a burst would
    hold the next read behind it); a read that could see them first sends the rest and
    waits for all of them; the cards' writes go on the other connection every batch."""
    store = FakeStore()
    manifest_dir = models_dir_with_primary(tmp_path / "m", _committed_primary())
    manifest = load_manifest(manifest_dir)
    writes, flushes = SentWrites(), SentWrites()
    primary = PrimaryLevel(
        PrimaryModel.load(manifest_dir, manifest, prefer_gpu=False),
        store,  # type: ignore[arg-type]
        breaker("feature_store"),
        breaker("primary"),
        1.0,
        writes,  # type: ignore[arg-type]
        flushes,  # type: ignore[arg-type]
    )
    ladder = Ladder([primary, SafeDefaultLevel()], None, DecisionPolicy(), "v")
    store.flush_due = [["CALL", str(i)] for i in range(10)]
    score_batch(batch, ladder)
    assert [len(sent) for sent in flushes.sent] == [4]
    score_batch(batch, ladder)
    assert [len(sent) for sent in flushes.sent] == [4, 4]
    assert (flushes.waits, store.landed) == (0, 0), "no read waited for them"
    store.could_see = True
    score_batch(batch, ladder)
    assert [len(sent) for sent in flushes.sent] == [4, 4, 2]
    assert (flushes.waits, store.landed) == (1, 1)
    assert [call for sent in flushes.sent for call in sent] == [["CALL", str(i)] for i in range(10)]
    assert len(writes.sent) == 3 and all(sent == [["UPDATE", "16"]] for sent in writes.sent)


def test_nan_outputs_fall_through_to_the_fallback(tmp_path: Path, batch: EventBatch) -> None:
    ladder, _ = ladder_with(
        models_dir_with_primary(tmp_path / "m", nan_model(N_FEATURES)), FakeStore()
    )
    assert answered_by(batch, ladder) == ({"fallback"}, {"primary:invalid_output"})


def test_a_model_that_raises_falls_through(tmp_path: Path, batch: EventBatch) -> None:
    ladder, _ = ladder_with(
        models_dir_with_primary(tmp_path / "m", raising_model(N_FEATURES)), FakeStore()
    )
    assert answered_by(batch, ladder) == ({"fallback"}, {"primary:error"})


def test_a_wrong_shaped_answer_falls_through(tmp_path: Path, batch: EventBatch) -> None:
    models = models_dir_with_primary(tmp_path / "m", wrong_shape_model(N_FEATURES))
    ladder, _ = ladder_with(models, FakeStore())
    assert answered_by(batch, ladder) == ({"fallback"}, {"primary:invalid_output"})


def test_a_slow_model_is_cut_off_at_its_deadline(tmp_path: Path, batch: EventBatch) -> None:
    models = models_dir_with_primary(tmp_path / "m", slow_model(N_FEATURES))
    ladder, primary = ladder_with(models, FakeStore(), timeout_s=0.02)
    assert answered_by(batch, ladder) == ({"fallback"}, {"primary:timeout"})
    _wait_idle(primary)


def test_repeated_failures_open_the_breaker_and_skip_the_model(
    tmp_path: Path, batch: EventBatch
) -> None:
    ladder, primary = ladder_with(
        models_dir_with_primary(tmp_path / "m", raising_model(N_FEATURES)), FakeStore()
    )
    for _ in range(2):
        answered_by(batch, ladder)
    assert primary.breaker.state is BreakerState.OPEN
    assert answered_by(batch, ladder) == ({"fallback"}, {"primary:circuit_open"})


def test_a_failing_feature_store_sends_rows_to_the_fallback_then_opens(
    tmp_path: Path, batch: EventBatch
) -> None:
    ladder, primary = ladder_with(
        models_dir_with_primary(tmp_path / "m", _committed_primary()), FakeStore(fail=True)
    )
    assert answered_by(batch, ladder) == ({"fallback"}, {"feature_store:unavailable"})
    answered_by(batch, ladder)
    assert primary.store_breaker.state is BreakerState.OPEN
    assert answered_by(batch, ladder) == ({"fallback"}, {"feature_store:circuit_open"})


MARKER = 4242.0  # an amount (feature 0) for which nan_where_model answers NaN


def _marked_batch(start: int, rows: int = 16, every: int = 8) -> EventBatch:
    return make_batch(
        *(
            {"transaction_id": f"t{start + i}", "amount": MARKER if i % every == 0 else 10.0 + i}
            for i in range(rows)
        )
    )


def test_nan_for_some_rows_sends_only_those_rows_to_the_fallback(tmp_path: Path) -> None:
    """Rows whose own values make the model answer NaN are that rows' problem: across many
    batches their neighbours stay with the primary and the breaker never counts a failure."""
    models = models_dir_with_primary(tmp_path / "m", nan_where_model(N_FEATURES, 0, MARKER))
    ladder, primary = ladder_with(models, FakeStore())
    for start in range(0, 16 * 30, 16):
        batch = _marked_batch(start)
        out = score_batch(batch, ladder)
        marked = batch.amount == MARKER
        assert {SOURCES[c].value for c in out.source[~marked]} == {"primary"}
        assert {SOURCES[c].value for c in out.source[marked]} == {"fallback"}
        assert {n for b in out.failures[marked].tolist() for n in out.tags.names(b)} == {
            "primary:invalid_output"
        }
        assert not out.failures[~marked].any()
    snapshot = primary.breaker.snapshot()
    assert snapshot.state is BreakerState.CLOSED
    assert snapshot.calls_by_outcome["failure"] == 0


def test_a_lone_row_with_nan_output_is_no_evidence_against_the_model(tmp_path: Path) -> None:
    """At low rates batches hold one event: its NaN says nothing about the model."""
    models = models_dir_with_primary(tmp_path / "m", nan_where_model(N_FEATURES, 0, MARKER))
    ladder, primary = ladder_with(models, FakeStore())
    for start in range(10):
        assert answered_by(_marked_batch(start, rows=1), ladder) == (
            {"fallback"},
            {"primary:invalid_output"},
        )
    assert primary.breaker.state is BreakerState.CLOSED
    assert answered_by(make_batch({"amount": 12.0}), ladder) == ({"primary"}, set())


def test_nan_for_every_row_of_a_batch_is_a_failed_call(tmp_path: Path, batch: EventBatch) -> None:
    ladder, primary = ladder_with(
        models_dir_with_primary(tmp_path / "m", nan_model(N_FEATURES)), FakeStore()
    )
    for _ in range(2):
        answered_by(batch, ladder)
    assert primary.breaker.state is BreakerState.OPEN


def test_a_run_that_cannot_start_still_returns_its_half_open_permit(
    tmp_path: Path, batch: EventBatch
) -> None:
    """The primary's permit is taken inside the guarded section: a run that fails before it
    starts (here: the executor is shut down) is recorded, so half-open never hangs."""
    clock = FakeClock()
    models = models_dir_with_primary(tmp_path / "m", _committed_primary())
    ladder, primary = ladder_with(models, FakeStore(), clock=clock)
    for _ in range(2):
        primary.breaker.record(0.0, failed=True)
    clock.now += 61
    primary._executor.shutdown()
    assert answered_by(batch, ladder) == ({"fallback"}, {"primary:error"})
    assert primary.breaker.state is BreakerState.OPEN, "the trial was recorded as failed"


def test_an_unexpected_store_error_returns_its_half_open_permit(
    tmp_path: Path, batch: EventBatch
) -> None:
    clock = FakeClock()
    store = FakeStore()
    ladder, primary = ladder_with(
        models_dir_with_primary(tmp_path / "m", _committed_primary()), store, clock=clock
    )
    for _ in range(2):
        primary.store_breaker.record(0.0, failed=True)
    clock.now += 61
    store.aggregates = _raise_key_error  # type: ignore[method-assign]
    assert answered_by(batch, ladder) == ({"fallback"}, {"primary:internal_error"})
    assert primary.store_breaker.state is BreakerState.OPEN


def _raise_key_error(batch: EventBatch) -> None:
    raise KeyError("a bug in the store")


def _committed_primary() -> bytes:
    models = Path(__file__).resolve().parents[2] / "models"
    return (models / load_manifest(models).artifact("primary").file).read_bytes()


def _wait_idle(primary: PrimaryLevel) -> None:
    """Let a terminated run unwind before the test's temporary files go."""
    deadline = time.monotonic() + 30
    while primary._inflight is not None and not primary._inflight.done():
        if time.monotonic() > deadline:
            raise AssertionError("the terminated run never returned")
        time.sleep(0.01)
    primary.close()
