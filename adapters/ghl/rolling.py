"""Which contacts' children a run reads: the changed ones, plus a rolling window.

Notes, tasks and appointments cost one GHL request per contact (no bulk endpoint, issue
#173), so a run cannot read the children of every contact: at 10,000 contacts that is
20,000+ requests, a third of GHL's 200,000-request day and half an hour at 10 req/s.
A run reads the children of the contacts its own contact read found new or changed
(they must not wait), and a window of the others within a budget, continuing where the
previous run stopped; over successive runs the window sweeps every contact.

The order swept is ``(dateAdded in ms, id)``: it never changes as contacts are edited
(``dateUpdated`` would keep the busiest contacts in front), both GHL listings can page
through it (search sorted by ``dateAdded`` with ``searchAfter``, and the deprecated
``GET /contacts/`` with ``startAfter``/``startAfterId``), and a contact created later
joins at the end. The position is stored in each child entity's cursor.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Sequence
from typing import Any

Position = tuple[int, str]
"""(dateAdded in ms, contact id): a place in the order children are swept in."""

Fetch = Callable[[Position | None, int], Sequence[Position]]
"""Up to ``limit`` positions after the given one (None: from the start), in order."""

DEFAULT_REQUEST_BUDGET = 900
"""Child reads per run when ``request_budget`` is not set: 300 each for notes, tasks and
appointments. At a 15-minute schedule that is at most 86,400 of GHL's 200,000 daily
requests, and at 10 req/s a minute and a half per run; a location of 10,000 contacts
has the children of every contact read again within about 9 hours."""


def child_share(budget: int, child_entities: int) -> int:
    """Each child entity's part of the budget.

    An equal, fixed part, whichever child entities the connection syncs: the adapter
    cannot know which ones the engine will read after the one it is reading now, and a
    first-come split would let notes starve tasks."""
    return budget // max(1, child_entities)


def as_position(value: Any) -> Position | None:
    """A position from a cursor; anything else (an older cursor's bare id) starts over."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        return (value[0], value[1])
    return None


def take_window(
    fetch: Fetch,
    start: Position | None,
    count: int,
    *,
    exclude: Collection[str] = (),
    page_max: int = 500,
) -> tuple[list[str], Position | None]:
    """Up to ``count`` contact ids after ``start``, wrapping round to the beginning once.

    Ids in ``exclude`` (read anyway this run) are passed over but not counted. Returns
    the ids and the position of the last contact passed, where the next run goes on.
    """
    picked: list[str] = []
    seen: set[str] = set()
    last = after = start
    wrapped = start is None  # from the start, the end of the order is the end
    while len(picked) < count:
        limit = min(page_max, count - len(picked))
        page = fetch(after, limit)
        for key in page:
            if key[1] in seen:
                return picked, last  # round once: every contact was passed
            seen.add(key[1])
            last = key
            if key[1] not in exclude:
                picked.append(key[1])
                if len(picked) == count:
                    return picked, last
        if len(page) < limit:
            if wrapped:
                return picked, last
            wrapped, after = True, None
        else:
            after = last
    return picked, last


def from_order(order: Sequence[Position]) -> Fetch:
    """A ``Fetch`` over positions already read (a full contact read of this session)."""

    def fetch(after: Position | None, limit: int) -> Sequence[Position]:
        at = 0 if after is None else bisect.bisect_right(order, after)
        return order[at : at + limit]

    return fetch


__all__ = [
    "DEFAULT_REQUEST_BUDGET",
    "Fetch",
    "Position",
    "as_position",
    "child_share",
    "from_order",
    "take_window",
]
