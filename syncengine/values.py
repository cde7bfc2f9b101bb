"""The typed values of the canonical model: dates and instants held as text.

A side hands these fields over as strings, and a string that is not a date reaches the
side that must parse it (GHL takes ``dueDate`` only as an ISO-8601 time) as a crash or
a refusal there. So a file side checks them when it reads the row, and names the row
and the fix; what passes is kept as written (values are never rewritten).

A date of birth may be written in any of the forms GHL takes (``1990-09-25``,
``09/25/1990``, ``1990.09.25``, ...: year first, or month first, with ``-``, ``/``, ``.``
or ``_``), and two spellings of one date are the same value (``equivalent_dates``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from syncengine.models import JSON

DATE_FIELDS = frozenset({"date_of_birth"})
INSTANT_FIELDS = frozenset({"due_date", "start_time", "end_time"})
TYPED_FIELDS = tuple(sorted(DATE_FIELDS | INSTANT_FIELDS))
"""Every field that holds a date or a time, in a fixed order (the first problem wins)."""

_YEAR_FIRST = re.compile(r"(\d{4})([-/._])(\d{1,2})\2(\d{1,2})")
_MONTH_FIRST = re.compile(r"(\d{1,2})([-/._])(\d{1,2})\2(\d{4})")


def read_date(text: str) -> date:
    """The date a date-of-birth text names; ``ValueError`` if it names none."""
    text = text.strip()
    if m := _YEAR_FIRST.fullmatch(text):
        year, month, day = int(m[1]), int(m[3]), int(m[4])
    elif m := _MONTH_FIRST.fullmatch(text):
        month, day, year = int(m[1]), int(m[3]), int(m[4])
    else:
        raise ValueError(f"not a date: {text!r}")
    return date(year, month, day)


def read_instant(text: str, *, naive_tz: str = "UTC") -> datetime:
    """An ISO-8601 time (``Z`` or an offset; without one it is read in ``naive_tz``);
    ``ValueError`` if the text is not one."""
    text = text.strip().replace("Z", "+00:00")
    if len(text) > 10 and text[10] == " ":
        text = f"{text[:10]}T{text[11:]}"
    if len(text) < 10 or not text[:4].isdigit() or text[4] != "-":
        raise ValueError(f"not an ISO-8601 time: {text!r}")  # fromisoformat takes 20300115
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(naive_tz))


def value_problem(name: str, value: JSON) -> str | None:
    """What is wrong with a field's value, as the end of "row N ...", or None."""
    if not isinstance(value, str):
        return None  # types are each reader's own check
    if name in DATE_FIELDS:
        try:
            read_date(value)
        except ValueError:
            return (
                f"has {name} {value!r}, which is not a date; write it as YYYY-MM-DD "
                "(or MM/DD/YYYY), e.g. 1990-09-25"
            )
    elif name in INSTANT_FIELDS:
        try:
            read_instant(value)
        except ValueError:
            return (
                f"has {name} {value!r}, which is not an ISO-8601 time; write it like "
                "2030-01-15T09:00:00Z (or with an offset, +01:00)"
            )
    return None


BOOL_FIELDS = frozenset({"completed"})
LIST_FIELDS = frozenset({"tags"})
OBJECT_FIELDS = frozenset({"custom_fields"})
"""The canonical fields that do not hold text; every other field holds a string."""


def type_problem(name: str, value: JSON) -> str | None:
    """What a value of the wrong type for field ``name`` is told ("takes text"), or None.

    A value a side would refuse or misread (a list as a first name) is caught where a
    user gives it, before any run carries it to both sides. ``custom_fields.KEY`` takes
    what a custom field holds: text, a number, true or false, or a list of options."""
    if value is None:
        return None  # the field is cleared
    head, _, key = name.partition(".")
    if head in OBJECT_FIELDS:
        if key:
            return (
                "takes text, a number or a list, not an object" if isinstance(value, dict) else None
            )
        return None if isinstance(value, dict) else "takes an object of custom fields by key"
    if head in LIST_FIELDS:
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return None
        return 'takes a list of strings, e.g. ["vip", "lead"]'
    if head in BOOL_FIELDS:
        return None if isinstance(value, bool) else "takes true or false"
    return None if isinstance(value, str) else "takes text (a JSON string)"


def fields_problem(fields: Mapping[str, JSON]) -> str | None:
    """The first problem of a record's dates and times (as ``value_problem`` words it),
    or None: what a side that reads text checks each record with."""
    for name in TYPED_FIELDS:
        if name in fields and (problem := value_problem(name, fields[name])):
            return problem
    return None


def equivalent_dates(x: str, y: str) -> bool:
    """Whether two date-of-birth texts name one date (``1990-09-25``, ``09/25/1990``)."""
    try:
        return read_date(x) == read_date(y)
    except ValueError:
        return False


__all__ = [
    "BOOL_FIELDS",
    "DATE_FIELDS",
    "INSTANT_FIELDS",
    "LIST_FIELDS",
    "OBJECT_FIELDS",
    "TYPED_FIELDS",
    "equivalent_dates",
    "fields_problem",
    "read_date",
    "read_instant",
    "type_problem",
    "value_problem",
]
