"""Facts every format shows the same way: grouping, ordering, commands, headline words.

Kept apart from the formats so that text, Markdown and HTML can never disagree on what
a conflict's resolve command is or in which order sides and conflicts appear.
"""

from __future__ import annotations

import shlex
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncengine.merge import HELD_AGAIN
from syncengine.models import (
    JSON,
    SIDES,
    Conflict,
    ConflictKind,
    DuplicateGroup,
    LinkChange,
    Op,
    OpOutcome,
    OpSide,
    OpStatus,
    Plan,
    RunReport,
    Side,
    other,
)

from .diff import DEFAULT_LIMIT, format_value

SIDE_ORDER: tuple[OpSide, ...] = ("a", "b", "both")
SIDE_TITLES: Mapping[OpSide, str] = {
    "a": "Side a",
    "b": "Side b",
    "both": "Links (both sides)",
}
DUPLICATE_ADVICE = (
    "merge or re-key these records on side {side}; syncengine never merges automatically"
)
SHARED_PHONE_ADVICE = (
    "their emails all differ: if they are different people sharing a phone, match by "
    'email alone (match = ["email"]); if one person, merge them on side {side}'
)


def duplicate_advice(group: DuplicateGroup) -> str:
    """What the user can do about a group: the one way out a group by a shared phone
    has, if its members are different people, is to stop matching by phone."""
    if group.told_apart_by == "email":
        return SHARED_PHONE_ADVICE.format(side=group.side)
    return DUPLICATE_ADVICE.format(side=group.side)


def held_by_duplicates(plan: Plan) -> int:
    """How many records the plan holds back in duplicate groups."""
    return len({(g.side, g.entity, rid) for g in plan.duplicates for rid in g.held_ids})


DELETED = "(deleted)"


def resolve_target(conflict: Conflict, conflict_ids: Mapping[str, int] | None) -> str:
    """The store id if known (what the CLI prefers), else the stable conflict key."""
    if conflict_ids is not None and conflict.key in conflict_ids:
        return str(conflict_ids[conflict.key])
    return conflict.key


def resolve_command(
    conflict: Conflict, keep: Side, conflict_ids: Mapping[str, int] | None = None
) -> str:
    """A command the reviewer can paste as is; the key is shell-quoted since ids are data."""
    target = shlex.quote(resolve_target(conflict, conflict_ids))
    return f"syncengine resolve {target} --keep {keep}"


def held_conflicts(plan: Plan) -> list[Conflict]:
    return [c for c in plan.conflicts if c.resolution == "held"]


RECORDED_INTRO = "To resolve, run one command per conflict:"
MANY_AT_ONCE = (
    "Or several at once: `syncengine resolve ID ID ... --keep a`, or every held one on a "
    "field: `syncengine resolve --all --field FIELD --keep b`"
)
PENDING_INTRO = (
    "Not held yet: `syncengine run` holds these for review (and writes nothing for these "
    "fields); after it has run, resolve each with one command:"
)
RECORDED_ONE = "Resolve with one of:"
PENDING_ONE = (
    "Not held yet: `syncengine run` holds it for review; after it has run, resolve with one of:"
)


def is_recorded(
    conflict: Conflict, conflict_ids: Mapping[str, int] | None, *, preview: bool
) -> bool:
    """Whether ``syncengine resolve`` can take this conflict now.

    A real run has recorded every conflict it held; a preview records nothing, so only
    the conflicts an earlier run already holds (their store ids in ``conflict_ids``) can
    be resolved before the next run.
    """
    return not preview or (conflict_ids is not None and conflict.key in conflict_ids)


MAX_LISTED = 200
"""Items a terminal listing shows per section; files and JSON list everything."""


def more_text(hidden: int) -> str:
    """The line that stands for the items a capped listing left out."""
    return f"... and {hidden} more; `--format json` or `syncengine report` lists every one"


def resolved_conflicts(plan: Plan) -> list[Conflict]:
    return [c for c in plan.conflicts if c.resolution != "held"]


def ops_by_side(plan: Plan) -> list[tuple[OpSide, list[tuple[int, Op]]]]:
    """Ops grouped a, b, links; each keeps its position in the plan (1-based)."""
    groups: dict[OpSide, list[tuple[int, Op]]] = {side: [] for side in SIDE_ORDER}
    for number, op in enumerate(plan.operations, start=1):
        groups[op.side].append((number, op))
    return [(side, groups[side]) for side in SIDE_ORDER if groups[side]]


_DELETE_KINDS = frozenset({ConflictKind.DELETE_VS_EDIT, ConflictKind.DELETE})
_KIND_TEXT: Mapping[ConflictKind, str] = {
    ConflictKind.FIELD: "field",
    ConflictKind.DELETE_VS_EDIT: "delete vs edit",
    ConflictKind.DELETE: "delete held for review",
}


def conflict_value(conflict: Conflict, side: Side, limit: int = DEFAULT_LIMIT) -> str:
    """One side's value; in a conflict about a delete, the deleting side shows as deleted."""
    value: JSON = conflict.a_value if side == "a" else conflict.b_value
    if conflict.kind in _DELETE_KINDS and value is None:
        return DELETED
    return format_value(value, limit)


def keep_comment(deleting: bool, value: JSON, side: Side, shown: str) -> str:
    """What ``resolve --keep SIDE`` does, said beside the command: the value it keeps
    (``shown``), or, in a conflict about a delete, which of delete and record wins."""
    if not deleting:
        return f"keep {shown}"
    if value is None:
        return "the delete: the record goes on both sides"
    return f"the record: it is made again on {other(side)}"


def keep_hint(conflict: Conflict, side: Side, limit: int = DEFAULT_LIMIT) -> str:
    value: JSON = conflict.a_value if side == "a" else conflict.b_value
    deleting = conflict.kind in _DELETE_KINDS
    return keep_comment(deleting, value, side, conflict_value(conflict, side, limit))


def conflict_kind_text(conflict: Conflict) -> str:
    return _KIND_TEXT.get(conflict.kind, conflict.kind.value.replace("_", " "))


HELD = "held for review"


def resolution_text(conflict: Conflict) -> str:
    if conflict.resolution == "held":
        # Held again after a resolution: why, or the reviewer sees no change of theirs.
        return conflict.rule if conflict.rule.startswith(HELD_AGAIN) else HELD
    return (
        f"{conflict.resolution} wins ({conflict.rule})"
        if conflict.rule
        else f"{conflict.resolution} wins"
    )


def link_change_text(change: LinkChange) -> str:
    """``forget contact a1 ↔ b1: both deleted`` in words a reviewer knows."""
    text = f"{change.change} {change.entity} link a {change.a_id} ↔ b {change.b_id}"
    return f"{text}: {change.reason}" if change.reason else text


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def duration_seconds(report: RunReport) -> float | None:
    if report.started_at is None or report.finished_at is None:
        return None
    return round((report.finished_at - report.started_at).total_seconds(), 3)


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


@dataclass(frozen=True, slots=True)
class Headline:
    """The counts every format leads with, taken from ``Plan.summary``."""

    operations: int
    creates: int
    updates: int
    deletes: int
    links: int
    conflicts: int
    held: int
    duplicate_groups: int

    @classmethod
    def of(cls, plan: Plan) -> Headline:
        summary = plan.summary()

        def total(action: str) -> int:
            return sum(summary.get(f"{action}_{side}", 0) for side in ("a", "b"))

        return cls(
            operations=summary["operations"],
            creates=total("create"),
            updates=total("update"),
            deletes=total("delete"),
            links=summary.get("link", 0),
            conflicts=summary["conflicts"],
            held=summary["conflicts_held"],
            duplicate_groups=summary["duplicate_groups"],
        )

    def sentence(self) -> str:
        """``3 operations (1 create, 1 update, 1 link), 2 conflicts (1 held), ...``."""
        if self.operations:
            parts = [
                plural(n, word)
                for n, word in (
                    (self.creates, "create"),
                    (self.updates, "update"),
                    (self.deletes, "delete"),
                    (self.links, "link"),
                )
                if n
            ]
            ops = f"{plural(self.operations, 'operation')} ({', '.join(parts)})"
        else:
            ops = "no operations"
        conflicts = plural(self.conflicts, "conflict")
        if self.conflicts:
            conflicts += f" ({self.held} held)"
        groups = plural(self.duplicate_groups, "duplicate group")
        return f"{ops}, {conflicts}, {groups}"


def outcomes_for_ops(report: RunReport) -> list[OpOutcome | None]:
    """Each plan op's outcome (None if it never ran), matched by equality, not position.

    Ops hold dicts and so cannot be hashed; they are bucketed by their identity fields
    and then compared, so matching stays linear for a normal report. Every create of a
    first sync shares one bucket (no id on its own side yet), in plan order: its head is
    the match, taken in O(1) (a list's ``pop(0)`` made 100k creates quadratic).
    """
    buckets: dict[tuple[str, str, str, str | None, str | None], deque[OpOutcome]] = {}
    for outcome in report.outcomes:
        buckets.setdefault(_op_identity(outcome.op), deque()).append(outcome)
    found: list[OpOutcome | None] = []
    for op in report.plan.operations:
        bucket = buckets.get(_op_identity(op))
        if not bucket:
            found.append(None)
        elif bucket[0].op is op or bucket[0].op == op:
            found.append(bucket.popleft())
        else:
            match = next((i for i, o in enumerate(bucket) if o.op == op), None)
            found.append(None if match is None else bucket[match])
            if match is not None:
                del bucket[match]
    return found


def outcome_column(report: RunReport) -> list[OpOutcome | None] | None:
    """Each op's outcome for a run's tables; None for a preview, where nothing ran and a
    column would say "not run" on every row."""
    return None if report.dry_run else outcomes_for_ops(report)


def new_id(outcome: OpOutcome) -> str | None:
    """The id a write gave its record, shown only where it is news: a create's new id.
    An update or delete returns the id it was sent to, which the row names already."""
    if outcome.status is not OpStatus.DONE or outcome.result_id == outcome.op.target_id:
        return None
    return outcome.result_id


def _op_identity(op: Op) -> tuple[str, str, str, str | None, str | None]:
    return (op.side, op.action.value, op.entity, op.a_id, op.b_id)


def kept_apart_text(plan: Plan) -> str:
    """Why an empty plan with changes kept where they were made is no agreement."""
    n = plan.kept_apart
    return (
        f"{plural(n, 'change')} {'stays' if n == 1 else 'stay'} on the side that made "
        f"{'it' if n == 1 else 'them'}, by design (see Notes)."
    )


NOTHING_CHANGED = "both sides agreed"
"""What a run's line says when it had nothing to write and nothing held."""


def run_summary(summary: Mapping[str, Any]) -> str:
    """A run's counts (``RunReport.summary``, as stored) as one line: what became of its
    ops, what they were, then conflicts, duplicate groups and problems ("5 done · 2
    creates on b, 1 link · ...")."""
    count = {k: v for k, v in summary.items() if isinstance(v, int) and v}
    outcomes = ", ".join(
        f"{v} {k.removeprefix('outcome_')}" for k, v in count.items() if k.startswith("outcome_")
    )
    ops = [
        plural(count[f"{action}_{side}"], action) + f" on {side}"
        for action in ("create", "update", "delete")
        for side in SIDES
        if f"{action}_{side}" in count
    ]
    if "link" in count:
        ops.append(plural(count["link"], "link"))
    rest = []
    if "conflicts" in count:
        held = count.get("conflicts_held", 0)
        rest.append(plural(count["conflicts"], "conflict") + (f" ({held} held)" if held else ""))
    if "duplicate_groups" in count:
        rest.append(plural(count["duplicate_groups"], "duplicate group"))
    if "problems" in count:
        rest.append(plural(count["problems"], "problem"))
    if "kept_apart" in count:
        rest.append(f"{plural(count['kept_apart'], 'change')} kept where made")
    return " · ".join(part for part in (outcomes, ", ".join(ops), *rest) if part)
