"""The triage metrics: the queue's gauges are read from the store at each scrape, a database
that fails then costs those samples (and says so), never the scrape."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import generate_latest
from sqlalchemy.exc import OperationalError

from worker.triage.metrics import TriageMetrics
from worker.triage.types import PRIORITY_BANDS


@dataclass
class FakeStore:
    depth: dict[str, int] = field(default_factory=dict)
    oldest_s: float | None = None
    down: bool = False
    asked: int = 0

    def depth_by_band(self) -> dict[str, int]:
        self.asked += 1
        if self.down:
            raise OperationalError(
                "SELECT count(*) ...", {"card_id": "c-secret"}, Exception("gone")
            )
        return dict(self.depth)

    def oldest_open_age_s(self) -> float | None:
        return self.oldest_s


def test_queue_depth_by_band_and_oldest_age_come_from_the_store_at_each_scrape() -> None:
    store = FakeStore({"ge1000": 2, "lt10": 5}, 93.5)
    metrics = TriageMetrics(store)
    assert store.asked == 0, "registering does not query the database"
    sample = metrics.registry.get_sample_value
    assert sample("fraud_triage_queue_depth", {"band": "ge1000"}) == 2
    assert sample("fraud_triage_queue_depth", {"band": "10to100"}) == 0, "every band, always"
    assert sample("fraud_triage_oldest_open_age_seconds") == 93.5
    assert sample("fraud_triage_store_up") == 1
    store.depth["ge1000"] = 1
    assert sample("fraud_triage_queue_depth", {"band": "ge1000"}) == 1, "read again"
    text = generate_latest(metrics.registry).decode()
    assert all(f'band="{band}"' in text for band, _low, _high in PRIORITY_BANDS)


def test_an_empty_queue_has_no_waiting_item() -> None:
    metrics = TriageMetrics(FakeStore())
    assert metrics.registry.get_sample_value("fraud_triage_oldest_open_age_seconds") == 0


def test_a_database_failure_on_scrape_leaves_the_samples_out_and_says_so() -> None:
    store = FakeStore({"lt10": 1}, 4.0, down=True)
    metrics = TriageMetrics(store)
    text = generate_latest(metrics.registry).decode()  # does not raise
    assert "fraud_triage_store_up 0.0" in text
    assert "fraud_triage_queue_depth{" not in text
    assert "fraud_triage_oldest_open_age_seconds " not in text
    assert "c-secret" not in text
    store.down = False
    assert metrics.registry.get_sample_value("fraud_triage_store_up") == 1


def test_decisions_and_the_rest_are_counted_with_low_cardinality_labels() -> None:
    metrics = TriageMetrics()
    metrics.decided("fraud")
    metrics.decided("fraud")
    metrics.decided("unsure")
    sample = metrics.registry.get_sample_value
    assert sample("fraud_triage_decisions_total", {"outcome": "fraud"}) == 2
    assert sample("fraud_triage_decisions_total", {"outcome": "unsure"}) == 1
    assert sample("fraud_triage_store_up") is None, "no store: no queue gauges"
    names = {m.name for m in metrics.registry.collect()}
    assert {
        "fraud_triage_items_stored",
        "fraud_triage_items_repeated",
        "fraud_triage_items_superseded",
        "fraud_triage_dead_letters",
        "fraud_triage_labels_published",
        "fraud_triage_labels_recovered",
        "fraud_triage_consumer_lag",
        "fraud_triage_waiting_for_database",
    } <= names
