"""Real workers as subprocesses (``python -m worker run``), configured by the environment.

A pool keeps one process per slot. Slot ``i`` always runs with the instance id
``<scenario>-w<i>``, so a replacement started after a kill keeps its predecessor's
transactional id and, in exactly-once mode, fences it. A worker that exits without being
asked to is restarted after a second, as an orchestrator would, and counted as a crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from worker.chaos.stack import PROJECT_ROOT

# An open breaker tries again after 1 to 2 s instead of 5 to 60 s, so that the way back to
# the primary shows within a scenario's few seconds (as in the demo).
BREAKER_ENV = {"FRAUD_BREAKER__OPEN_WAIT_S": "1", "FRAUD_BREAKER__MAX_OPEN_WAIT_S": "2"}
RESTART_DELAY_S = 1.0
MAX_RESTARTS = 8


@dataclass
class Exit:
    """How a worker process ended: ``asked`` when the suite signalled it."""

    slot: int
    code: int
    asked: bool
    at: float
    log_path: Path


@dataclass
class Slot:
    process: subprocess.Popen[bytes] | None = None
    asked_to_stop: bool = False
    starts: int = 0
    log_path: Path | None = None


@dataclass
class WorkerPool:
    """The workers of one scenario; every method may be called from any thread."""

    name: str
    env: dict[str, str]
    log_dir: Path
    slots: dict[int, Slot] = field(default_factory=dict)
    exits: list[Exit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._watcher = threading.Thread(target=self._watch, name="chaos-pool", daemon=True)
        self._watcher.start()

    def environment(self, slot: int) -> dict[str, str]:
        return {**self.env, "FRAUD_WORKER__INSTANCE_ID": f"{self.name}-w{slot}"}

    def start(self, slot: int) -> None:
        """Start (or restart) the worker of ``slot``; its log goes to w<slot>-<start>.log."""
        with self._lock:
            state = self.slots.setdefault(slot, Slot())
            state.starts += 1
            state.log_path = self.log_dir / f"w{slot}-{state.starts}.log"
            with state.log_path.open("wb") as log:  # the child keeps its own descriptor
                state.process = subprocess.Popen(
                    [sys.executable, "-m", "worker", "run"],
                    env=self.environment(slot),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=PROJECT_ROOT,  # the default rules path is relative to it
                )
            state.asked_to_stop = False

    def signal(self, slot: int, signum: int) -> None:
        """Send ``signum`` to the slot's worker, as an expected ending (no restart)."""
        with self._lock:
            state = self.slots[slot]
            if state.process is not None and state.process.poll() is None:
                state.asked_to_stop = True
                state.process.send_signal(signum)

    def wait(self, slot: int, timeout_s: float) -> int | None:
        """Wait for the slot's worker to exit; SIGKILL it past ``timeout_s``."""
        process = self.slots[slot].process
        if process is None:
            return None
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait(10)
        self._record_exit(slot)
        return code

    def stop(self, slot: int, timeout_s: float = 60.0) -> int | None:
        """SIGTERM: finish the batch, commit, leave the group, exit 0."""
        self.signal(slot, signal.SIGTERM)
        return self.wait(slot, timeout_s)

    def kill(self, slot: int) -> None:
        self.signal(slot, signal.SIGKILL)
        self.wait(slot, 10)

    def stop_many(self, slots: list[int], timeout_s: float = 60.0) -> list[int | None]:
        """SIGTERM several workers at once (they leave the group together), then wait."""
        for slot in slots:
            self.signal(slot, signal.SIGTERM)
        return [self.wait(slot, timeout_s) for slot in slots]

    def close(self, timeout_s: float = 60.0) -> list[int | None]:
        """Stop every worker with SIGTERM; the watcher restarts nothing from here on."""
        self._closing.set()
        codes = self.stop_many(list(self.slots), timeout_s)
        self._watcher.join(5)
        return codes

    @property
    def crashes(self) -> list[Exit]:
        return [e for e in self.exits if not e.asked]

    def _record_exit(self, slot: int) -> bool:
        """Note the slot's exit once; True when it was a crash."""
        with self._lock:
            state = self.slots[slot]
            process, log_path = state.process, state.log_path
            if process is None or log_path is None or process.poll() is None:
                return False
            state.process = None
            code = int(process.returncode)
            self.exits.append(Exit(slot, code, state.asked_to_stop, time.time(), log_path))
            return not state.asked_to_stop

    def _watch(self) -> None:
        """Restart crashed workers (a bounded number of times) until the pool closes."""
        while not self._closing.wait(0.3):
            for slot, state in list(self.slots.items()):
                if self._closing.is_set() or not self._record_exit(slot):
                    continue
                if state.starts <= MAX_RESTARTS:
                    time.sleep(RESTART_DELAY_S)
                    if not self._closing.is_set():
                        self.start(slot)


def worker_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its FRAUD_* settings, plus the scenario's."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    return {**base, **BREAKER_ENV, **overrides}


def wait_for_members(admin: AdminClient, group: str, members: int, timeout_s: float) -> bool:
    """Wait until ``group`` is stable with ``members`` members: all have joined and own
    their partitions, so the stream does not start inside the first rebalance."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            description = admin.describe_consumer_groups([group])[group].result(timeout=5)
            stable = str(description.state).endswith("STABLE")
            if stable and len(description.members) >= members:
                return True
        except (KafkaException, FutureTimeout):  # no such group yet, or the broker restarts
            pass
        time.sleep(0.5)
    return False


def last_error(log_path: Path) -> str:
    """The last line of a worker's log that names an error: what a crash report quotes."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines or ["(empty log)"])[-1].strip()[:300]
