"""Helpers for the crash tests: seed two JSONL sides, start ``syncengine run`` as a real
process, SIGKILL it at a chosen point of its apply phase, and read back what happened.

The kill point is found by watching the run from outside, as an operator would see it:
the state database (WAL, so reading never blocks the run) for journal rows, and the side
files' ``stat`` for the moment a batch of writes reached disk.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update

from adapters.files.jsonl import read_object
from state.store import LOCKS, Store
from syncengine.apply import CHUNK_UNITS

A_COUNT = max(300, CHUNK_UNITS + 60)
"""Contacts on side a: at least 300, and enough that the first sync's ops (about one
unit per person) take two chunks, so a kill can land between chunks."""
OVERLAP = range(A_COUNT - 60, A_COUNT)
"""People on both sides (matched by email): a has their name, b their phone and city."""
B_ONLY = range(A_COUNT, A_COUNT + 40)
B_RANGE = range(OVERLAP.start, B_ONLY.stop)
RUN_TIMEOUT_S = 60.0


def email(i: int) -> str:
    return f"person{i}@example.com"


def seed_a() -> list[dict[str, Any]]:
    return [
        {
            "id": f"a{i}",
            "email": email(i),
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "company_name": f"Company {i}",
            "tags": ["seed", f"group{i % 3}"],
        }
        for i in range(A_COUNT)
    ]


def seed_b() -> list[dict[str, Any]]:
    rows = []
    for i in B_RANGE:
        row: dict[str, Any] = {"id": f"b{i}", "email": email(i), "city": f"City {i}"}
        if i >= A_COUNT:
            row["first_name"] = f"Bee{i}"
        else:
            row["phone"] = f"+1 202 555 {1000 + i}"
        rows.append(row)
    return rows


CONFIG = """\
[connections.main]
[connections.main.a]
adapter = "jsonl"
path = "a.jsonl"
[connections.main.b]
adapter = "jsonl"
path = "b.jsonl"
"""


def syncengine_exe() -> str:
    return str(Path(sys.executable).parent / "syncengine")


@dataclass
class Snapshot:
    """What the watcher saw: journal rows by status, and whether side b's file moved."""

    pending: int
    done: int
    b_written: bool


KillPoint = Callable[[Snapshot], bool]


@dataclass
class Workspace:
    dir: Path

    @property
    def db(self) -> Path:
        return self.dir / "syncengine.db"

    def path(self, side: str) -> Path:
        return self.dir / f"{side}.jsonl"

    def seed(self) -> None:
        (self.dir / "syncengine.toml").write_text(CONFIG, encoding="utf-8")
        for side, rows in (("a", seed_a()), ("b", seed_b())):
            self.path(side).write_text(
                "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
            )
        for leftover in self.dir.glob("syncengine.db*"):
            leftover.unlink()

    def cli(self, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [syncengine_exe(), *args],
            cwd=self.dir,
            env={**os.environ, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def journal_counts(self) -> dict[str, int]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return dict(conn.execute("SELECT status, count(*) FROM journal GROUP BY status"))
        finally:
            conn.close()

    def run_and_kill(self, kill_at: KillPoint) -> Snapshot | None:
        """Start ``syncengine run`` and SIGKILL it at the first moment ``kill_at`` holds.
        Returns what was seen at the kill, or None if the run finished first."""
        b_before = self.path("b").stat()
        proc = subprocess.Popen(
            [syncengine_exe(), "run"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        watcher: sqlite3.Connection | None = None
        deadline = time.monotonic() + RUN_TIMEOUT_S
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if watcher is None:
                    if not self.db.exists():
                        continue
                    watcher = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1)
                try:
                    counts = dict(
                        watcher.execute(
                            "SELECT status, count(*) FROM journal "
                            "WHERE status IN ('pending', 'done') GROUP BY status"
                        )
                    )
                except sqlite3.Error:
                    continue  # the run is still creating its tables
                st = self.path("b").stat()
                seen = Snapshot(
                    counts.get("pending", 0),
                    counts.get("done", 0),
                    (st.st_ino, st.st_mtime_ns) != (b_before.st_ino, b_before.st_mtime_ns),
                )
                if kill_at(seen):
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return seen
            return None
        finally:
            if watcher is not None:
                watcher.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def expire_lease(self) -> None:
        """Let the killed run's lease run out (it would after its 5-minute TTL)."""
        store = Store(f"sqlite:///{self.db}")
        try:
            with store.transaction() as conn:
                conn.execute(update(LOCKS).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
        finally:
            store.close()

    def edit(self, side: str, who: str, **changes: Any) -> None:
        """Edit one record by email, as an app would while the sync is down: the change
        and a fresh ``updated_at``. (Keeping the stamp the crashed run wrote would make
        the edit look older than that run's write to the other side: a pair whose link
        the crash lost is merged afresh, and ``newest`` then rightly prefers the write.)"""
        lines = self.path(side).read_text(encoding="utf-8").splitlines(keepends=True)
        hits = 0
        stamp = datetime.now(UTC).isoformat()
        for n, line in enumerate(lines):
            if line.strip() and json.loads(line).get("email") == who:
                row = {**json.loads(line), **changes}
                if "updated_at" in row:
                    row["updated_at"] = stamp
                lines[n] = json.dumps(row) + "\n"
                hits += 1
        assert hits == 1, f"{who} found {hits} times on side {side}"
        self.path(side).write_text("".join(lines), encoding="utf-8")

    def contacts(self, side: str) -> dict[str, dict[str, Any]]:
        """Canonical fields of every contact on a side by email; fails on a duplicate."""
        out: dict[str, dict[str, Any]] = {}
        for line in self.path(side).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = read_object(json.loads(line))
            if record.entity != "contact":
                continue
            key = record.fields["email"]
            assert key not in out, f"{key} is on side {side} twice: a duplicate was created"
            out[key] = dict(record.fields)
        return out


def expected_contacts(edits: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every person once, with the union of both sides' fields and the later edits."""
    merged: dict[str, dict[str, Any]] = {}
    for row in [*seed_a(), *seed_b()]:
        fields = dict(read_object(row).fields)
        merged.setdefault(fields["email"], {}).update(fields)
    for who, changes in edits.items():
        merged[who].update(changes)
    return {who: dict(read_object({"id": "x", **fields}).fields) for who, fields in merged.items()}
