"""Fixtures for driving the real CLI: ``project`` (see ``cli_support.Project``) and
``cli``, which invokes ``syncengine.cli:app`` in-process with a wide terminal so rich
does not wrap the messages the tests match."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Invoke, Project, contact
from click.testing import Result
from typer.testing import CliRunner

from syncengine.cli import app
from syncengine.writable import can_create_files_in


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project with a default config and empty side files."""
    p = Project(tmp_path / "proj")
    p.dir.mkdir()
    p.write_config()
    p.write("a", [])
    p.write("b", [])
    return p


@pytest.fixture
def seeded(project: Project) -> Project:
    """Side a has three contacts, side b two (b1 is the same person as a1, by email)."""
    project.write(
        "a",
        [
            contact("a1", "ada@example.com", first_name="Ada", company_name="Analytical"),
            contact("a2", "grace@example.com", first_name="Grace"),
            contact("a3", "alan@example.com", first_name="Alan"),
        ],
    )
    project.write(
        "b",
        [
            contact("b1", "ada@example.com", first_name="Ada", phone="+1 202 555 0143"),
            contact("b2", "linus@example.com", first_name="Linus"),
        ],
    )
    return project


@pytest.fixture
def cli() -> Invoke:
    """Run the app in-process: ``cli("plan", "--config", path)``; returns click's Result.

    An exception other than the app's own exit is re-raised, so a crash shows its
    traceback instead of a puzzling exit code."""
    runner = CliRunner()

    def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
        result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "300", **(env or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder no file can be made in. Root ignores permission bits, so as root (CI)
    it is a sysfs folder, where the kernel refuses new files to everyone."""
    if os.geteuid() == 0:
        sysfs = Path("/sys")
        if can_create_files_in(sysfs):
            pytest.fail("running as root, and /sys takes new files: no folder here refuses writes")
        yield sysfs
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    yield locked
    locked.chmod(0o700)
