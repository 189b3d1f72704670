"""The demo's smoke flow runs end to end against the real stack."""

from __future__ import annotations

from worker.settings import Settings
from worker.smoke import run_smoke


def test_smoke_flow_round_trips_kafka_and_redis(live_stack: Settings) -> None:
    report = run_smoke(500, live_stack)
    assert report.produced == report.consumed == 500
    assert report.redis_keys == 100
    assert "consumed 500 back" in report.describe()
