"""A stack of the monitoring tests' own, in ``.stack-prom/`` (Kafka 31092/31093, Redis 31379,
the demo's triage app on 31400 over SQLite in that folder): the demo stops its Redis, so it
must never be the shared local stack's. Its Kafka jars are hard-linked from the local stack
when it has them (as the chaos suite's stack does).

The demo's processes read their settings from the environment, so the fixture sets it for
its module, with every other ``FRAUD_*`` variable of the caller's shell taken out: nothing
of the caller's can point an outage at someone else's Redis.

The demo under Prometheus (``test_demo_prometheus.py``, about 90 s) runs with
FRAUD_DEMO_PROM_TEST=1: ``make monitoring-test`` sets it; ``make demo`` makes the same check
on the full demo. ``make test`` runs the rules, queries and timeline tests here without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.chaos.stack import link_jars
from worker.settings import Settings, load_settings
from worker.stack import Stack

_DEMO_TEST = "test_demo_prometheus.py"
collect_ignore = [] if os.environ.get("FRAUD_DEMO_PROM_TEST") == "1" else [_DEMO_TEST]

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = ROOT / ".stack-prom"
PROM_STACK_ENV = {
    "FRAUD_STACK__DIR": str(STACK_DIR),
    "FRAUD_STACK__KAFKA_PORT": "31092",
    "FRAUD_STACK__CONTROLLER_PORT": "31093",
    "FRAUD_STACK__REDIS_PORT": "31379",
    "FRAUD_STACK__POSTGRES_PORT": "31432",
    "FRAUD_STACK__READY_TIMEOUT_S": "120",
    "FRAUD_TRIAGE__PORT": "31400",
    "FRAUD_TRIAGE__DATA_DIR": str(STACK_DIR / "triage-data"),
}


@pytest.fixture(scope="module")
def prom_stack() -> Iterator[Settings]:
    """Kafka and Redis of ``.stack-prom/`` up (reused when running; stopped afterwards only
    when started here), and the environment that points the demo's processes at them —
    for the module only: the session's other tests keep the shared stack's settings."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("FRAUD_")]:
            patch.delenv(name)
        for name, value in PROM_STACK_ENV.items():
            patch.setenv(name, value)
        settings = load_settings()
        stack = Stack(settings)  # no PostgreSQL: the demo's triage app is on SQLite here
        was_running = stack.kafka.record() is not None and stack.redis.record() is not None
        link_jars(stack.kafka.jar_dir)
        stack.up()
        try:
            yield settings
        finally:
            if not was_running:
                stack.down()
