"""kill -9 in the middle of ``syncengine run``, then run again: the sides converge.

A first sync of 300+ contacts on side a and 100 on side b (60 of them the same people)
is killed at a few points of its apply phase. Each kill must land mid-apply (the
journal still has ``pending`` rows). After edits made while the sync was down, a second
``syncengine run`` must leave both sides agreeing on every field of every contact, each
person exactly once per side, no edit lost, and nothing more to plan.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from crash_support import A_COUNT, B_ONLY, OVERLAP, KillPoint, Snapshot, Workspace, email, seed_b
from crash_support import expected_contacts as expected
from typer.testing import CliRunner

from syncengine.cli import app

pytestmark = pytest.mark.e2e

ATTEMPTS = 4
"""Tries per kill point: each kill must land while the journal has pending rows."""

KILL_POINTS: dict[str, KillPoint] = {
    # The first chunk is journaled; its writes are in flight.
    "journaled": lambda s: s.pending > 0,
    # Side b's file already holds the chunk's writes; the base does not know yet.
    "written": lambda s: s.pending > 0 and s.b_written,
    # The first chunk is settled and the second one is in flight.
    "second-chunk": lambda s: s.done > 0 and s.pending > 0,
}

EDITS = {
    # Made on each side while the sync is down; every one must survive the rerun.
    ("a", email(5)): {"city": "Edited on a"},  # only on a before the crash
    ("a", email(OVERLAP[10])): {"company_name": "Edited Co"},  # on both sides
    ("b", email(OVERLAP[20])): {"city": "Edited on b"},  # on both sides
    ("b", email(B_ONLY[20])): {"first_name": "Edited Bee"},  # only on b before the crash
}


def crash(ws: Workspace, name: str) -> Snapshot:
    """Seed, run, and kill at ``name``; retried until the kill lands mid-apply."""
    seen_at_kills: list[Snapshot | None] = []
    for _ in range(ATTEMPTS):
        ws.seed()
        seen = ws.run_and_kill(KILL_POINTS[name])
        seen_at_kills.append(seen)
        if seen is not None and ws.journal_counts().get("pending", 0) > 0:
            return seen
    pytest.fail(f"no kill landed mid-apply at {name!r} in {ATTEMPTS} tries: {seen_at_kills}")


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_rerun_after_kill_9_converges(tmp_path: Path, kill_point: str) -> None:
    ws = Workspace(tmp_path)
    crash(ws, kill_point)
    # The kill never leaves a half-written side file.
    before = {side: ws.contacts(side) for side in ("a", "b")}
    if kill_point != "journaled":
        # Creates reached side b that the base does not know: the rerun must find them,
        # not create them again.
        assert len(before["b"]) > len(seed_b())
    for (side, who), changes in EDITS.items():
        ws.edit(side, who, **changes)

    ws.expire_lease()  # see test_a_rerun_right_after_kill_9_is_not_locked_out
    rerun = ws.cli("run")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert ws.journal_counts().get("pending", 0) == 0  # the crashed run's ops are settled

    side_a, side_b = ws.contacts("a"), ws.contacts("b")
    want = expected({who: changes for (_, who), changes in EDITS.items()})
    assert len(want) == A_COUNT + len(B_ONLY)
    assert set(side_a) == set(side_b) == set(want)
    for who in sorted(want):
        assert side_a[who] == side_b[who] == want[who], who

    plan = CliRunner().invoke(
        app, ["plan", "--format", "json", "--config", str(ws.dir / "syncengine.toml")]
    )
    assert plan.exit_code == 0, plan.output
    data = json.loads(plan.stdout)
    assert data["operations"] == []
    assert data["conflicts"] == [] and data["duplicates"] == []


def test_a_rerun_right_after_kill_9_is_not_locked_out(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    crash(ws, "journaled")
    rerun = ws.cli("run")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def _notes(ws: Workspace, side: str) -> dict[str, str]:
    """Note body -> the email of its contact, on one side; fails on a duplicate note."""
    rows = [json.loads(line) for line in ws.path(side).read_text().splitlines() if line.strip()]
    email_of = {r["id"]: r.get("email") for r in rows if r.get("entity", "contact") == "contact"}
    out: dict[str, str] = {}
    for r in rows:
        if r.get("entity") == "note":
            assert r["body"] not in out, f"note {r['body']!r} twice on side {side}"
            out[r["body"]] = email_of[r["contact_id"]]
    return out


def test_kill_9_during_a_steady_state_sync_of_updates_deletes_and_notes(tmp_path: Path) -> None:
    """After a clean first sync, a run carrying updates of every contact, deletes and new
    notes is killed mid-apply; a rerun after more edits converges, loses nothing and
    duplicates nothing, and the killed run is marked interrupted."""
    ws = Workspace(tmp_path)
    ws.seed()
    first = ws.cli("run")
    assert first.returncode == 0, first.stdout + first.stderr
    everyone = sorted(ws.contacts("a"))
    doomed = everyone[:3]

    def change_the_world() -> None:
        rows = [json.loads(line) for line in ws.path("a").read_text().splitlines() if line]
        by_email = {r["email"]: r for r in rows if "email" in r}
        for r in rows:
            r["city"] = f"Moved {r['email']}"
        for who in doomed:
            rows.remove(by_email[who])
        rows += [
            {
                "id": f"n{i}",
                "entity": "note",
                "contact_id": by_email[who]["id"],
                "body": f"met {who}",
            }
            for i, who in enumerate(everyone[10:40])
        ]
        ws.path("a").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    for _ in range(ATTEMPTS):
        change_the_world()
        if ws.run_and_kill(lambda s: s.pending > 0) is not None and ws.journal_counts().get(
            "pending", 0
        ):
            break
        ws.seed()  # the run finished before the kill: start over
        assert ws.cli("run").returncode == 0
    else:
        pytest.fail(f"no kill landed mid-apply in {ATTEMPTS} tries")

    ws.edit("b", everyone[50], last_name="Edited on b after the crash")
    ws.edit("a", everyone[60], company_name="Edited on a after the crash")
    ws.expire_lease()
    rerun = ws.cli("run")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    side_a, side_b = ws.contacts("a"), ws.contacts("b")
    assert side_a == side_b
    assert set(side_a) == set(everyone) - set(doomed)
    for who in side_a:
        assert side_a[who]["city"] == f"Moved {who}", who
    assert side_a[everyone[50]]["last_name"] == "Edited on b after the crash"
    assert side_a[everyone[60]]["company_name"] == "Edited on a after the crash"
    assert _notes(ws, "a") == _notes(ws, "b") == {f"met {w}": w for w in everyone[10:40]}
    store_runs = sqlite3.connect(ws.db).execute("SELECT status FROM runs ORDER BY id").fetchall()
    assert [s for (s,) in store_runs][-2:] == ["interrupted", "ok"]
    assert ws.cli("plan").returncode == 0
    plan = CliRunner().invoke(
        app, ["plan", "--format", "json", "--config", str(ws.dir / "syncengine.toml")]
    )
    assert json.loads(plan.stdout)["operations"] == []
