"""The scenarios: one fault kind each, on a fresh pair of workers, topics, group and keys.

``fault_at`` is the fraction of the stream after which the fault starts; ``hold_s`` how long
it lasts (where it has a length). ``mix`` picks the inputs (see ``stream.build_inputs``):
every scenario carries a few undecodable messages, so dead letters are accounted everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.chaos import faults
from worker.chaos.faults import Fault


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    fault: Fault
    primary: str | None = None  # a faulty primary the workers start with (chaos.models)
    mix: str = "sprinkle"
    fault_at: float = 0.25
    hold_s: float = 3.0
    workers: int = 2
    rate_scale: float = 1.0  # a fault that takes long needs a longer stream to land in
    env: dict[str, str] = field(default_factory=dict)  # extra worker settings


def _primary(kind: str, summary: str, env: dict[str, str] | None = None) -> Scenario:
    """A faulty primary from the start, fixed by a rolling restart past half the stream."""
    return Scenario(
        f"primary_{kind}",
        summary,
        faults.fix_primary,
        primary=kind,
        fault_at=0.25,
        rate_scale=0.5,
        env=env or {},
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "worker_kill9", "SIGKILL a worker mid-stream, start a replacement", faults.kill_worker
    ),
    Scenario("broker_kill9", "SIGKILL the broker, start it again 3 s later", faults.kill_broker),
    Scenario("broker_restart", "clean broker restart (SIGTERM, start)", faults.restart_broker),
    Scenario("redis_stop", "Redis stopped for 3 s, started again empty", faults.stop_redis),
    Scenario("redis_pause", "Redis frozen by SIGSTOP for 3 s, then SIGCONT", faults.pause_redis),
    Scenario(
        "redis_oom",
        "Redis refuses writes (maxmemory 1, noeviction) for 3 s",
        faults.redis_refuses_writes,
    ),
    Scenario(
        "rebalance_storm",
        "2 cycles: 2 members join, 3 leave, 1 rejoins",
        faults.rebalance_storm,
        fault_at=0.05,
        hold_s=1.0,
        rate_scale=0.2,
    ),
    _primary("slow", "primary far past its deadline, until a blue/green fix"),
    _primary("nan", "primary answers NaN, until a blue/green fix"),
    _primary("raising", "primary raises in onnxruntime, until a blue/green fix"),
    # A refused artifact is a load problem: the worker is told to start degraded anyway.
    _primary(
        "tampered",
        "primary's bytes changed (hash mismatch), until a blue/green fix",
        {"FRAUD_WORKER__ALLOW_DEGRADED_START": "true"},
    ),
    Scenario(
        "poison",
        "1 in 20 messages undecodable (garbage, magic, truncated, id, empty)",
        faults.no_fault,
        mix="poison",
    ),
    Scenario(
        "oversized",
        "1 MB random messages and valid events with a 1 MB field",
        faults.no_fault,
        mix="oversized",
    ),
)

# The short subset for `make test`: one input fault, one process fault, one dependency fault.
QUICK = ("poison", "worker_kill9", "redis_pause")


def select(names: list[str] | None) -> list[Scenario]:
    """The named scenarios in suite order (all of them when ``names`` is empty)."""
    if not names:
        return list(SCENARIOS)
    known = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {sorted(known)}")
    return [s for s in SCENARIOS if s.name in names]
