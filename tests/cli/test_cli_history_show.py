"""``syncengine history show RUN``: what a past run sent to each side, from its journal."""

from __future__ import annotations

import json

from cli_support import Invoke, Project, flat

from syncengine.run_view import run_view


def table_rows(output: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│") and line.split("│")[1].strip().isdigit()
    ]


def test_show_lists_each_op_its_changes_and_outcome(cli: Invoke, seeded: Project) -> None:
    assert cli("run", "--config", seeded.config).exit_code == 0
    rows = seeded.rows("a")
    for row in rows:
        if row["id"] == "a2":
            row["city"] = "Oslo"
    seeded.write("a", rows)
    assert cli("run", "--config", seeded.config).exit_code == 0

    first = cli("history", "show", "1", "--config", seeded.config)
    assert first.exit_code == 0, first.output
    out = flat(first.output)
    assert "run 1 · main · ok" in out and "operations — 6" in out
    created = [r for r in table_rows(first.output) if r[2] == "create" and r[1] == "b"]
    assert len(created) == 2 and all(r[4].startswith("(new) → ") for r in created)
    assert all(r[6] == "done" for r in created)

    second = cli("history", "show", "2", "--config", seeded.config)
    (update,) = table_rows(second.output)
    assert update[1:4] == ["b", "update", "contact"]
    assert update[5] == 'city: null → "Oslo"' and update[6] == "done"

    # Before or after the subcommand, as everywhere.
    before = cli("history", "--config", seeded.config, "show", "2")
    assert before.exit_code == 0 and 'city: null → "Oslo"' in before.output


def test_show_as_json_holds_every_journal_row(cli: Invoke, seeded: Project) -> None:
    assert cli("run", "--config", seeded.config).exit_code == 0
    result = cli("history", "show", "1", "--config", seeded.config, "-f", "json")
    data = json.loads(result.stdout)
    assert data["run"]["id"] == 1 and data["run"]["summary"]["outcome_done"] == 6
    ops = data["operations"]
    assert [op["seq"] for op in ops] == list(range(1, 7))
    assert {op["status"] for op in ops} == {"done"}
    create = next(op for op in ops if op["action"] == "create")
    assert isinstance(create["payload"], dict) and create["payload"]["fields"]["email"]


def test_a_run_that_sent_nothing_says_so(cli: Invoke, seeded: Project) -> None:
    assert cli("run", "--config", seeded.config).exit_code == 0
    assert cli("run", "--config", seeded.config).exit_code == 0
    out = flat(cli("history", "show", "2", "--config", seeded.config).output)
    assert "both sides agreed" in out  # as `history` says of it
    assert "nothing was sent to either side" in out


def test_an_unknown_run_is_exit_2_with_the_command_that_lists_them(
    cli: Invoke, seeded: Project
) -> None:
    result = cli("history", "show", "42", "--config", seeded.config)
    assert result.exit_code == 2
    assert "no run 42 in the history" in flat(result.output)
    assert "`syncengine history`" in flat(result.output)
    assert "Traceback" not in result.output


def test_a_refused_write_shows_its_reason_and_a_long_run_is_capped() -> None:
    from datetime import UTC, datetime

    from rich.console import Console

    at = datetime(2026, 1, 1, tzinfo=UTC)
    run = {
        "id": 7,
        "connection": "main",
        "status": "partial",
        "started_at": at,
        "finished_at": at,
        "summary": {"outcome_quarantined": 1, "create_b": 1},
        "error": None,
    }
    row = {
        "seq": 1,
        "side": "b",
        "action": "create",
        "entity": "task",
        "a_id": "t1",
        "b_id": None,
        "payload": json.dumps({"fields": {"title": "call"}}),
        "status": "quarantined",
        "result_id": None,
        "error": "refused: GHL tasks need a due_date",
        "attempts": 1,
    }
    console = Console(width=200, record=True)
    console.print(run_view(run, [row], total=450))
    text = console.export_text()
    assert "1 quarantined · 1 create on b" in text
    assert "(new) from t1" in text and 'title = "call"' in text
    assert "refused: GHL tasks need a due_date" in text
    assert "... and 449 more; `--format json` lists every one" in text


def test_record_lists_every_write_of_one_record_newest_first(cli: Invoke, seeded: Project) -> None:
    assert cli("run", "--config", seeded.config).exit_code == 0
    seeded.edit("a", "grace@example.com", city="Oslo")
    assert cli("run", "--config", seeded.config).exit_code == 0
    new_id = seeded.by_email("b")["grace@example.com"]["id"]

    for ref in ("a2", new_id):  # by its id on either side
        result = cli("history", "record", ref, "--config", seeded.config)
        assert result.exit_code == 0, result.output
        rows = table_rows(result.output)
        assert [(r[0], r[3]) for r in rows] == [("2", "update"), ("1", "create")]
        assert rows[0][6] == 'city: null → "Oslo"'
        assert rows[1][5].startswith(f"(new) → {new_id}")

    as_json = json.loads(cli("history", "record", "a2", "-c", seeded.config, "-f", "json").stdout)
    assert [(r["run_id"], r["action"]) for r in as_json] == [(2, "update"), (1, "create")]
    none = cli("history", "record", "zz", "--config", seeded.config)
    assert none.exit_code == 0 and "no run wrote zz" in flat(none.output)
