"""The canonical model's dates and times: which texts are one, and what a bad one says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine.values import equivalent_dates, read_date, read_instant, value_problem


@pytest.mark.parametrize(
    "text",
    [
        "1990-09-25",
        "1990/09/25",
        "1990.09.25",
        "1990_09_25",
        "09/25/1990",
        "09-25-1990",
        "09.25.1990",
        "09_25_1990",
        " 1990-9-25 ",
    ],
)
def test_every_form_ghl_takes_reads_as_the_date(text: str) -> None:
    assert read_date(text) == date(1990, 9, 25)


@pytest.mark.parametrize(
    "text", ["1990-02-30", "25/09/1990", "1990-09/25", "September 25", "19900925", ""]
)
def test_a_text_that_names_no_date_is_refused_with_the_form_to_write(text: str) -> None:
    with pytest.raises(ValueError):
        read_date(text)
    problem = value_problem("date_of_birth", text)
    assert problem is not None and "write it as YYYY-MM-DD" in problem


@given(st.dates(min_value=date(1000, 1, 1)))
def test_year_first_and_month_first_spellings_are_one_date(day: date) -> None:
    us = f"{day.month:02d}/{day.day:02d}/{day.year}"
    assert equivalent_dates(day.isoformat(), us)
    assert not equivalent_dates(day.isoformat(), (day + timedelta(days=1)).isoformat())


def test_instants_read_with_their_offset_or_in_the_naive_zone() -> None:
    assert read_instant("2030-01-15T09:00:00Z") == datetime(2030, 1, 15, 9, tzinfo=UTC)
    plus_one = timezone(timedelta(hours=1))
    assert read_instant("2030-01-15 10:00:00+01:00") == datetime(2030, 1, 15, 10, tzinfo=plus_one)
    naive = read_instant("2030-01-15T09:00", naive_tz="America/New_York")
    assert naive.astimezone(UTC).hour == 14


@pytest.mark.parametrize("text", ["next friday", "20300115", "2030-13-01T00:00:00Z", "9am"])
def test_a_text_that_is_no_time_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError):
        read_instant(text)
    problem = value_problem("due_date", text)
    assert problem is not None and "2030-01-15T09:00:00Z" in problem


def test_other_fields_and_non_text_values_are_not_checked_here() -> None:
    assert value_problem("first_name", "next friday") is None
    assert value_problem("due_date", None) is None
    assert value_problem("start_time", "2030-01-15T10:00:00+00:00") is None
