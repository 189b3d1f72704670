"""The benchmark's pure parts: /proc parsing, medians and ranges, the perf tools' output."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from worker.bench.measure import (
    Snapshot,
    Window,
    parse_consumer_performance,
    parse_machine_cpu,
    parse_process_cpu,
    parse_producer_performance,
    per_event_us,
    process_cpu_s,
    spread,
)

# /proc/<pid>/stat of a process whose name holds a space and a parenthesis; utime 250 and
# stime 50 ticks (fields 14 and 15).
PROC_STAT = (
    "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 123 0 0 0 250 50 0 0 20 0 40 0 "
    "8000 3000000000 60000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0"
)
MACHINE_STAT = "cpu  1000 10 300 5000 200 0 40 50 7 0\ncpu0 500 5 150 2500 100 0 20 25 0 0\n"

PRODUCER_OUTPUT = """\
98321 records sent, 19664.2 records/sec (3.75 MB/sec), 620.3 ms avg latency, 1003.0 ms max latency.
200000 records sent, 512345.6 records/sec (97.72 MB/sec), 35.10 ms avg latency, 310.00 ms max \
latency, 21 ms 50th, 98 ms 95th, 140 ms 99th, 301 ms 99.9th.
"""
CONSUMER_OUTPUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, \
rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-12-01 20:01:43:656, 2026-12-01 20:01:44:817, 3.8147, 3.2857, 20000, 17226.5289, 790, 371, \
10.2822, 53908.3558
"""


def test_a_process_cpu_time_is_utime_plus_stime_whatever_its_name() -> None:
    assert parse_process_cpu(PROC_STAT, ticks_per_s=100) == pytest.approx(3.0)


def test_this_process_has_used_cpu_and_a_missing_one_reads_none(tmp_path: Path) -> None:
    import os

    own = process_cpu_s(os.getpid())
    assert own is not None and own >= 0
    assert process_cpu_s(None) is None
    assert process_cpu_s(1, proc=tmp_path) is None  # no such /proc entry


def test_machine_busy_time_leaves_out_idle_and_iowait() -> None:
    busy, total = parse_machine_cpu(MACHINE_STAT, ticks_per_s=100)
    # user + nice + system + irq + softirq + steal; guest is inside user already.
    assert busy == pytest.approx((1000 + 10 + 300 + 0 + 40 + 50) / 100)
    assert total == pytest.approx(busy + (5000 + 200) / 100)
    with pytest.raises(ValueError, match="/proc/stat"):
        parse_machine_cpu("intr 1 2 3\n", 100)


def test_spread_is_the_median_and_the_range_of_what_exists() -> None:
    found = spread([3.0, 1.0, float("nan"), 10.0, 2.0])
    assert found is not None
    assert (found.median, found.low, found.high) == (2.5, 1.0, 10.0)
    assert found.as_dict() == {"median": 2.5, "min": 1.0, "max": 10.0}
    assert spread([]) is None
    assert spread([float("nan")]) is None


def test_cpu_per_event_in_microseconds() -> None:
    assert per_event_us(0.5, 100_000) == 5.0
    assert per_event_us(None, 100) is None
    assert per_event_us(1.0, 0) is None
    assert per_event_us(-0.1, 10) == 0.0  # a counter read late never goes negative


def test_other_load_is_the_machine_minus_the_runs_own_processes() -> None:
    before = Snapshot(
        at=10.0, machine_s=100.0, children_s=1.0, self_s=2.0, redis_s=5.0, broker_s=7.0
    )
    after = Snapshot(
        at=12.0, machine_s=103.0, children_s=2.0, self_s=2.2, redis_s=5.3, broker_s=7.5
    )
    window = Window.between(before, after)
    assert window.wall_s == pytest.approx(2.0)
    assert window.redis_s == pytest.approx(0.3)
    # 3.0 busy - (1.0 design + 0.2 benchmark + 0.3 Redis + 0.5 broker) = 1.0 s over 2 s.
    assert window.other_cores() == pytest.approx(0.5)


def test_an_unknown_server_counts_as_other_load() -> None:
    before = Snapshot(at=0.0, machine_s=0.0, children_s=0.0, self_s=0.0, redis_s=None, broker_s=1.0)
    after = Snapshot(at=1.0, machine_s=1.0, children_s=0.0, self_s=0.0, redis_s=None, broker_s=1.5)
    window = Window.between(before, after)
    assert window.redis_s is None
    assert window.other_cores() == pytest.approx(0.5)


def test_producer_performance_summary_is_the_line_with_percentiles() -> None:
    figures = parse_producer_performance(PRODUCER_OUTPUT)
    assert figures["records"] == 200_000
    assert figures["records_per_s"] == pytest.approx(512345.6)
    assert figures["p99_ms"] == 140
    with pytest.raises(ValueError, match="ProducerPerformance"):
        parse_producer_performance(PRODUCER_OUTPUT.splitlines()[0])


def test_consumer_performance_rate_leaves_out_the_group_join() -> None:
    figures = parse_consumer_performance(CONSUMER_OUTPUT)
    assert figures["records"] == 20_000
    assert figures["records_per_s"] == pytest.approx(53908.3558)  # fetch.nMsg.sec
    assert figures["records_per_s_with_join"] == pytest.approx(17226.5289)
    assert figures["join_ms"] == 790
    with pytest.raises(ValueError, match="ConsumerPerformance"):
        parse_consumer_performance("WARN something\n")
    assert not math.isnan(figures["fetch_ms"])
