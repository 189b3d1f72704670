"""Which event days an evaluation covers: calendar dates, or day numbers from the
simulation's first day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from worker.errors import FraudWorkerError
from worker.events import MS_PER_DAY


class DayRangeError(FraudWorkerError):
    """The options naming the days do not make one range."""


@dataclass(frozen=True)
class DayRange:
    """Event days (UTC days since the epoch, inclusive) to evaluate; ``start_day`` is day 0
    of the simulation, for day numbers in the output."""

    first_day: int | None = None
    last_day: int | None = None
    start_day: int | None = None

    def __post_init__(self) -> None:
        first, last = self.first_day, self.last_day
        if first is not None and last is not None and first > last:
            raise DayRangeError(
                f"the first day ({day_date(first)}) is after the last ({day_date(last)})"
            )


def epoch_day(when: date) -> int:
    """UTC days since 1970-01-01 of a calendar date."""
    return (when - date(1970, 1, 1)).days


def day_date(day: int) -> date:
    return datetime.fromtimestamp(day * MS_PER_DAY / 1000, UTC).date()


def day_range(
    first_date: date | None = None,
    last_date: date | None = None,
    start_date: date | None = None,
    first_day: int | None = None,
    last_day: int | None = None,
) -> DayRange:
    """The range the options name: ``first_date``/``last_date`` (inclusive), or
    ``first_day``/``last_day`` counted from ``start_date`` (day 0). Either end may be open."""
    if (first_day is not None or last_day is not None) and start_date is None:
        raise DayRangeError("--first-day/--last-day count from --start-date: give it too")
    if first_date is not None and first_day is not None:
        raise DayRangeError("give --first-date or --first-day, not both")
    if last_date is not None and last_day is not None:
        raise DayRangeError("give --last-date or --last-day, not both")
    start = epoch_day(start_date) if start_date is not None else None
    first = epoch_day(first_date) if first_date is not None else None
    last = epoch_day(last_date) if last_date is not None else None
    if start is not None:
        first = start + first_day if first_day is not None else first
        last = start + last_day if last_day is not None else last
    return DayRange(first, last, start)
