"""Getting started: ``init``, ``check``, config errors (all at once, exit 2) and ``demo``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_support import Invoke, Project, flat

from syncengine import config as config_mod
from syncengine.cli_io import RULE_WIDTH
from syncengine.demo import STARTER_CONFIG


# -- init ------------------------------------------------------------------------------------
def test_init_writes_the_starter_config_and_refuses_to_overwrite(
    cli: Invoke, tmp_path: Path
) -> None:
    target = tmp_path / "new" / "syncengine.toml"
    target.parent.mkdir()

    first = cli("init", target)
    assert first.exit_code == 0, first.output
    assert target.read_text(encoding="utf-8") == STARTER_CONFIG
    assert "wrote" in first.output
    # What init writes is a valid config.
    assert set(config_mod.load(target).connections) == {"main"}

    target.write_text("# my edits\n", encoding="utf-8")
    again = cli("init", target)
    assert again.exit_code == 2
    assert "exists; pass --force to overwrite" in flat(again.output)
    assert target.read_text(encoding="utf-8") == "# my edits\n"

    forced = cli("init", target, "--force")
    assert forced.exit_code == 0
    assert target.read_text(encoding="utf-8") == STARTER_CONFIG


# -- check -----------------------------------------------------------------------------------
def test_check_reads_both_jsonl_sides(cli: Invoke, seeded: Project) -> None:
    result = cli("check", "--config", seeded.config)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert f"side a (jsonl, {seeded.path('a')}): ok, 3 contacts, 0 notes, 0 tasks" in out
    assert f"side b (jsonl, {seeded.path('b')}): ok, 2 contacts, 0 notes, 0 tasks" in out


def test_check_counts_unreadable_records_as_problems_and_names_a_file_to_come(
    cli: Invoke, seeded: Project
) -> None:
    """A side whose every row is malformed is not ok (a run would quarantine them and
    exit 1); a file that does not exist yet is fine, and check says the first run makes it."""
    seeded.path("a").write_text(
        '{"id": "c1", "email": "not-an-email"}\n{"id": "c2", broken\n', encoding="utf-8"
    )
    seeded.path("b").unlink()
    result = cli("check", "--config", seeded.config)
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert f"side a (jsonl, {seeded.path('a')}): 0 contacts" in out
    assert f"side a: unreadable: {seeded.path('a')}:1:" in out
    assert f"side a: unreadable: {seeded.path('a')}:2:" in out
    assert f"{seeded.path('b')}, which does not exist yet: the first run that writes here" in out


def test_check_names_a_missing_environment_secret(
    cli: Invoke, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SE_TEST_GHL_TOKEN", raising=False)
    project.config.write_text(
        "[connections.main.a]\n"
        'adapter = "jsonl"\n'
        'path = "a.jsonl"\n'
        "[connections.main.b]\n"
        'adapter = "ghl"\n'
        'location_id = "loc-1"\n'
        'token = "env:SE_TEST_GHL_TOKEN"\n',
        encoding="utf-8",
    )
    result = cli("check", "--config", project.config)
    assert result.exit_code == 2
    out = flat(result.output)
    assert "token: environment variable SE_TEST_GHL_TOKEN is not set; export it" in out
    assert "Traceback" not in result.output


def test_a_missing_config_file_says_how_to_make_one(cli: Invoke, tmp_path: Path) -> None:
    result = cli("plan", "--config", tmp_path / "nope.toml")
    assert result.exit_code == 2
    assert "create one with `syncengine init`" in flat(result.output)


def test_a_config_can_be_found_through_the_environment(cli: Invoke, seeded: Project) -> None:
    result = cli("check", env={"SYNCENGINE_CONFIG": str(seeded.config)})
    assert result.exit_code == 0, result.output


# -- config errors -----------------------------------------------------------------------------
BROKEN = """\
[connections.main]
conflicts = "sometimes"
max_delete_share = 3

[connections.main.a]
adapter = "jsonl"
path = "a.jsonl"
token = "sk-live-0123456789abcdef"

[connections.main.b]
path = "b.jsonl"
"""


def test_every_config_problem_is_reported_at_once(cli: Invoke, project: Project) -> None:
    project.config.write_text(BROKEN, encoding="utf-8")
    result = cli("plan", "--config", project.config)
    assert result.exit_code == 2
    out = flat(result.output)
    assert f"{project.config}: 5 problem(s)" in out
    assert "connections.main.conflicts = 'sometimes': use one of newest, a, b, manual" in out
    assert "connections.main.max_delete_share = 3: use a share between 0 and 1" in out
    assert "connections.main.a.token holds a literal secret" in out
    assert "connections.main.a.token: unknown setting; known settings: path" in out
    assert "connections.main.b.adapter is missing: set adapter = one of csv, ghl, jsonl" in out
    assert "Traceback" not in result.output
    # Nothing ran: not even the state database was created.
    assert not project.db.exists()


def test_a_literal_token_is_refused_with_the_fix_and_never_echoed(
    cli: Invoke, project: Project
) -> None:
    project.config.write_text(
        "[connections.main.a]\n"
        'adapter = "jsonl"\n'
        'path = "a.jsonl"\n'
        "[connections.main.b]\n"
        'adapter = "ghl"\n'
        'location_id = "loc-1"\n'
        'token = "pit-9f8e7d6c5b4a"\n',
        encoding="utf-8",
    )
    for command in ("check", "run", "plan"):
        result = cli(command, "--config", project.config)
        assert result.exit_code == 2, command
        out = flat(result.output)
        assert "connections.main.b.token holds a literal secret" in out
        assert 'set token = "env:VAR" (export VAR) or "keyring:NAME"' in out
        assert "pit-9f8e7d6c5b4a" not in result.output


def test_an_unknown_connection_name_is_a_usage_error(cli: Invoke, seeded: Project) -> None:
    result = cli("plan", "nope", "--config", seeded.config)
    assert result.exit_code == 2
    assert "no connection 'nope'; known: main" in flat(result.output)


def test_a_missing_side_table_is_named_in_the_message(cli: Invoke, project: Project) -> None:
    project.config.write_text(
        '[connections.main.a]\nadapter = "jsonl"\npath = "a.jsonl"\n', encoding="utf-8"
    )
    result = cli("check", "--config", project.config)
    assert result.exit_code == 2
    assert "[connections.main.b] is missing" in flat(result.output)


# -- demo ------------------------------------------------------------------------------------
def test_demo_runs_and_every_file_it_names_exists(cli: Invoke, tmp_path: Path) -> None:
    where = tmp_path / "demo"
    result = cli("demo", "--dir", where)
    assert result.exit_code == 0, result.output
    named = {
        m.group(1): Path(m.group(2))
        for m in re.finditer(
            r"(config|side a \(app\)|state database|review report):\s+(\S+)",
            result.output,
        )
    }
    assert set(named) == {"config", "side a (app)", "state database", "review report"}
    for label, path in named.items():
        assert path.is_file(), f"{label}: {path} does not exist"
        assert path.resolve().parent == where.resolve()
    assert re.search(r"side b \(GHL\):\s+the fake GHL at http://127\.0\.0\.1:\d+", result.output)
    assert "second run plans: 0 operations" in result.output
    # Piped, nothing wraps, but a section heading is not drawn across 10,000 columns.
    headings = [line for line in result.output.splitlines() if re.search(r"─ \d\. ", line)]
    assert len(headings) == 4
    assert max(len(line) for line in headings) <= RULE_WIDTH
    assert "<html" in (where / "conflict-review.html").read_text(encoding="utf-8").lower()
    # GHL's contacts reached the app once each: linked by email, never duplicated.
    emails = [
        json.loads(line)["email"].lower()
        for line in (where / "app.jsonl").read_text(encoding="utf-8").splitlines()
        if '"email"' in line
    ]
    assert "linus@kernel.org" in emails  # created from GHL
    assert "fran@ibm.com" not in emails  # deleted in GHL, and the delete flowed
    assert len(emails) == len(set(emails))


def test_the_demo_never_empties_a_folder_it_did_not_make(cli: Invoke, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work", encoding="utf-8")
    result = cli("demo", "--dir", mine)
    assert result.exit_code == 2
    assert "the folder has files the demo did not make" in flat(result.output)
    assert (mine / "thesis.txt").read_text(encoding="utf-8") == "years of work"
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.txt"]


def test_the_demo_leaves_a_held_conflict_to_review(cli: Invoke, tmp_path: Path) -> None:
    where = tmp_path / "demo"
    assert cli("demo", "--dir", where).exit_code == 0
    # Its own folder is cleared and made again on the next run.
    (where / "stale.txt").write_text("left over", encoding="utf-8")
    result = cli("demo", "--dir", where)
    assert result.exit_code == 0
    assert not (where / "stale.txt").exists()
    listed = cli("conflicts", "--config", where / "syncengine.toml")
    assert listed.exit_code == 0
    assert "website" in listed.output
    assert "ewd.example.org" in listed.output
    # Once its run has held the conflict, the demo's later preview and its review
    # report name it by the id `resolve` takes, not as a conflict not yet held.
    held_id = re.search(r"^│ (\d+) ", listed.output, re.M)
    assert held_id is not None, listed.output
    second = flat(result.output).split("4. a second run right away")[1]
    assert "Not held yet" not in second
    assert f"syncengine resolve {held_id.group(1)} --keep a" in second
    report = (where / "conflict-review.html").read_text(encoding="utf-8")
    assert f"syncengine resolve {held_id.group(1)} --keep b" in report


def test_the_command_the_demo_names_shows_what_its_run_sent(cli: Invoke, tmp_path: Path) -> None:
    where = tmp_path / "demo"
    result = cli("demo", "--dir", where)
    found = re.search(r"`syncengine history show (\d+) -c (\S+)`", result.output)
    assert found is not None, result.output
    shown = cli("history", "show", found.group(1), "-c", found.group(2))
    assert shown.exit_code == 0, shown.output
    assert "Knuth (TAOCP)" in shown.output and "E. Knuth" in shown.output  # newest won
    assert "delete" in shown.output  # fran@ibm.com, deleted in GHL, went from the app


def test_the_demo_config_keeps_each_comment_on_its_own_setting() -> None:
    """The demo's config is one a user reads to learn the format: every comment stays
    on the line of the setting it explains, and the file is valid TOML."""
    import tomllib

    from syncengine.demo import demo_config

    text = demo_config("http://127.0.0.1:9", "loc")
    lines = {line.split("=")[0].strip(): line for line in text.splitlines() if "=" in line}
    assert lines["max_delete_share"].endswith("# refuse a run deleting more than this share")
    assert lines["full_pass_every"].endswith("# GHL deletes show on full passes")
    assert all(line.count("#") <= 1 for line in lines.values())
    assert tomllib.loads(text)["connections"]["main"]["full_pass_every"] == "0s"
