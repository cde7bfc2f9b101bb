"""The installed ``syncengine`` console script, run as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import Project, flat


def console_script() -> list[str]:
    """The entry point the package installs (beside this interpreter, or on PATH)."""
    beside = Path(sys.executable).parent / "syncengine"
    found = str(beside) if beside.exists() else shutil.which("syncengine")
    if found is None:
        pytest.fail("the syncengine console script is not installed; run `uv sync`")
    return [found]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}
    env.pop("SYNCENGINE_CONFIG", None)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_console_script_syncs_and_reports_exit_codes(seeded: Project) -> None:
    exe = console_script()
    # No --config: the script finds ./syncengine.toml in its working directory.
    planned = run([*exe, "plan", "--format", "json"], seeded.dir)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["summary"]["operations"] == 6

    ran = run([*exe, "run"], seeded.dir)
    assert ran.returncode == 0, ran.stderr
    assert set(seeded.by_email("b")) == set(seeded.by_email("a"))

    seeded.write("a", [])
    refused = run([*exe, "run"], seeded.dir)
    assert refused.returncode == 3
    assert "side a returned no contacts" in flat(refused.stderr)
    assert "Traceback" not in refused.stderr


def test_python_dash_m_reports_a_config_error_without_a_traceback(project: Project) -> None:
    project.config.write_text('[connections.main]\nconflicts = "never"\n', encoding="utf-8")
    result = run([sys.executable, "-m", "syncengine.cli", "check"], project.dir)
    assert result.returncode == 2
    assert "connections.main.conflicts = 'never'" in flat(result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run([*console_script(), "--help"], tmp_path)
    assert result.returncode == 0
    for command in (
        "init",
        "check",
        "plan",
        "run",
        "conflicts",
        "resolve",
        "report",
        "history",
        "schedule",
        "demo",
        "fake-ghl",
        "auth",
    ):
        assert f" {command} " in result.stdout
