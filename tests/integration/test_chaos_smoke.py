"""The chaos suite's short subset (``make chaos`` runs all of it): real workers through an
input fault, a process fault and a dependency fault, on a chaos stack of the test's own —
its own folder and free ports, stopped at the end — so that killing and pausing its servers
disturbs no other test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import free_port
from worker.chaos.report import render_text
from worker.chaos.runner import SuiteConfig, run_suite
from worker.chaos.scenarios import QUICK, select
from worker.chaos.stack import DEFAULT_DIR, ChaosStack, StackPorts, chaos_settings


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[ChaosStack]:
    stack_dir = DEFAULT_DIR / f"smoke-{os.getpid()}"
    stack = ChaosStack(chaos_settings(stack_dir, StackPorts(free_port(), free_port(), free_port())))
    stack.up()
    try:
        yield stack
    finally:
        stack.down()
        shutil.rmtree(stack_dir, ignore_errors=True)


def test_quick_scenarios_lose_nothing(chaos_stack: ChaosStack, tmp_path: Path) -> None:
    config = SuiteConfig(
        events=600, rate=200, answer_timeout_s=45, log_dir=tmp_path / "logs", progress=False
    )
    outcomes = run_suite(chaos_stack, select(list(QUICK)), ["at_least_once"], config)
    table = render_text(outcomes)
    assert sorted(o.scenario for o in outcomes) == sorted(QUICK)
    for outcome in outcomes:
        assert outcome.fault_error is None, table
        assert outcome.tally.valid_in == 600 and outcome.tally.invalid_in > 0, table
        assert outcome.tally.lost == 0, table
        assert outcome.tally.unexpected == 0, table
    kill = next(o for o in outcomes if o.scenario == "worker_kill9")
    assert kill.fault_window_s is not None, "the kill landed mid-stream"
    pause = next(o for o in outcomes if o.scenario == "redis_pause")
    assert pause.tally.by_source["fallback"] > 0, "a frozen Redis moves the ladder down"
