"""Input checks: a row's own bad value is flagged on that row and keeps it from the models and
from shared state; values old producers could not send are not bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.factories import BASE_EVENT, make_batch
from tests.ladder.test_primary_level import FakeStore, _committed_primary, ladder_with
from tests.onnx_models import models_dir_with_primary
from worker.codec import (
    TRANSACTION_READER_SCHEMA,
    EventDecoder,
    LocalSchemaRegistry,
    RecordEncoder,
    default_schemas_dir,
    load_schema,
)
from worker.events import MS_PER_DAY, EventBatch
from worker.features.event import EVENT_FEATURES, event_features
from worker.features.store import MAX_DAY, MAX_ROW_CENTS
from worker.ladder import score_batch
from worker.ladder.types import SOURCES, Tags
from worker.ladder.validation import (
    MAX_AMOUNT,
    MAX_EVENT_TIME_MS,
    input_flags,
    model_ready,
)

V1_SCHEMA_ID = 1
# A card-present domestic purchase on an old account: nothing for the models to worry about.
BENIGN = {
    "merchant_category": "grocery",
    "channel": "pos",
    "country": "FR",
    "is_international": False,
    "has_international_history": False,
    "account_age_days": 900,
    "amount": 23.5,
}


class UsualHistoryStore(FakeStore):
    """A card with a month of ordinary spending at a busy, clean terminal."""

    def aggregates(
        self, batch: EventBatch, ahead: object = None, rows: object = None
    ) -> tuple[np.ndarray, np.ndarray]:
        cards, terminals = super().aggregates(batch)
        cards[:, :, 0], cards[:, :, 1] = [1, 7, 30], [2_500, 17_500, 75_000]
        terminals[:, :, 0] = [20, 140, 600]
        return cards, terminals


def flags_of(batch: EventBatch) -> list[list[str]]:
    tags = Tags()
    return [tags.names(bits) for bits in input_flags(batch, tags).tolist()]


def test_amounts_beyond_the_documented_maximum_are_invalid() -> None:
    batch = make_batch({"amount": MAX_AMOUNT}, {"amount": MAX_AMOUNT * 1.01}, {"amount": 1e15})
    assert flags_of(batch) == [[], ["invalid_amount"], ["invalid_amount"]]


def test_event_times_beyond_the_documented_maximum_are_invalid() -> None:
    batch = make_batch(
        {"event_time_ms": MAX_EVENT_TIME_MS},
        {"event_time_ms": MAX_EVENT_TIME_MS + 1},
        {"event_time_ms": 4 * 10**17},
    )
    assert flags_of(batch) == [[], ["invalid_time"], ["invalid_time"]]


def test_the_maxima_fit_the_feature_stores_encoding() -> None:
    """What validation lets through, the store can hold exactly."""
    assert MAX_AMOUNT * 100 < MAX_ROW_CENTS
    assert MAX_EVENT_TIME_MS // MS_PER_DAY < MAX_DAY


def test_an_empty_transaction_id_is_missing() -> None:
    batch = make_batch({"transaction_id": ""}, {"card_id": ""}, {})
    assert flags_of(batch) == [["missing_id"], ["missing_id"], []]
    tags = Tags()
    assert model_ready(input_flags(batch, tags), tags).tolist() == [False, False, True]


def test_the_schema_default_entry_mode_is_not_an_unknown_value() -> None:
    """The v2 schema gives an event of a v1 producer ``entry_mode = "unknown"``: nothing was
    reported, which is not a value nobody knows."""
    batch = make_batch({"entry_mode": "unknown"}, {"entry_mode": "telepathy"})
    assert flags_of(batch) == [[], ["unknown_entry_mode"]]


def _v1_events(n: int) -> EventBatch:
    """Events as a v1 producer writes them, decoded the way the worker decodes them."""
    registry = LocalSchemaRegistry(default_schemas_dir())
    encoder = RecordEncoder.for_schema_id(registry, V1_SCHEMA_ID)
    decoder = EventDecoder(registry, load_schema(default_schemas_dir() / TRANSACTION_READER_SCHEMA))
    v1_fields = {f["name"] for f in registry.schema(V1_SCHEMA_ID)["fields"]}
    records: list[dict[str, Any]] = []
    for i in range(n):
        event = {**BASE_EVENT, **BENIGN, "transaction_id": f"v1-{i}", "amount": 20.0 + i}
        records.append(decoder.decode(encoder.encode({k: event[k] for k in v1_fields})))
    return EventBatch.from_records(records)


def test_v1_events_go_through_the_ladder_unflagged_and_unreviewed(tmp_path: Path) -> None:
    batch = _v1_events(8)
    assert set(batch.entry_mode.tolist()) == {"unknown"}
    ladder, _ = ladder_with(
        models_dir_with_primary(tmp_path / "m", _committed_primary()), UsualHistoryStore()
    )
    out = score_batch(batch, ladder)
    assert {SOURCES[c].value for c in out.source} == {"primary"}
    assert not out.flags.any()
    assert not out.needs_review().any()


def test_v1_events_keep_the_model_inputs_they_were_trained_with() -> None:
    """No entry mode reported: every entry_* column is 0, as the models were trained."""
    x = event_features(_v1_events(3))
    entry = [i for i, name in enumerate(EVENT_FEATURES) if name.startswith("entry_")]
    assert entry and not np.any(x[:, entry])
