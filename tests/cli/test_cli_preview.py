"""Previews (``plan``, ``run --dry-run``, ``report``) show what a run would do, even what
a guard would stop; their JSON carries the problems behind their exit code; their text
never wraps an id or a command, and stays short for huge plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Invoke, Project, contact, flat


def synced(cli: Invoke, project: Project) -> None:
    result = cli("run", "--config", project.config)
    assert result.exit_code == 0, result.output


@pytest.fixture
def mass_delete(cli: Invoke, project: Project) -> Project:
    """Ten synced contacts, three then gone from side b: a run would delete 30% of a."""
    project.write("a", [contact(f"a{i}", f"p{i}@example.com") for i in range(10)])
    synced(cli, project)
    project.drop("b", {f"p{i}@example.com" for i in range(3)})
    return project


# -- B: a guard's refusal is previewed, not hidden -------------------------------------------
@pytest.mark.parametrize("command", [("plan",), ("run", "--dry-run")])
def test_a_preview_shows_the_plan_a_guard_would_refuse_and_exits_3(
    cli: Invoke, mass_delete: Project, command: tuple[str, ...]
) -> None:
    before = mass_delete.path("a").read_bytes()
    result = cli(*command, "--config", mass_delete.config)
    assert result.exit_code == 3, result.output
    out = flat(result.stdout)
    assert "3 operations (3 deletes)" in out
    assert out.count("deleted on b") == 3  # every delete is listed
    assert "A run would be refused by the safety guard" in out
    warning = flat(result.stderr)
    assert "refused: a run would be refused: the plan deletes 3 of 10 contacts" in warning
    assert "`syncengine run main --force`" in warning
    assert mass_delete.path("a").read_bytes() == before
    with mass_delete.store() as store:
        assert len(store.runs(None)) == 1  # the preview recorded no run


def test_the_refusal_of_a_run_points_at_commands_that_work(
    cli: Invoke, mass_delete: Project
) -> None:
    refused = cli("run", "--config", mass_delete.config)
    assert refused.exit_code == 3
    out = flat(refused.output)
    assert "`syncengine plan main` shows the plan" in out
    assert "run `syncengine run main --force` once if it is intended" in out
    # The command it names for a look does show the plan; the one it names to apply works.
    assert "deleted on b" in flat(cli("plan", "main", "--config", mass_delete.config).stdout)
    forced = cli("run", "main", "--force", "--config", mass_delete.config)
    assert forced.exit_code == 0, forced.output
    assert len(mass_delete.rows("a")) == 7


def test_preview_json_carries_the_refusal(cli: Invoke, mass_delete: Project) -> None:
    result = cli("plan", "--config", mass_delete.config, "-f", "json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["summary"]["delete_a"] == 3
    assert data["refusal"].startswith("the plan deletes 3 of 10 contacts on side a")
    forced = json.loads(cli("plan", "--force", "--config", mass_delete.config, "-f", "json").stdout)
    assert forced["refusal"] is None


def test_report_of_a_refused_plan_says_so_in_the_file(
    cli: Invoke, mass_delete: Project, tmp_path: Path
) -> None:
    out = tmp_path / "r.md"
    result = cli("report", "--config", mass_delete.config, "-f", "md", "-o", out)
    assert result.exit_code == 3, result.output
    text = out.read_text(encoding="utf-8")
    assert "## A run would be refused" in text and "deletes 3 of 10 contacts" in text
    assert "refused: a run would be refused" in flat(result.stderr)
    forced = cli("report", "--config", mass_delete.config, "-f", "md", "-o", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert "## A run would be refused" not in out.read_text(encoding="utf-8")


# -- C: the problems behind exit code 1 are in the JSON ---------------------------------------
@pytest.mark.parametrize("command", [("plan",), ("run", "--dry-run")])
def test_preview_json_lists_the_unreadable_records(
    cli: Invoke, seeded: Project, command: tuple[str, ...]
) -> None:
    with seeded.path("a").open("a", encoding="utf-8") as f:
        f.write("not json\n")
    result = cli(*command, "--config", seeded.config, "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert list(data)[:4] == ["connection", "operations", "conflicts", "duplicates"]
    assert "summary" in data
    (problem,) = data["problems"]
    assert problem.startswith(f"{seeded.path('a')}:4: is not valid JSON")
    assert data["refusal"] is None


def test_deletes_wait_while_an_unreadable_line_may_be_the_missing_record_and_say_so(
    cli: Invoke, project: Project
) -> None:
    """A line whose id cannot be read might be the record gone from the file: no delete
    goes out for it, and the plan says why nothing is deleted, and what to do."""
    project.write("a", [contact(f"a{i}", f"p{i}@example.com") for i in range(10)])
    synced(cli, project)
    project.drop("a", {"p3@example.com"})
    with project.path("a").open("a", encoding="utf-8") as f:
        f.write("{id: 'a4', broken\n")
    result = cli("plan", "--config", project.config, "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["operations"] == []
    (note,) = [n for n in data["notes"] if "not treated as deleted" in n]
    assert note.startswith("side a: 1 contact(s) gone from it not treated as deleted")
    assert "fix those (see Problems)" in note
    text = flat(cli("plan", "--config", project.config).stdout)
    assert "1 contact(s) gone from it not treated as deleted" in text
    # Fixed, the line is a record again and the real delete goes out.
    project.write("a", [contact(f"a{i}", f"p{i}@example.com") for i in range(10) if i != 3])
    fixed = json.loads(cli("plan", "--config", project.config, "--format", "json").stdout)
    assert [(o["side"], o["action"]) for o in fixed["operations"]] == [("b", "delete")]


def test_preview_json_of_a_clean_read_has_no_problems(cli: Invoke, seeded: Project) -> None:
    result = cli("plan", "--config", seeded.config, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["problems"] == []


# -- G: a preview's conflicts are not held yet ------------------------------------------------
@pytest.fixture
def disputed(cli: Invoke, project: Project) -> Project:
    """A linked pair whose company_name both sides changed; ``manual`` holds it."""
    project.write_config(conflicts="manual")
    project.write("a", [contact("a1", "ada@example.com", company_name="Analytical")])
    project.write("b", [contact("b1", "ada@example.com", company_name="Analytical")])
    synced(cli, project)
    project.edit("a", "ada@example.com", company_name="From A")
    project.edit("b", "ada@example.com", company_name="From B")
    return project


def test_a_preview_says_its_conflicts_are_held_when_run_runs(
    cli: Invoke, disputed: Project, tmp_path: Path
) -> None:
    key = "contact:a1:b1:company_name"
    planned = flat(cli("plan", "--config", disputed.config).stdout)
    assert "Not held yet: `syncengine run` holds these for review" in planned
    assert "To resolve, run one command per conflict" not in planned
    assert f"syncengine resolve {key} --keep a" in planned
    # Before the run, the printed command cannot work; the preview said so.
    early = cli("resolve", key, "--keep", "a", "--config", disputed.config)
    assert early.exit_code == 2
    md = tmp_path / "review.md"
    assert cli("report", "--config", disputed.config, "-f", "md", "-o", md).exit_code == 0
    assert "Not held yet: `syncengine run` holds it for review" in md.read_text("utf-8")

    synced(cli, disputed)  # holds the conflict
    after = flat(cli("plan", "--config", disputed.config).stdout)
    assert "To resolve, run one command per conflict" in after
    assert "Not held yet" not in after
    assert "syncengine resolve 1 --keep a" in after  # recorded: the store id works now
    assert cli("resolve", key, "--keep", "a", "--config", disputed.config).exit_code == 0


def test_the_report_of_a_real_run_gives_commands_that_work(
    cli: Invoke, disputed: Project, tmp_path: Path
) -> None:
    out = tmp_path / "run.md"
    result = cli("run", "--config", disputed.config, "--report", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "Resolve with one of:" in text and "Not held yet" not in text
    assert "syncengine resolve 1 --keep b" in text
    assert cli("resolve", "1", "--keep", "b", "--config", disputed.config).exit_code == 0


# -- H: never wrapped when piped; capped listings -----------------------------------------------
def test_piped_text_never_wraps_ids_or_commands(cli: Invoke, project: Project) -> None:
    long_a = "a-" + "x" * 70
    long_b = "b-" + "y" * 70
    project.write_config(conflicts="manual")
    project.write("a", [contact(long_a, "ada@example.com", company_name="Analytical")])
    project.write("b", [contact(long_b, "ada@example.com", company_name="Analytical")])
    synced(cli, project)
    project.edit("a", "ada@example.com", company_name="From A")
    project.edit("b", "ada@example.com", company_name="From B")
    project.write("a", [*project.rows("a"), contact("n-" + "z" * 70, "new@example.com")])
    result = cli("plan", "--config", project.config, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    key = f"contact:{long_a}:{long_b}:company_name"
    assert any(f"syncengine resolve {key} --keep a" in line for line in lines)
    assert any(f"syncengine resolve {key} --keep b" in line for line in lines)
    assert any("n-" + "z" * 70 in line for line in lines)  # the new record's id, whole
    assert any(f"a:{long_a} b:{long_b}" in line for line in lines)


def test_a_huge_plan_lists_200_ops_per_side_and_counts_all(cli: Invoke, project: Project) -> None:
    project.write("a", [contact(f"a{i}", f"p{i}@example.com") for i in range(250)])
    result = cli("plan", "--config", project.config)
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "250 operations (250 creates)" in out
    assert "Side b — 250 operations" in out
    assert "... and 50 more; `--format json` or `syncengine report` lists every one" in out
    assert out.count("new on a") == 200
    listed = json.loads(cli("plan", "--config", project.config, "-f", "json").stdout)
    assert len(listed["operations"]) == 250


def test_a_report_file_lists_every_op(cli: Invoke, project: Project, tmp_path: Path) -> None:
    project.write("a", [contact(f"a{i}", f"p{i}@example.com") for i in range(250)])
    out = tmp_path / "all.md"
    assert cli("report", "--config", project.config, "-f", "md", "-o", out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "p249@example.com" in text and "more;" not in text
