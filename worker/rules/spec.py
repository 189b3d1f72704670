"""The rules file format and its validation.

A file holds a list of rules; each has a ``name``, a ``reason`` code, a ``weight`` in [0, 1]
and a ``when`` condition, and may be *decisive*: ``decides: review`` or ``decides: block``
raises the decision of every event it matches to at least that, whichever level scored it.
A condition is a comparison ``{field, op, value}`` over an event field, or ``{all: [...]}``,
``{any: [...]}``, ``{not: {...}}``. A bad file fails at load with an error naming the file,
the rule and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker.errors import FraudWorkerError

NUMERIC_FIELDS = frozenset({"amount", "account_age_days", "event_time_ms"})
BOOLEAN_FIELDS = frozenset({"is_international", "has_international_history", "cardholder_verified"})
TEXT_FIELDS = frozenset({"merchant_category", "channel", "country", "currency", "entry_mode"})
ORDER_OPS = frozenset({"lt", "le", "gt", "ge"})
SET_OPS = frozenset({"in", "not_in"})

Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"]
# What a decisive rule may decide: never "allow" (a rule only ever raises a decision).
Decides = Literal["review", "block"]


class RulesError(FraudWorkerError):
    """A rules file is missing or invalid; the message names file, rule and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(_Strict):
    field: str
    op: Op
    value: bool | int | float | str | list[str]

    def check(self) -> None:
        """Type-check the comparison against the event field it reads."""
        known = NUMERIC_FIELDS | BOOLEAN_FIELDS | TEXT_FIELDS
        if self.field not in known:
            raise ValueError(f"unknown field {self.field!r} (known: {', '.join(sorted(known))})")
        if self.op in SET_OPS:
            if self.field not in TEXT_FIELDS or not isinstance(self.value, list):
                raise ValueError(f"{self.op!r} needs a text field and a list of values")
        elif self.field in NUMERIC_FIELDS:
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise ValueError(f"{self.field!r} is numeric: value must be a number")
        elif self.field in BOOLEAN_FIELDS:
            if self.op not in {"eq", "ne"} or not isinstance(self.value, bool):
                raise ValueError(f"{self.field!r} is boolean: use eq/ne with true or false")
        elif self.op in ORDER_OPS or not isinstance(self.value, str):
            raise ValueError(f"{self.field!r} is text: use eq/ne with a string, or in/not_in")


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Strict):
    not_: Condition = Field(alias="not")


Condition = Comparison | AllOf | AnyOf | NotOf


class Rule(_Strict):
    name: str = Field(min_length=1)
    reason: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    description: str = ""
    weight: float = Field(ge=0.0, le=1.0)
    when: Condition
    decides: Decides | None = None


class RulesFile(_Strict):
    version: Literal[1] = 1
    rules: list[Rule] = Field(min_length=1)


def _check_condition(condition: Condition) -> None:
    if isinstance(condition, Comparison):
        condition.check()
    elif isinstance(condition, AllOf):
        for part in condition.all:
            _check_condition(part)
    elif isinstance(condition, AnyOf):
        for part in condition.any:
            _check_condition(part)
    else:
        _check_condition(condition.not_)


def _rule_name(raw: Any, index: int) -> str:
    try:
        return str(raw["rules"][index]["name"])
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}"


def parse_rules_file(path: Path) -> RulesFile:
    """Read and validate ``path``; every problem is reported with file and rule."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from exc
    try:
        parsed = RulesFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        in_rule = loc[:1] == ("rules",) and len(loc) > 1
        where = f"rule {_rule_name(raw, int(loc[1]))!r}" if in_rule else "file"
        field = ".".join(str(part) for part in loc[2:])
        raise RulesError(f"{path}: {where}: {field + ': ' if field else ''}{err['msg']}") from exc
    names = [rule.name for rule in parsed.rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RulesError(f"{path}: rule {duplicates[0]!r}: the name is used twice")
    for rule in parsed.rules:
        try:
            _check_condition(rule.when)
        except ValueError as exc:
            raise RulesError(f"{path}: rule {rule.name!r}: {exc}") from exc
    return parsed
