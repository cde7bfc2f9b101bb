"""Options every command shares: ``--connection NAME`` is checked the same way by each
command that takes it, and ``--config`` works before the command as well as after it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Invoke, Project, flat

TWO = """\
[connections.main]
schedule = "every 5m"
[connections.main.a]
adapter = "jsonl"
path = "a.jsonl"
[connections.main.b]
adapter = "jsonl"
path = "b.jsonl"
[connections.other.a]
adapter = "jsonl"
path = "a.jsonl"
[connections.other.b]
adapter = "jsonl"
path = "c.jsonl"
"""


@pytest.fixture
def two(project: Project) -> Project:
    project.config.write_text(TWO, encoding="utf-8")
    project.path("c").write_text("", encoding="utf-8")
    return project


@pytest.mark.parametrize(
    "command", [("history",), ("conflicts",), ("conflicts", "--all"), ("quarantine",)]
)
def test_an_unknown_connection_filter_is_an_error_everywhere(
    cli: Invoke, two: Project, command: tuple[str, ...]
) -> None:
    result = cli(*command, "--connection", "nosuch", "--config", two.config)
    assert result.exit_code == 2, result.output
    assert "no connection 'nosuch'; known: main, other" in flat(result.output)


@pytest.mark.parametrize("command", [("history",), ("conflicts",), ("quarantine",)])
def test_a_known_connection_filter_lists_that_connection(
    cli: Invoke, two: Project, command: tuple[str, ...]
) -> None:
    result = cli(*command, "--connection", "other", "--config", two.config)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["plan", "run", "check", "report"])
def test_commands_naming_one_connection_take_it_as_an_option_too(
    cli: Invoke, two: Project, command: str, tmp_path: Path
) -> None:
    extra = ("--output", str(tmp_path / "r.html")) if command == "report" else ()
    as_option = cli(command, "--connection", "other", "--config", two.config, *extra)
    assert as_option.exit_code == 0, as_option.output
    unknown = cli(command, "--connection", "nosuch", "--config", two.config, *extra)
    assert unknown.exit_code == 2
    assert "no connection 'nosuch'; known: main, other" in flat(unknown.output)
    twice = cli(command, "main", "--connection", "other", "--config", two.config, *extra)
    assert twice.exit_code == 2
    assert "connection named twice: 'main' and --connection 'other'; give one" in flat(twice.output)
    same = cli(command, "other", "--connection", "other", "--config", two.config, *extra)
    assert same.exit_code == 0, same.output


def test_history_filters_by_connection(cli: Invoke, seeded: Project) -> None:
    seeded.config.write_text(TWO, encoding="utf-8")
    seeded.path("c").write_text("", encoding="utf-8")
    assert cli("run", "main", "--config", seeded.config).exit_code == 0
    mine = cli("history", "--connection", "main", "--config", seeded.config)
    assert "│ main" in mine.output
    theirs = cli("history", "--connection", "other", "--config", seeded.config)
    assert "no runs yet" in theirs.output


@pytest.mark.parametrize(
    "args",
    [
        ("--config", "{c}", "plan"),
        ("-c", "{c}", "plan"),
        ("plan", "--config", "{c}"),
        ("-c", "{c}", "conflicts", "--all"),
        ("-c", "{c}", "history"),
        ("conflicts", "-c", "{c}", "show", "1"),
    ],
)
def test_config_goes_before_or_after_the_command(
    cli: Invoke, seeded: Project, args: tuple[str, ...]
) -> None:
    result = cli(*(a.format(c=seeded.config) for a in args))
    assert "No such option" not in result.output
    if "show" in args:  # no conflict 1 in this project: the config was read all the same
        assert result.exit_code == 2 and "no conflict with id 1" in flat(result.output)
    else:
        assert result.exit_code == 0, result.output


def test_the_config_after_the_command_wins(cli: Invoke, seeded: Project) -> None:
    result = cli("-c", seeded.dir / "missing.toml", "plan", "-c", seeded.config)
    assert result.exit_code == 0, result.output


def test_a_missing_config_given_first_is_named(cli: Invoke, seeded: Project) -> None:
    missing = seeded.dir / "missing.toml"
    result = cli("-c", missing, "plan")
    assert result.exit_code == 2
    assert f"{missing}: 1 problem(s)" in flat(result.output)


def test_schedule_names_the_connections_it_does_not_run(cli: Invoke, two: Project) -> None:
    result = cli("schedule", "--once", "--config", two.config)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "not scheduled (no schedule set): other" in out
    assert "main: run 1" in out
    with two.store() as store:
        assert {r["connection"] for r in store.runs(None)} == {"main"}


def test_version_prints_the_installed_version(cli: Invoke) -> None:
    from importlib.metadata import version

    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"syncengine {version('syncengine')}"


def test_every_commands_help_is_reflowed_paragraphs() -> None:
    """Help text wraps at the terminal: no line break of the source inside a paragraph."""
    from syncengine import cli as cli_mod

    for typer_app in (cli_mod.app, cli_mod.conflicts_app, cli_mod.auth_app):
        for command in typer_app.registered_commands:
            assert command.help, command.name
            for paragraph in command.help.split("\n\n"):
                assert "\n" not in paragraph, (command.name, paragraph)
                assert "``" not in paragraph, (command.name, paragraph)
