"""The product over the secure profile: the worker scores events end to end (Kafka over
SASL_SSL, features read and written in Redis over TLS as its ACL user), the labels consumer
applies labels, and the triage app (a real ``fraud-worker triage`` process) consumes review
items."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
import yaml
from confluent_kafka import Producer

from tests.factories import free_port, wait_app_ready
from tests.integration.harness import (
    encoded,
    produce,
    read_topic,
    running_worker,
    simulated_events,
    wait_for,
    worker_settings,
)
from tests.integration.test_labels import (
    chargeback_labels,
    counter,
    expected_frauds,
    frauds_on_day,
    produce_labels,
    running_labels,
)
from tests.integration.test_triage_kafka import V2, review_item
from tests.secure.conftest import SecureStack
from worker.checks import RedisUnavailable, probe_redis
from worker.kafka.config import client_config
from worker.runtime import redis_client
from worker.settings import Settings
from worker.stack.secure import Pki

pytestmark = pytest.mark.integration


def secure_worker_settings(stack: SecureStack, make_topic: Callable[[int], str]) -> Settings:
    """A worker of its own (topics, group) on the secure stack, its keys under the ACL
    user's prefix ``fw:``."""
    data = worker_settings(stack.client, make_topic).model_dump()
    data["redis"]["key_prefix"] = f"fw:test:{uuid.uuid4().hex[:8]}:"
    return Settings.model_validate(data)


def keys_under(settings: Settings, prefix: str) -> int:
    client = redis_client(settings, timeout_s=5.0)
    try:
        return sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()


def test_the_worker_scores_over_sasl_ssl_with_features_in_redis_over_tls(
    secure_stack: SecureStack, secure_topic: Callable[[int], str]
) -> None:
    settings = secure_worker_settings(secure_stack, secure_topic)
    events = simulated_events(300, seed=41)
    with running_worker(settings):
        produce(settings, encoded(events))
        scored = [
            record for record, _ in read_topic(settings, settings.topics.scored, "scored", 300)
        ]
        prefix = f"{settings.redis.key_prefix}fs:"
        wait_for(lambda: keys_under(settings, prefix) > 0, timeout_s=30)
    assert sorted(r["transaction_id"] for r in scored) == sorted(
        e["transaction_id"] for e in events
    )
    # Answered with the features from Redis: nothing degraded, no dependency failed.
    assert {r["source"] for r in scored} <= {"primary", "cache"}
    assert not any(r["degraded"] or r["failed_dependencies"] for r in scored)


def test_the_labels_consumer_applies_labels_over_the_secure_stack(
    secure_stack: SecureStack, secure_topic: Callable[[int], str]
) -> None:
    settings = secure_worker_settings(secure_stack, secure_topic)
    labels = chargeback_labels(30, seed=13)
    with running_labels(settings) as consumer:
        produce_labels(settings, labels)
        wait_for(lambda: counter(consumer, "fraud_labels_counted_total") == len(labels))
    assert frauds_on_day(settings, labels) == expected_frauds(labels)


def _stored(url: str) -> float:
    """Review items the app stored, from its own /metrics."""
    with urlopen(f"{url}metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("fraud_triage_items_stored_total{")
    )


@pytest.fixture
def triage_app(
    secure_stack: SecureStack, secure_topic: Callable[[int], str], tmp_path: Path
) -> Iterator[tuple[Settings, str]]:
    """``fraud-worker triage`` on the secure broker, with its own topics, group and SQLite."""
    data: dict[str, Any] = secure_worker_settings(secure_stack, secure_topic).model_dump(
        mode="json"
    )
    port = free_port()
    data["triage"] = {
        **data["triage"],
        "port": port,
        "database_url": f"sqlite:///{tmp_path / 'triage.db'}",
        "data_dir": str(tmp_path / "triage"),
        "group_id": f"triage-{port}",
        "batch_wait_ms": 100,
    }
    config = tmp_path / "fraud.yaml"
    config.write_text(yaml.safe_dump(data))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    log = tmp_path / "triage.log"
    with log.open("wb") as out:
        app = subprocess.Popen(
            [sys.executable, "-m", "worker", "triage"],
            env={**clean, "FRAUD_CONFIG_FILE": str(config)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_app_ready(url, app, log)
        yield Settings.model_validate(data), url
    finally:
        app.terminate()
        code = app.wait(60)
    assert code == 0, f"the triage app did not stop cleanly:\n{log.read_text()[-3000:]}"


def test_the_triage_app_consumes_a_review_item_over_sasl_ssl(
    triage_app: tuple[Settings, str],
) -> None:
    settings, url = triage_app
    producer = Producer(client_config(settings))
    producer.produce(settings.topics.review, V2.encode(review_item(1)), b"card-1")
    assert producer.flush(30) == 0
    wait_for(lambda: _stored(url) >= 1, timeout_s=60)


def test_a_configured_client_certificate_is_presented_to_redis(
    secure_stack: SecureStack, other_pki: Pki
) -> None:
    """mTLS: the server checks a presented certificate against its CA, so the stack's own
    (signed by it) passes and another CA's is refused: the files reach the handshake."""
    pki = secure_stack.profile.pki
    data = secure_stack.client.model_dump()
    own = {**data["redis"], "ssl_certfile": pki.server_cert, "ssl_keyfile": pki.server_key}
    assert probe_redis(Settings.model_validate({**data, "redis": own}))
    foreign = {**own, "ssl_certfile": other_pki.server_cert, "ssl_keyfile": other_pki.server_key}
    with pytest.raises(RedisUnavailable):
        probe_redis(Settings.model_validate({**data, "redis": foreign}))
