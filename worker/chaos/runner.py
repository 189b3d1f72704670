"""Run a scenario: fresh topics, group and Redis keys; two real workers; the stream; the
fault at its moment; wait until every input is answered (or a timeout); SIGTERM the workers;
account for every input from a read_committed reader.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from worker.chaos.accounting import (
    Ledger,
    OutputReader,
    Tally,
    back_to_primary_s,
    degraded_results,
    steady_primary_s,
)
from worker.chaos.faults import FaultContext
from worker.chaos.models import COMMITTED_MODELS, faulty_models
from worker.chaos.report import Outcome
from worker.chaos.scenarios import Scenario
from worker.chaos.stack import DEFAULT_DIR, ChaosStack
from worker.chaos.stream import Input, StreamProducer, build_inputs, simulated_events
from worker.chaos.workers import WorkerPool, last_error, wait_for_members, worker_environment
from worker.codec import LocalSchemaRegistry, RecordEncoder, default_schemas_dir
from worker.kafka.topics import delete_topics, ensure_topics
from worker.settings import Settings

log = logging.getLogger(__name__)
JOIN_TIMEOUT_S = 90.0
QUIET_S = 2.0  # after the last answer, keep reading a moment: late duplicates count too


@dataclass(frozen=True)
class SuiteConfig:
    events: int = 2000
    rate: float = 250.0
    seed: int = 7
    answer_timeout_s: float = 90.0  # after the stream and the fault are over
    log_dir: Path = DEFAULT_DIR / "logs"
    progress: bool = True


class FaultRun:
    """The scenario's fault in a thread of its own, started ``delay_s`` into the stream."""

    def __init__(self, scenario: Scenario, ctx: FaultContext, delay_s: float) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.delay_s = delay_s
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-fault", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        time.sleep(self.delay_s)
        try:
            self.scenario.fault(self.ctx)
        except Exception as exc:  # reported: the scenario fails with the fault's error
            log.exception("fault of %s failed", self.scenario.name)
            self.error = f"{type(exc).__name__}: {exc}"

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)


class ScenarioRun:
    """One scenario in one mode."""

    def __init__(
        self,
        stack: ChaosStack,
        scenario: Scenario,
        mode: str,
        config: SuiteConfig,
        inputs: list[Input],
    ) -> None:
        self.stack = stack
        self.scenario = scenario
        self.mode = mode
        self.config = config
        self.inputs = inputs
        self.tag = f"{scenario.name.replace('_', '-')}-{mode[:3]}-{uuid.uuid4().hex[:6]}"
        self.settings = self._settings()

    def _settings(self) -> Settings:
        data = self.stack.settings.model_dump()
        data["kafka"]["bootstrap_servers"] = self.stack.bootstrap
        data["redis"].update(url=self.stack.redis_url, key_prefix=f"chaos:{self.tag}:")
        data["topics"] = {
            "input": f"chaos.{self.tag}.in",
            "scored": f"chaos.{self.tag}.scored",
            "review": f"chaos.{self.tag}.review",
            "dead_letter": f"chaos.{self.tag}.dlq",
            "degraded": f"chaos.{self.tag}.degraded",
            "shadow": f"chaos.{self.tag}.shadow",
            "labels": f"chaos.{self.tag}.labels",
        }
        data["worker"].update(group_id=f"chaos-{self.tag}", processing_guarantee=self.mode)
        return Settings.model_validate(data)

    def _environment(self, models_dir: Path) -> dict[str, str]:
        s = self.settings
        return worker_environment(
            {
                "FRAUD_KAFKA__BOOTSTRAP_SERVERS": s.kafka_bootstrap,
                "FRAUD_REDIS__URL": s.redis_url,
                "FRAUD_REDIS__KEY_PREFIX": s.redis.key_prefix,
                "FRAUD_TOPICS__INPUT": s.topics.input,
                "FRAUD_TOPICS__SCORED": s.topics.scored,
                "FRAUD_TOPICS__REVIEW": s.topics.review,
                "FRAUD_TOPICS__DEAD_LETTER": s.topics.dead_letter,
                "FRAUD_TOPICS__DEGRADED": s.topics.degraded,
                "FRAUD_TOPICS__SHADOW": s.topics.shadow,
                "FRAUD_WORKER__GROUP_ID": s.worker.group_id,
                "FRAUD_WORKER__PROCESSING_GUARANTEE": self.mode,
                "FRAUD_WORKER__METRICS_PORT": "0",
                "FRAUD_WORKER__MODELS_DIR": str(models_dir),
                **self.scenario.env,
            }
        )

    def run(self) -> Outcome:
        began = time.monotonic()
        topics = self.settings.topics
        ensure_topics(self.stack.new_admin(), topics.all_topics())
        reader = OutputReader(self.settings)
        try:
            with tempfile.TemporaryDirectory(prefix="chaos-models-") as tmp:
                outcome = self._run_with_models(reader, Path(tmp) / "models")
        finally:
            reader.close()
            delete_topics(self.stack.new_admin(), list(topics.all_topics()))
        outcome.seconds = round(time.monotonic() - began, 1)
        return outcome

    def _run_with_models(self, reader: OutputReader, tmp_models: Path) -> Outcome:
        kind = self.scenario.primary
        models = faulty_models(kind, tmp_models) if kind else COMMITTED_MODELS
        pool = WorkerPool(self.tag, self._environment(models), self.config.log_dir / self.tag)
        try:
            producer, fault, answered = self._stream(pool, reader)
        finally:
            codes = pool.close()
        reader.drain()
        outcome = self._outcome(reader, producer, fault, answered)
        outcome.crashes = [
            f"w{e.slot} exit {e.code}: {last_error(e.log_path)}" for e in pool.crashes
        ]
        outcome.notes += [
            f"w{slot} exited {code} on SIGTERM" for slot, code in enumerate(codes) if code
        ]
        return outcome

    def _stream(
        self, pool: WorkerPool, reader: OutputReader
    ) -> tuple[StreamProducer, FaultRun, bool]:
        for slot in range(self.scenario.workers):
            pool.start(slot)
        started = time.time()
        joined = wait_for_members(
            self.stack.new_admin(),
            self.settings.worker.group_id,
            self.scenario.workers,
            JOIN_TIMEOUT_S,
        )
        if not joined:
            log.warning("%s: the workers did not all join within %.0f s", self.tag, JOIN_TIMEOUT_S)
        ctx = FaultContext(
            self.stack,
            pool,
            self.settings.worker.group_id,
            self.scenario.hold_s,
            COMMITTED_MODELS,
            started,
        )
        rate = self.config.rate * self.scenario.rate_scale
        producer = StreamProducer(self.settings, self.settings.topics.input, self.inputs, rate)
        producer.start()
        fault = FaultRun(self.scenario, ctx, self.scenario.fault_at * len(self.inputs) / rate)
        answered = self._wait(producer, fault, reader)
        fault.join(60)
        return producer, fault, answered

    def _wait(self, producer: StreamProducer, fault: FaultRun, reader: OutputReader) -> bool:
        """Read outputs until every delivered input is answered, the stream and the fault
        being over; False when ``answer_timeout_s`` passed after that first."""
        ledger = Ledger(producer.delivered)
        over_at: float | None = None
        label = f"{self.scenario.name} [{self.mode}]"
        with tqdm(
            total=len(self.inputs),
            desc=label,
            unit="in",
            leave=False,
            disable=not self.config.progress,
        ) as bar:
            while True:
                reader.poll(0.5)
                missing = ledger.unanswered(reader)
                bar.n = len(producer.delivered) - missing
                bar.refresh()
                if producer.done and fault.done:
                    over_at = over_at or time.monotonic()
                    if missing == 0:
                        reader.drain(idle_s=QUIET_S)
                        return True
                    if time.monotonic() - over_at > self.config.answer_timeout_s:
                        return False

    def _notes(
        self, producer: StreamProducer, reader: OutputReader, tally: Tally, answered: bool
    ) -> list[str]:
        """What the table's figures do not show but a reader of the report must know."""
        timeout_s = self.config.answer_timeout_s
        checks = [
            (len(producer.failed), "inputs never reached the broker"),
            (tally.unexpected, "output records answer no input of this scenario"),
            (tally.valid_dead_lettered, "valid events answered by a dead letter, not a result"),
            (tally.valid_scored_and_dead_lettered, "valid events with a result and a dead letter"),
            (reader.unreadable, "output records could not be decoded"),
            (int(not answered), f"time-out: inputs unanswered {timeout_s:.0f} s after the end"),
        ]
        notes = [f"{count} {what}" for count, what in checks if count]
        if producer.failed:
            notes.append(f"first delivery error: {producer.failed[0][1]}")
        return notes

    def _outcome(
        self, reader: OutputReader, producer: StreamProducer, fault: FaultRun, answered: bool
    ) -> Outcome:
        ctx = fault.ctx
        window = None
        if ctx.began is not None and ctx.ended is not None:
            window = (
                round(ctx.began - producer.started_at, 1),
                round(ctx.ended - producer.started_at, 1),
            )
        tally = Ledger(producer.delivered).tally(reader)
        notes = self._notes(producer, reader, tally, answered)
        back = back_to_primary_s(reader.results, ctx.ended) if window else None
        steady = steady_primary_s(reader.results, ctx.ended) if window else None
        after = sum(1 for r in reader.results if ctx.ended and r.scored_at_ms >= ctx.ended * 1000)
        return Outcome(
            scenario=self.scenario.name,
            mode=self.mode,
            summary=self.scenario.summary,
            tally=tally,
            back_to_primary_s=None if back is None else round(back, 2),
            steady_primary_s=None if steady is None else round(steady, 2),
            degraded=degraded_results(reader.results),
            fault_window_s=window,
            results_after_fault=after,
            answered_in_time=answered,
            seconds=0.0,
            notes=notes,
            fault_error=fault.error,
        )


def scenario_inputs(scenario: Scenario, events: list[dict[str, Any]], seed: int) -> list[Input]:
    encoder = RecordEncoder.for_schema_id(LocalSchemaRegistry(default_schemas_dir()), 2)
    return build_inputs(events, scenario.mix, encoder, seed)


def run_suite(
    stack: ChaosStack, scenarios: list[Scenario], modes: list[str], config: SuiteConfig
) -> list[Outcome]:
    """Every scenario in every mode, one after the other, on one chaos stack; the stack is
    healed (servers up, Redis writable and empty) before each."""
    events = simulated_events(config.events, config.seed)
    outcomes = []
    for scenario in scenarios:
        inputs = scenario_inputs(scenario, events, config.seed)
        for mode in modes:
            stack.heal()
            outcome = ScenarioRun(stack, scenario, mode, config, inputs).run()
            t = outcome.tally
            verdict = "ok  " if outcome.ok else "FAIL"
            tqdm.write(
                f"{verdict} {scenario.name:<16} {mode:<13} in {t.events_in} distinct "
                f"{t.distinct} lost {t.lost} dup {t.duplicates} ({outcome.seconds:.0f} s)"
            )
            outcomes.append(outcome)
    return outcomes
