"""Plans and run reports for the terminal, as rich renderables.

Every piece of data goes in as a ``rich.text.Text`` (never a markup string), so a value
like ``[bold]`` or ``<script>`` prints as itself. Values are cut to ``LIMIT``
characters so one long field cannot push a table off the screen; the JSON and HTML
formats carry the full values. Colour is decoration only: the output reads the same
under ``Console(no_color=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from syncengine.models import (
    SIDES,
    Action,
    Conflict,
    Op,
    OpOutcome,
    OpStatus,
    Plan,
    RunReport,
    Side,
)

from ._common import (
    MANY_AT_ONCE,
    MAX_LISTED,
    PENDING_INTRO,
    RECORDED_INTRO,
    SIDE_TITLES,
    Headline,
    conflict_kind_text,
    conflict_value,
    duplicate_advice,
    duration_seconds,
    held_by_duplicates,
    held_conflicts,
    is_recorded,
    iso,
    keep_hint,
    kept_apart_text,
    link_change_text,
    more_text,
    new_id,
    ops_by_side,
    outcome_column,
    plural,
    resolution_text,
    resolve_command,
    resolved_conflicts,
)
from .diff import describe, diff_values, format_value, op_change_lines

__all__ = ["plan_renderable", "report_renderable"]

LIMIT = 48
"""Characters per value in a table cell."""
HINT_LIMIT = 40
"""Characters per value in the comment after a resolve command."""

_ACTION_STYLES = {"create": "green", "update": "yellow", "delete": "red", "link": "cyan"}
_STATUS_STYLES = {"done": "green", "failed": "red", "quarantined": "magenta", "skipped": "dim"}
T = TypeVar("T")


def _capped(items: Sequence[T], limit: int | None) -> tuple[Sequence[T], Text | None]:
    """The first ``limit`` items and a line for the rest: a terminal cannot take 26k rows."""
    if limit is None or len(items) <= limit:
        return items, None
    return items[:limit], Text(more_text(len(items) - limit), style="dim")


def _id(value: str | None, op: Op | None = None) -> Text:
    if value is not None:
        return Text(value)
    return Text("(new)" if op is not None and op.action is Action.CREATE else "—", style="dim")


def _ops_table(
    title: str, ops: list[tuple[int, Op]], outcomes: list[OpOutcome | None] | None
) -> Table:
    table = Table(
        title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("Action")
    table.add_column("Entity")
    table.add_column("Id", no_wrap=True)
    table.add_column("Counterpart", no_wrap=True)
    table.add_column("Changes", overflow="fold", ratio=3)
    table.add_column("Reason", overflow="fold", ratio=1)
    if outcomes is not None:
        table.add_column("Outcome", overflow="fold")
    for number, op in ops:
        action = op.action.value
        row: list[Text] = [
            Text(str(number)),
            Text(action, style=_ACTION_STYLES.get(action, "")),
            Text(op.entity),
            _id(op.target_id, op),
            _id(op.source_id),
            Text("\n".join(op_change_lines(op, LIMIT))),
            Text(op.reason),
        ]
        if outcomes is not None:
            row.append(_outcome_text(outcomes[number - 1]))
        table.add_row(*row)
    return table


def _outcome_text(outcome: OpOutcome | None) -> Text:
    if outcome is None:
        return Text("not run", style="dim")
    text = Text(outcome.status.value, style=_STATUS_STYLES.get(outcome.status.value, ""))
    created = new_id(outcome)
    if created is not None:
        text.append(f" → {created}")
    if outcome.attempts > 1:
        text.append(f" ({outcome.attempts} attempts)")
    if outcome.error:
        text.append(f"\n{outcome.error}", style="red")
    return text


def _side_value(conflict: Conflict, side: Side) -> Text:
    """A side's value; for three dicts, only what that side changed against the base."""
    value = conflict.a_value if side == "a" else conflict.b_value
    if isinstance(conflict.base, dict) and isinstance(value, dict):
        lines = [
            describe(vc, LIMIT).removeprefix(f"{conflict.field}.")
            for vc in diff_values(conflict.field, conflict.base, value)
        ]
        return Text("\n".join(lines) or "(same as base)")
    return Text(conflict_value(conflict, side, LIMIT))


def _conflicts_table(title: str, conflicts: Sequence[Conflict]) -> Table:
    table = Table(
        title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
    )
    table.add_column("Conflict", no_wrap=True)
    table.add_column("Kind")
    table.add_column("Base", overflow="fold")
    table.add_column("a", overflow="fold")
    table.add_column("b", overflow="fold")
    table.add_column("Resolution", overflow="fold")
    for c in conflicts:
        where = Text(f"{c.entity} {c.field}\n", style="bold")
        where.append(f"a:{c.a_id} b:{c.b_id}", style="")
        table.add_row(
            where,
            Text(conflict_kind_text(c)),
            Text(format_value(c.base, LIMIT)),
            _side_value(c, "a"),
            _side_value(c, "b"),
            Text(resolution_text(c), style="yellow" if c.resolution == "held" else ""),
        )
    return table


def _resolve_hints(
    intro: str, conflicts: Sequence[Conflict], conflict_ids: Mapping[str, int] | None
) -> Group:
    """Commands go below the table rather than in it, one per line and never wrapped or
    folded, so each pastes whole. (Printed with ``crop=False``, a line wider than the
    terminal runs on, and the terminal soft-wraps it without breaking the command.)"""
    rows = [
        (resolve_command(c, side, conflict_ids), keep_hint(c, side, HINT_LIMIT))
        for c in conflicts
        for side in SIDES
    ]
    width = max(len(command) for command, _ in rows)
    commands = Text(no_wrap=True, overflow="ignore")
    for i, (command, value) in enumerate(rows):
        commands.append(f"{'' if i == 0 else chr(10)}  {command.ljust(width)}", style="")
        commands.append(f"  # {value}", style="dim")
    return Group(Text(intro, style="bold"), commands)


def _duplicates_table(plan: Plan, limit: int | None) -> RenderableType:
    table = Table(
        title=Text(f"Duplicate groups — {len(plan.duplicates)}", style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for name in ("Side", "Entity", "Key", "Ids", "Held", "What to do"):
        table.add_column(name, overflow="fold")
    groups, more = _capped(plan.duplicates, limit)
    for g in groups:
        table.add_row(
            Text(g.side),
            Text(g.entity),
            Text(g.key),
            Text(", ".join(g.ids)),
            Text(", ".join(g.held_ids) or "—"),
            Text(duplicate_advice(g)),
        )
    return Group(table, more) if more is not None else table


def _spaced(parts: list[RenderableType]) -> Group:
    """One blank line between sections."""
    spaced: list[RenderableType] = []
    for part in parts:
        if spaced:
            spaced.append(Text(""))
        spaced.append(part)
    return Group(*spaced)


def _held_parts(
    plan: Plan,
    conflict_ids: Mapping[str, int] | None,
    preview: bool,
    limit: int | None,
) -> list[RenderableType]:
    """Held conflicts, then the resolve commands: ready to run for recorded conflicts,
    and for a preview's new ones, what ``syncengine run`` will do first."""
    held = held_conflicts(plan)
    if not held:
        return []
    shown, more = _capped(held, limit)
    parts: list[RenderableType] = [
        _conflicts_table(f"Held conflicts — {len(held)} to review", shown)
    ]
    recorded = [c for c in shown if is_recorded(c, conflict_ids, preview=preview)]
    pending = [c for c in shown if not is_recorded(c, conflict_ids, preview=preview)]
    if recorded:
        parts.append(_resolve_hints(RECORDED_INTRO, recorded, conflict_ids))
        if len(recorded) > 1:
            parts.append(Text(MANY_AT_ONCE, style="dim"))
    if pending:
        parts.append(_resolve_hints(PENDING_INTRO, pending, conflict_ids))
    if more is not None:
        parts.append(more)
    return parts


def plan_renderable(
    plan: Plan,
    *,
    conflict_ids: Mapping[str, int] | None = None,
    outcomes: list[OpOutcome | None] | None = None,
    preview: bool = True,
    limit: int | None = MAX_LISTED,
    unreadable: int = 0,
) -> RenderableType:
    """The plan as the CLI prints it: summary line, ops per side, conflicts, duplicates, notes.

    ``conflict_ids`` maps ``Conflict.key`` to store ids for the resolve commands;
    ``outcomes`` (aligned with ``plan.operations``) adds an outcome column for reports;
    ``preview`` says no run has recorded the plan's conflicts yet; ``limit`` caps each
    section's listing (None lists all; the summary line always counts everything);
    ``unreadable`` counts the records the run could not read, which an empty plan does
    not vouch for.
    """
    summary = Text("Plan for ", style="bold")
    summary.append(plan.connection, style="bold cyan")
    summary.append(": " + Headline.of(plan).sentence())
    parts: list[RenderableType] = [summary]
    if plan.is_empty:
        waiting = held_by_duplicates(plan)
        if waiting:
            parts.append(
                Text(
                    f"Nothing to write: {plural(waiting, 'record')} "
                    f"{'waits' if waiting == 1 else 'wait'} in duplicate groups "
                    "(below) until they are merged or re-keyed.",
                    style="yellow",
                )
            )
        elif unreadable:
            parts.append(
                Text(
                    "Nothing to do for the records that could be read; "
                    f"{plural(unreadable, 'record')} could not be (see Problems).",
                    style="yellow",
                )
            )
        elif plan.kept_apart:
            parts.append(Text(f"Nothing to write: {kept_apart_text(plan)}", style="yellow"))
        else:
            parts.append(Text("Nothing to do: both sides agree.", style="green"))
    for side, ops in ops_by_side(plan):
        title = f"{SIDE_TITLES[side]} — {plural(len(ops), 'operation')}"
        shown, more = _capped(ops, limit)
        table = _ops_table(title, list(shown), outcomes)
        parts.append(Group(table, more) if more is not None else table)
    parts += _held_parts(plan, conflict_ids, preview, limit)
    resolved = resolved_conflicts(plan)
    if resolved:
        shown_resolved, more = _capped(resolved, limit)
        table = _conflicts_table(f"Resolved conflicts — {len(resolved)}", shown_resolved)
        parts.append(Group(table, more) if more is not None else table)
    if plan.duplicates:
        parts.append(_duplicates_table(plan, limit))
    if plan.link_changes:
        links = Text(f"Link bookkeeping (no writes) — {len(plan.link_changes)}", style="bold")
        changes, more = _capped(plan.link_changes, limit)
        for lc in changes:
            links.append(f"\n• {link_change_text(lc)}", style="")
        parts.append(Group(links, more) if more is not None else links)
    if plan.notes:
        notes = Text("Notes", style="bold")
        for note in plan.notes:
            notes.append(f"\n• {note}", style="")
        parts.append(notes)
    return _spaced(parts)


def report_renderable(
    report: RunReport,
    *,
    conflict_ids: Mapping[str, int] | None = None,
    limit: int | None = MAX_LISTED,
) -> RenderableType:
    """A finished run: header, outcome counts, calls, problems, then the plan with outcomes.

    A preview's guard refusal leads, so the plan below reads as what a run would stop."""
    header = Text("Run ", style="bold")
    header.append(str(report.run_id) if report.run_id is not None else "(unsaved)", style="bold")
    header.append(" · ")
    header.append(report.connection, style="bold cyan")
    if report.dry_run:
        header.append(" · ")
        header.append("DRY RUN", style="bold reverse yellow")
    started = iso(report.started_at)
    if started is not None:
        header.append(f" · started {started}")
    seconds = duration_seconds(report)
    if seconds is not None:
        header.append(f" · took {seconds:g} s")
    counts = report.counts()
    header.append("\nOutcomes: ")
    if counts:
        for i, status in enumerate(s.value for s in OpStatus if s.value in counts):
            if i:
                header.append(", ")
            header.append(f"{counts[status]} {status}", style=_STATUS_STYLES.get(status, ""))
    else:
        header.append("none (nothing was applied)")
    calls = ", ".join(f"{side} {report.calls[side]}" for side in sorted(report.calls))
    header.append(f"\nExternal calls: {calls or 'none'}")
    parts: list[RenderableType] = [header]
    if report.refusal is not None:
        refused = Text("A run would be refused by the safety guard", style="bold red")
        refused.append(f"\n{report.refusal}", style="")
        parts.append(refused)
    if report.problems:
        problems = Text(f"Problems — {len(report.problems)}", style="bold red")
        for problem in report.problems:
            problems.append(f"\n• {problem}", style="")
        parts.append(problems)
    parts.append(
        plan_renderable(
            report.plan,
            conflict_ids=conflict_ids,
            outcomes=outcome_column(report),
            preview=report.dry_run,
            limit=limit,
            unreadable=len(report.problems),
        )
    )
    return _spaced(parts)
