"""Readiness from reported facts, on a fake clock, and through the real HTTP endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from tests.factories import http_get
from worker.health import Health, serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def joined(clock: FakeClock, **options: object) -> Health:
    health = Health(stall_after_s=10, assignment_timeout_s=30, clock=clock, **options)  # type: ignore[arg-type]
    health.start()
    health.set_broker_up(True)
    return health


def test_ready_once_joined_with_the_broker_up(clock: FakeClock) -> None:
    health = Health(stall_after_s=10, clock=clock)
    assert health.not_ready_because() == "starting"
    health.start()
    assert health.not_ready_because() == "the Kafka broker is unreachable"
    health.set_broker_up(True)
    assert health.ready


def test_not_ready_while_the_broker_is_unreachable(clock: FakeClock) -> None:
    health = joined(clock)
    health.set_partitions(3)
    health.set_broker_up(False)
    assert health.not_ready_because() == "the Kafka broker is unreachable"
    health.set_broker_up(True)
    assert health.ready


def test_no_partition_after_the_assignment_timeout_is_not_ready(clock: FakeClock) -> None:
    health = joined(clock)
    clock.now += 29.9
    assert health.ready, "a member still joining its group is given the timeout"
    clock.now += 0.1
    assert health.not_ready_because() == "no partition assigned after 30 s"
    health.set_partitions(2)
    assert health.ready
    health.set_partitions(0)
    assert not health.ready


def test_artifacts_that_failed_to_load_make_it_not_ready(clock: FakeClock) -> None:
    health = joined(clock)
    health.set_partitions(1)
    health.set_load_problems(["rules: rules/rules.yaml: cannot read"])
    why = health.not_ready_because()
    assert why is not None and "rules/rules.yaml" in why
    degraded = joined(clock, allow_degraded_start=True)
    degraded.set_load_problems(["rules: rules/rules.yaml: cannot read"])
    assert degraded.ready, "FRAUD_WORKER__ALLOW_DEGRADED_START=true serves without them"


def test_a_stopping_member_is_not_ready_and_a_stalled_one_not_alive(clock: FakeClock) -> None:
    health = joined(clock)
    health.beat()
    clock.now += 9.9
    assert health.alive()
    clock.now += 0.1
    assert not health.alive()
    health.stop()
    assert health.not_ready_because() == "stopping"


@pytest.fixture
def endpoint(clock: FakeClock) -> Iterator[tuple[str, Health]]:
    health = Health(stall_after_s=10, assignment_timeout_s=30, clock=clock)
    server = serve(0, CollectorRegistry(), health)
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}", health
    finally:
        server.shutdown()
        server.server_close()


def test_the_endpoint_answers_from_the_facts(
    endpoint: tuple[str, Health], clock: FakeClock
) -> None:
    base, health = endpoint
    assert http_get(f"{base}/readyz") == (503, "not ready: starting\n")
    health.start()
    assert http_get(f"{base}/readyz") == (503, "not ready: the Kafka broker is unreachable\n")
    health.set_broker_up(True)
    assert http_get(f"{base}/readyz") == (200, "ready\n")
    health.set_load_problems(["manifest: models/manifest.json: cannot read"])
    code, body = http_get(f"{base}/readyz")
    assert code == 503 and "models/manifest.json" in body
    health.set_load_problems([])
    clock.now += 31
    assert http_get(f"{base}/readyz") == (503, "not ready: no partition assigned after 30 s\n")
    assert http_get(f"{base}/healthz") == (503, "stalled\n")
    assert http_get(f"{base}/nothing")[0] == 404


def test_the_endpoint_binds_to_loopback_unless_told(endpoint: tuple[str, Health]) -> None:
    base, _health = endpoint
    assert base.startswith("http://127.0.0.1:")
