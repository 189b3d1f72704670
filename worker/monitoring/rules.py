"""The chart's alert rules at demo speed: a copy of ``files/alerts.yaml`` with every time
window divided by one factor, made when the demo starts (never a second file to maintain).

``TIME_SCALE = 30``: one minute of the rules is two seconds of the demo. With the demo's
1 s scrape and evaluation intervals this keeps the rules' own reasoning: ``[2m]`` becomes
``[4s]``, four samples per rate window as 2m is at the usual 30 s scrape, so one late scrape
does not make a rate vanish; the shortest ``for: 1m`` becomes 2 s, two evaluations. The
degraded-share alert (``for: 5m``) then fires 10 s after the share passes 10 %, which a
demo outage of about 20 s shows from pending to firing to resolved.

Only durations are scaled (range selectors, subquery steps, ``offset``, ``for:``); thresholds
are not (``> 7200`` seconds of an item's age, dead letters ``* 60`` per minute), and the
recording rules keep their names (``…:rate2m``), since the alerts read them by name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from worker.errors import FraudWorkerError

TIME_SCALE = 30.0
CHART_RULES = Path(__file__).resolve().parents[2] / "deploy/helm/fraud-worker/files/alerts.yaml"

UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
UNIT_MS["y"] = 365 * UNIT_MS["d"]
DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
PART = re.compile(r"(\d+)(ms|[smhdwy])")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# A range or subquery, `[5m]` / `[30m:1m]` / `[30m:]`, and `offset 5m`.
RANGE = re.compile(r"\[\s*(" + DURATION.pattern + r")\s*(?::\s*(" + DURATION.pattern + r")?\s*)?\]")
OFFSET = re.compile(r"\boffset\s+(-?)(" + DURATION.pattern + r")")


def duration_ms(text: str) -> int:
    """A Prometheus duration (``1h30m``, ``90s``, ``250ms``) in milliseconds."""
    if not DURATION.fullmatch(text):
        raise FraudWorkerError(f"{text!r} is not a Prometheus duration (like 5m or 1h30m)")
    return sum(int(n) * UNIT_MS[unit] for n, unit in PART.findall(text))


def format_ms(ms: int) -> str:
    """In the largest unit that keeps it whole: ``5m``, ``4s``, ``1500ms``."""
    for unit in ("m", "s"):
        if ms % UNIT_MS[unit] == 0:
            return f"{ms // UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def scale_duration(text: str, scale: float = TIME_SCALE) -> str:
    """``text`` divided by ``scale``, never below 1 ms."""
    return format_ms(max(1, round(duration_ms(text) / scale)))


def scale_expr(expr: str, scale: float = TIME_SCALE) -> str:
    """Every range, subquery step and offset of a PromQL expression divided by ``scale``;
    string literals (label values, which may hold ``[…]`` in a regex) are left alone."""
    pieces = []
    last = 0
    for match in STRING.finditer(expr):
        pieces.append(_scale_code(expr[last : match.start()], scale))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(_scale_code(expr[last:], scale))
    return "".join(pieces)


def _scale_code(code: str, scale: float) -> str:
    def scaled_range(match: re.Match[str]) -> str:
        window = scale_duration(match.group(1), scale)
        if ":" not in match.group(0):
            return f"[{window}]"
        step = match.group(2)
        return f"[{window}:{scale_duration(step, scale) if step else ''}]"

    def scaled_offset(match: re.Match[str]) -> str:
        return f"offset {match.group(1)}{scale_duration(match.group(2), scale)}"

    return OFFSET.sub(scaled_offset, RANGE.sub(scaled_range, code))


def scale_rules(document: dict[str, Any], scale: float = TIME_SCALE) -> dict[str, Any]:
    """A scaled copy of a rules file's document (the given one is not changed)."""
    groups = []
    for group in document["groups"]:
        copy = {key: value for key, value in group.items() if key != "rules"}
        if "interval" in group:
            copy["interval"] = scale_duration(str(group["interval"]), scale)
        copy["rules"] = [_scale_rule(rule, scale) for rule in group["rules"]]
        groups.append(copy)
    return {**document, "groups": groups}


def _scale_rule(rule: dict[str, Any], scale: float) -> dict[str, Any]:
    scaled = {**rule, "expr": scale_expr(str(rule["expr"]), scale)}
    for key in ("for", "keep_firing_for"):
        if key in rule:
            scaled[key] = scale_duration(str(rule[key]), scale)
    return scaled


def require_chart_file(path: Path) -> Path:
    """The chart's files are read from the source tree (they are not in the wheel)."""
    if not path.is_file():
        raise FraudWorkerError(
            f"{path} is missing: the demo's Prometheus reads the Helm chart's files, so run "
            "`fraud-worker demo` from a source checkout (`make demo`)"
        )
    return path


def write_scaled_rules(target: Path, source: Path = CHART_RULES, scale: float = TIME_SCALE) -> Path:
    """Write the scaled copy of ``source`` to ``target``, with a header saying what it is."""
    document = yaml.safe_load(require_chart_file(source).read_text())
    header = (
        f"# GENERATED by the demo from {source.name}, every time window divided by "
        f"{scale:g}\n# (worker/monitoring/rules.py). Edit the chart's file, not this one.\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(header + yaml.safe_dump(scale_rules(document, scale), sort_keys=False))
    return target


def alert_for(name: str, scale: float = 1.0, source: Path = CHART_RULES) -> str:
    """An alert's ``for:`` in the chart's rules, divided by ``scale``."""
    for group in yaml.safe_load(source.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                return scale_duration(str(rule["for"]), scale)
    raise FraudWorkerError(f"no alert {name} in {source}")
