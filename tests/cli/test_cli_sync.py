"""Syncing from the command line: ``plan``, ``run``, the guards, the lock, ``schedule``,
``history`` and ``report``, with their exit codes (0 ok, 1 partial, 3 refused, 4 locked)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from cli_support import Invoke, Project, contact, flat


def plan_json(cli: Invoke, project: Project) -> dict[str, object]:
    result = cli("plan", "--config", project.config, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def synced(cli: Invoke, project: Project) -> None:
    result = cli("run", "--config", project.config)
    assert result.exit_code == 0, result.output


# -- plan ------------------------------------------------------------------------------------
def test_plan_json_follows_the_contract(cli: Invoke, seeded: Project) -> None:
    data = plan_json(cli, seeded)
    assert list(data)[:4] == ["connection", "operations", "conflicts", "duplicates"]
    assert "summary" in data
    assert data["connection"] == "main"
    ops = data["operations"]
    assert isinstance(ops, list)
    for op in ops:
        assert {"side", "action", "entity", "id", "changes"} <= set(op)
        for change in op["changes"].values():
            assert set(change) == {"from", "to"}
    shapes = sorted((op["side"], op["action"], op["entity"]) for op in ops)
    assert shapes == [
        ("a", "create", "contact"),  # linus, new on b
        ("a", "update", "contact"),  # ada gets b's phone
        ("b", "create", "contact"),  # grace
        ("b", "create", "contact"),  # alan
        ("b", "update", "contact"),  # ada gets a's company
        ("both", "link", "contact"),  # ada: matched by email, not duplicated
    ]
    by_key = {(op["side"], op["action"], op["id"]): op for op in ops}
    assert by_key[("a", "update", "a1")]["changes"] == {
        "phone": {"from": None, "to": "+1 202 555 0143"}
    }
    assert by_key[("b", "update", "b1")]["changes"] == {
        "company_name": {"from": None, "to": "Analytical"}
    }
    creates_on_b = [op for op in ops if op["side"] == "b" and op["action"] == "create"]
    assert {op["changes"]["email"]["to"] for op in creates_on_b} == {
        "grace@example.com",
        "alan@example.com",
    }
    assert all(op["changes"]["email"]["from"] is None for op in creates_on_b)
    assert data["conflicts"] == [] and data["duplicates"] == []
    summary = data["summary"]
    assert isinstance(summary, dict)
    assert (summary["operations"], summary["create_b"], summary["link"]) == (6, 2, 1)


def test_plan_writes_nothing(cli: Invoke, seeded: Project) -> None:
    before = {side: seeded.path(side).read_bytes() for side in ("a", "b")}
    text = cli("plan", "--config", seeded.config)
    assert text.exit_code == 0, text.output
    assert "6 operations" in flat(text.output)
    plan_json(cli, seeded)
    assert {side: seeded.path(side).read_bytes() for side in ("a", "b")} == before
    with seeded.store() as store:
        assert store.runs(None) == []
        assert store.fingerprints("main", "a", "contact") == {}
        assert store.count_links("main", "contact") == 0


# -- run -------------------------------------------------------------------------------------
def test_run_syncs_both_sides_and_a_second_run_plans_nothing(cli: Invoke, seeded: Project) -> None:
    result = cli("run", "--config", seeded.config)
    assert result.exit_code == 0, result.output
    assert "6 done" in flat(result.output)
    a, b = seeded.by_email("a"), seeded.by_email("b")
    assert (
        set(a)
        == set(b)
        == {
            "ada@example.com",
            "grace@example.com",
            "alan@example.com",
            "linus@example.com",
        }
    )
    assert a["ada@example.com"]["id"] == "a1" and b["ada@example.com"]["id"] == "b1"
    assert a["ada@example.com"]["phone"] == b["ada@example.com"]["phone"] == "+1 202 555 0143"
    assert b["ada@example.com"]["company_name"] == "Analytical"
    for email in a:
        assert a[email].get("first_name") == b[email].get("first_name")

    again = plan_json(cli, seeded)
    assert again["operations"] == []
    second = cli("run", "--config", seeded.config, "--format", "json")
    assert second.exit_code == 0
    report = json.loads(second.stdout)
    assert report["outcomes"] == [] and report["dry_run"] is False
    with seeded.store() as store:
        assert [r["status"] for r in store.runs("main")] == ["ok", "ok"]


def test_run_dry_run_is_plan(cli: Invoke, seeded: Project) -> None:
    before = seeded.path("b").read_bytes()
    result = cli("run", "--dry-run", "--config", seeded.config)
    assert result.exit_code == 0
    assert seeded.path("b").read_bytes() == before


def test_a_malformed_line_is_named_and_the_rest_syncs(cli: Invoke, seeded: Project) -> None:
    with seeded.path("a").open("a", encoding="utf-8") as f:
        f.write('{"id": "a9", "email": broken}\n')  # line 4
    result = cli("run", "--config", seeded.config)
    assert result.exit_code == 1, result.output
    assert f"{seeded.path('a')}:4: is not valid JSON" in flat(result.output)
    # Every readable record synced; the bad line is left as it was.
    assert set(seeded.by_email("b")) == {
        "ada@example.com",
        "grace@example.com",
        "alan@example.com",
        "linus@example.com",
    }
    assert seeded.path("a").read_text(encoding="utf-8").splitlines()[3] == (
        '{"id": "a9", "email": broken}'
    )
    with seeded.store() as store:
        (run,) = store.runs("main")
        assert run["status"] == "partial"
    # `quarantine` names what was held back and where to fix it.
    shown = cli("quarantine", "--config", seeded.config)
    assert shown.exit_code == 0
    assert f"main: {seeded.path('a')}:4: is not valid JSON" in flat(shown.output)
    listed = json.loads(cli("quarantine", "-f", "json", "--config", seeded.config).output)
    (bad,) = listed["unreadable"]
    assert {k: v for k, v in bad.items() if k != "problem"} == {
        "connection": "main",
        "side": "a",
        "entity": "contact",
        "where": f"{seeded.path('a')}:4",
        "record_id": "a9",
    }
    assert bad["problem"].startswith(f"{seeded.path('a')}:4: is not valid JSON")


def csv_side(project: Project, text: str, settings: str = "") -> Path:
    """Side a a CSV file holding ``text`` (with these extra settings), side b JSONL."""
    crm = project.dir / "crm.csv"
    crm.write_text(text, encoding="utf-8")
    project.config.write_text(
        f'[connections.main.a]\nadapter = "csv"\npath = "crm.csv"\n{settings}'
        '[connections.main.b]\nadapter = "jsonl"\npath = "b.jsonl"\n',
        encoding="utf-8",
    )
    return crm


def test_a_semicolon_csv_syncs_and_keeps_its_semicolons(cli: Invoke, project: Project) -> None:
    """A CSV saved by Excel where the decimal mark is a comma: the header says ';'."""
    crm = csv_side(project, "id;First Name;email;tags\nc1;Ada;ada@example.com;vip\n")
    checked = cli("check", "--config", project.config)
    assert checked.exit_code == 0, checked.output
    assert f"side a (csv, {crm}, semicolon-separated): ok, 1 contact readable" in checked.output
    synced(cli, project)
    (ada,) = project.by_email("b").values()
    assert (ada["first_name"], ada["tags"]) == ("Ada", ["vip"])
    project.edit("b", "ada@example.com", tags=["beta", "vip"], city="Oslo")
    synced(cli, project)
    assert crm.read_text(encoding="utf-8").splitlines() == [
        "id;First Name;email;tags;city",
        'c1;Ada;ada@example.com;"vip;beta";Oslo',  # the cell's order, the new tag after
    ]
    assert plan_json(cli, project)["operations"] == []


def test_an_export_whose_columns_are_not_mapped_is_said_in_the_plan(
    cli: Invoke, project: Project
) -> None:
    csv_side(project, "id,Email Address\nx1,ada@example.com\n")
    notes = " ".join(plan_json(cli, project)["notes"])
    assert (
        "column 'Email Address' is not synced (it is kept as it is); if it holds email, "
        'map it: columns = { email = "Email Address" }'
    ) in notes
    assert "1 contact(s) created on b with no field at all (from x1)" in notes


def test_an_exports_columns_are_mapped_by_the_config(cli: Invoke, project: Project) -> None:
    csv_side(
        project,
        '"Contact Id","Email Address"\nx1,ada@example.com\n',
        'columns = { id = "Contact Id", email = "Email Address" }\n',
    )
    synced(cli, project)
    assert set(project.by_email("b")) == {"ada@example.com"}
    project.config.write_text(
        project.config.read_text(encoding="utf-8").replace('id = "Contact Id"', 'idd = "X"'),
        encoding="utf-8",
    )
    result = cli("plan", "--config", project.config)
    assert result.exit_code == 2
    assert "connections.main.a: csv adapter: columns.idd: no such field; did you mean 'id'?" in (
        flat(result.output)
    )


def test_a_side_that_cannot_be_read_at_all_names_it_and_writes_nothing(
    cli: Invoke, project: Project
) -> None:
    crm = csv_side(project, "email,first_name\nada@example.com,Ada\n")
    for command in ("plan", "run"):
        result = cli(command, "--config", project.config)
        assert result.exit_code == 1, result.output
        said = flat(result.stderr)
        assert said.startswith(
            f"error: side a (csv) could not be read, so nothing ran: {crm}:1: the header "
            "has no 'id' column"
        )
        assert "Error:" not in said  # the message, not the exception's class
    assert not project.path("b").exists() or project.rows("b") == []
    history = cli("history", "--config", project.config)
    assert "could not be read" in flat(history.output)
    checked = flat(cli("check", "--config", project.config).output)
    assert f"problem: side a: {crm}:1: the header has no 'id' column" in checked


def test_quarantine_lists_a_write_the_side_keeps_refusing(cli: Invoke, project: Project) -> None:
    from adapters.memory import MemoryAdapter

    project.config.write_text(
        '[connections.main.a]\nadapter = "jsonl"\npath = "a.jsonl"\n'
        '[connections.main.b]\nadapter = "memory"\nname = "quarantine-b"\n',
        encoding="utf-8",
    )
    project.write("a", [contact("a1", "ada@example.com"), contact("a2", "bob@example.com")])
    assert cli("quarantine", "--config", project.config).output.strip() == (
        "nothing is quarantined"
    )
    side_b = MemoryAdapter.named("quarantine-b")
    try:
        assert cli("run", "--config", project.config).exit_code == 0
        (ada,) = [
            r for r in side_b.records("contact").values() if r.fields["email"] == "ada@example.com"
        ]
        side_b.faults.permanent_ids.add(ada.id)
        project.edit("a", "ada@example.com", first_name="Ada")
        assert cli("run", "--config", project.config).exit_code == 1
        shown = flat(cli("quarantine", "--config", project.config).output)
        assert "injected permanent failure" in shown and ada.id in shown
        listed = json.loads(cli("quarantine", "-f", "json", "--config", project.config).output)
        held, unreadable = listed["quarantined"], listed["unreadable"]
        assert [(q["connection"], q["side"], q["record_id"]) for q in held] == [
            ("main", "b", ada.id)
        ]
        assert "injected permanent failure" in held[0]["reason"] and unreadable == []
        side_b.faults.permanent_ids.clear()
        assert cli("run", "--config", project.config).exit_code == 0
        assert "nothing is quarantined" in cli("quarantine", "--config", project.config).output
        assert side_b.records("contact")[ada.id].fields["first_name"] == "Ada"
    finally:
        MemoryAdapter.forget_all()


# -- safety guards -----------------------------------------------------------------------------
def test_an_emptied_side_is_refused_until_forced(cli: Invoke, seeded: Project) -> None:
    synced(cli, seeded)
    seeded.write("b", [])
    before_a = seeded.path("a").read_bytes()

    refused = cli("run", "--config", seeded.config)
    assert refused.exit_code == 3
    out = flat(refused.output)
    assert "refused: side b returned no contacts but had 4 linked" in out
    assert "--force" in out
    assert seeded.path("a").read_bytes() == before_a
    preview = cli("plan", "--config", seeded.config)
    assert preview.exit_code == 3  # and it shows what the refused run would delete
    assert flat(preview.stdout).count("deleted on b") == 4
    with seeded.store() as store:
        assert store.runs("main")[0]["status"] == "refused"

    forced = cli("run", "--force", "--config", seeded.config)
    assert forced.exit_code == 0, forced.output
    assert seeded.by_email("a") == {}


def test_a_mass_delete_is_refused_until_forced(cli: Invoke, project: Project) -> None:
    people = [contact(f"a{i}", f"p{i}@example.com", first_name=f"P{i}") for i in range(10)]
    project.write("a", people)
    synced(cli, project)
    gone = {f"p{i}@example.com" for i in range(3)}  # 30% > max_delete_share 20%
    project.drop("b", gone)
    before_a = project.path("a").read_bytes()

    refused = cli("run", "--config", project.config)
    assert refused.exit_code == 3
    assert "the plan deletes 3 of 10 contacts on side a (30%, more than max_delete_share 20%)" in (
        flat(refused.output)
    )
    assert project.path("a").read_bytes() == before_a

    forced = cli("run", "--force", "--config", project.config)
    assert forced.exit_code == 0, forced.output
    assert set(project.by_email("a")) == {f"p{i}@example.com" for i in range(3, 10)}


def test_a_contact_deleted_with_the_sides_last_note_passes_the_empty_side_guard(
    cli: Invoke, project: Project
) -> None:
    """The note went with its contact: the side was not emptied, it lost one person."""
    project.write_config(entities=["contact", "note"])
    rows = [contact(f"a{i}", f"p{i}@example.com") for i in range(6)]
    note = {"id": "n1", "entity": "note", "contact_id": "a1", "body": "call back"}
    project.write("a", [*rows, note])
    synced(cli, project)
    project.write("a", [r for r in rows if r["id"] != "a1"])
    result = cli("run", "--config", project.config)
    assert result.exit_code == 0, result.output
    assert "p1@example.com" not in project.by_email("b")
    assert [r for r in project.rows("b") if r.get("entity") == "note"] == []


def test_a_contact_delete_says_it_takes_the_unsynced_notes_there_with_it(
    cli: Invoke, project: Project
) -> None:
    """Contacts only: b's notes are b's alone, and its contact's delete takes them."""
    project.write_config(entities=["contact"])
    rows = [contact(f"a{i}", f"p{i}@example.com") for i in range(6)]
    project.write("a", rows)
    synced(cli, project)
    b1 = project.by_email("b")["p1@example.com"]["id"]
    note = {"id": "bn1", "entity": "note", "contact_id": b1, "body": "only here"}
    project.write("b", [*project.rows("b"), note])
    project.write("a", [r for r in rows if r["id"] != "a1"])
    data = plan_json(cli, project)
    assert [(o["side"], o["action"], o["id"]) for o in data["operations"]] == [("b", "delete", b1)]
    assert (
        "side b: the 1 contact delete(s) there also delete any notes, tasks or "
        "appointments those contacts have there, which this connection does not sync"
    ) in " ".join(data["notes"])
    synced(cli, project)
    assert [r for r in project.rows("b") if r.get("entity") == "note"] == []


def test_a_small_delete_passes_the_guard(cli: Invoke, project: Project) -> None:
    project.write("a", [contact(f"a{i}", f"p{i}@example.com") for i in range(10)])
    synced(cli, project)
    project.drop("b", {"p0@example.com"})
    synced(cli, project)
    assert "p0@example.com" not in project.by_email("a")


# -- the lock --------------------------------------------------------------------------------
def test_a_run_while_another_holds_the_lock_exits_4(cli: Invoke, seeded: Project) -> None:
    with seeded.store() as store:
        holder = store.acquire_lock("main")
        before = seeded.path("b").read_bytes()
        result = cli("run", "--config", seeded.config)
        assert result.exit_code == 4
        assert "busy: connection 'main' is being synced by pid" in flat(result.output)
        assert seeded.path("b").read_bytes() == before
        # A plan writes nothing, so it takes no lock.
        assert cli("plan", "--config", seeded.config).exit_code == 0
        store.release_lock("main", holder)
    synced(cli, seeded)


def test_a_field_with_direction_none_stays_on_each_side(cli: Invoke, project: Project) -> None:
    project.config.write_text(
        '[connections.main]\nconflicts = "manual"\n'
        '[connections.main.fields]\nsource = { direction = "none" }\n'
        '[connections.main.a]\nadapter = "jsonl"\npath = "a.jsonl"\n'
        '[connections.main.b]\nadapter = "jsonl"\npath = "b.jsonl"\n',
        encoding="utf-8",
    )
    project.write("a", [contact("a1", "ada@example.com", source="web form", city="Leeds")])
    project.write("b", [])
    synced(cli, project)
    assert "source" not in project.by_email("b")["ada@example.com"]  # not copied on create
    project.edit("a", "ada@example.com", source="trade fair", city="York")
    project.edit("b", "ada@example.com", source="import")
    result = cli("plan", "--config", project.config, "-f", "json")
    data = json.loads(result.stdout)
    assert data["conflicts"] == []  # both changed it: not synced, so no conflict
    (op,) = data["operations"]
    assert (op["side"], list(op["changes"])) == ("b", ["city"])
    synced(cli, project)
    assert project.by_email("a")["ada@example.com"]["source"] == "trade fair"
    assert project.by_email("b")["ada@example.com"]["source"] == "import"


# -- schedule --------------------------------------------------------------------------------
def test_schedule_once_runs_each_scheduled_connection(cli: Invoke, seeded: Project) -> None:
    seeded.write_config(schedule="every 5m")
    result = cli("schedule", "--once", "--config", seeded.config)
    assert result.exit_code == 0, result.output
    # The counts as history shows them, not a dict.
    assert "main: run 1: 6 done · 1 create on a, 2 creates on b, 1 update on a" in flat(
        result.output
    )
    assert "grace@example.com" in seeded.by_email("b")
    again = cli("schedule", "--once", "--config", seeded.config)
    assert "main: run 2: both sides agreed" in flat(again.output)


def test_schedule_without_any_schedule_is_a_usage_error(cli: Invoke, seeded: Project) -> None:
    result = cli("schedule", "--once", "--config", seeded.config)
    assert result.exit_code == 2
    assert "no connection has a schedule" in flat(result.output)
    with seeded.store() as store:
        assert store.runs(None) == []


def test_schedule_once_skips_a_busy_connection(cli: Invoke, seeded: Project) -> None:
    seeded.write_config(schedule="*/15 * * * *")
    with seeded.store() as store:
        store.acquire_lock("main")
        result = cli("schedule", "--once", "--config", seeded.config)
    assert result.exit_code == 0
    assert "main: skipped" in flat(result.output)
    assert "grace@example.com" not in seeded.by_email("b")


# -- history and report ----------------------------------------------------------------------
def test_history_says_when_a_run_had_nothing_to_change(cli: Invoke, seeded: Project) -> None:
    synced(cli, seeded)
    assert cli("run", "--config", seeded.config).exit_code == 0
    newest = next(
        line
        for line in cli("history", "--config", seeded.config).output.splitlines()
        if "│ main" in line
    )
    assert newest.split("│")[1].strip() == "2" and "both sides agreed" in newest


def test_history_lists_runs_newest_first(cli: Invoke, seeded: Project) -> None:
    empty = cli("history", "--config", seeded.config)
    assert empty.exit_code == 0
    assert "no runs yet" in empty.output
    synced(cli, seeded)
    seeded.write("b", [])
    assert cli("run", "--config", seeded.config).exit_code == 3

    result = cli("history", "--config", seeded.config)
    assert result.exit_code == 0
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.output.splitlines()
        if "│ main" in line
    ]
    assert [row[:3] for row in rows] == [["2", "main", "refused"], ["1", "main", "ok"]]
    assert "side b returned no contacts" in rows[0][5]  # a refused run shows why
    assert "2 creates on b" in rows[1][5] and "1 link" in rows[1][5]
    as_json = cli("history", "--config", seeded.config, "--format", "json")
    runs = json.loads(as_json.output)
    assert [(r["id"], r["status"]) for r in runs] == [(2, "refused"), (1, "ok")]
    assert runs[1]["summary"]["create_b"] == 2
    datetime.fromisoformat(runs[0]["started_at"])  # ISO 8601, as scripts parse it
    assert "T" in runs[0]["started_at"]
    bad = cli("history", "--config", seeded.config, "--format", "yaml")
    assert bad.exit_code == 2 and "use text or json" in flat(bad.output)
    only_one = cli("history", "--config", seeded.config, "--limit", "1")
    assert "│ 1 " not in only_one.output and "│ 2 " in only_one.output


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("html", lambda text: "<html" in text.lower()),
        ("md", lambda text: text.lstrip().startswith("#")),
        ("json", lambda text: json.loads(text)["plan"]["summary"]["operations"] == 6),
    ],
)
def test_report_writes_the_file_in_each_format(
    cli: Invoke, seeded: Project, tmp_path: Path, fmt: str, check: object
) -> None:
    out = tmp_path / f"review.{fmt}"
    result = cli("report", "--config", seeded.config, "--format", fmt, "--output", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert callable(check) and check(text)
    assert "ada@example.com" in text or "a1" in text
    # A report is a preview: neither side moved.
    assert "grace@example.com" not in seeded.by_email("b")


def test_report_refuses_an_unknown_format(cli: Invoke, seeded: Project, tmp_path: Path) -> None:
    result = cli("report", "--config", seeded.config, "--format", "pdf", "-o", tmp_path / "r")
    assert result.exit_code == 2
    assert "--format 'pdf': use html, md or json" in flat(result.output)
    assert not (tmp_path / "r").exists()


def test_run_can_also_write_its_report(cli: Invoke, seeded: Project, tmp_path: Path) -> None:
    out = tmp_path / "run.md"
    result = cli("run", "--config", seeded.config, "--report", out)
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8").lstrip().startswith("#")
    assert f"report written to {out}" in flat(result.output)


# -- bad input is refused before anything runs ------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "yaml"), "--format 'yaml': use one of text, json, md, html"),
        (("--report", "out.txt"), "--report 'out.txt': name the file .html, .md or .json"),
    ],
)
def test_run_with_a_bad_option_exits_2_and_writes_nothing(
    cli: Invoke, seeded: Project, args: tuple[str, ...], message: str
) -> None:
    before = seeded.path("b").read_bytes()
    result = cli("run", "--config", seeded.config, *args)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert seeded.path("b").read_bytes() == before
    with seeded.store() as store:
        assert store.runs(None) == []


def test_a_cron_expression_the_scheduler_cannot_parse_is_a_config_error(
    cli: Invoke, seeded: Project
) -> None:
    seeded.write_config(schedule="61 * * * *")
    for command in ("check", "schedule", "run"):
        result = cli(command, "--config", seeded.config)
        assert result.exit_code == 2, (command, result.output)
        assert "schedule = '61 * * * *'" in flat(result.output)


def test_the_lock_holds_against_a_run_in_another_process(cli: Invoke, seeded: Project) -> None:
    """A real second process holds the lock; a run here exits 4 and writes nothing. Once
    that process is killed with -9, its lease is freed at once (same host, dead pid)."""
    import signal
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from state.store import Store\n"
            "from syncengine.locking import Lease\n"
            f"with Lease(Store({seeded.state_url!r}), 'main'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = seeded.path("b").read_bytes()
        result = cli("run", "--config", seeded.config)
        assert result.exit_code == 4, result.output
        assert f"pid {holder.pid}" in flat(result.output)
        assert seeded.path("b").read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    synced(cli, seeded)
    assert "grace@example.com" in seeded.by_email("b")


# -- exit code 1: finished, but something could not be read ------------------------------------
def test_plan_exits_1_when_a_record_could_not_be_read(cli: Invoke, seeded: Project) -> None:
    with seeded.path("a").open("a", encoding="utf-8") as f:
        f.write("not json\n")
    result = cli("plan", "--config", seeded.config)
    assert result.exit_code == 1, result.output
    assert f"{seeded.path('a')}:4: is not valid JSON" in flat(result.output)


def test_a_side_path_that_is_a_folder_is_a_config_error(cli: Invoke, seeded: Project) -> None:
    seeded.path("b").unlink()
    seeded.path("b").mkdir()  # a folder where the side's file should be
    checked = cli("check", "--config", seeded.config)
    assert checked.exit_code == 2, checked.output
    assert "is a directory; point it at a file" in flat(checked.output)


def test_schedule_once_exits_1_when_a_run_is_refused(cli: Invoke, seeded: Project) -> None:
    synced(cli, seeded)
    seeded.write("b", [])  # side b emptied: the guard refuses the run
    seeded.write_config(schedule="every 5m")
    scheduled = cli("schedule", "--once", "--config", seeded.config)
    assert scheduled.exit_code == 1, scheduled.output
    out = flat(scheduled.output)
    assert "main: refused: side b returned no contacts" in out
    # `schedule` has no --force: the advice names the one-off command that has.
    assert "run `syncengine run main --force` once" in out
    assert "The schedule never forces" in out
    assert "run with --force" not in out
    assert len(seeded.by_email("a")) == 4  # nothing was deleted


def test_a_runs_summary_reads_as_a_line() -> None:
    from syncengine.render._common import run_summary

    stored = {
        "conflicts": 2,
        "conflicts_held": 1,
        "create_b": 2,
        "delete_a": 1,
        "duplicate_groups": 0,
        "link": 1,
        "operations": 4,
        "outcome_done": 3,
        "outcome_failed": 1,
        "problems": 1,
        "unreadable": ["a.jsonl:3: is not valid JSON"],
    }
    assert run_summary(stored) == (
        "3 done, 1 failed · 2 creates on b, 1 delete on a, 1 link · "
        "2 conflicts (1 held) · 1 problem"
    )
    assert run_summary({"operations": 0, "conflicts": 0}) == ""
