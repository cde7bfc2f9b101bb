"""The package surface: the dispatcher, ``__all__``, and what it may import."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, cast

import pytest

import syncengine.render as render_pkg
from syncengine.models import (
    Action,
    Conflict,
    ConflictKind,
    Op,
    OpOutcome,
    OpStatus,
    Plan,
    RunReport,
)
from syncengine.render import render
from syncengine.render._common import outcomes_for_ops


def test_all_is_sorted_and_exported() -> None:
    assert render_pkg.__all__ == sorted(render_pkg.__all__)
    for name in render_pkg.__all__:
        assert hasattr(render_pkg, name), name


@pytest.mark.parametrize("fmt", ["text", "json", "md", "html"])
def test_every_format_for_plans_and_reports(fmt: Any, plan: Plan, report: RunReport) -> None:
    for obj in (plan, report):
        out = render(obj, fmt)
        assert out.endswith("\n")
        assert not out.endswith("\n\n")
        assert "crm→ghl" in out
        assert render(obj, fmt) == out


def test_unknown_format_is_refused(plan: Plan) -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        render(plan, cast(Any, "pdf"))


def test_render_imports_no_io_layers() -> None:
    forbidden = ["httpx", "sqlmodel", "sqlalchemy", "apscheduler", "state", "adapters", "typer"]
    code = (
        "import sys, syncengine.render\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_held_delete_conflict_shows_the_deletion() -> None:
    conflict = Conflict(
        "contact",
        "a1",
        "b1",
        "*",
        ConflictKind.DELETE,
        {"x": 1},
        None,
        {"x": 1},
        None,
        None,
        "held",
        "manual",
    )
    plan = Plan("c", conflicts=(conflict,))
    for fmt in ("text", "md", "html"):
        out = render(plan, cast(Any, fmt))
        assert "delete held for review" in out
        assert "(deleted)" in out
        assert "syncengine resolve" in out


def test_outcomes_are_matched_by_op_not_position() -> None:
    first = Op("a", Action.UPDATE, "note", "n1", "m1", reason="one")
    twin = Op("a", Action.UPDATE, "note", "n1", "m1", reason="two")
    other = Op("b", Action.DELETE, "task", "t1", "u1")
    report = RunReport(
        run_id=1,
        connection="c",
        plan=Plan("c", operations=(first, twin, other)),
        outcomes=(
            OpOutcome(other, OpStatus.FAILED, error="boom"),
            OpOutcome(twin, OpStatus.SKIPPED),
            OpOutcome(first, OpStatus.DONE),
        ),
    )
    statuses = [o.status if o is not None else None for o in outcomes_for_ops(report)]
    assert statuses == [OpStatus.DONE, OpStatus.SKIPPED, OpStatus.FAILED]
    partial = RunReport(1, "c", report.plan, outcomes=(OpOutcome(first, OpStatus.DONE),))
    assert [o is not None for o in outcomes_for_ops(partial)] == [True, False, False]


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_an_outcome_names_a_new_id_and_never_the_id_it_was_sent_to(fmt: Any) -> None:
    create = Op("b", Action.CREATE, "contact", "a2", None, fields={"email": "z@x.example"})
    update = Op("a", Action.UPDATE, "contact", "id-updated", "b3")
    delete = Op("a", Action.DELETE, "contact", "id-deleted", "b4")
    report = RunReport(
        run_id=1,
        connection="c",
        plan=Plan("c", operations=(create, update, delete)),
        outcomes=(
            OpOutcome(create, OpStatus.DONE, result_id="new-b2", attempts=2),
            OpOutcome(update, OpStatus.DONE, result_id="id-updated"),
            OpOutcome(delete, OpStatus.DONE, result_id="id-deleted"),
        ),
    )
    out = render(report, fmt)
    assert "new-b2" in out
    assert "(2 attempts)" in out
    # The row names the updated and the deleted record once, as its id: no "→ itself".
    assert out.count("id-updated") == 1
    assert out.count("id-deleted") == 1


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_a_preview_has_no_outcome_column(fmt: Any, plan: Plan) -> None:
    preview = RunReport(None, "c", plan, dry_run=True)
    applied = RunReport(7, "c", plan, outcomes=(OpOutcome(plan.operations[0], OpStatus.DONE),))
    assert "not run" not in render(preview, fmt)
    assert "not run" in render(applied, fmt)  # an applied op beside ops that never ran
