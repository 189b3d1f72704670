"""Pieces of the commands that decide what they report: simulate counts only acknowledged
events, and the demo keeps a user's metrics port."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from worker.checks import BrokerUnavailable
from worker.cli_worker import Deliveries
from worker.demo import metrics_ports


def test_simulate_reports_nothing_delivered_naming_the_broker() -> None:
    deliveries = Deliveries()
    with pytest.raises(BrokerUnavailable) as info:
        deliveries.check(10, unsent=10, topic="transactions", bootstrap="kafka-1:9092")
    message = str(info.value)
    assert message.startswith("only 0 of 10 events reached transactions at kafka-1:9092")
    assert "10 still unacknowledged" in message and "FRAUD_KAFKA__BOOTSTRAP_SERVERS" in message


def test_simulate_names_the_first_delivery_error() -> None:
    deliveries = Deliveries()
    for _ in range(3):
        deliveries(None, None)  # type: ignore[arg-type]
    deliveries(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large"), None)  # type: ignore[arg-type]
    with pytest.raises(BrokerUnavailable, match=r"only 3 of 4 events .*1 failed: too large"):
        deliveries.check(4, unsent=0, topic="t", bootstrap="b:1")
    done = Deliveries()
    done(None, None)  # type: ignore[arg-type]
    done.check(1, unsent=0, topic="t", bootstrap="b:1")


def test_the_demo_keeps_a_users_metrics_port() -> None:
    assert metrics_ports({"FRAUD_WORKER__METRICS_PORT": "9500"}) == [9500, 9501]
    assert metrics_ports({"FRAUD_WORKER__METRICS_PORT": "0"}) == [0, 0]
    picked = metrics_ports({})
    assert len(set(picked)) == 2 and all(port > 0 for port in picked)
