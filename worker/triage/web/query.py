"""The queue page's query string → a ``QueueFilter`` and a page number, or one line saying
which parameter is wrong (400). The same values build the page's links (tabs, facets,
pages, "next"), so a link never carries anything the page would refuse."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from worker.ladder.types import Decision, Source
from worker.triage.types import Kind, QueueFilter
from worker.triage.web.errors import BadRequest

SORTS = ("priority", "newest", "oldest")
KINDS = tuple(kind.value for kind in Kind)
DECISIONS = tuple(decision.value for decision in Decision)
SOURCES = tuple(source.value for source in Source)
PARAMETERS = (
    "kind", "decision", "source", "reason", "min_amount", "max_amount", "country", "max_age_h",
    "sort", "page",
)  # fmt: skip
_COUNTRY = re.compile(r"[A-Za-z]{2,3}")
_REASON = re.compile(r"[\w:.\-]{1,100}")
_PAGE = re.compile(r"[0-9]{1,6}")
_MAX_PAGE = 100_000


@dataclass(frozen=True)
class QueueQuery:
    filters: QueueFilter
    page: int
    values: dict[str, str]  # the parameters as given (normalized), empty ones left out

    def link(self, path: str = "/queue", **changes: str | None) -> str:
        """``path`` with these parameters, some changed (None: removed)."""
        values = {**self.values, **changes}
        kept = {name: value for name, value in values.items() if value}
        return f"{path}?{urlencode(kept)}" if kept else path

    def encoded(self) -> str:
        return urlencode({k: v for k, v in self.values.items() if k != "page"})


def parse_queue_query(params: Mapping[str, str]) -> QueueQuery:
    values = {name: params[name].strip() for name in PARAMETERS if params.get(name, "").strip()}
    min_amount = _amount(values, "min_amount")
    max_amount = _amount(values, "max_amount")
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise BadRequest("min_amount is above max_amount: swap them")
    max_age_h = _positive(values, "max_age_h")
    filters = QueueFilter(
        kind=Kind(_choice(values, "kind", KINDS) or Kind.REVIEW),
        decision=_choice(values, "decision", DECISIONS),
        source=_choice(values, "source", SOURCES),
        reason=_reason(values),
        min_amount=min_amount,
        max_amount=max_amount,
        country=_country(values),
        max_age_s=None if max_age_h is None else max_age_h * 3600,
        sort=_choice(values, "sort", SORTS) or "priority",
    )
    return QueueQuery(filters, _page(values), values)


def _choice(values: dict[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    value = values.get(name)
    if value is not None and value not in choices:
        raise BadRequest(f"{name}={_shown(value)} is not one of {', '.join(choices)}: pick one")
    return value


def _number(values: dict[str, str], name: str) -> float | None:
    value = values.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise BadRequest(f"{name}={_shown(value)} is not a number: write one like 100 or 12.5")
    return number


def _amount(values: dict[str, str], name: str) -> float | None:
    number = _number(values, name)
    if number is not None and number < 0:
        raise BadRequest(f"{name} is negative: give an amount of 0 or more")
    return number


def _positive(values: dict[str, str], name: str) -> float | None:
    number = _number(values, name)
    if number is not None and number <= 0:
        raise BadRequest(f"{name} is not above 0: give a number of hours above 0")
    return number


def _reason(values: dict[str, str]) -> str | None:
    value = values.get("reason")
    if value is not None and not _REASON.fullmatch(value):
        raise BadRequest(
            f"reason={_shown(value)} is not a reason code: use letters, digits and : . _ - "
            "(e.g. rule: or degraded:redis)"
        )
    return value


def _country(values: dict[str, str]) -> str | None:
    value = values.get("country")
    if value is None:
        return None
    if not _COUNTRY.fullmatch(value):
        raise BadRequest(f"country={_shown(value)} is not a country code: use one like US or DE")
    values["country"] = value.upper()
    return value.upper()


def _page(values: dict[str, str]) -> int:
    value = values.get("page", "1")
    if not _PAGE.fullmatch(value) or not 1 <= int(value) <= _MAX_PAGE:
        raise BadRequest(f"page={_shown(value)} is not a page number: use 1 or more")
    return int(value)


def _shown(value: str) -> str:
    """The bad value, quoted and cut short (it is echoed back on the error page)."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


# The queue's last filters, kept in the session: "next", "back to the queue" and the redirect
# after a decision follow the filters the analyst was working with.
REMEMBERED_KEY = "queue_query"
_MAX_REMEMBERED = 600


def remember(session: MutableMapping[str, Any], query: QueueQuery) -> None:
    encoded = query.encoded()
    if len(encoded) <= _MAX_REMEMBERED and session.get(REMEMBERED_KEY) != encoded:
        session[REMEMBERED_KEY] = encoded


def remembered(session: Mapping[str, Any]) -> QueueQuery:
    """The last filters (none if they no longer parse, e.g. after an upgrade)."""
    encoded = session.get(REMEMBERED_KEY)
    try:
        return parse_queue_query(dict(parse_qsl(encoded if isinstance(encoded, str) else "")))
    except BadRequest:
        return parse_queue_query({})
