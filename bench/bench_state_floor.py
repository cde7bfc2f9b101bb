"""What a first sync's state writes cost in SQLite alone: the floor under ``bench_sync``.

A first sync of N contacts writes, per contact, one journal row (before the call) and
its outcome (after), the base of each side and the link: the rows that make a crash at
any point recoverable. This bench writes exactly those rows through the store's own
bulk methods, with nothing else around them (no reads, no plan, no adapters), in the
transactions a run uses, and prints how long they take. It then writes the smallest
layout that still keeps a base (one row per pair, both sides' bases in it; with and
without a journal row per record) straight through sqlite3, to show what a different
state layout could save. No first sync on this machine can be faster than the first
figure, whatever the Python around it does.

    .venv/bin/python bench/bench_state_floor.py --n 1000000
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench_sync import contact  # the same contacts as the reference benchmark

from state.store import Store, StoredRecord, stored
from syncengine.fingerprint import encode
from syncengine.models import SIDES, Entity, Record, Side

SETTLE_UNITS = 500
"""Units per settle transaction, as ``Applier`` commits them."""
JOURNAL_UNITS = 20_000
"""Units per journaled chunk (``MAX_CHUNK_UNITS``: an in-memory side's chunks grow to it)."""


def fields(i: int) -> dict[str, object]:
    return dict(contact(i).fields)


def chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def syncengine_layout(n: int, path: Path) -> float:
    """The store's tables and bulk writes, timed without building their inputs."""
    store = Store(f"sqlite:///{path}")
    at = datetime.now(UTC)
    spent = 0.0
    for chunk in chunks(n, JOURNAL_UNITS):
        journal = [
            {
                "run_id": 1,
                "connection": "bench",
                "seq": i,
                "side": "b",
                "action": "create",
                "entity": "contact",
                "a_id": f"c{i}",
                "b_id": None,
                "payload": encode({"fields": fields(i)}),
                "status": "pending",
                "attempts": 0,
                "started_at": at,
            }
            for i in chunk
        ]
        began = time.perf_counter()
        with store.transaction() as conn:
            store.journal_begin(conn, journal)
        spent += time.perf_counter() - began
        for settle in chunks(len(chunk), SETTLE_UNITS):
            ids = [chunk[k] for k in settle]
            finished = [(i, "done", f"b{i}", None, 1) for i in ids]
            bases: dict[Side, list[StoredRecord]] = {"a": [], "b": []}
            for i in ids:
                keys = (f"email:person{i}@example.com",)
                a = stored(Record("contact", f"c{i}", fields(i)), keys)
                bases["a"].append(a)
                bases["b"].append(
                    StoredRecord(
                        Record("contact", f"b{i}", a.record.fields),
                        a.fingerprint,
                        True,
                        keys,
                        a.data,
                    )
                )
            contact: Entity = "contact"
            links = [(contact, f"c{i}", f"b{i}") for i in ids]
            began = time.perf_counter()
            with store.transaction() as conn:
                store.journal_finish(conn, 1, finished)
                for side in SIDES:
                    store.put_records(conn, "bench", side, bases[side], fresh=True)
                store.bulk_new_links(conn, "bench", links)
            spent += time.perf_counter() - began
    store.close()
    return spent


def pair_layout(n: int, path: Path, *, journal: bool) -> float:
    """One row per pair holding both bases (and, if ``journal``, one journal row per
    record), as plain sqlite3 executemany: the least a crash-safe base can write."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(
        "CREATE TABLE pairs (connection TEXT, entity TEXT, a_id TEXT, b_id TEXT, "
        "fp_a TEXT, fp_b TEXT, data TEXT, key1 TEXT, PRIMARY KEY (connection, entity, a_id))"
    )
    db.execute("CREATE UNIQUE INDEX pairs_b ON pairs (connection, entity, b_id)")
    db.execute("CREATE INDEX pairs_key1 ON pairs (connection, entity, key1)")
    db.execute(
        "CREATE TABLE journal (id INTEGER PRIMARY KEY, run_id INT, seq INT, a_id TEXT, "
        "payload TEXT, status TEXT, result_id TEXT)"
    )
    db.execute("CREATE UNIQUE INDEX journal_run_seq ON journal (run_id, seq)")
    spent = 0.0
    for chunk in chunks(n, JOURNAL_UNITS):
        data = {i: encode(fields(i)) for i in chunk}
        began = time.perf_counter()
        if journal:
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO journal (run_id, seq, a_id, payload, status) "
                "VALUES (1, ?, ?, ?, 'pending')",
                [(i, f"c{i}", data[i]) for i in chunk],
            )
            db.execute("COMMIT")
        db.execute("BEGIN")
        if journal:
            db.executemany(
                "UPDATE journal SET status = 'done', result_id = ? WHERE run_id = 1 AND seq = ?",
                [(f"b{i}", i) for i in chunk],
            )
        db.executemany(
            "INSERT INTO pairs VALUES ('bench', 'contact', ?, ?, ?, ?, ?, ?)",
            [
                (f"c{i}", f"b{i}", str(i), str(i), data[i], f"email:person{i}@example.com")
                for i in chunk
            ],
        )
        db.execute("COMMIT")
        spent += time.perf_counter() - began
    db.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    n = parser.parse_args().n
    print(f"N = {n:,} contacts: the state writes of a first sync, SQLite alone")
    with tempfile.TemporaryDirectory() as tmp:
        ours = syncengine_layout(n, Path(tmp) / "ours.db")
        print(
            f"syncengine's layout (journal row + outcome, 2 bases, 1 link a record): "
            f"{ours:6.2f} s ({ours / n * 1e6:5.1f} us a record)"
        )
        for journal in (True, False):
            took = pair_layout(n, Path(tmp) / f"pairs-{journal}.db", journal=journal)
            what = (
                "one pair row + a journal row a record"
                if journal
                else "one pair row a record, no journal"
            )
            print(f"{what + ':':<71} {took:6.2f} s ({took / n * 1e6:5.1f} us a record)")


if __name__ == "__main__":
    main()
