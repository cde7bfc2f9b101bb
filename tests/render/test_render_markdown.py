"""The Markdown review report: order, resolve commands, escaping, nested diffs."""

from __future__ import annotations

from syncengine.models import Conflict, ConflictKind, Plan, RunReport
from syncengine.render import plan_markdown, render, report_markdown


def test_headline_and_section_order(plan: Plan) -> None:
    md = plan_markdown(plan)
    assert md.startswith("# Sync review: crm→ghl\n")
    assert "- **3** held conflicts to review, **1** resolved by policy" in md
    assert "- **1** duplicate group" in md
    assert "- **6** operations: 2 create, 2 update, 1 delete, 1 link" in md
    order = [
        "## Held conflicts (3)",
        "## Resolved conflicts (1)",
        "## Duplicate groups (1)",
        "## Operations (6)",
        "## Link bookkeeping (1)",
        "## Notes",
    ]
    positions = [md.index(heading) for heading in order]
    assert positions == sorted(positions)


def test_held_conflicts_carry_resolve_commands(plan: Plan) -> None:
    md = plan_markdown(plan, conflict_ids={"contact:a4:b4:email": 17})
    assert "syncengine resolve 17 --keep a\nsyncengine resolve 17 --keep b\n" in md
    # Without a store id the stable key is used.
    assert "syncengine resolve contact:a6:b6:custom_fields --keep b" in md
    held = md[md.index("## Held conflicts") : md.index("## Resolved conflicts")]
    assert held.count("```sh") == 3
    resolved = md[md.index("## Resolved conflicts") : md.index("## Duplicate groups")]
    assert "syncengine resolve" not in resolved
    assert "newest\\_wins" in resolved
    assert "| **b** |" in resolved


def test_keys_that_need_quoting_are_shell_quoted() -> None:
    conflict = Conflict(
        "contact",
        "a 1",
        "b;rm",
        "email",
        ConflictKind.FIELD,
        "o",
        "a",
        "b",
        None,
        None,
        "held",
        "hold",
    )
    md = plan_markdown(Plan("c", conflicts=(conflict,)))
    assert "syncengine resolve 'contact:a 1:b;rm:email' --keep a" in md


def test_delete_vs_edit_and_nested_conflict(plan: Plan) -> None:
    md = plan_markdown(plan)
    assert "Kind: delete vs edit." in md
    assert "| a | `(deleted)` | — |" in md
    assert '- a changed: `custom_fields.plan: "gold" → "silver"`' in md
    assert "`custom_fields.tier: 1 → 2`" in md


def test_ops_show_nested_paths_and_escape_pipes(plan: Plan) -> None:
    md = plan_markdown(plan)
    assert "### Side b — 2 operations" in md
    assert '`custom_fields.plan: "gold" → "silver"`<br>' in md
    assert '`tags: - "lead"`<br>`tags: + "customer"`' in md
    # A backtick in data lengthens the code fence; a pipe cannot end the table cell.
    assert '``body: "old" → "pipe \\| and `tick` and [bold]markup[/bold]"``' in md
    for line in md.splitlines():
        if line.startswith("| 4 |"):
            assert line.replace("\\|", "").count("|") == 8


def test_hostile_text_is_inert(plan: Plan, report: RunReport, hostile: str) -> None:
    for md in (plan_markdown(plan), report_markdown(report)):
        # Prose from data is entity-escaped; values only ever appear inside code spans.
        assert "skipped &lt;script&gt;alert('x')&lt;/script&gt;" in md
        for line in md.splitlines():
            outside_code = "".join(line.split("`")[0::2])
            assert "<script" not in outside_code
    assert f'→ "{hostile}"`' in plan_markdown(plan)


def test_duplicate_group_advice(plan: Plan) -> None:
    md = plan_markdown(plan)
    assert (
        "- Side a, contact key `email:dup@example.com`: `a7`, `a8` (held from sync: `a7`, `a8`). "
        "To do: merge or re-key these records on side a; syncengine never merges automatically."
    ) in md


def test_report_sections(report: RunReport) -> None:
    md = report_markdown(report)
    assert md.startswith("# Sync review: crm→ghl, run 42\n")
    assert "started `2025-03-01T12:00:00+00:00` · took 7.25 s" in md
    assert "- Outcomes: 3 done, 1 failed, 1 quarantined" in md
    assert "failed: HTTP 503 from side b (3 attempts)" in md
    assert "done → `b2`" in md
    assert "| not run |" in md
    assert "## Problems (1)\n\n- a: contacts.csv row 7: invalid email &lt;script&gt;" in md
    assert "## External calls\n\n| Side | Calls |\n|---|---|\n| a | 12 |\n| b | 40 |\n" in md
    assert md.index("## Held conflicts") < md.index("## Problems") < md.index("## External calls")


def test_dry_run_report_without_calls_or_problems() -> None:
    report = RunReport(run_id=None, connection="c", plan=Plan("c"), dry_run=True)
    md = report_markdown(report)
    assert "**DRY RUN**: nothing was written" in md
    assert "## Held conflicts (0)\n\nNone.\n" in md
    assert "## Operations (0)\n\nNone.\n" in md
    assert "None: every record could be read." in md
    assert "None recorded." in md


def test_markdown_is_deterministic(plan: Plan, report: RunReport) -> None:
    assert render(plan, "md") == plan_markdown(plan) == plan_markdown(plan)
    assert render(report, "md") == report_markdown(report)
    assert plan_markdown(plan).endswith("\n")
    assert not plan_markdown(plan).endswith("\n\n")
