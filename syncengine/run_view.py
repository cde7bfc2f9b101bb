"""A past run as its journal recorded it (``syncengine history show RUN``), and every
write of one record across runs (``syncengine history record ID``).

The journal row of every op is written before the op is sent and settled after, so it
is the record of what a run did to each side: the change it sent, where, and what came
of it (the new record's id, or why the side refused). This reads those rows back as the
plan showed the ops, so "what did last night's run change in GHL?" has an answer long
after the run's own output is gone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from syncengine.models import Action, FieldChange, Op
from syncengine.render._common import NOTHING_CHANGED, run_summary
from syncengine.render.diff import op_change_lines


def journal_op(row: Mapping[str, Any]) -> Op:
    """The op a journal row holds, as the plan made it (for the plan's own wording)."""
    payload = json.loads(row["payload"] or "{}")
    changes = tuple(
        FieldChange(name, change.get("from"), change.get("to"))
        for name, change in (payload.get("changes") or {}).items()
    )
    return Op(
        row["side"],
        Action(row["action"]),
        row["entity"],
        row["a_id"],
        row["b_id"],
        changes=changes,
        fields=payload.get("fields") or {},
        parent_a_id=payload.get("parent_a_id"),
        parent_b_id=payload.get("parent_b_id"),
        reason=payload.get("reason") or "",
    )


def journal_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A journal row for JSON output: its payload decoded, not a string inside a string."""
    return {**row, "payload": json.loads(row["payload"] or "{}")}


def _record_text(op: Op, row: Mapping[str, Any]) -> str:
    if op.action is Action.CREATE:
        made = f" → {row['result_id']}" if row.get("result_id") else ""
        return f"(new){made} from {op.source_id}"
    if op.action is Action.LINK:
        return f"a {op.a_id} ↔ b {op.b_id}"
    return f"{op.target_id} (counterpart {op.source_id})"


def _outcome_text(row: Mapping[str, Any]) -> Text:
    status = str(row["status"])
    style = {"done": "green", "recovered": "green", "pending": "yellow"}.get(status, "red")
    text = Text(status, style=style)
    if row.get("attempts", 0) > 1:
        text.append(f" after {row['attempts']} attempts")
    if row.get("error"):
        text.append(f"\n{row['error']}")
    return text


def run_view(
    run: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], total: int
) -> RenderableType:
    """The run ``run`` (as ``Store.run`` returns it) and the first of its ``total``
    journal rows."""
    finished = run.get("finished_at")
    took = f" · took {(finished - run['started_at']).total_seconds():.3f} s" if finished else ""
    title = Text.assemble(
        ("run ", "bold"),
        (str(run["id"]), "bold"),
        f" · {run['connection']} · ",
        (str(run["status"]), "bold"),
        f" · started {run['started_at']:%Y-%m-%d %H:%M:%S}{took}",
    )
    parts: list[RenderableType] = [title]
    summary = run_summary(run.get("summary") or {})
    if summary or run["status"] == "ok":
        parts.append(Text(summary or NOTHING_CHANGED))
    if run.get("error"):
        parts.append(Text(f"error: {run['error']}", style="red"))
    unreadable = (run.get("summary") or {}).get("unreadable") or []
    for problem in unreadable:
        parts.append(Text(f"unreadable: {problem}"))
    if not rows:
        none = "nothing was sent to either side"
        parts.append(Text(none if run["status"] != "running" else f"{none} yet"))
        return Group(*parts)
    table = _ops_table(f"operations — {total}", ("#",))
    for row in rows:
        table.add_row(str(row["seq"]), *_op_cells(row))
    parts.append(table)
    if total > len(rows):
        parts.append(Text(f"... and {total - len(rows)} more; `--format json` lists every one"))
    return Group(*parts)


def record_view(record_id: str, rows: Sequence[Mapping[str, Any]]) -> RenderableType:
    """Every journaled write of one record, newest first (``history record ID``)."""
    if not rows:
        return Text(
            f"no run wrote {record_id} or made it (within the kept history); the id is "
            "the record's on either side, as plan and history show print it"
        )
    table = _ops_table(f"writes of {record_id} — newest first", ("run", "sent"))
    for row in rows:
        table.add_row(str(row["run_id"]), f"{row['started_at']:%Y-%m-%d %H:%M:%S}", *_op_cells(row))
    return table


def _ops_table(title: str, first: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in (*first, "side", "action", "entity", "record", "changes", "outcome"):
        table.add_column(col, overflow="fold")
    return table


def _op_cells(row: Mapping[str, Any]) -> list[RenderableType]:
    """A journal row's op as the cells both tables share."""
    op = journal_op(row)
    return [
        op.side,
        op.action.value,
        op.entity,
        _record_text(op, row),
        "\n".join(op_change_lines(op)),
        _outcome_text(row),
    ]


__all__ = ["journal_dict", "journal_op", "record_view", "run_view"]
