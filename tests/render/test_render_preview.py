"""What every format says about a preview: conflicts a run has not held yet, the guard's
refusal, unreadable records in the plan JSON, and capped terminal listings."""

from __future__ import annotations

import dataclasses
import io
import json

from rich.console import Console, RenderableType

from syncengine.models import Action, FieldChange, Op, Plan, RunReport
from syncengine.render import (
    dumps,
    plan_html,
    plan_markdown,
    plan_renderable,
    preview_to_dict,
    render,
    report_renderable,
)
from syncengine.render._common import MAX_LISTED, PENDING_INTRO, RECORDED_INTRO
from syncengine.render.json import plan_to_dict

REFUSAL = "the plan deletes 3 of 10 contacts on side a (30%, more than max_delete_share 20%)"


def _export(renderable: RenderableType, width: int = 120) -> str:
    console = Console(no_color=True, width=width, record=True, file=io.StringIO())
    console.print(renderable, crop=False)  # as the CLI prints
    return " ".join(console.export_text().split())


def _preview(report: RunReport) -> RunReport:
    return dataclasses.replace(report, run_id=None, outcomes=(), dry_run=True)


# -- conflicts in a preview are not held yet ---------------------------------------------------
def test_a_plan_says_its_conflicts_are_held_when_run_runs(plan: Plan) -> None:
    text = _export(plan_renderable(plan))
    assert PENDING_INTRO in text
    assert RECORDED_INTRO not in text
    assert "syncengine resolve contact:a4:b4:email --keep a" in text


def test_a_previews_already_held_conflicts_can_be_resolved_now(plan: Plan) -> None:
    text = _export(plan_renderable(plan, conflict_ids={"task:t9:tb9:title": 5}))
    recorded, _, pending = text.partition(PENDING_INTRO)
    assert RECORDED_INTRO in recorded and "syncengine resolve 5 --keep a" in recorded
    assert "syncengine resolve contact:a4:b4:email --keep a" in pending
    assert "syncengine resolve 5" not in pending


def test_a_real_runs_report_gives_the_commands(report: RunReport) -> None:
    text = _export(report_renderable(report))
    assert RECORDED_INTRO in text and "Not held yet" not in text
    md = render(report, "md")
    assert md.count("Resolve with one of:") == 3 and "Not held yet" not in md
    html = render(report, "html")
    assert html.count("Resolve with one of:") == 3 and "Not held yet" not in html


def test_markdown_and_html_previews_say_not_held_yet(plan: Plan, report: RunReport) -> None:
    for page in (plan_markdown(plan), plan_html(plan), render(_preview(report), "md")):
        assert page.count("Not held yet: `syncengine run` holds it for review") == 3
        assert "Resolve with one of:" not in page
    mixed = plan_markdown(plan, conflict_ids={"task:t9:tb9:title": 5})
    assert mixed.count("Resolve with one of:") == 1 and mixed.count("Not held yet") == 2


# -- the guard's refusal -------------------------------------------------------------------------
def test_every_format_shows_a_previews_refusal(report: RunReport) -> None:
    refused = dataclasses.replace(_preview(report), refusal=REFUSAL)
    assert "A run would be refused by the safety guard" in _export(report_renderable(refused))
    assert REFUSAL in _export(report_renderable(refused), width=300)
    md = render(refused, "md")
    assert "## A run would be refused\n\nthe plan deletes 3 of 10 contacts on side a" in md
    html = render(refused, "html")
    assert '<section id="refusal">' in html and "deletes 3 of 10 contacts" in html
    assert json.loads(render(refused, "json"))["refusal"] == REFUSAL
    plain = render(_preview(report), "html")
    assert '<section id="refusal">' not in plain
    assert "A run would be refused" not in render(_preview(report), "md")


# -- the plan JSON of a preview ------------------------------------------------------------------
def test_preview_json_is_the_plan_contract_plus_problems(report: RunReport) -> None:
    preview = _preview(report)
    data = preview_to_dict(preview)
    # The plan's own keys, in their contract order, then what a preview adds.
    assert list(data) == [*plan_to_dict(preview.plan), "problems", "refusal"]
    assert data["problems"] == list(report.problems)
    assert data["refusal"] is None
    assert json.loads(dumps(preview, preview=True)) == data
    # The plan alone keeps its contract exactly.
    assert "problems" not in json.loads(dumps(report.plan))


# -- capped terminal listings ----------------------------------------------------------------------
CITY = (FieldChange("city", None, "Oslo"),)


def _many(n: int) -> Plan:
    ops = tuple(
        Op("b", Action.UPDATE, "contact", f"a{i}", f"b{i}", CITY, reason="edit on a")
        for i in range(n)
    )
    return Plan("big", ops)


def test_text_lists_the_first_ops_of_a_side_and_counts_the_rest() -> None:
    text = _export(plan_renderable(_many(MAX_LISTED + 7)), width=300)
    assert f"{MAX_LISTED + 7} operations ({MAX_LISTED + 7} updates)" in text
    assert text.count("edit on a") == MAX_LISTED
    assert "... and 7 more; `--format json` or `syncengine report` lists every one" in text
    everything = _export(plan_renderable(_many(MAX_LISTED + 7), limit=None), width=300)
    assert everything.count("edit on a") == MAX_LISTED + 7 and "more;" not in everything


def test_a_plan_within_the_cap_is_listed_whole() -> None:
    text = _export(plan_renderable(_many(MAX_LISTED)), width=300)
    assert text.count("edit on a") == MAX_LISTED and "more;" not in text


def test_files_list_every_op() -> None:
    plan = _many(MAX_LISTED + 7)
    assert plan_markdown(plan).count("edit on a") == MAX_LISTED + 7
    assert plan_html(plan).count("edit on a") == MAX_LISTED + 7
    assert len(json.loads(dumps(plan))["operations"]) == MAX_LISTED + 7


def test_ids_and_commands_do_not_wrap_on_a_narrow_terminal(plan: Plan) -> None:
    long_id = "b" + "9" * 60
    op = Op("b", Action.UPDATE, "contact", "a1", long_id, CITY, reason="edit")
    # The id is the widest cell: the table narrows the other columns, never the id.
    console = Console(no_color=True, width=100, record=True, file=io.StringIO())
    console.print(plan_renderable(Plan("x", (op,), plan.conflicts)), crop=False)
    lines = console.export_text().splitlines()
    assert any(long_id in line for line in lines)  # the id column does not fold
    for target in ("contact:a4:b4:email", "task:t9:tb9:title", "contact:a6:b6:custom_fields"):
        for keep in "ab":
            command = f"syncengine resolve {target} --keep {keep}"
            assert any(command in line for line in lines), command
