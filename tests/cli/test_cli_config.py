"""Config mistakes through the real CLI: every one named with its fix, all at once, exit 2.

Misspelt keys (connection settings, side settings, field names), a config file that is
not UTF-8 or not a file, and a ``[state] url`` syncengine cannot open."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Invoke, Project, flat

# -- misspelt keys -------------------------------------------------------------------------
REVIEW_REPRO = """\
[connections.main]
conflict = "a"
[connections.main.fields]
compnay_name = { conflicts = "manual" }
[connections.main.a]
adapter = "jsonl"
pth = "app.jsonl"
[connections.main.b]
adapter = "csv"
file = "crm.csv"
"""


def test_every_misspelt_key_is_named_in_one_report(cli: Invoke, project: Project) -> None:
    project.config.write_text(REVIEW_REPRO, encoding="utf-8")
    result = cli("plan", "--config", project.config)
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"{project.config}: 4 problem(s)" in out
    assert "connections.main.conflict: unknown setting; did you mean 'conflicts'?" in out
    assert "connections.main.a.pth: unknown setting; did you mean 'path'?" in out
    assert "connections.main.b.file: unknown setting; known settings: path" in out
    assert (
        "connections.main.fields.compnay_name: no such field; did you mean 'company_name'?" in out
    )
    assert "Traceback" not in result.output
    assert not project.db.exists()  # nothing ran


def test_unknown_side_settings_are_named_for_each_adapter(cli: Invoke, project: Project) -> None:
    project.config.write_text(
        "[connections.main.a]\n"
        'adapter = "csv"\n'
        'path = "a.csv"\n'
        'delimeter = ";"\n'
        "[connections.main.b]\n"
        'adapter = "ghl"\n'
        'location_id = "loc-1"\n'
        'token = "env:SE_TEST_GHL_TOKEN"\n'
        'calender_id = "cal-1"\n'
        "[connections.other.a]\n"
        'adapter = "memory"\n'
        'nmae = "x"\n'
        "[connections.other.b]\n"
        'adapter = "jsonl"\n'
        'path = "b.jsonl"\n',
        encoding="utf-8",
    )
    result = cli("plan", "main", "--config", project.config)
    assert result.exit_code == 2
    out = flat(result.output)
    assert "3 problem(s)" in out  # the other connection's problem too
    assert "connections.main.a.delimeter: unknown setting; did you mean 'delimiter'?" in out
    assert "connections.main.b.calender_id: unknown setting; did you mean 'calendar_id'?" in out
    assert "connections.other.a.nmae: unknown setting; did you mean 'name'?" in out


def test_both_sides_naming_one_file_is_a_config_error(cli: Invoke, project: Project) -> None:
    """A copied side table: the file would be linked record by record to itself."""
    project.write_config()
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(text.replace('path = "b.jsonl"', 'path = "./a.jsonl"'))
    result = cli("plan", "--config", project.config)
    assert result.exit_code == 2, result.output
    assert (
        f"connections.main.a and connections.main.b both name the file "
        f"{str(project.path('a').resolve())!r}: a side cannot sync with itself"
    ) in flat(result.output)


def test_the_problems_of_both_sides_settings_come_in_one_report(
    cli: Invoke, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SE_TEST_GHL_TOKEN", raising=False)
    project.config.write_text(
        "[connections.main.a]\n"
        'adapter = "jsonl"\n'
        "[connections.main.b]\n"
        'adapter = "ghl"\n'
        'token = "env:SE_TEST_GHL_TOKEN"\n'
        'timeout = "fast"\n',
        encoding="utf-8",
    )
    result = cli("check", "--config", project.config)
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"{project.config}: 4 problem(s)" in out
    assert "connections.main.a: jsonl adapter: setting 'path' is missing" in out
    assert "connections.main.b: ghl: set location_id" in out
    assert "connections.main.b: ghl: timeout must be a number of seconds > 0" in out
    assert "connections.main.b: token: environment variable SE_TEST_GHL_TOKEN is not set" in out
    assert "Traceback" not in result.output


def test_side_settings_come_with_the_connections_problems_in_one_report(
    cli: Invoke, project: Project
) -> None:
    project.config.write_text(
        '[connections.main]\nconflicts = "newer"\n'
        '[connections.main.a]\nadapter = "jsonl"\n'
        '[connections.main.b]\nadapter = "csv"\npath = "b.csv"\ndelimiter = "colon"\n',
        encoding="utf-8",
    )
    result = cli("check", "--config", project.config)
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"{project.config}: 3 problem(s)" in out
    assert "connections.main.conflicts = 'newer'" in out
    assert "connections.main.a: jsonl adapter: setting 'path' is missing" in out
    assert "connections.main.b: csv adapter: setting 'delimiter' is \"colon\"" in out


FIELD_FORMS = """\
[connections.main.fields]
company_name = { conflicts = "manual" }
"contact.email" = { conflicts = "a" }
contact.phone = { direction = "a->b" }
"custom_fields.plan" = { conflicts = "b" }
custom_fields.tier = { conflicts = "manual" }
"contact.custom_fields.seats" = { direction = "b->a" }
note.title = { conflicts = "a" }
body = { conflicts = "b" }
"""


def test_every_field_name_form_the_policy_looks_up_is_accepted(
    cli: Invoke, project: Project
) -> None:
    config = project.write_config()
    config.write_text(config.read_text(encoding="utf-8") + FIELD_FORMS, encoding="utf-8")
    result = cli("plan", "--config", config)
    assert result.exit_code == 0, result.output


def test_a_field_name_is_checked_against_the_synced_entities(cli: Invoke, project: Project) -> None:
    config = project.write_config(entities=["contact"])
    config.write_text(
        config.read_text(encoding="utf-8")
        + "[connections.main.fields]\n"
        + 'title = { conflicts = "a" }\n'
        + 'contact.emial = { conflicts = "a" }\n'
        + 'priority = { conflicts = "a" }\n'
        + '"note.due_date" = { conflicts = "a" }\n'
        + '"task.due_date" = { conflicts = "a" }\n'
        + 'email = { conflict = "a" }\n',
        encoding="utf-8",
    )
    result = cli("plan", "--config", config)
    assert result.exit_code == 2
    out = flat(result.output)
    assert "6 problem(s)" in out
    assert (
        "connections.main.fields.title: a field of an entity this connection does not sync; "
        "add it to entities (note, task, appointment)" in out
    )
    assert (
        "connections.main.fields.contact.emial: contact has no field 'emial'; "
        "did you mean 'contact.email'?" in out
    )
    # An entity it does not sync: a field notes lack says so, and says notes are not synced.
    assert (
        "connections.main.fields.note.due_date: note has no field 'due_date'; its fields: "
        "title, body; and this connection does not sync note (entities)" in out
    )
    assert (
        "connections.main.fields.task.due_date: a field of task, which this connection does "
        "not sync; add it to entities" in out
    )
    assert (
        "connections.main.fields.priority: no such field of contact; use one of first_name" in out
    )
    assert (
        "connections.main.fields.email.conflict: unknown setting; did you mean 'conflicts'?" in out
    )


# -- the config file itself -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\xff\xfe[bad", "is UTF-16 text; save it as UTF-8"),
        (
            b'[state]\nurl = "caf\xe9"\n',
            "is not UTF-8 text (a stray byte on line 2); save it as UTF-8",
        ),
    ],
)
def test_a_config_that_is_not_utf8_is_named_with_the_fix(
    cli: Invoke, tmp_path: Path, data: bytes, needle: str
) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(data)
    result = cli("plan", "--config", path)
    assert result.exit_code == 2
    out = flat(result.output)
    assert f"{path}: 1 problem(s)" in out
    assert needle in out
    assert "Traceback" not in result.output


def test_a_config_with_a_utf8_byte_order_mark_is_read(cli: Invoke, seeded: Project) -> None:
    text = seeded.config.read_text(encoding="utf-8")
    seeded.config.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = cli("plan", "--config", seeded.config)
    assert result.exit_code == 0, result.output


def test_a_config_path_that_is_a_directory_says_to_pass_the_file(
    cli: Invoke, tmp_path: Path
) -> None:
    result = cli("plan", "--config", tmp_path)
    assert result.exit_code == 2
    out = flat(result.output)
    assert f"{tmp_path}: 1 problem(s)" in out
    assert (
        f"is a directory, not a config file; pass the file itself, e.g. --config {tmp_path / 'syncengine.toml'}"
        in out
    )


# -- [state] url --------------------------------------------------------------------------------
def _with_state_url(project: Project, url: str) -> Path:
    config = project.write_config()
    config.write_text(
        f'[state]\nurl = "{url}"\n' + config.read_text(encoding="utf-8"), encoding="utf-8"
    )
    return config


@pytest.mark.parametrize("command", ["plan", "run", "history", "check"])
def test_a_state_url_of_another_database_is_a_config_error(
    cli: Invoke, project: Project, command: str
) -> None:
    config = _with_state_url(project, "mysql://x")
    result = cli(command, "--config", config)
    assert result.exit_code == 2
    out = flat(result.output)
    assert "state url: syncengine keeps its state in SQLite or PostgreSQL, not mysql" in out
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["run", "history", "check"])
def test_a_state_database_in_a_missing_directory_is_a_config_error(
    cli: Invoke, project: Project, tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "x" / "nodir"
    config = _with_state_url(project, f"sqlite:///{missing / 's.db'}")
    result = cli(command, "--config", config)
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert (
        f"the directory {missing} for the state database does not exist (or is not "
        "writable); create it or change [state] url" in out
    )
    assert "sqlalche.me" not in out
    assert not missing.exists()


def test_errors_of_a_state_url_given_by_reference_name_the_variable(
    cli: Invoke, project: Project, tmp_path: Path
) -> None:
    """The fix is to the variable, not the file: a message saying "change [state] url"
    sends the user to a line that only says env:SYNCENGINE_STATE_URL."""
    config = _with_state_url(project, "env:SYNCENGINE_STATE_URL")
    where = "environment variable SYNCENGINE_STATE_URL (from [state] url)"
    missing = tmp_path / "nodir"
    env = {"SYNCENGINE_STATE_URL": f"sqlite:///{missing / 's.db'}"}
    result = cli("run", "--config", config, env=env)
    assert result.exit_code == 2, result.output
    assert f"create it or change {where}" in flat(result.output)
    unreachable = {"SYNCENGINE_STATE_URL": "postgresql://u@127.0.0.1:1/db"}
    result = cli("history", "--config", config, env=unreachable)
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert f"({where} = postgresql://***@127.0.0.1:1/db)" in out
    assert out.endswith(f"or fix host and port in {where}")
    result = cli("plan", "--config", config, env={"SYNCENGINE_STATE_URL": "mysql://x"})
    assert result.exit_code == 2
    assert (
        f"not mysql; use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE (in {where})"
        in flat(result.output)
    )


def test_a_state_database_in_a_read_only_directory_is_a_config_error(
    cli: Invoke, project: Project, read_only_dir: Path
) -> None:
    config = _with_state_url(project, f"sqlite:///{read_only_dir / 's.db'}")
    result = cli("run", "--config", config)
    assert result.exit_code == 2
    assert (
        f"the directory {read_only_dir} for the state database does not exist (or is not writable)"
        in flat(result.output)
    )


# -- history retention -----------------------------------------------------------------------
def _with_state(project: Project, lines: str) -> Path:
    config = project.write_config()
    url = project.state_url
    config.write_text(
        f'[state]\nurl = "{url}"\n{lines}\n' + config.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize("value", ['"soon"', '"0d"', "7"])
def test_a_keep_history_that_is_not_a_duration_is_a_config_error(
    cli: Invoke, project: Project, value: str
) -> None:
    result = cli("plan", "--config", _with_state(project, f"keep_history = {value}"))
    assert result.exit_code == 2, result.output
    assert 'use a duration like "90d", or "forever"' in flat(result.output)


def test_keep_history_prunes_old_runs_from_the_cli(cli: Invoke, project: Project) -> None:
    """Runs older than keep_history leave `history` at the next run; "forever" keeps all."""
    from datetime import timedelta

    from sqlalchemy import update

    from state.store import RUNS, now

    config = _with_state(project, 'keep_history = "forever"')
    project.write("a", [])
    project.write("b", [])
    for _ in range(3):
        assert cli("run", "--config", config).exit_code == 0
    with project.store() as store, store.transaction() as conn:
        conn.execute(update(RUNS).values(finished_at=now() - timedelta(days=40)))
    assert cli("run", "--config", config).exit_code == 0
    with project.store() as store:
        assert len(store.runs("main")) == 4  # "forever": nothing pruned

    config = _with_state(project, 'keep_history = "30d"')
    assert cli("run", "--config", config).exit_code == 0
    with project.store() as store:
        assert len(store.runs("main")) == 2  # the three aged runs went; the last two stay


def test_a_state_database_failing_under_a_command_is_named_not_a_traceback(
    cli: Invoke, seeded: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from state.store import Store

    assert cli("run", "--config", seeded.config).exit_code == 0

    def gone(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("server closed the connection\ndetail"))

    monkeypatch.setattr(Store, "runs", gone)
    result = cli("history", "--config", seeded.config)
    assert result.exit_code == 1
    out = flat(result.output)
    assert "error: the state database failed: server closed the connection; run the" in out
    assert "Traceback" not in result.output
