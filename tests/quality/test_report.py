"""The table, evaluation.json and the PNGs; the command's option checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.quality.synthetic import START, results
from worker.cli import app
from worker.errors import ConfigError
from worker.quality.days import DayRange, DayRangeError
from worker.quality.figures import evaluate_columns
from worker.quality.report import DAILY_PNG, JSON_NAME, PR_PNG, table, write_json, write_pngs
from worker.quality.results import SOURCE_NAMES, Results


def _report() -> dict:  # type: ignore[type-arg]
    scored, fraud = results(3000, days=6, seed=9, sources=("primary", "rules"))
    rules = scored.take(scored.source == SOURCE_NAMES.index("rules"))
    shadow = Results(
        rules.transaction_id,
        rules.card_id,
        rules.event_time_ms,
        rules.score,
        rules.decision,
        rules.source,
    )
    frauds = scored.transaction_id[fraud]
    return evaluate_columns(scored, shadow, frauds, DayRange(None, None, START))


def test_the_table_has_a_row_per_level(tmp_path: Path) -> None:
    report = _report()
    text = table(report)
    rows = [line.split()[0] for line in text.splitlines()[4:] if line.strip()]
    assert rows[:4] == ["all", "primary", "rules", "rules"]  # then "rules (shadow)"
    assert "rules (shadow)" in text and "real, same events" in text
    assert "days 0..5 from 2026-04-01" in text


def test_json_and_pngs_are_written(tmp_path: Path) -> None:
    report = _report()
    report["levels"]["all"]["roc_auc"] = math.nan
    path = write_json(report, tmp_path / "out")
    assert path.name == JSON_NAME
    data = json.loads(path.read_text())
    assert data["levels"]["all"]["roc_auc"] is None  # NaN has no JSON form
    assert set(data["levels"]) == {"all", "primary", "rules", "rules (shadow)"}
    assert len(data["levels"]["primary"]["daily"]) == 6
    assert data["levels"]["primary"]["pr_curve"]["recall"][-1] == 1.0
    paths = write_pngs(report, tmp_path / "out")
    assert [p.name for p in paths] == [PR_PNG, DAILY_PNG]
    for png in paths:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--first-day", "3"], DayRangeError),
        (["--first-date", "2026-09-01", "--last-date", "2026-08-01"], DayRangeError),
        (["--follow", "--start-date", "2026-04-01", "--first-day", "1"], ConfigError),
    ],
)
def test_option_mistakes_are_refused_before_any_broker_is_asked(
    args: list[str], error: type[Exception]
) -> None:
    result = CliRunner().invoke(app, ["evaluate", *args])
    assert isinstance(result.exception, error), result.output
