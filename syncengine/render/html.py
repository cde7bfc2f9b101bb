"""Plans and run reports as one self-contained HTML page (inline CSS, no scripts, no assets).

The page is built in two steps: this module turns the models into small view objects
(every value already formatted and truncated, differences already found with
``render.diff``), and the Jinja2 template ``templates/report.html.j2`` lays them out.
Autoescape is on and the template never marks anything safe, so record data such as
``<script>`` always shows as text. Nothing reads the clock: a plan page shows a time
only if the caller passes ``generated_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import jinja2

from syncengine.models import (
    JSON,
    Action,
    Conflict,
    LinkChange,
    Op,
    OpOutcome,
    OpStatus,
    Plan,
    RunReport,
    Side,
)

from ._common import (
    PENDING_ONE,
    RECORDED_ONE,
    SIDE_TITLES,
    Headline,
    conflict_kind_text,
    conflict_value,
    duplicate_advice,
    duration_seconds,
    held_conflicts,
    is_recorded,
    iso,
    kept_apart_text,
    new_id,
    ops_by_side,
    outcome_column,
    plural,
    resolution_text,
    resolve_command,
    resolved_conflicts,
)
from .diff import ValueChange, diff_change, diff_values, format_value, op_changes

__all__ = ["plan_html", "report_html"]

LIMIT = 200
"""Characters shown per value; the full value (up to ``TITLE_LIMIT``) is in the tooltip."""
TITLE_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Shown:
    """A value as displayed: ``text`` (maybe cut) and ``full`` when it was cut."""

    text: str
    full: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """One leaf change: ``kind`` is changed / added / removed / set (a create's field)."""

    path: str
    kind: str
    before: Shown | None = None
    after: Shown | None = None


@dataclass(frozen=True, slots=True)
class Card:
    label: str
    value: str
    tone: str = ""


@dataclass(frozen=True, slots=True)
class SideCell:
    label: str
    value: Shown
    changed: bool
    updated_at: str | None
    lines: tuple[Line, ...] = ()
    winner: bool = False


@dataclass(frozen=True, slots=True)
class ConflictView:
    key: str
    entity: str
    field: str
    a_id: str
    b_id: str
    kind: str
    resolution: str
    rule: str
    cells: tuple[SideCell, ...]
    commands: tuple[str, ...] = ()
    commands_intro: str = RECORDED_ONE


@dataclass(frozen=True, slots=True)
class OpView:
    number: int
    action: str
    entity: str
    id: str
    counterpart: str
    lines: tuple[Line, ...]
    reason: str
    outcome: str | None = None
    outcome_tone: str = ""


@dataclass(frozen=True, slots=True)
class OpGroup:
    title: str
    ops: tuple[OpView, ...]


@dataclass(frozen=True, slots=True)
class Page:
    """Everything the template shows; sections with nothing to show are left out."""

    title: str
    connection: str
    run_id: str | None
    dry_run: bool
    time: str | None
    duration: str | None
    headline: str
    cards: tuple[Card, ...]
    held: tuple[ConflictView, ...]
    resolved: tuple[ConflictView, ...]
    duplicates: tuple[dict[str, str], ...]
    op_groups: tuple[OpGroup, ...]
    show_outcomes: bool
    notes: tuple[str, ...]
    link_changes: tuple[LinkChange, ...]
    kept_apart: str | None = None
    """Why no write is no agreement (``kept_apart_text``), if changes stay apart."""
    problems: tuple[str, ...] | None = None
    calls: tuple[tuple[str, int], ...] | None = None
    refusal: str | None = None


def _shown(value: JSON) -> Shown:
    text = format_value(value, LIMIT)
    full = format_value(value, TITLE_LIMIT)
    return Shown(text, full if full != text else None)


def _line(change: ValueChange, prefix: str = "") -> Line:
    path = change.path.removeprefix(prefix) if prefix else change.path
    before = _shown(change.before) if change.kind != "added" else None
    after = _shown(change.after) if change.kind != "removed" else None
    return Line(path, change.kind, before, after)


def _op_lines(op: Op) -> tuple[Line, ...]:
    if op.action is Action.CREATE and not op.changes:
        return tuple(Line(name, "set", after=_shown(value)) for name, value in op.fields.items())
    lines: list[Line] = []
    for change in op_changes(op):
        found = diff_change(change) or (
            ValueChange(change.field, "changed", change.before, change.after),
        )
        lines.extend(_line(vc) for vc in found)
    return tuple(lines)


def _side_cell(c: Conflict, side: Side) -> SideCell:
    value: JSON = c.a_value if side == "a" else c.b_value
    updated = c.a_updated_at if side == "a" else c.b_updated_at
    lines: tuple[Line, ...] = ()
    if isinstance(c.base, dict) and isinstance(value, dict):
        lines = tuple(_line(vc, f"{c.field}.") for vc in diff_values(c.field, c.base, value))
    changed = value != c.base or type(value) is not type(c.base)
    shown = Shown(conflict_value(c, side, LIMIT))
    return SideCell(side, shown, changed, iso(updated), lines, winner=c.resolution == side)


def _conflict_view(
    c: Conflict, conflict_ids: Mapping[str, int] | None, preview: bool
) -> ConflictView:
    base = SideCell("base", _shown(c.base), False, None)
    held = c.resolution == "held"
    return ConflictView(
        key=c.key,
        entity=c.entity,
        field=c.field,
        a_id=c.a_id,
        b_id=c.b_id,
        kind=conflict_kind_text(c),
        resolution=resolution_text(c),
        rule=c.rule,
        cells=(base, _side_cell(c, "a"), _side_cell(c, "b")),
        commands=(
            (resolve_command(c, "a", conflict_ids), resolve_command(c, "b", conflict_ids))
            if held
            else ()
        ),
        commands_intro=(
            RECORDED_ONE if is_recorded(c, conflict_ids, preview=preview) else PENDING_ONE
        ),
    )


_TONES = {
    OpStatus.DONE: "good",
    OpStatus.FAILED: "bad",
    OpStatus.QUARANTINED: "warn",
    OpStatus.SKIPPED: "muted",
}


def _outcome(outcome: OpOutcome | None) -> tuple[str, str]:
    if outcome is None:
        return "not run", "muted"
    text = outcome.status.value
    created = new_id(outcome)
    if created is not None:
        text += f" → {created}"
    if outcome.error:
        text += f": {outcome.error}"
    if outcome.attempts > 1:
        text += f" ({outcome.attempts} attempts)"
    return text, _TONES.get(outcome.status, "")


def _op_groups(plan: Plan, outcomes: list[OpOutcome | None] | None) -> tuple[OpGroup, ...]:
    groups: list[OpGroup] = []
    for side, ops in ops_by_side(plan):
        views: list[OpView] = []
        for number, op in ops:
            outcome, tone = _outcome(outcomes[number - 1]) if outcomes is not None else (None, "")
            target = op.target_id
            views.append(
                OpView(
                    number=number,
                    action=op.action.value,
                    entity=op.entity,
                    id=target
                    if target is not None
                    else ("(new)" if op.action is Action.CREATE else "—"),
                    counterpart=op.source_id if op.source_id is not None else "—",
                    lines=_op_lines(op),
                    reason=op.reason,
                    outcome=outcome,
                    outcome_tone=tone,
                )
            )
        groups.append(
            OpGroup(f"{SIDE_TITLES[side]} — {plural(len(ops), 'operation')}", tuple(views))
        )
    return tuple(groups)


def _cards(plan: Plan) -> list[Card]:
    h = Headline.of(plan)
    return [
        Card("Held conflicts", str(h.held), "warn" if h.held else "good"),
        Card("Resolved conflicts", str(h.conflicts - h.held)),
        Card("Duplicate groups", str(h.duplicate_groups), "warn" if h.duplicate_groups else ""),
        Card("Operations", str(h.operations)),
        Card("Creates", str(h.creates)),
        Card("Updates", str(h.updates)),
        Card("Deletes", str(h.deletes), "bad" if h.deletes else ""),
        Card("Links", str(h.links)),
    ]


def _page(
    plan: Plan,
    *,
    connection: str,
    title: str,
    conflict_ids: Mapping[str, int] | None,
    outcomes: list[OpOutcome | None] | None,
    cards: list[Card],
    preview: bool,
    **kwargs: Any,
) -> Page:
    return Page(
        title=title,
        connection=connection,
        headline=Headline.of(plan).sentence(),
        cards=tuple(cards),
        held=tuple(_conflict_view(c, conflict_ids, preview) for c in held_conflicts(plan)),
        resolved=tuple(_conflict_view(c, conflict_ids, preview) for c in resolved_conflicts(plan)),
        duplicates=tuple(
            {
                "side": g.side,
                "entity": g.entity,
                "key": g.key,
                "ids": ", ".join(g.ids),
                "held_ids": ", ".join(g.held_ids) or "—",
                "advice": duplicate_advice(g),
            }
            for g in plan.duplicates
        ),
        op_groups=_op_groups(plan, outcomes),
        show_outcomes=outcomes is not None,
        notes=plan.notes,
        link_changes=plan.link_changes,
        kept_apart=kept_apart_text(plan) if plan.kept_apart else None,
        **kwargs,
    )


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("syncengine.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(page: Page) -> str:
    return _environment().get_template("report.html.j2").render(page=page)


def plan_html(
    plan: Plan,
    *,
    conflict_ids: Mapping[str, int] | None = None,
    title: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """A review page for a plan (a preview: no run id, no outcomes)."""
    page = _page(
        plan,
        connection=plan.connection,
        title=title or f"Sync plan: {plan.connection}",
        conflict_ids=conflict_ids,
        outcomes=None,
        cards=_cards(plan),
        preview=True,
        run_id=None,
        dry_run=True,
        time=iso(generated_at),
        duration=None,
    )
    return _render(page)


def report_html(
    report: RunReport,
    *,
    conflict_ids: Mapping[str, int] | None = None,
    title: str | None = None,
) -> str:
    """A review page for a run: the plan's sections plus outcomes, problems and calls."""
    run = str(report.run_id) if report.run_id is not None else None
    counts = report.counts()
    cards = _cards(report.plan)
    cards += [
        Card(status.value.capitalize(), str(counts.get(status.value, 0)), _TONES[status])
        for status in OpStatus
        if status.value in counts or status is OpStatus.FAILED
    ]
    cards.append(Card("Problems", str(len(report.problems)), "bad" if report.problems else ""))
    cards += [Card(f"Calls to {side}", str(report.calls[side])) for side in sorted(report.calls)]
    seconds = duration_seconds(report)
    page = _page(
        report.plan,
        connection=report.connection,
        title=title or f"Sync run {run or '(unsaved)'}: {report.connection}",
        conflict_ids=conflict_ids,
        outcomes=outcome_column(report),
        cards=cards,
        preview=report.dry_run,
        run_id=run,
        dry_run=report.dry_run,
        time=iso(report.started_at),
        duration=f"{seconds:g} s" if seconds is not None else None,
        problems=report.problems,
        calls=tuple((side, report.calls[side]) for side in sorted(report.calls)),
        refusal=report.refusal,
    )
    return _render(page)
