"""The vocabulary of syncengine as plain, immutable data.

A *record* is one contact, note, task or appointment as one side holds it, with its
fields in canonical form (the names below, absent == null). A *plan* is what a run
would do: the *ops* for each side, the *conflicts* and the *duplicate groups*, and for
every field that moved a *decision* saying why. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeAlias, overload

JSON: TypeAlias = Any
"""A JSON value: str, int, float, bool, None, list or dict of JSON."""

Side = Literal["a", "b"]
SIDES: tuple[Side, Side] = ("a", "b")

Entity = Literal["contact", "note", "task", "appointment"]
ENTITIES: tuple[Entity, ...] = ("contact", "note", "task", "appointment")
CHILD_ENTITIES: tuple[Entity, ...] = ("note", "task", "appointment")

CONTACT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "address1",
    "city",
    "state",
    "postal_code",
    "country",
    "website",
    "source",
    "date_of_birth",
    "timezone",
    "tags",
    "custom_fields",
)
NOTE_FIELDS: tuple[str, ...] = ("title", "body")
TASK_FIELDS: tuple[str, ...] = ("title", "body", "due_date", "completed", "assigned_to")
APPOINTMENT_FIELDS: tuple[str, ...] = (
    "title",
    "start_time",
    "end_time",
    "status",
    "calendar_id",
    "address",
    "notes",
)
FIELDS: Mapping[Entity, tuple[str, ...]] = {
    "contact": CONTACT_FIELDS,
    "note": NOTE_FIELDS,
    "task": TASK_FIELDS,
    "appointment": APPOINTMENT_FIELDS,
}
SET_FIELDS: frozenset[str] = frozenset({"tags"})
"""Fields merged as sets: adds and removes from both sides both apply."""
MAP_FIELDS: frozenset[str] = frozenset({"custom_fields"})
"""Fields merged per key, each key as if it were its own field."""


def other(side: Side) -> Side:
    return "b" if side == "a" else "a"


@dataclass(frozen=True, slots=True)
class Record:
    """One record as a side holds it. ``parent_id`` is the contact id on the same side."""

    entity: Entity
    id: str
    fields: Mapping[str, JSON]
    updated_at: datetime | None = None
    parent_id: str | None = None
    version: str | None = None
    """The side's own version tag (etag, revision), if it has one. Equal versions let a
    read skip hashing an unchanged record; a changed version alone is not a change."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: JSON
    after: JSON


class Action(StrEnum):
    LINK = "link"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


ACTION_ORDER: Mapping[Action, int] = {
    Action.LINK: 0,
    Action.CREATE: 1,
    Action.UPDATE: 2,
    Action.DELETE: 3,
}

OpSide = Literal["a", "b", "both"]


@dataclass(frozen=True, slots=True)
class Op:
    """One write. ``side`` is where it lands (``both`` for a link, which writes no side).

    ``a_id``/``b_id`` name the pair; for a create the id on ``side`` is unknown until the
    side returns it. ``fields`` is the whole record for a create. For a child create,
    ``parent_a_id``/``parent_b_id`` name its contact on each side (one may be unknown
    until the contact's own create has run). A link that ``replaces`` a pair (its
    ``(a_id, b_id)``) is a relink: the pair's record on one side is gone and was made
    again there; once the link's writes land, the new record takes the gone one's place.
    """

    side: OpSide
    action: Action
    entity: Entity
    a_id: str | None
    b_id: str | None
    changes: tuple[FieldChange, ...] = ()
    fields: Mapping[str, JSON] = field(default_factory=dict)
    parent_a_id: str | None = None
    parent_b_id: str | None = None
    reason: str = ""
    replaces: tuple[str, str] | None = None

    @property
    def target_id(self) -> str | None:
        """The id of the record this op writes, on its own side."""
        if self.side == "a":
            return self.a_id
        if self.side == "b":
            return self.b_id
        return self.a_id

    @property
    def source_id(self) -> str | None:
        """The id of the counterpart on the other side."""
        if self.side == "a":
            return self.b_id
        if self.side == "b":
            return self.a_id
        return self.b_id


class ConflictKind(StrEnum):
    FIELD = "field"
    DELETE_VS_EDIT = "delete_vs_edit"
    DELETE = "delete"
    """A delete held for review because the delete policy is ``manual``."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two sides changed one thing differently. ``resolution`` is a, b, or held."""

    entity: Entity
    a_id: str
    b_id: str
    field: str
    kind: ConflictKind
    base: JSON
    a_value: JSON
    b_value: JSON
    a_updated_at: datetime | None
    b_updated_at: datetime | None
    resolution: Literal["a", "b", "held"]
    rule: str

    @property
    def key(self) -> str:
        """A stable identity: the same conflict in two runs has the same key."""
        return f"{self.entity}:{self.a_id}:{self.b_id}:{self.field}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """A user's decision on a held conflict, with what each side held when it was made.

    It is carried out only while the side it overrules still holds what the user saw:
    an edit made there since was never reviewed, and overwriting it would lose it. Then
    the conflict is held again, with the new value, for a fresh decision. The side it
    keeps may have moved on: that is the kept side's own edit, and it goes through."""

    keep: Literal["a", "b", "value"]
    value: JSON = None
    """The value to set, for ``keep == "value"``."""
    a_value: JSON = None
    b_value: JSON = None
    """What each side held when the conflict was last shown (its stored row)."""

    def overruled_since(self, a_now: JSON, b_now: JSON) -> Side | None:
        """The side it overrules that changed since it was made, if any."""
        sides: tuple[tuple[Side, JSON, JSON], ...] = (
            ("a", a_now, self.a_value),
            ("b", b_now, self.b_value),
        )
        for side, now, seen in sides:
            agrees = self.keep == "value" and now == self.value
            if self.keep != side and now != seen and not agrees:
                return side
        return None


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Records on one side that share a match key: reported, never merged or multiplied."""

    side: Side
    entity: Entity
    key: str
    ids: tuple[str, ...]
    held_ids: tuple[str, ...]
    told_apart_by: str | None = None
    """A stronger key kind under which every member holds a key of its own (``"email"``
    for a group by phone whose emails all differ): the members may be different people
    sharing a phone (an office line), which only the user can say."""

    @property
    def group_key(self) -> str:
        return f"{self.side}:{self.entity}:{self.key}"


@dataclass(frozen=True, slots=True)
class Decision:
    """Why one field of one pair ends as it does: base, both values, rule, winner.

    ``base`` and ``result`` are one value where both sides agree, else
    ``{"a": ..., "b": ...}`` (as ``Conflict.base``): the bases can differ in spelling,
    and where no value moves (a held conflict, a one-way field, a side that cannot
    write it) each side ends with its own.
    """

    entity: Entity
    a_id: str | None
    b_id: str | None
    field: str
    base: JSON
    a_value: JSON
    b_value: JSON
    rule: str
    winner: Literal["a", "b", "merged", "none"]
    result: JSON


@dataclass(frozen=True, slots=True)
class LinkChange:
    """Bookkeeping with no write: drop a link (both gone) or tombstone it (delete ignored).

    A tombstoned link keeps the survivor linked to nothing, so it is neither deleted
    nor created again on the side that deleted it.
    """

    entity: Entity
    a_id: str
    b_id: str
    change: Literal["forget", "tombstone"]
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run does, deterministic in order. Renderers and apply read only this."""

    connection: str
    operations: tuple[Op, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    duplicates: tuple[DuplicateGroup, ...] = ()
    decisions: tuple[Decision, ...] = ()
    notes: tuple[str, ...] = ()
    link_changes: tuple[LinkChange, ...] = ()
    kept_apart: int = 0
    """Changes this plan leaves on the side that made them, by design (a one-way field,
    a side that cannot create or delete): an empty plan with some is no agreement."""

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operations:
            key = f"{op.action.value}_{op.side}" if op.side != "both" else "link"
            counts[key] = counts.get(key, 0) + 1
        counts["conflicts"] = len(self.conflicts)
        counts["conflicts_held"] = sum(1 for c in self.conflicts if c.resolution == "held")
        counts["duplicate_groups"] = len(self.duplicates)
        counts["kept_apart"] = self.kept_apart
        counts["operations"] = len(self.operations)
        return dict(sorted(counts.items()))

    @property
    def is_empty(self) -> bool:
        return not self.operations and not any(c.resolution == "held" for c in self.conflicts)


class OpStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class OpOutcome:
    """What happened to one op when the plan was applied."""

    op: Op
    status: OpStatus
    result_id: str | None = None
    error: str | None = None
    attempts: int = 1


_STATUSES: tuple[OpStatus, ...] = tuple(OpStatus)
_CODE: dict[OpStatus, int] = {status: code for code, status in enumerate(_STATUSES)}


class Outcomes(Sequence[OpOutcome]):
    """Each applied op's outcome, in the order they were added, kept as columns.

    A first sync of a million creates ended with a million ``OpOutcome`` objects alive
    until the report was made (80 bytes each with the list's pointer), where almost all
    say only "done, here is the new id". As columns (the op, a status byte, the result
    id, and the rare error or retry count aside) one costs 17 bytes; an ``OpOutcome`` is
    built only when one is asked for.
    """

    __slots__ = ("_ops", "_rest", "_result_ids", "_status")

    def __init__(self, outcomes: Iterable[OpOutcome] = ()) -> None:
        self._ops: list[Op] = []
        self._status = bytearray()
        self._result_ids: list[str | None] = []
        self._rest: dict[int, tuple[str | None, int]] = {}
        """Position -> (error, attempts) of the outcomes that have either."""
        self.extend(outcomes)

    def append(self, outcome: OpOutcome) -> None:
        if outcome.error is not None or outcome.attempts != 1:
            self._rest[len(self._ops)] = (outcome.error, outcome.attempts)
        self._ops.append(outcome.op)
        self._status.append(_CODE[outcome.status])
        self._result_ids.append(outcome.result_id)

    def extend(self, outcomes: Iterable[OpOutcome]) -> None:
        for outcome in outcomes:
            self.append(outcome)

    def __len__(self) -> int:
        return len(self._ops)

    @overload
    def __getitem__(self, index: int) -> OpOutcome: ...

    @overload
    def __getitem__(self, index: slice) -> list[OpOutcome]: ...

    def __getitem__(self, index: int | slice) -> OpOutcome | list[OpOutcome]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self._ops)))]
        if index < 0:
            index += len(self._ops)
        if not 0 <= index < len(self._ops):
            raise IndexError("outcome index out of range")
        return self._at(index)

    def __iter__(self) -> Iterator[OpOutcome]:
        return (self._at(i) for i in range(len(self._ops)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(x == y for x, y in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Outcomes({list(self)!r})"

    def counts(self) -> dict[str, int]:
        """How many ops ended in each status (by status value), without building any."""
        return {
            _STATUSES[code].value: n
            for code in range(len(_STATUSES))
            if (n := self._status.count(code))
        }

    def any_failed(self) -> bool:
        """Whether an op failed or was quarantined (what makes a run exit 1)."""
        return any(self._status.count(_CODE[s]) for s in (OpStatus.FAILED, OpStatus.QUARANTINED))

    def _at(self, i: int) -> OpOutcome:
        error, attempts = self._rest.get(i, (None, 1))
        return OpOutcome(
            self._ops[i], _STATUSES[self._status[i]], self._result_ids[i], error, attempts
        )


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished (or refused) run: its plan and what each op did."""

    run_id: int | None
    connection: str
    plan: Plan
    outcomes: Outcomes = field(default_factory=Outcomes)
    """Each op's outcome (any sequence of them given is kept as ``Outcomes``)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    dry_run: bool = False
    calls: Mapping[str, int] = field(default_factory=dict)
    """External calls made per side (``{"a": 12, "b": 40}``), from the audit trail."""
    problems: tuple[str, ...] = ()
    """Records that could not be read, each with where it is and what is wrong."""
    refusal: str | None = None
    """A preview only: the safety guard's refusal a run of this plan would meet."""

    def __post_init__(self) -> None:
        if not isinstance(self.outcomes, Outcomes):
            object.__setattr__(self, "outcomes", Outcomes(self.outcomes))

    def counts(self) -> dict[str, int]:
        return self.outcomes.counts()

    def summary(self) -> dict[str, int]:
        """What the run holds in numbers, as its row in the store keeps them: the plan's
        counts, each outcome's (``outcome_done``), and how many problems it met."""
        return {
            **self.plan.summary(),
            **{f"outcome_{k}": v for k, v in self.counts().items()},
            "problems": len(self.problems),
        }
