"""The terminal rendering, read back as plain text from a recording Console."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType

from syncengine.models import DuplicateGroup, Plan, RunReport
from syncengine.render import plan_renderable, render, render_text, report_renderable
from syncengine.render._common import run_summary


def _export(renderable: RenderableType) -> str:
    console = Console(no_color=True, width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_plan_text_has_summary_ops_conflicts_and_duplicates(plan: Plan) -> None:
    text = _export(plan_renderable(plan))
    assert (
        "Plan for crm→ghl: 6 operations (2 creates, 2 updates, 1 delete, 1 link), "
        "4 conflicts (3 held), 1 duplicate group"
    ) in text
    assert "Side a — 3 operations" in text
    assert "Side b — 2 operations" in text
    assert "Links (both sides) — 1 operation" in text
    assert 'custom_fields.plan: "gold" → "silver"' in text
    assert 'custom_fields.address.city: "Köln" → "Bonn"' in text
    assert 'tags: - "lead"' in text
    assert 'tags: + "customer"' in text
    assert 'first_name = "Zoë"' in text
    assert "Held conflicts — 3 to review" in text
    assert "Resolved conflicts — 1" in text
    assert "b wins (newest_wins)" in text
    assert "(deleted)" in text
    assert "syncengine never merges automatically" in " ".join(text.split())


def test_sections_come_in_review_order(plan: Plan) -> None:
    text = render_text(plan)
    order = [
        "Plan for",
        "Side a",
        "Side b",
        "Links",
        "Held conflicts",
        "Resolved",
        "Duplicate",
        "Notes",
    ]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)


def test_resolve_commands_are_whole_lines_with_ids_or_keys(plan: Plan) -> None:
    lines = [line.strip() for line in render_text(plan).splitlines()]
    commands = [
        line.split("  #")[0].strip() for line in lines if line.startswith("syncengine resolve")
    ]
    assert commands == [
        "syncengine resolve contact:a4:b4:email --keep a",
        "syncengine resolve contact:a4:b4:email --keep b",
        "syncengine resolve task:t9:tb9:title --keep a",
        "syncengine resolve task:t9:tb9:title --keep b",
        "syncengine resolve contact:a6:b6:custom_fields --keep a",
        "syncengine resolve contact:a6:b6:custom_fields --keep b",
    ]
    with_ids = render_text(plan, conflict_ids={"contact:a4:b4:email": 17})
    assert "syncengine resolve 17 --keep a" in with_ids
    assert "syncengine resolve task:t9:tb9:title --keep b" in with_ids


def test_data_is_never_read_as_markup(plan: Plan, hostile: str) -> None:
    text = render_text(plan)
    assert "[bold]markup[/bold]" in text.replace("\n", "").replace(" ", "")
    assert hostile in text


def test_fits_the_width_and_has_no_trailing_blanks(plan: Plan, report: RunReport) -> None:
    for width in (80, 120):
        for text in (render_text(plan, width=width), render_text(report, width=width)):
            lines = text.splitlines()
            # Resolve commands run on rather than break: they must paste whole.
            commands = [line for line in lines if line.startswith("  syncengine resolve ")]
            assert commands and all("--keep" in line for line in commands)
            assert max(len(line) for line in lines if line not in commands) <= width
            assert all(line == line.rstrip() for line in lines)
            assert text.endswith("\n")
            assert not text.endswith("\n\n")


def test_report_text(report: RunReport) -> None:
    text = _export(report_renderable(report))
    assert "Run 42 · crm→ghl · started 2025-03-01T12:00:00+00:00 · took 7.25 s" in text
    assert "Outcomes: 3 done, 1 failed, 1 quarantined" in text
    assert "External calls: a 12, b 40" in text
    assert "Problems — 1" in text
    assert "contacts.csv row 7" in text
    assert "HTTP 503 from side b" in text
    assert "not run" in text  # the last op has no outcome
    assert "→ b2" in text
    assert "DRY RUN" not in text


def test_dry_run_and_empty_plan() -> None:
    empty = Plan("c")
    report = RunReport(run_id=None, connection="c", plan=empty, dry_run=True)
    text = render_text(report)
    assert "Run (unsaved) · c · DRY RUN" in text
    assert "Outcomes: none (nothing was applied)" in text
    assert "External calls: none" in text
    assert "Plan for c: no operations, 0 conflicts, 0 duplicate groups" in text
    assert "Nothing to do: both sides agree." in text


def test_text_is_deterministic(plan: Plan, report: RunReport) -> None:
    assert render(plan, "text") == render(plan, "text")
    assert render(report, "text") == render(report, "text")


def test_a_plan_that_only_holds_duplicates_does_not_say_the_sides_agree() -> None:
    """100k contacts sharing office phones wrote nothing, and the plan said 'both sides
    agree'. It says how many records wait, and that a group whose emails all differ can
    be let through by matching on email alone."""
    office = DuplicateGroup(
        "a", "contact", "phone:+14155550100", ("a1", "a2"), ("a1", "a2"), told_apart_by="email"
    )
    same = DuplicateGroup("a", "contact", "email:p@x.com", ("a3", "a4"), ("a4",))
    text = " ".join(render_text(Plan("crm", duplicates=(office, same))).split())
    assert "both sides agree" not in text
    assert "Nothing to write: 3 records wait in duplicate groups (below)" in text
    assert (
        "their emails all differ: if they are different people sharing a phone, match by "
        'email alone (match = ["email"]); if one person, merge them on side a'
    ) in text
    assert "merge or re-key these records on side a" in text  # the group by email
    assert "Nothing to do: both sides agree." in render_text(Plan("crm"))


def test_a_plan_that_keeps_changes_apart_does_not_say_the_sides_agree() -> None:
    """A one-way field's edit stays where it was made: nothing to write, and no
    agreement either; the text and HTML say so, and history counts it."""
    kept = Plan("crm", notes=("2 contact change(s) to city on a stay on a: ...",), kept_apart=2)
    text = " ".join(render_text(kept).split())
    assert "both sides agree" not in text
    assert "Nothing to write: 2 changes stay on the side that made them, by design" in text
    html = render(kept, "html")
    assert "both sides agree" not in html and "2 changes stay on the side that made them" in html
    assert run_summary(kept.summary()) == "2 changes kept where made"


def test_an_empty_plan_with_unreadable_records_does_not_say_the_sides_agree() -> None:
    """Every row of a CSV was quarantined, and the preview said 'both sides agree' under
    the list of problems: an empty plan says nothing of records no one could read."""
    problems = ("crm.csv:2: has email 'x', which is not a valid address; correct or remove it",)
    report = RunReport(run_id=None, connection="c", plan=Plan("c"), dry_run=True, problems=problems)
    text = " ".join(render_text(report).split())
    assert "both sides agree" not in text
    assert "Nothing to do for the records that could be read; 1 record could not be" in text
    html = render(report, "html")
    assert "both sides agree" not in html
    assert "None for the records that could be read; 1 could not be (see Problems)." in html
