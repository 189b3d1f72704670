"""The range of event days the options name."""

from __future__ import annotations

from datetime import date

import pytest

from worker.quality.days import DayRangeError, day_date, day_range, epoch_day


def test_dates_or_day_numbers_name_the_same_days() -> None:
    by_dates = day_range(first_date=date(2026, 8, 5), last_date=date(2026, 9, 29))
    by_days = day_range(start_date=date(2026, 4, 1), first_day=126, last_day=181)
    assert (by_dates.first_day, by_dates.last_day) == (by_days.first_day, by_days.last_day)
    assert by_days.start_day == epoch_day(date(2026, 4, 1))
    assert day_date(by_days.last_day or 0) == date(2026, 9, 29)


def test_open_ends_and_a_start_date_with_dates() -> None:
    assert day_range() == day_range(None, None, None, None, None)
    mixed = day_range(first_date=date(2026, 8, 5), start_date=date(2026, 4, 1), last_day=181)
    assert mixed.last_day is not None and mixed.first_day is not None
    assert day_date(mixed.last_day) == date(2026, 9, 29)
    assert day_range(last_date=date(2026, 1, 1)).first_day is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"first_day": 3}, "--start-date"),
        (
            {"first_date": date(2026, 1, 1), "first_day": 1, "start_date": date(2026, 1, 1)},
            "not both",
        ),
        ({"first_date": date(2026, 2, 1), "last_date": date(2026, 1, 1)}, "after the last"),
    ],
)
def test_ranges_that_make_no_sense_are_refused(options: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(DayRangeError, match=message):
        day_range(**options)
