"""How numbers, times and codes read on the pages (the templates' filters)."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.triage.types import Outcome

MISSING = "—"  # a value the record does not have

OUTCOME_LABELS: dict[str, str] = {
    Outcome.FRAUD: "fraud",
    Outcome.LEGITIMATE: "legitimate",
    Outcome.UNSURE: "can't tell",
    Outcome.CLOSED: "closed",
}
# Score badges: the worker's own thresholds live in its decision policy; these only colour.
HIGH_SCORE = 0.8
MID_SCORE = 0.5


def money(amount: float, currency: str = "") -> str:
    return f"{amount:,.2f} {currency}".rstrip()


def score_band(score: float) -> str:
    """The badge's class: ``high``, ``mid`` or ``low``."""
    if score >= HIGH_SCORE:
        return "high"
    return "mid" if score >= MID_SCORE else "low"


def duration(seconds: float | None) -> str:
    """A short age: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if seconds is None:
        return MISSING
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24} h"


def age(then_ms: int, now_ms: int) -> str:
    return duration((now_ms - then_ms) / 1000)


def utc(at_ms: int | None) -> str:
    if at_ms is None:
        return MISSING
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_time(at_ms: int) -> str:
    """Month, day and time (UTC): the item page's history tables."""
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%m-%d %H:%M")


def clock(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%H:%M UTC")


def percent(share: float | None) -> str:
    return MISSING if share is None else f"{share * 100:.0f} %"


def outcome_label(outcome: str | None) -> str:
    return MISSING if outcome is None else OUTCOME_LABELS.get(outcome, outcome)


def code_label(code: str) -> str:
    """A reason code as words: ``stolen_card`` → ``stolen card``."""
    return code.replace("_", " ")


def audit_detail(detail: dict[str, object]) -> list[tuple[str, str]]:
    """An audit entry's detail as (name, text); times (``*_ms``) as UTC times."""
    shown = []
    for name, value in detail.items():
        if name.endswith("_ms") and isinstance(value, int):
            shown.append((name.removesuffix("_ms"), utc(value)))
        else:
            shown.append((name, str(value)))
    return shown


def yes_no(value: object) -> str:
    if value is None:
        return MISSING
    return "yes" if value else "no"


FILTERS = {
    "money": money,
    "score_band": score_band,
    "duration": duration,
    "age": age,
    "utc": utc,
    "clock": clock,
    "short_time": short_time,
    "audit_detail": audit_detail,
    "percent": percent,
    "outcome_label": outcome_label,
    "code_label": code_label,
    "yes_no": yes_no,
}
