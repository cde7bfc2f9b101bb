"""The conflict review report as Markdown (GitHub-flavoured), for a ticket or a PR.

Order follows what a reviewer must act on: the headline counts, then held conflicts,
each with the exact command that resolves it, then conflicts the policy resolved (with
the rule that decided), duplicate groups with what to do about them, the ops per side,
problems, and the external calls a run used.

Every value from a record is set in a code span (so ``<script>`` or ``**x**`` in data
stays literal in any Markdown renderer) and free text from data (reasons, notes,
problems) is escaped; table cells also escape ``|`` and flatten newlines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from syncengine.models import SIDES, Action, Conflict, OpOutcome, Plan, RunReport

from ._common import (
    HELD,
    MANY_AT_ONCE,
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
    new_id,
    ops_by_side,
    outcome_column,
    plural,
    resolution_text,
    resolve_command,
    resolved_conflicts,
)
from .diff import describe, diff_values, format_value, op_change_lines

__all__ = ["plan_markdown", "report_markdown"]

LIMIT = 80
"""Characters per value; the JSON format carries full values."""

_PROSE_SPECIALS = re.compile(r"([\\`*_\[\]#~])")


def _code(text: str) -> str:
    """A code span holding ``text`` literally, whatever backticks it contains."""
    text = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _prose(text: str) -> str:
    """Free text from data, made inert: HTML entities for ``<>&``, Markdown escaped."""
    text = " ".join(text.splitlines())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _PROSE_SPECIALS.sub(r"\\\1", text)


def _cell(text: str) -> str:
    """Table cells end at ``|``, even inside code spans in GFM, so it is escaped here too."""
    return text.replace("|", "\\|")


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    names = list(header)
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return lines


def _id(value: str | None) -> str:
    return _code(value) if value is not None else "—"


def _conflict_title(c: Conflict) -> str:
    return f"{_prose(c.entity)} {_code(c.field)} — a {_code(c.a_id)} / b {_code(c.b_id)}"


def _held_section(plan: Plan, conflict_ids: Mapping[str, int] | None, preview: bool) -> list[str]:
    held = held_conflicts(plan)
    lines = [f"## Held conflicts ({len(held)})", ""]
    if not held:
        done = "None: every conflict was resolved by policy." if plan.conflicts else "None."
        return [*lines, done, ""]
    lines += ["Nothing is written for these fields until you choose a side.", ""]
    if sum(is_recorded(c, conflict_ids, preview=preview) for c in held) > 1:
        lines += [MANY_AT_ONCE + ".", ""]
    for c in held:
        lines += [f"### {_conflict_title(c)}", ""]
        lines.append(f"Kind: {conflict_kind_text(c)}. Conflict key: {_code(c.key)}.")
        if (why := resolution_text(c)) != HELD:
            lines += ["", f"**{_prose(why[:1].upper() + why[1:])}.**"]  # held again
        lines.append("")
        lines += _table(
            ["", "Value", "Updated at"],
            [
                ["base", _code(format_value(c.base, LIMIT)), "—"],
                ["a", _code(conflict_value(c, "a", LIMIT)), _time(iso(c.a_updated_at))],
                ["b", _code(conflict_value(c, "b", LIMIT)), _time(iso(c.b_updated_at))],
            ],
        )
        lines += _nested_changes(c)
        lines += [
            "",
            RECORDED_ONE if is_recorded(c, conflict_ids, preview=preview) else PENDING_ONE,
            "",
            "```sh",
            resolve_command(c, "a", conflict_ids),
            resolve_command(c, "b", conflict_ids),
            "```",
            "",
        ]
    return lines


def _nested_changes(c: Conflict) -> list[str]:
    """For dict values, what each side changed against the base, key by key."""
    if not isinstance(c.base, dict):
        return []
    lines: list[str] = []
    for side in SIDES:
        value = c.a_value if side == "a" else c.b_value
        if isinstance(value, dict):
            found = diff_values(c.field, c.base, value)
            shown = ", ".join(_code(describe(vc, LIMIT)) for vc in found) or "nothing"
            lines.append(f"- {side} changed: {shown}")
    return ["", *lines] if lines else []


def _time(value: str | None) -> str:
    return _code(value) if value is not None else "—"


def _resolved_section(plan: Plan) -> list[str]:
    resolved = resolved_conflicts(plan)
    if not resolved:
        return []
    rows = [
        [
            _prose(c.entity),
            _code(c.field),
            f"{_code(c.a_id)} / {_code(c.b_id)}",
            conflict_kind_text(c),
            _code(format_value(c.base, LIMIT)),
            _code(conflict_value(c, "a", LIMIT)),
            _code(conflict_value(c, "b", LIMIT)),
            f"**{c.resolution}**",
            _prose(c.rule) if c.rule else "—",
        ]
        for c in resolved
    ]
    header = ["Entity", "Field", "a / b", "Kind", "Base", "a", "b", "Winner", "Rule"]
    return [f"## Resolved conflicts ({len(resolved)})", "", *_table(header, rows), ""]


def _duplicates_section(plan: Plan) -> list[str]:
    if not plan.duplicates:
        return []
    lines = [f"## Duplicate groups ({len(plan.duplicates)})", ""]
    for g in plan.duplicates:
        ids = ", ".join(_code(i) for i in g.ids)
        held = ", ".join(_code(i) for i in g.held_ids) or "none"
        lines.append(
            f"- Side {g.side}, {_prose(g.entity)} key {_code(g.key)}: {ids} "
            f"(held from sync: {held}). "
            f"To do: {duplicate_advice(g)}."
        )
    return [*lines, ""]


def _ops_section(plan: Plan, outcomes: list[OpOutcome | None] | None) -> list[str]:
    lines = [f"## Operations ({len(plan.operations)})", ""]
    groups = ops_by_side(plan)
    if not groups:
        return [*lines, "None.", ""]
    for side, ops in groups:
        lines += [f"### {SIDE_TITLES[side]} — {plural(len(ops), 'operation')}", ""]
        header = ["#", "Action", "Entity", "Id", "Counterpart", "Changes", "Reason"]
        if outcomes is not None:
            header.append("Outcome")
        rows: list[list[str]] = []
        for number, op in ops:
            changes = "<br>".join(_code(line) for line in op_change_lines(op, LIMIT)) or "—"
            row = [
                str(number),
                op.action.value,
                _prose(op.entity),
                "(new)"
                if op.target_id is None and op.action is Action.CREATE
                else _id(op.target_id),
                _id(op.source_id),
                changes,
                _prose(op.reason) or "—",
            ]
            if outcomes is not None:
                row.append(_outcome(outcomes[number - 1]))
            rows.append(row)
        lines += [*_table(header, rows), ""]
    return lines


def _outcome(outcome: OpOutcome | None) -> str:
    if outcome is None:
        return "not run"
    text = outcome.status.value
    created = new_id(outcome)
    if created is not None:
        text += f" → {_code(created)}"
    if outcome.error:
        text += f": {_prose(outcome.error)}"
    if outcome.attempts > 1:
        text += f" ({outcome.attempts} attempts)"
    return text


def _headline(plan: Plan) -> list[str]:
    h = Headline.of(plan)
    return [
        f"- **{h.held}** held {'conflict' if h.held == 1 else 'conflicts'} to review, "
        f"**{h.conflicts - h.held}** resolved by policy",
        f"- **{h.duplicate_groups}** duplicate {'group' if h.duplicate_groups == 1 else 'groups'}",
        f"- **{h.operations}** {'operation' if h.operations == 1 else 'operations'}: "
        f"{h.creates} create, {h.updates} update, {h.deletes} delete, {h.links} link",
    ]


def _link_changes(plan: Plan) -> list[str]:
    if not plan.link_changes:
        return []
    rows = [
        [lc.change, _prose(lc.entity), _code(lc.a_id), _code(lc.b_id), _prose(lc.reason) or "—"]
        for lc in plan.link_changes
    ]
    header = ["Change", "Entity", "a", "b", "Reason"]
    title = f"## Link bookkeeping ({len(plan.link_changes)})"
    return [title, "", "No side is written for these.", "", *_table(header, rows), ""]


def _notes(plan: Plan) -> list[str]:
    if not plan.notes:
        return []
    return ["## Notes", "", *(f"- {_prose(n)}" for n in plan.notes), ""]


def _body(
    plan: Plan,
    conflict_ids: Mapping[str, int] | None,
    outcomes: list[OpOutcome | None] | None,
    preview: bool,
) -> list[str]:
    return [
        *_held_section(plan, conflict_ids, preview),
        *_resolved_section(plan),
        *_duplicates_section(plan),
        *_ops_section(plan, outcomes),
        *_link_changes(plan),
        *_notes(plan),
    ]


def _finish(lines: list[str]) -> str:
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def plan_markdown(plan: Plan, *, conflict_ids: Mapping[str, int] | None = None) -> str:
    """The review report for a plan; ``conflict_ids`` maps ``Conflict.key`` to store ids."""
    lines = [f"# Sync review: {_prose(plan.connection)}", "", *_headline(plan), ""]
    return _finish([*lines, *_body(plan, conflict_ids, None, True)])


def report_markdown(report: RunReport, *, conflict_ids: Mapping[str, int] | None = None) -> str:
    """The review report for a run: the plan's sections plus outcomes, problems and calls."""
    run = str(report.run_id) if report.run_id is not None else "(unsaved)"
    lines = [f"# Sync review: {_prose(report.connection)}, run {run}", ""]
    facts = []
    if report.dry_run:
        facts.append("**DRY RUN**: nothing was written")
    started = iso(report.started_at)
    if started is not None:
        facts.append(f"started {_code(started)}")
    seconds = duration_seconds(report)
    if seconds is not None:
        facts.append(f"took {seconds:g} s")
    if facts:
        lines += [" · ".join(facts), ""]
    lines += _headline(report.plan)
    counts = report.counts()
    if counts:
        done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        lines.append(f"- Outcomes: {done}")
    lines.append(
        f"- **{len(report.problems)}** {'problem' if len(report.problems) == 1 else 'problems'}"
    )
    lines.append("")
    if report.refusal is not None:
        lines += ["## A run would be refused", "", _prose(report.refusal), ""]
    lines += _body(report.plan, conflict_ids, outcome_column(report), report.dry_run)
    lines += [f"## Problems ({len(report.problems)})", ""]
    if report.problems:
        lines += [*(f"- {_prose(p)}" for p in report.problems), ""]
    else:
        lines += ["None: every record could be read.", ""]
    lines += ["## External calls", ""]
    if report.calls:
        lines += _table(
            ["Side", "Calls"],
            [[_prose(side), str(report.calls[side])] for side in sorted(report.calls)],
        )
    else:
        lines.append("None recorded.")
    return _finish(lines)
