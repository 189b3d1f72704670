"""The demo's PNG timeline: answers per second by source, the outage, the alert's band."""

from __future__ import annotations

from pathlib import Path

from worker.monitoring.queries import AlertTimeline
from worker.monitoring.timeline_png import per_second, write_timeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _results(
    seconds: range, source: str, per_s: int, t0: float
) -> list[tuple[dict[str, str], int]]:
    return [
        ({"source": source}, int((t0 + second + i / per_s) * 1000))
        for second in seconds
        for i in range(per_s)
    ]


def test_answers_are_counted_per_second_by_source() -> None:
    t0 = 1_000.0
    results = _results(range(0, 3), "primary", 4, t0) + _results(range(3, 5), "fallback", 2, t0)
    counts = per_second(results, t0)
    assert counts["primary"] == [4, 4, 4, 0, 0]
    assert counts["fallback"] == [0, 0, 0, 2, 2]
    assert counts["cache"] == [0] * 5


def test_the_timeline_is_a_png(tmp_path: Path) -> None:
    t0 = 1_000.0
    results = (
        _results(range(0, 10), "primary", 50, t0)
        + _results(range(10, 30), "fallback", 50, t0)
        + _results(range(30, 45), "primary", 50, t0)
    )
    alert = AlertTimeline(pending_at=t0 + 12, firing_at=t0 + 22, resolved_at=t0 + 35)
    path = write_timeline(
        tmp_path / "demo" / "timeline.png", results, t0, (t0 + 10, t0 + 30), alert
    )
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000  # drawn, not an empty canvas
    empty = write_timeline(tmp_path / "empty.png", [], t0, None, None)
    assert empty.read_bytes()[:8] == PNG_MAGIC
