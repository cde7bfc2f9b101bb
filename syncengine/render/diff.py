"""Field changes broken down to the smallest path that moved, shared by every format.

A change to ``custom_fields`` or ``tags`` is one ``FieldChange`` holding two whole
values; a reviewer wants to see only the key or tag that differs. Nested values (dicts
and lists) are compared with ``DeepDiff(before, after, ignore_order=True)``, whose tree
view yields one level per moved leaf: a changed key becomes ``custom_fields.plan:
"gold" → "silver"``. ``ignore_order`` matches how tags merge (as sets), so a list index
carries no meaning; a scalar list item that changed is shown as one item removed and
one added (``tags: - "lead"``, ``tags: + "vip"``). Anything else (scalars, a type
change at the top, a dict replaced by null) is one whole-value change.

Values are shown as compact JSON (strings quoted, ``null`` for None) and cut to a limit
with an ellipsis, so one huge note body cannot swamp a table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from deepdiff import DeepDiff
from deepdiff.model import DiffLevel

from syncengine.models import JSON, Action, FieldChange, Op

__all__ = [
    "ABSENT",
    "ChangeKind",
    "ValueChange",
    "describe",
    "diff_change",
    "diff_values",
    "format_value",
    "op_change_lines",
    "op_changes",
    "truncate",
]

ChangeKind = Literal["changed", "added", "removed"]

ABSENT = "(absent)"
"""How a value that is not there at all (a key added or removed) is shown."""

ARROW = "→"
DEFAULT_LIMIT = 80

# DeepDiff report types, mapped to what a reader sees. Types not listed here (set and
# attribute changes) cannot occur between JSON values.
_REPORT_KINDS: dict[str, ChangeKind] = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
}
_KIND_ORDER: dict[ChangeKind, int] = {"removed": 0, "changed": 1, "added": 2}


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One leaf that moved: ``path`` is dotted from the field name (``custom_fields.plan``).

    For ``added`` only ``after`` is meaningful and for ``removed`` only ``before``.
    """

    path: str
    kind: ChangeKind
    before: JSON = None
    after: JSON = None


def truncate(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with an ellipsis."""
    if limit < 1 or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def format_value(value: JSON, limit: int = DEFAULT_LIMIT) -> str:
    """Compact JSON for display: strings quoted so ``""`` and ``null`` stay distinct."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str
        )
    return truncate(text, limit)


def _path_text(field: str, parts: Sequence[object]) -> str:
    """Dotted path from the field; keys that would read ambiguously are quoted."""
    out = field
    for part in parts:
        if isinstance(part, int):
            continue  # list positions mean nothing under ignore_order
        key = str(part)
        if key and all(ch.isalnum() or ch in "_-" for ch in key):
            out += f".{key}"
        else:
            out += f"[{json.dumps(key, ensure_ascii=False)}]"
    return out


def _is_nested(value: JSON) -> bool:
    return isinstance(value, dict | list)


def _is_scalar(value: JSON) -> bool:
    return not _is_nested(value)


def _level_changes(field: str, level: DiffLevel, report_type: str) -> list[ValueChange]:
    kind = _REPORT_KINDS.get(report_type)
    parts = level.path(output_format="list")
    path = _path_text(field, parts)
    if kind is None:  # pragma: no cover - not reachable with JSON values
        return [ValueChange(path, "changed", level.t1, level.t2)]
    if kind == "added":
        return [ValueChange(path, "added", after=level.t2)]
    if kind == "removed":
        return [ValueChange(path, "removed", before=level.t1)]
    if parts and isinstance(parts[-1], int) and _is_scalar(level.t1) and _is_scalar(level.t2):
        # DeepDiff pairs up list items; for set-like lists that pairing is arbitrary.
        return [
            ValueChange(path, "removed", before=level.t1),
            ValueChange(path, "added", after=level.t2),
        ]
    return [ValueChange(path, "changed", level.t1, level.t2)]


def _sort_key(change: ValueChange) -> tuple[str, int, str]:
    shown = change.after if change.kind == "added" else change.before
    return (change.path, _KIND_ORDER[change.kind], format_value(shown, limit=0))


def diff_values(field: str, before: JSON, after: JSON) -> tuple[ValueChange, ...]:
    """The leaves that differ between two values of ``field``, in a stable order.

    Two dicts or two lists are compared leaf by leaf; anything else is one change
    (or none, if the values are equal).
    """
    both_dicts = isinstance(before, dict) and isinstance(after, dict)
    both_lists = isinstance(before, list) and isinstance(after, list)
    if not (both_dicts or both_lists):
        if before == after and type(before) is type(after):
            return ()
        return (ValueChange(field, "changed", before, after),)
    tree = DeepDiff(before, after, ignore_order=True, view="tree")
    changes: list[ValueChange] = []
    for report_type in sorted(tree):
        for level in tree[report_type]:
            changes.extend(_level_changes(field, level, report_type))
    return tuple(sorted(changes, key=_sort_key))


def diff_change(change: FieldChange) -> tuple[ValueChange, ...]:
    """``diff_values`` for one ``FieldChange`` of an op."""
    return diff_values(change.field, change.before, change.after)


def describe(change: ValueChange, limit: int = DEFAULT_LIMIT) -> str:
    """One line for a reader: ``path: before → after``, ``path: + item``, ``path: - item``."""
    if change.kind == "added":
        return f"{change.path}: + {format_value(change.after, limit)}"
    if change.kind == "removed":
        return f"{change.path}: - {format_value(change.before, limit)}"
    before = format_value(change.before, limit)
    after = format_value(change.after, limit)
    return f"{change.path}: {before} {ARROW} {after}"


def op_changes(op: Op) -> tuple[FieldChange, ...]:
    """The field changes an op makes.

    A create that carries its whole record in ``fields`` but no explicit ``changes`` sets
    every field from nothing, so it is shown as such (in ``fields`` order).
    """
    if op.changes or op.action is not Action.CREATE:
        return op.changes
    return tuple(FieldChange(name, None, value) for name, value in op.fields.items())


def op_change_lines(op: Op, limit: int = DEFAULT_LIMIT) -> list[str]:
    """Display lines for an op: ``field = value`` for a create, leaf diffs otherwise."""
    if op.action is Action.CREATE and not op.changes:
        return [f"{name} = {format_value(value, limit)}" for name, value in op.fields.items()]
    lines: list[str] = []
    for change in op_changes(op):
        lines.extend(describe(vc, limit) for vc in _nonempty(diff_change(change), change))
    return lines


def _nonempty(changes: Iterable[ValueChange], change: FieldChange) -> Iterable[ValueChange]:
    """An op that lists a field as changed is shown even if the values compare equal."""
    found = tuple(changes)
    return found or (ValueChange(change.field, "changed", change.before, change.after),)
