"""Helpers for the CLI tests: a project directory with two JSONL sides.

``Project`` writes a ``syncengine.toml`` whose state database sits beside it, and reads
and edits the two side files the way a user would (whole JSON lines).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import Result

from state.store import Store

Row = dict[str, Any]
Invoke = Callable[..., Result]
"""The ``cli`` fixture: ``cli("plan", "--config", path)`` returns click's Result."""


def contact(rid: str, email: str, **fields: Any) -> Row:
    return {"id": rid, "email": email, **fields}


@dataclass
class Project:
    """A config file, its two side files (``a.jsonl``, ``b.jsonl``) and its state DB."""

    dir: Path
    connection: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.dir / "syncengine.toml"

    @property
    def db(self) -> Path:
        return self.dir / "syncengine.db"

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.db}"

    def path(self, side: str) -> Path:
        return self.dir / f"{side}.jsonl"

    def write_config(self, **connection: Any) -> Path:
        """``[connections.main]`` with these top-level keys, two JSONL sides."""
        self.connection = connection
        lines = ["[connections.main]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in connection.items()]
        for side in ("a", "b"):
            lines += [f"[connections.main.{side}]", 'adapter = "jsonl"', f'path = "{side}.jsonl"']
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config

    def write(self, side: str, rows: list[Row]) -> None:
        self.path(side).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def rows(self, side: str) -> list[Row]:
        text = self.path(side).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def by_email(self, side: str) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for row in self.rows(side):
            if row.get("entity", "contact") == "contact" and "email" in row:
                assert row["email"] not in out, f"{row['email']} twice on side {side}"
                out[row["email"]] = row
        return out

    def edit(self, side: str, email: str, **changes: Any) -> None:
        rows = self.rows(side)
        hits = [r for r in rows if r.get("email") == email]
        assert len(hits) == 1, f"{email} on side {side}: {hits}"
        hits[0].update(changes)
        self.write(side, rows)

    def drop(self, side: str, emails: set[str]) -> None:
        self.write(side, [r for r in self.rows(side) if r.get("email") not in emails])

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = Store(self.state_url)
        try:
            yield store
        finally:
            store.close()


def flat(text: str) -> str:
    """Text with runs of whitespace collapsed, for matching messages rich may wrap."""
    return " ".join(text.split())


def big_jsonl_pair(folder: Path, n: int, *, schedule: str | None = None) -> Path:
    """A config over ``n`` contacts in ``a.jsonl`` and an empty ``b.jsonl``: a first sync
    long enough (several chunks) to be caught applying. Returns the config's path."""
    (folder / "a.jsonl").write_text(
        "".join(
            json.dumps({"id": f"c{i}", "email": f"p{i}@example.com", "first_name": f"P{i}"}) + "\n"
            for i in range(n)
        ),
        encoding="utf-8",
    )
    (folder / "b.jsonl").write_text("", encoding="utf-8")
    config = folder / "syncengine.toml"
    config.write_text(
        "[connections.main]\n"
        + (f'schedule = "{schedule}"\n' if schedule else "")
        + '[connections.main.a]\nadapter = "jsonl"\npath = "a.jsonl"\n'
        '[connections.main.b]\nadapter = "jsonl"\npath = "b.jsonl"\n',
        encoding="utf-8",
    )
    return config


def journal_counts(db: Path) -> dict[str, int]:
    """Journal rows by status, read beside a running process ({} before it has any)."""
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT status, count(*) FROM journal GROUP BY status").fetchall()
        except sqlite3.OperationalError:
            return {}
    return dict(rows)
