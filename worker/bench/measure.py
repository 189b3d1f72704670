"""The benchmark's pure parts: CPU time from /proc, medians and ranges, and what Kafka's perf
tools print. No Kafka, no Redis: unit-tested in ``tests/bench``."""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# /proc/stat's "cpu" line: user nice system idle iowait irq softirq steal guest guest_nice.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # guest time is already counted in user


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def parse_process_cpu(stat: str, ticks_per_s: int) -> float:
    """utime + stime (fields 14 and 15) of a ``/proc/<pid>/stat`` line, in seconds."""
    # The command name (field 2) may hold spaces and parentheses; what follows the last ')'
    # is fixed: field 3 is the first after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def process_cpu_s(pid: int | None, proc: Path = Path("/proc")) -> float | None:
    """The CPU seconds process ``pid`` has used so far; None when unknown or gone."""
    if pid is None:
        return None
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    return parse_process_cpu(stat, clock_ticks())


def parse_machine_cpu(stat: str, ticks_per_s: int) -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from ``/proc/stat``'s first line."""
    first = stat.splitlines()[0].split()
    if first[0] != "cpu":
        raise ValueError("not /proc/stat: its first line is the 'cpu' total")
    values = [int(v) for v in first[1:]]
    values += [0] * (10 - len(values))
    busy = sum(values[i] for i in _BUSY_FIELDS)
    total = busy + values[3] + values[4]
    return busy / ticks_per_s, total / ticks_per_s


def machine_cpu_s(proc: Path = Path("/proc")) -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot."""
    return parse_machine_cpu((proc / "stat").read_text(), clock_ticks())[0]


def load_average(proc: Path = Path("/proc")) -> float:
    """The one-minute load average."""
    return float((proc / "loadavg").read_text().split()[0])


@dataclass(frozen=True)
class Spread:
    """The median of a figure over rounds, and its range."""

    median: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


def spread(values: Sequence[float], digits: int = 1) -> Spread | None:
    """Median, min and max of the values that exist; None when none does."""
    present = [v for v in values if v is not None and v == v]  # drop None and NaN
    if not present:
        return None
    return Spread(
        round(statistics.median(present), digits),
        round(min(present), digits),
        round(max(present), digits),
    )


def per_event_us(cpu_s: float | None, events: int) -> float | None:
    """CPU microseconds per event; None when the CPU figure is unknown."""
    if cpu_s is None or events <= 0:
        return None
    return round(max(cpu_s, 0.0) / events * 1e6, 2)


def delta(after: float | None, before: float | None) -> float | None:
    if after is None or before is None:
        return None
    return max(after - before, 0.0)


_PRODUCER_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency"
    r"(?:, (?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th)?"
)


def parse_producer_performance(output: str) -> dict[str, float]:
    """The final summary of ``ProducerPerformance`` (the last line that has the percentiles:
    the interim lines every 5 s have none)."""
    matches = [m for m in _PRODUCER_SUMMARY.finditer(output) if m.group("p50") is not None]
    if not matches:
        raise ValueError("no ProducerPerformance summary ('N records sent, ... 99th') found")
    m = matches[-1]
    return {
        "records": float(m.group("records")),
        "records_per_s": float(m.group("rate")),
        "mb_per_s": float(m.group("mb")),
        "latency_avg_ms": float(m.group("avg")),
        "latency_max_ms": float(m.group("max")),
        "p50_ms": float(m.group("p50")),
        "p95_ms": float(m.group("p95")),
        "p99_ms": float(m.group("p99")),
    }


def parse_consumer_performance(output: str) -> dict[str, float]:
    """The CSV row ``ConsumerPerformance`` prints under its header (start.time, end.time,
    data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
    fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec)."""
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("start.time"):
            header = [h.strip() for h in line.split(",")]
            for row in lines[i + 1 :]:
                cells = [c.strip() for c in row.split(",")]
                if len(cells) == len(header):
                    return _consumer_row(dict(zip(header, cells, strict=True)))
    raise ValueError("no ConsumerPerformance result (a CSV row under 'start.time, ...') found")


def _consumer_row(row: Mapping[str, str]) -> dict[str, float]:
    names = {
        "data.consumed.in.nMsg": "records",
        "nMsg.sec": "records_per_s_with_join",
        "fetch.nMsg.sec": "records_per_s",
        "MB.sec": "mb_per_s_with_join",
        "fetch.MB.sec": "mb_per_s",
        "rebalance.time.ms": "join_ms",
        "fetch.time.ms": "fetch_ms",
    }
    return {ours: float(row[theirs]) for theirs, ours in names.items() if theirs in row}


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds used so far by the machine and by the processes a run involves."""

    at: float  # time.monotonic()
    machine_s: float  # every core, every process
    children_s: float  # this process's finished children (the design's process, once waited)
    self_s: float  # this process: the load generator
    redis_s: float | None
    broker_s: float | None


@dataclass(frozen=True)
class Window:
    """What each process used between two snapshots, and what the rest of the machine did."""

    wall_s: float
    child_s: float
    self_s: float
    redis_s: float | None
    broker_s: float | None
    machine_s: float

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot) -> Window:
        return cls(
            wall_s=max(after.at - before.at, 1e-9),
            child_s=max(after.children_s - before.children_s, 0.0),
            self_s=max(after.self_s - before.self_s, 0.0),
            redis_s=delta(after.redis_s, before.redis_s),
            broker_s=delta(after.broker_s, before.broker_s),
            machine_s=max(after.machine_s - before.machine_s, 0.0),
        )

    def other_cores(self) -> float:
        """Cores busy with anything but the design, Redis, the broker and the benchmark itself
        (an unknown server's share counts as other load)."""
        ours = self.child_s + self.self_s + (self.redis_s or 0.0) + (self.broker_s or 0.0)
        return round(max(self.machine_s - ours, 0.0) / self.wall_s, 3)
