"""One stored conflict as a reviewer reads it (``syncengine conflicts show``).

The store keeps a conflict as a row; this says what the row means: which records, what
each side holds against the base, the rule that held or decided it, and the commands
that settle an open one (the same commands the plan and the reports print). A
resolve command for a conflict that is no longer open would only fail, so a settled
one says what became of it instead.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from syncengine.render._common import DELETED, keep_comment

KINDS = {
    "field": "both sides changed this field since the last sync",
    "delete_vs_edit": "one side deleted the record, the other edited it",
    "delete": "one side deleted the record; deletes are held for review",
}


def value_text(value: Any) -> str:
    """A value in full, as JSON (strings quoted, so "" and null stay apart)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=None, default=str)


def conflict_view(row: Mapping[str, Any], ref: str) -> RenderableType:
    """The conflict ``row`` (as ``Store.conflict`` returns it), found by ``ref``."""
    title = Text.assemble(
        ("conflict ", "bold"),
        (str(row["id"]), "bold"),
        f" · {row['connection']} · {row['entity']} {row['field']} · ",
        (row["status"], "bold yellow" if row["status"] == "open" else "bold"),
    )
    deleting = row["kind"] != "field"
    facts: list[tuple[str, str]] = [
        ("records", f"a {row['a_id']} · b {row['b_id']}"),
        ("kind", f"{row['kind']}: {KINDS[row['kind']]}" if row["kind"] in KINDS else row["kind"]),
        ("base", value_text(row["base"])),
    ]
    for side in ("a", "b"):
        value = row[f"{side}_value"]
        facts.append((side, DELETED if deleting and value is None else value_text(value)))
    if row.get("rule"):
        facts.append(("rule", str(row["rule"])))
    # The row is refreshed by every run that holds it again: run_id is the latest.
    if row.get("created_at"):
        facts.append(("since", f"{row['created_at']:%Y-%m-%d %H:%M:%S}"))
    if row.get("run_id") is not None:
        facts.append(("last run", str(row["run_id"])))
    lines = Text()
    for label, text in facts:
        lines.append(f"  {label:<10}", style="dim")
        lines.append(f"{text}\n")
    lines.rstrip()
    return Group(title, lines, Text(_next_step(row, ref)))


def _next_step(row: Mapping[str, Any], ref: str) -> str:
    if row["status"] == "open":
        target = shlex.quote(ref)
        lines = ["resolve with one of:"]
        for side in ("a", "b"):
            value = row[f"{side}_value"]
            keeps = keep_comment(row["kind"] != "field", value, side, value_text(value))
            lines.append(f"  syncengine resolve {target} --keep {side}  # {keeps}")
        if row["kind"] == "field":
            lines.append(
                f"  syncengine resolve {target} --value VALUE  # your own (JSON, or plain text)"
            )
        return "\n".join(lines)
    return conflict_status(row)


def conflict_status(row: Mapping[str, Any]) -> str:
    """What became of a conflict that is not open."""
    status = row["status"]
    if status == "superseded":
        return "superseded: the sides no longer disagree on this field; nothing to resolve"
    if status == "reopened":
        return (
            "reopened: a side changed it after it was resolved, so the decision was not "
            "carried out; a new conflict holds it with the new value (`syncengine conflicts`)"
        )
    value = row["resolution"] == "value"
    shown = value_text(row["resolved_value"])
    if status == "resolving":
        how = f"set to {shown}" if value else f"keep side {row['resolution']}"
        return f"decided: {how}; the next run of {row['connection']} applies it"
    how = f"set to {shown}" if value else f"side {row['resolution']} kept"
    when = f" at {row['resolved_at']:%Y-%m-%d %H:%M:%S}" if row.get("resolved_at") else ""
    rule = f" (found under: {row['rule']})" if row.get("rule") else ""
    return f"{status}{when}: {how}{rule}; nothing left to resolve"


__all__ = ["conflict_status", "conflict_view", "value_text"]
