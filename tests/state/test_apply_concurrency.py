"""The applier with several writes in flight, and with a side that stops taking writes.

Side b is a ``MemoryAdapter`` that says it takes 4 writes at once; each write waits (up
to a few seconds) until 4 are in flight, so the overlap is proven, not hoped for, and
the memory store itself is changed under a mutex (it is not meant for threads). Both
backends of the store, as every engine test here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from sqlalchemy import update

from adapters.base import Capabilities
from adapters.memory import MemoryAdapter, SimulatedCrash
from state.store import RUNS, Store
from syncengine.cli import _exit_code
from syncengine.engine import SyncEngine
from syncengine.errors import AuthError
from syncengine.models import Entity, FieldChange, OpStatus, Record, RunReport

T = TypeVar("T")
PEOPLE = 16
GATE_TIMEOUT_S = 5.0


class Throttled(MemoryAdapter):
    """A memory side taking ``concurrency`` writes at once. It records how many were in
    flight together, and the start and end of every write in order."""

    def __init__(self, concurrency: int, *, id_prefix: str = "b") -> None:
        super().__init__(
            capabilities=Capabilities(write_concurrency=concurrency), id_prefix=id_prefix
        )
        self.gate = concurrency
        self.in_flight = 0
        self.max_in_flight = 0
        self.events: list[tuple[str, Entity, str | None]] = []
        self.threads: set[str] = set()
        self.fail_after: int | None = None
        """Writes after this many successful ones raise ``AuthError`` (a revoked token)."""
        self._cond = threading.Condition()
        self._mutex = threading.Lock()

    @contextmanager
    def _writing(self, entity: Entity, parent: str | None) -> Iterator[None]:
        with self._cond:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.events.append(("start", entity, parent))
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self.max_in_flight >= self.gate, GATE_TIMEOUT_S)
        try:
            time.sleep(0.002)
            with self._mutex:
                if self.fail_after is not None and self.writes >= self.fail_after:
                    raise AuthError("memory side b: the token was revoked")
                yield
        finally:
            with self._cond:
                self.in_flight -= 1
                self.events.append(("end", entity, parent))

    def _guarded(self, entity: Entity, parent: str | None, write: Callable[[], T]) -> T:
        with self._writing(entity, parent):
            return write()

    def create(self, record: Record) -> Record:
        return self._guarded(
            record.entity, record.parent_id, lambda: super(Throttled, self).create(record)
        )

    def update(self, entity: Entity, record_id: str, changes: Sequence[FieldChange]) -> Record:
        return self._guarded(
            entity, None, lambda: super(Throttled, self).update(entity, record_id, changes)
        )

    def delete(self, entity: Entity, record_id: str) -> None:
        self._guarded(entity, None, lambda: super(Throttled, self).delete(entity, record_id))


def seed_a(a: MemoryAdapter, people: int = PEOPLE) -> None:
    for i in range(people):
        a.put(Record("contact", f"a{i}", {"email": f"p{i}@example.com", "first_name": f"P{i}"}))
        a.put(Record("note", f"n{i}", {"body": f"note for P{i}"}, parent_id=f"a{i}"))


def content(side: MemoryAdapter) -> list[tuple[Any, ...]]:
    """What a side holds, without its ids: contacts by email, notes by their contact's email."""
    contacts = side.records("contact")
    out: list[tuple[Any, ...]] = [
        ("contact", sorted(r.fields.items(), key=str)) for r in contacts.values()
    ]
    out += [
        ("note", contacts[r.parent_id or ""].fields.get("email"), sorted(r.fields.items(), key=str))
        for r in side.records("note").values()
    ]
    return sorted(out, key=repr)


def summary(report: RunReport) -> list[tuple[str, str, str | None, str]]:
    return [
        (o.op.action.value, o.op.entity, o.op.source_id or o.op.target_id, o.status.value)
        for o in report.outcomes
    ]


def test_parallel_writes_overlap_and_end_as_a_sequential_run(store: Store, state_url: str) -> None:
    a, b = MemoryAdapter(id_prefix="a"), Throttled(4)
    seed_a(a)
    progress: list[tuple[int, int, str]] = []
    engine = SyncEngine(
        store,
        "par",
        a,
        b,
        progress=lambda done, total: progress.append(
            (done, total, threading.current_thread().name)
        ),
    )
    report = engine.run()

    seq_store = Store(state_url) if state_url.startswith("sqlite") else store
    a2, b2 = MemoryAdapter(id_prefix="a"), Throttled(1)
    seed_a(a2)
    sequential = SyncEngine(seq_store, "seq", a2, b2).run()

    assert b.max_in_flight == 4  # the gate holds each write until four are in flight
    assert b2.max_in_flight == 1
    assert summary(report) == summary(sequential)  # same outcomes, in plan order
    assert {o.status for o in report.outcomes} == {OpStatus.DONE}
    assert content(b) == content(b2) == content(a)
    assert store.quarantined("par") == []
    # Progress is told on the applier's thread, counting up to every op.
    assert {name for *_, name in progress} == {threading.current_thread().name}
    assert [d for d, *_ in progress] == sorted(d for d, *_ in progress)
    assert progress[-1][:2] == (2 * PEOPLE, 2 * PEOPLE)
    assert engine.run(dry_run=True).plan.operations == ()


def test_one_write_at_a_time_on_both_sides_starts_no_thread(store: Store) -> None:
    a, b = MemoryAdapter(id_prefix="a"), Throttled(1)
    seed_a(a)
    report = SyncEngine(store, "conn", a, b).run()
    assert {o.status for o in report.outcomes} == {OpStatus.DONE}
    assert b.threads == {threading.current_thread().name}


def test_children_wait_for_the_contacts_created_in_the_same_run(store: Store) -> None:
    a, b = MemoryAdapter(id_prefix="a"), Throttled(4)
    seed_a(a)
    SyncEngine(store, "conn", a, b).run()
    contact_ends = [
        i for i, (what, entity, _) in enumerate(b.events) if (what, entity) == ("end", "contact")
    ]
    note_starts = [
        i for i, (what, entity, _) in enumerate(b.events) if (what, entity) == ("start", "note")
    ]
    assert len(contact_ends) == len(note_starts) == PEOPLE
    assert max(contact_ends) < min(note_starts)
    assert {r.parent_id for r in b.records("note").values()} == set(b.records("contact"))


def test_parallel_updates_and_deletes_stay_consistent(store: Store) -> None:
    a, b = MemoryAdapter(id_prefix="a"), Throttled(4)
    seed_a(a)
    engine = SyncEngine(store, "conn", a, b)
    engine.run()
    for i in range(PEOPLE // 2):
        rec = a.records("contact")[f"a{i}"]
        a.put(Record("contact", rec.id, {**rec.fields, "city": "Oslo"}))
    for i in range(PEOPLE // 2, PEOPLE // 2 + 3):
        a.remove("contact", f"a{i}")
    report = engine.run(force=True)
    assert {o.status for o in report.outcomes} == {OpStatus.DONE}
    assert content(b) == content(a)
    assert engine.run(dry_run=True).plan.operations == ()


@pytest.mark.parametrize("crash_after", [5, PEOPLE + 3], ids=["among-contacts", "among-notes"])
def test_a_crash_mid_chunk_with_writes_in_flight_converges(store: Store, crash_after: int) -> None:
    a, b = MemoryAdapter(id_prefix="a"), Throttled(4)
    seed_a(a)
    engine = SyncEngine(store, "conn", a, b)
    b.faults.crash_after_writes = crash_after
    with pytest.raises(SimulatedCrash):
        engine.run()
    crashed = store.runs("conn")[0]
    journal = store.journal(crashed["id"])
    # Every op of the chunk was journaled before the first write, and none was settled.
    assert len(journal) == 2 * PEOPLE
    assert {r["status"] for r in journal} == {"pending"}
    # The writes in flight with the crashing one finished; no other began.
    assert crash_after < b.writes <= crash_after + 4
    with store.transaction() as conn:  # what kill -9 leaves: nothing closed the run
        conn.execute(update(RUNS).where(RUNS.c.id == crashed["id"]).values(status="running"))

    report = engine.run()
    assert {o.status for o in report.outcomes} <= {OpStatus.DONE}
    # Creates that landed are linked before planning ("recovered"); the rest are closed.
    assert {r["status"] for r in store.journal(crashed["id"])} <= {"interrupted", "recovered"}
    assert len(b.records("contact")) == PEOPLE  # no duplicate
    assert len(b.records("note")) == PEOPLE
    assert content(b) == content(a)
    assert engine.run(dry_run=True).plan.operations == ()


def refused_run(
    store: Store, concurrency: int, edits_on_b: int
) -> tuple[SyncEngine, MemoryAdapter, Throttled, RunReport]:
    """Ten edits on a (to go to b) and ``edits_on_b`` on b (to go to a); b refuses every
    write after its fourth, as a side whose token was revoked mid-run."""
    a, b = MemoryAdapter(id_prefix="a"), Throttled(concurrency)
    seed_a(a, people=12)
    engine = SyncEngine(store, "conn", a, b)
    engine.run()
    for i in range(10):
        rec = a.records("contact")[f"a{i}"]
        a.put(Record("contact", rec.id, {**rec.fields, "city": "Oslo"}))
    wanted = {f"p{i}@example.com" for i in range(12 - edits_on_b, 12)}
    for rec in b.records("contact").values():
        if rec.fields["email"] in wanted:
            b.put(Record("contact", rec.id, {**rec.fields, "city": "Rome"}))
    b.fail_after = b.writes + 4
    return engine, a, b, engine.run()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_side_that_refuses_every_write_is_skipped_not_quarantined(
    store: Store, concurrency: int
) -> None:
    _, _, b, report = refused_run(store, concurrency, edits_on_b=2)
    to_b = [o for o in report.outcomes if o.op.side == "b"]
    to_a = [o for o in report.outcomes if o.op.side == "a"]
    assert [o.status for o in to_a] == [OpStatus.DONE] * 2  # the other side goes on
    statuses = [o.status for o in to_b]
    assert statuses.count(OpStatus.DONE) == 4
    assert statuses.count(OpStatus.FAILED) == 1  # the side's message, once
    assert statuses.count(OpStatus.SKIPPED) == 5
    failed = next(o for o in to_b if o.status is OpStatus.FAILED)
    assert failed.error == "not authorised: memory side b: the token was revoked"
    for o in to_b:
        if o.status is OpStatus.SKIPPED:
            assert o.error == (
                "not written: side b is unavailable for the rest of this run (not authorised)"
            )
    assert b.writes == b.fail_after  # nothing after the refusal reached b
    assert store.quarantined("conn") == []  # no record is at fault
    assert _exit_code(report) == 1
    assert store.runs("conn")[0]["status"] == "partial"


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("edits_on_b", [0, 2])
def test_the_next_run_delivers_what_the_refusing_side_missed(
    store: Store, concurrency: int, edits_on_b: int
) -> None:
    engine, a, b, _ = refused_run(store, concurrency, edits_on_b)
    b.fail_after = None  # the token is replaced
    again = engine.run()
    assert [o.status for o in again.outcomes] == [OpStatus.DONE] * 6
    assert content(b) == content(a)
    assert engine.run(dry_run=True).plan.operations == ()
