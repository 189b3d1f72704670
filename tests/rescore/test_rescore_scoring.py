"""The read-only primary: when it counts as back, which rows it cannot score, and that the
review subject must carry ``supersedes``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import make_batch
from tests.onnx_models import models_dir_with_primary, nan_where_model
from tests.rescore.conftest import N_FEATURES, Setup, stub_runtime, stub_settings
from worker.errors import ConfigError
from worker.ladder.primary import PrimaryLevel
from worker.models.manifest import load_manifest
from worker.models.primary import PrimaryModel
from worker.rescore import NotBack, Rescored, Rescorer
from worker.rescore.loop import build_codecs


def rescorer(primary: PrimaryLevel) -> Rescorer:
    return Rescorer.of_runtime(stub_runtime(primary), stub_settings())


def test_a_failing_store_and_then_an_open_breaker_mean_not_back(setup: Setup) -> None:
    setup.store.fail = True
    scorer, batch = rescorer(setup.primary), make_batch({"amount": 1000.0})
    failures = [scorer.score(batch) for _ in range(4)]
    assert failures[0] == NotBack("feature_store:unavailable")
    assert failures[-1] == NotBack("feature_store:circuit_open")


def test_rows_the_models_cannot_use_are_unscorable_not_a_reason_to_wait(setup: Setup) -> None:
    batch = make_batch({"amount": 1000.0}, {"amount": -5.0, "transaction_id": "bad"})
    answer = rescorer(setup.primary).score(batch)
    assert isinstance(answer, Rescored)
    assert answer.answered.tolist() == [True, False]


def test_an_input_alone_whose_values_give_nan_is_unscorable(setup: Setup, tmp_path: Path) -> None:
    """Like the breaker's rule: NaN for every row of a batch this small says nothing about
    the model, so the batch does not wait forever for one row's own problem."""
    models = models_dir_with_primary(tmp_path / "m", nan_where_model(N_FEATURES, 0, 4242.0))
    model = PrimaryModel.load(models, load_manifest(models), prefer_gpu=False)
    setup.primary.model = model
    answer = rescorer(setup.primary).score(make_batch({"amount": 4242.0}))
    assert isinstance(answer, Rescored)
    assert not answer.answered.any()


def test_a_review_subject_without_supersedes_is_refused_at_start() -> None:
    settings = stub_settings().model_copy(deep=True)
    schemas = settings.schemas.model_copy(update={"review_subject": "transactions.dlq-value"})
    with pytest.raises(ConfigError, match="supersedes"):
        build_codecs(settings.model_copy(update={"schemas": schemas}))
