"""One scenario's outcome, and the suite's table (text for the terminal, markdown and JSON
for ``bench/results/``).

A scenario passes when nothing was lost, its fault ran, and — in exactly-once mode — the
read_committed reader saw no duplicate. Duplicates in at-least-once mode are reported, not
failed: redelivery after a crash is what that mode promises.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from worker.chaos.accounting import SOURCES, Tally

EXACTLY_ONCE = "exactly_once"
MODES = ("at_least_once", EXACTLY_ONCE)
SHORT = {"at_least_once": "ALO", EXACTLY_ONCE: "EOS"}


@dataclass
class Outcome:
    scenario: str
    mode: str
    summary: str
    tally: Tally
    back_to_primary_s: float | None
    steady_primary_s: float | None
    degraded: int
    fault_window_s: tuple[float, float] | None  # from the stream's start
    results_after_fault: int
    answered_in_time: bool
    seconds: float
    crashes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fault_error: str | None = None

    @property
    def ok(self) -> bool:
        duplicates_ok = self.mode != EXACTLY_ONCE or self.tally.duplicates == 0
        return self.tally.lost == 0 and duplicates_ok and self.fault_error is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tally"] = {
            **data["tally"],
            "events_in": self.tally.events_in,
            "lost": self.tally.lost,
        }
        data["ok"] = self.ok
        return data


def _seconds(outcome: Outcome, value: float | None) -> str:
    if value is None:
        if not outcome.fault_window_s:
            return "-"
        answered_before_end = not outcome.results_after_fault and not outcome.tally.lost
        return "over" if answered_before_end else "never"
    return f"{value:.1f}"


def mode_cells(outcome: Outcome | None) -> list[str]:
    """distinct, lost, dup, results by source (cache/primary/fallback/rules/default), dead
    letters, seconds back to the primary, unexpected exits, verdict."""
    if outcome is None:
        return [""] * len(MODE_HEADERS)
    t = outcome.tally
    sources = "/".join(str(t.by_source[s]) for s in SOURCES)
    verdict = "ok" if outcome.ok else "FAIL"
    return [
        str(t.distinct), str(t.lost), str(t.duplicates), sources, str(t.dead_letters),
        _seconds(outcome, outcome.back_to_primary_s),
        _seconds(outcome, outcome.steady_primary_s), str(len(outcome.crashes)), verdict,
    ]  # fmt: skip


MODE_HEADERS = [
    "distinct",
    "lost",
    "dup",
    "c/p/f/r/d",
    "dlq",
    "back s",
    "steady s",
    "crash",
    "verdict",
]


def table_rows(outcomes: list[Outcome]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row per scenario, the modes side by side."""
    modes = [m for m in MODES if any(o.mode == m for o in outcomes)]
    by_key = {(o.scenario, o.mode): o for o in outcomes}
    scenarios = list(dict.fromkeys(o.scenario for o in outcomes))
    headers = ["scenario", "in (valid+bad)"]
    for mode in modes:
        headers += [f"{SHORT[mode]} {h}" for h in MODE_HEADERS]
    rows = []
    for name in scenarios:
        first = next(o for o in outcomes if o.scenario == name)
        row = [name, f"{first.tally.events_in} ({first.tally.valid_in}+{first.tally.invalid_in})"]
        for mode in modes:
            row += mode_cells(by_key.get((name, mode)))
        rows.append(row)
    return headers, rows


def render_text(outcomes: list[Outcome]) -> str:
    headers, rows = table_rows(outcomes)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [headers, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join([*lines, "", *legend(), *notes(outcomes)])


def render_markdown(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    headers, rows = table_rows(outcomes)
    lines = [
        "# Chaos suite",
        "",
        f"{meta['events']} valid events per scenario at {meta['rate']:.0f}/s, two workers, "
        f"run {meta['finished']}; `make chaos` regenerates this file.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *(f"- {line}" for line in legend()),
        "",
        "## Scenarios",
        "",
        *(
            f"- `{name}`: {summary}"
            for name, summary in dict.fromkeys((o.scenario, o.summary) for o in outcomes)
        ),
    ]
    found = notes(outcomes)
    if found:
        lines += ["", "## Notes", "", *(f"- {line.strip()}" for line in found[1:])]
    return "\n".join(lines) + "\n"


def legend() -> list[str]:
    return [
        "in: inputs that reached the broker (valid events + undecodable or oversized messages)",
        "distinct: inputs with at least one answer (a scored result, or a dead letter naming "
        "its offset); lost: inputs with none; dup: records beyond one per input "
        "and topic (read_committed reader)",
        "c/p/f/r/d: scored results by source: cache/primary/fallback/rules/safe_default; "
        "dlq: dead letters",
        "back s: from the fault's end to the first primary result after it ('never': the "
        "primary did not answer again; 'over': the stream was answered before the fault ended; "
        "'-': no fault window); steady s: from the fault's end "
        "to the last degraded result (fallback, rules, safe default) after it",
        "crash: worker exits nobody asked for (the suite restarts the worker, as an "
        "orchestrator would)",
    ]


def notes(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        for text in [*(f"crash: {c}" for c in o.crashes), *o.notes]:
            lines.append(f"  {o.scenario} [{SHORT[o.mode]}]: {text}")
        if o.fault_error:
            lines.append(f"  {o.scenario} [{SHORT[o.mode]}]: the fault failed: {o.fault_error}")
    return ["notes:", *lines] if lines else []


def write_results(outcomes: list[Outcome], meta: dict[str, Any], folder: Path) -> list[Path]:
    """``chaos.json`` (every figure) and ``chaos.md`` (the table) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {**meta, "ok": all(o.ok for o in outcomes), "scenarios": [o.to_json() for o in outcomes]}
    json_path = folder / "chaos.json"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path = folder / "chaos.md"
    md_path.write_text(render_markdown(outcomes, meta))
    return [json_path, md_path]
