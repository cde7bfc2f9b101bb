"""The vocabulary of syncengine as plain, immutable data.

A *record* is one contact, note, task or appointment as one side holds it, with its
fields in canonical form (the names below, absent == null). A *plan* is what a run
would do: the *ops* for each side, the *conflicts* and the *duplicate groups*, and for
every field that moved a *decision* saying why. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeAlias

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
class DuplicateGroup:
    """Records on one side that share a match key: reported, never merged or multiplied."""

    side: Side
    entity: Entity
    key: str
    ids: tuple[str, ...]
    held_ids: tuple[str, ...]

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

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operations:
            key = f"{op.action.value}_{op.side}" if op.side != "both" else "link"
            counts[key] = counts.get(key, 0) + 1
        counts["conflicts"] = len(self.conflicts)
        counts["conflicts_held"] = sum(1 for c in self.conflicts if c.resolution == "held")
        counts["duplicate_groups"] = len(self.duplicates)
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


@dataclass(frozen=True, slots=True)
class RunReport:
    """A finished (or refused) run: its plan and what each op did."""

    run_id: int | None
    connection: str
    plan: Plan
    outcomes: tuple[OpOutcome, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    dry_run: bool = False
    calls: Mapping[str, int] = field(default_factory=dict)
    """External calls made per side (``{"a": 12, "b": 40}``), from the audit trail."""
    problems: tuple[str, ...] = ()
    """Records that could not be read, each with where it is and what is wrong."""
    refusal: str | None = None
    """A preview only: the safety guard's refusal a run of this plan would meet."""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status.value] = out.get(o.status.value, 0) + 1
        return out
