"""Two configs sharing one state database and a connection name (finding F6).

Each config's run used to forget the other's links and bases: a held conflict came back
as "not held yet", and the empty-side guard's advice (``--force``) would have deleted
the other pairing's records. The second config is refused now, naming both sides.
"""

from __future__ import annotations

from pathlib import Path

from cli_support import Invoke, Project, contact, flat

from state.store import Store


def sharing(root: Path, name: str, url: str) -> Project:
    project = Project(root / name)
    project.dir.mkdir()
    project.write_config(conflicts="manual")
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(f'[state]\nurl = "{url}"\n\n{text}', encoding="utf-8")
    return project


def open_conflicts(url: str) -> int:
    store = Store(url)
    try:
        return len(store.open_conflicts("main"))
    finally:
        store.close()


def test_a_second_pairing_under_the_same_connection_is_refused(cli: Invoke, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    x, y = sharing(tmp_path, "x", url), sharing(tmp_path, "y", url)
    x.write("a", [contact("a1", "ada@example.com", company_name="Analytical")])
    x.write("b", [contact("b1", "ada@example.com", company_name="Analytical")])
    assert cli("run", "--config", x.config).exit_code == 0
    x.edit("a", "ada@example.com", company_name="From A")
    x.edit("b", "ada@example.com", company_name="From B")
    assert cli("run", "--config", x.config).exit_code == 0
    assert open_conflicts(url) == 1
    y.write("a", [contact("p1", "grace@example.com")])
    y.write("b", [])
    y_files = {s: y.path(s).read_bytes() for s in "ab"}

    refused = cli("run", "--config", y.config)
    assert refused.exit_code == 3
    out = flat(refused.output)
    # The files are under the shared database's folder: named relative to it.
    assert (
        "side a is jsonl file y/a.jsonl in the state's folder now, "
        "not jsonl file x/a.jsonl in the state's folder" in out
    )
    assert "side b is jsonl file y/b.jsonl in the state's folder now" in out
    assert "give it a connection name of its own or its own [state] url" in out
    assert {s: y.path(s).read_bytes() for s in "ab"} == y_files

    preview = cli("plan", "--config", y.config)
    assert "a run would be refused" in flat(preview.output)
    checked = cli("check", "--config", y.config)
    assert checked.exit_code == 1
    assert "problem: a run would be refused: connection 'main' was last synced" in flat(
        checked.output
    )

    # The first pairing still holds its conflict, run after run.
    assert cli("run", "--config", x.config).exit_code == 0
    assert open_conflicts(url) == 1

    # Forcing adopts y's sides, and from then on x is the one refused.
    assert cli("run", "--config", y.config, "--force").exit_code == 0
    assert [r["email"] for r in y.rows("b")] == ["grace@example.com"]
    assert cli("run", "--config", y.config).exit_code == 0
    assert cli("run", "--config", x.config).exit_code == 3


def test_a_project_folder_moved_whole_keeps_syncing(cli: Invoke, tmp_path: Path) -> None:
    """Config, files and the SQLite state beside them moved (or renamed) together are
    the same pairing: the sides name themselves relative to the state's folder."""
    before = Project(tmp_path / "before")
    before.dir.mkdir()
    before.write_config()
    before.write("a", [contact("a1", "ada@example.com")])
    before.write("b", [])
    assert cli("run", "--config", before.config).exit_code == 0
    after = Project(before.dir.rename(tmp_path / "after"))
    after.edit("a", "ada@example.com", company_name="Moved")
    moved = cli("run", "--config", after.config)
    assert moved.exit_code == 0, moved.output
    assert [r.get("company_name") for r in after.rows("b")] == ["Moved"]


def test_a_file_outside_the_state_folder_is_named_by_its_whole_path(
    cli: Invoke, tmp_path: Path
) -> None:
    """State kept apart from the files (here in a folder of its own; a server database
    likewise): a file moved elsewhere is another side, refused until forced."""
    project = sharing(tmp_path, "p", f"sqlite:///{tmp_path / 'state' / 'syncengine.db'}")
    (tmp_path / "state").mkdir()
    project.write("a", [contact("a1", "ada@example.com")])
    project.write("b", [])
    assert cli("run", "--config", project.config).exit_code == 0
    elsewhere = Project(project.dir.rename(tmp_path / "elsewhere"))
    refused = cli("run", "--config", elsewhere.config)
    assert refused.exit_code == 3
    assert (
        f"side a is jsonl file {elsewhere.path('a')} now, not jsonl file {project.path('a')}"
        in flat(refused.output)
    )
    assert cli("run", "--config", elsewhere.config, "--force").exit_code == 0
    assert cli("run", "--config", elsewhere.config).exit_code == 0
