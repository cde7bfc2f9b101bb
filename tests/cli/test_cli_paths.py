"""Files the CLI is told to write (``--report``, ``--output``, ``init PATH``): a bad path
is a message naming it and the fix (exit 2), found before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Invoke, Project, flat


def test_run_checks_the_report_folder_before_it_syncs(
    cli: Invoke, seeded: Project, tmp_path: Path
) -> None:
    before = seeded.path("b").read_bytes()
    missing = tmp_path / "nowhere" / "r.html"
    result = cli("run", "--config", seeded.config, "--report", missing)
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"--report '{missing}': the folder '{missing.parent}' does not exist" in out
    assert f"mkdir -p {missing.parent}" in out
    assert "Traceback" not in result.output
    # Nothing ran: the sync was not applied and no run was recorded.
    assert seeded.path("b").read_bytes() == before
    with seeded.store() as store:
        assert store.runs(None) == []


def test_a_report_path_that_is_a_folder_is_refused(
    cli: Invoke, seeded: Project, tmp_path: Path
) -> None:
    folder = tmp_path / "out.html"
    folder.mkdir()
    result = cli("run", "--config", seeded.config, "--report", folder)
    assert result.exit_code == 2
    assert f"--report '{folder}' is a folder; name a file inside it" in flat(result.output)
    assert "grace@example.com" not in seeded.by_email("b")


def test_a_folder_without_write_permission_is_refused(
    cli: Invoke, seeded: Project, read_only_dir: Path
) -> None:
    target = read_only_dir / "r.md"
    result = cli("report", "--config", seeded.config, "-o", target, "-f", "md")
    assert result.exit_code == 2
    assert "no permission to write there" in flat(result.output)


def test_report_to_a_missing_folder_exits_2_with_the_fix(
    cli: Invoke, seeded: Project, tmp_path: Path
) -> None:
    target = tmp_path / "no" / "dir" / "r.md"
    result = cli("report", "--config", seeded.config, "-f", "md", "-o", target)
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"--output '{target}': the folder '{target.parent}' does not exist" in out
    assert "Traceback" not in result.output
    assert not target.parent.exists()


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("md", lambda text: text.startswith("# Sync review")),
        ("json", lambda text: "plan" in json.loads(text)),
        ("html", lambda text: "<html" in text),
    ],
)
def test_report_without_output_names_its_file_after_the_format(
    cli: Invoke, seeded: Project, fmt: str, check: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(seeded.dir)
    result = cli("report", "--config", seeded.config, "-f", fmt)
    assert result.exit_code == 0, result.output
    written = seeded.dir / f"syncengine-report.{fmt}"
    assert f"report written to {written.name}" in flat(result.output)
    assert callable(check) and check(written.read_text(encoding="utf-8"))
    others = {"md", "json", "html"} - {fmt}
    assert not any((seeded.dir / f"syncengine-report.{o}").exists() for o in others)


def test_init_into_a_missing_folder_exits_2_with_the_fix(cli: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "nodir" / "x.toml"
    result = cli("init", target)
    assert result.exit_code == 2, result.output
    out = flat(result.output)
    assert f"init '{target}': the folder '{target.parent}' does not exist" in out
    assert f"mkdir -p {target.parent}" in out
    assert not target.parent.exists()


def test_init_onto_a_folder_is_refused(cli: Invoke, tmp_path: Path) -> None:
    result = cli("init", tmp_path)
    assert result.exit_code == 2
    assert f"init '{tmp_path}' is a folder; name a file inside it" in flat(result.output)
