"""Keeping the state database's history bounded (``keep_history``, ``prune_history``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Table, func, select, update

from adapters.memory import MemoryAdapter
from state.store import AUDIT, CONFLICTS, DUPLICATES, JOURNAL, RUNS, Store, now
from syncengine.engine import SyncEngine
from syncengine.models import Record
from syncengine.policy import ConflictRule, Policy


def count(store: Store, table: Table, **where: object) -> int:
    q = select(func.count()).select_from(table)
    for column, value in where.items():
        q = q.where(table.c[column] == value)
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def age_everything(store: Store, days: int) -> None:
    """Make every row written so far look ``days`` old."""
    then = now() - timedelta(days=days)
    with store.transaction() as conn:
        conn.execute(update(RUNS).values(started_at=then, finished_at=then))
        conn.execute(update(JOURNAL).values(started_at=then, finished_at=then))
        conn.execute(update(AUDIT).values(at=then))
        conn.execute(update(CONFLICTS).values(created_at=then, resolved_at=then))
        conn.execute(update(DUPLICATES).values(first_seen=then, last_seen=then))


def test_a_run_prunes_history_older_than_keep_history_and_keeps_what_runs_act_on(
    store: Store,
) -> None:
    a, b = MemoryAdapter(id_prefix="a"), MemoryAdapter(id_prefix="b")
    for i in range(4):
        a.put(Record("contact", f"a{i}", {"email": f"p{i}@x.com", "first_name": "Ann"}))
    a.put(Record("contact", "dup1", {"email": "twin@x.com", "first_name": "One"}))
    a.put(Record("contact", "dup2", {"email": "twin@x.com", "first_name": "Two"}))
    engine = SyncEngine(store, "conn", a, b, Policy(conflicts=ConflictRule.MANUAL))
    engine.run()
    # A conflict held for review and one settled by a user, both from that old run.
    b_ids = sorted(b.records("contact"), key=lambda i: b.records("contact")[i].fields["email"])
    for i, b_id in enumerate(b_ids[:2]):
        a.put(Record("contact", f"a{i}", {"email": f"p{i}@x.com", "first_name": "Bo"}))
        b.put(Record("contact", b_id, {"email": f"p{i}@x.com", "first_name": "Cy"}))
    engine.run()
    held = store.open_conflicts("conn")
    assert len(held) == 2
    store.resolve_conflict(held[0]["id"], "a")
    engine.run()
    a.remove("contact", "dup2")  # the duplicate group is gone: closed
    engine.run()
    assert count(store, DUPLICATES, status="open") == 0
    journal_before = count(store, JOURNAL)
    assert journal_before > 0 and count(store, RUNS) == 4
    age_everything(store, days=100)

    engine.keep_history = timedelta(days=90)
    a.put(Record("contact", "a3", {"email": "p3@x.com", "first_name": "New"}))
    report = engine.run()

    runs = store.runs("conn")
    assert [r["id"] for r in runs] == [report.run_id]  # only this run's row is left
    assert count(store, JOURNAL) == len(report.plan.operations)
    assert count(store, DUPLICATES) == 0 and count(store, CONFLICTS, status="resolved") == 0
    # What a run still acts on is never pruned: the conflict held for review.
    assert [c["id"] for c in store.open_conflicts("conn")] == [held[1]["id"]]
    assert store.links_by_ids("conn", "contact", "a", ["a0", "a1", "a2", "a3"])


def test_history_younger_than_keep_history_and_other_connections_stay(store: Store) -> None:
    for connection in ("conn", "other"):
        run_id = store.start_run(connection, "run")
        store.finish_run(run_id, "ok", {})
    age_everything(store, days=10)
    assert store.prune_history("conn", now() - timedelta(days=30))["runs"] == 0
    deleted = store.prune_history("conn", now() - timedelta(days=5))
    assert deleted["runs"] == 1
    assert [r["connection"] for r in store.runs(None)] == ["other"]
    running = store.start_run("conn", "run")  # a run in flight is never pruned
    age_everything(store, days=10)
    store.prune_history("conn", now())
    assert [r["id"] for r in store.runs("conn")] == [running]
