"""Plans and run reports as JSON: the machine-readable contract of ``--format json``.

The plan shape is fixed (other tools parse it): ``connection``, ``operations`` (each
with ``id`` = the op's target id and ``counterpart_id`` = its source id, ``changes``
as ``{field: {"from", "to"}}``), ``conflicts``, ``duplicates``, ``decisions``,
``notes`` and ``summary``; ``link_changes`` (bookkeeping that writes no side) comes
last, so the contract's keys keep their positions; a preview (``plan --format json``)
adds ``problems`` and ``refusal`` after all of them. Output is deterministic: keys appear
in the contract's order, ops and conflicts in plan order, and dict keys inside record
values are sorted, so the same plan always yields the same bytes. Datetimes become
ISO 8601 strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from syncengine.models import (
    JSON,
    Conflict,
    Decision,
    DuplicateGroup,
    LinkChange,
    Op,
    OpOutcome,
    Plan,
    RunReport,
)

from ._common import duration_seconds, iso
from .diff import op_changes

__all__ = ["dumps", "plan_to_dict", "preview_to_dict", "report_to_dict"]


def _value(value: JSON) -> JSON:
    """A JSON value with sorted dict keys; tuples become lists, dates ISO strings."""
    if isinstance(value, Mapping):
        return {str(k): _value(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def op_to_dict(op: Op) -> dict[str, Any]:
    """One op in the contract shape; a create without explicit changes lists its fields."""
    return {
        "side": op.side,
        "action": op.action.value,
        "entity": op.entity,
        "id": op.target_id,
        "counterpart_id": op.source_id,
        "changes": {
            change.field: {"from": _value(change.before), "to": _value(change.after)}
            for change in op_changes(op)
        },
        "reason": op.reason,
        **({"replaces": {"a_id": op.replaces[0], "b_id": op.replaces[1]}} if op.replaces else {}),
    }


def conflict_to_dict(conflict: Conflict) -> dict[str, Any]:
    return {
        "key": conflict.key,
        "entity": conflict.entity,
        "a_id": conflict.a_id,
        "b_id": conflict.b_id,
        "field": conflict.field,
        "kind": conflict.kind.value,
        "base": _value(conflict.base),
        "a": _value(conflict.a_value),
        "b": _value(conflict.b_value),
        "a_updated_at": iso(conflict.a_updated_at),
        "b_updated_at": iso(conflict.b_updated_at),
        "resolution": conflict.resolution,
        "rule": conflict.rule,
    }


def duplicate_to_dict(group: DuplicateGroup) -> dict[str, Any]:
    return {
        "side": group.side,
        "entity": group.entity,
        "key": group.key,
        "ids": list(group.ids),
        "held_ids": list(group.held_ids),
        "told_apart_by": group.told_apart_by,
    }


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """Named like a conflict (``a``/``b`` for the two values) so readers learn one shape."""
    return {
        "entity": decision.entity,
        "a_id": decision.a_id,
        "b_id": decision.b_id,
        "field": decision.field,
        "base": _value(decision.base),
        "a": _value(decision.a_value),
        "b": _value(decision.b_value),
        "rule": decision.rule,
        "winner": decision.winner,
        "result": _value(decision.result),
    }


def link_change_to_dict(change: LinkChange) -> dict[str, Any]:
    return {
        "entity": change.entity,
        "a_id": change.a_id,
        "b_id": change.b_id,
        "change": change.change,
        "reason": change.reason,
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan in its JSON contract shape (see the module docstring)."""
    return {
        "connection": plan.connection,
        "operations": [op_to_dict(op) for op in plan.operations],
        "conflicts": [conflict_to_dict(c) for c in plan.conflicts],
        "duplicates": [duplicate_to_dict(g) for g in plan.duplicates],
        "decisions": [decision_to_dict(d) for d in plan.decisions],
        "notes": list(plan.notes),
        "summary": plan.summary(),
        "link_changes": [link_change_to_dict(lc) for lc in plan.link_changes],
    }


def outcome_to_dict(outcome: OpOutcome) -> dict[str, Any]:
    return {
        "op": op_to_dict(outcome.op),
        "status": outcome.status.value,
        "result_id": outcome.result_id,
        "error": outcome.error,
        "attempts": outcome.attempts,
    }


def report_to_dict(report: RunReport) -> dict[str, Any]:
    """A run: when, whether dry, what each op did, calls per side, problems, and the plan."""
    return {
        "run_id": report.run_id,
        "connection": report.connection,
        "dry_run": report.dry_run,
        "started_at": iso(report.started_at),
        "finished_at": iso(report.finished_at),
        "duration_seconds": duration_seconds(report),
        "counts": dict(sorted(report.counts().items())),
        "calls": {side: report.calls[side] for side in sorted(report.calls)},
        "problems": list(report.problems),
        "outcomes": [outcome_to_dict(o) for o in report.outcomes],
        "plan": plan_to_dict(report.plan),
        "refusal": report.refusal,
    }


def preview_to_dict(report: RunReport) -> dict[str, Any]:
    """What ``plan --format json`` prints: the plan contract, then (added after its keys)
    the records the preview could not read, which make its exit code 1, and the guard's
    refusal a run would meet (exit code 3), or null."""
    return {
        **plan_to_dict(report.plan),
        "problems": list(report.problems),
        "refusal": report.refusal,
    }


def dumps(obj: Plan | RunReport, *, indent: int | None = 2, preview: bool = False) -> str:
    """JSON text for a plan or a report (``preview``: a dry run's report in the plan's
    shape, see ``preview_to_dict``); non-ASCII kept as is, no trailing newline."""
    if isinstance(obj, RunReport):
        data = preview_to_dict(obj) if preview else report_to_dict(obj)
    else:
        data = plan_to_dict(obj)
    return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False, default=str)
