"""Engine-level guarantees that need the real store: the delete guard on incremental
reads, crashed runs settled by the next one, and the lock lease (on both backends)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import delete, update

from adapters.base import Snapshot
from adapters.memory import MemoryAdapter, SimulatedCrash
from state.store import LOCKS, RUNS, Store
from syncengine.engine import SyncEngine
from syncengine.errors import LockLostError, MassDeleteRefusal, StoppedWhileReading
from syncengine.locking import Lease
from syncengine.models import Entity, Record


def seeded(n: int) -> tuple[MemoryAdapter, MemoryAdapter]:
    a, b = MemoryAdapter(id_prefix="a"), MemoryAdapter(id_prefix="b")
    for i in range(n):
        a.put(Record("contact", f"a{i}", {"email": f"p{i}@example.com", "first_name": f"P{i}"}))
    return a, b


def test_mass_delete_is_refused_though_both_sides_were_read_incrementally(store: Store) -> None:
    """Side b saw no deletes itself (its read knows nothing of its size): the guard must
    still weigh the deletes sent to b against what b holds linked."""
    a, b = seeded(10)
    engine = SyncEngine(store, "conn", a, b)
    engine.run()
    for i in range(6):
        a.remove("contact", f"a{i}")
    with pytest.raises(MassDeleteRefusal, match="deletes 6 of 10 contacts on side b"):
        engine.run()
    assert len(b.records("contact")) == 10
    assert store.runs("conn")[0]["status"] == "refused"
    engine.run(force=True)
    assert len(b.records("contact")) == 4


def test_a_crash_during_updates_is_settled_by_the_next_run(store: Store) -> None:
    a, b = seeded(8)
    engine = SyncEngine(store, "conn", a, b)
    engine.run()
    for i in range(5):
        rec = a.records("contact")[f"a{i}"]
        a.put(Record("contact", rec.id, {**rec.fields, "city": "Oslo"}))
    b.faults.crash_after_writes = 2
    with pytest.raises(SimulatedCrash):
        engine.run()
    crashed = store.runs("conn")[0]
    assert {r["status"] for r in store.journal(crashed["id"])} == {"pending"}
    with store.transaction() as conn:  # what kill -9 leaves: nothing closed the run
        conn.execute(update(RUNS).where(RUNS.c.id == crashed["id"]).values(status="running"))

    engine.run()
    assert {r["status"] for r in store.journal(crashed["id"])} == {"interrupted"}
    runs = {r["id"]: r["status"] for r in store.runs("conn")}
    assert runs[crashed["id"]] == "interrupted"
    assert sorted(r.fields.get("city") or "" for r in b.records("contact").values()) == [
        *[""] * 3,
        *["Oslo"] * 5,
    ]
    assert engine.run(dry_run=True).plan.operations == ()


class TakeOver(MemoryAdapter):
    """Side b: at its first write, another run takes the connection over (as if this
    process had stalled past its lease); later writes of this run must not happen."""

    def __init__(self, rival: Store) -> None:
        super().__init__(id_prefix="b")
        self.rival = rival
        self.rival_holder: str | None = None

    def create(self, record: Record) -> Record:
        if self.rival_holder is None:
            with self.rival.transaction() as conn:
                conn.execute(delete(LOCKS))
            self.rival_holder = self.rival.acquire_lock("conn")
        return super().create(record)


def test_a_run_whose_lease_was_taken_over_stops_and_says_so(state_url: str) -> None:
    from syncengine.apply import CHUNK_UNITS

    store, rival = Store(state_url), Store(state_url)
    try:
        a, _ = seeded(CHUNK_UNITS + 20)
        b = TakeOver(rival)
        with pytest.raises(LockLostError, match="another run took the connection over"):
            SyncEngine(store, "conn", a, b).run()
        # The first chunk was written and settled; the second never started.
        assert len(b.records("contact")) == CHUNK_UNITS
        assert store.count_links("conn", "contact") == CHUNK_UNITS
        assert store.runs("conn")[0]["status"] == "lock lost"
        assert store.cursors("conn") == {}  # the rest is read again next run
        # The rival still holds the lock: the lost run did not release it.
        assert b.rival_holder is not None
        assert rival.renew_lock("conn", b.rival_holder)
    finally:
        store.close()
        rival.close()


def test_the_lease_is_renewed_in_the_background(store: Store) -> None:
    """A run that reads for longer than its lease (no chunk boundary to renew at)
    keeps the lock: the keeper thread renews it every third of the lease."""
    renewed = threading.Event()
    original = store.renew_lock

    def spy(connection: str, holder: str, ttl: object = None) -> bool:
        renewed.set()
        return original(connection, holder)

    store.renew_lock = spy  # type: ignore[assignment,method-assign]
    with Lease(store, "conn", every=0.01) as lease:
        assert renewed.wait(5)
        assert not lease.lost
    with Lease(store, "conn") as again:  # released on exit: free again
        assert again.holder


def test_a_stop_request_ends_the_run_at_a_clean_point_and_the_next_run_finishes(
    store: Store,
) -> None:
    """What SIGTERM does to a scheduled run: the record being written finishes, no other
    starts (against a remote side a chunk takes minutes), the chunk's journal is
    settled, nothing is quarantined, the cursors stay, and the next run picks up exactly
    the rest."""
    from syncengine.apply import CHUNK_UNITS, STOPPED_BEFORE

    a, b = seeded(CHUNK_UNITS * 2 + 7)
    stop = threading.Event()

    class StopAfterThirdWrite(MemoryAdapter):
        def create(self, record: Record) -> Record:
            if self.writes == 2:
                stop.set()  # SIGTERM arrives while the third create is in flight
            return super().create(record)

    b = StopAfterThirdWrite(id_prefix="b")
    engine = SyncEngine(store, "conn", a, b, should_stop=stop.is_set)
    report = engine.run()
    assert store.runs("conn")[0]["status"] == "stopped"
    assert len(b.records("contact")) == 3
    skipped = [o for o in report.outcomes if o.status.value == "skipped"]
    assert len(skipped) == CHUNK_UNITS * 2 + 7 - 3
    assert {o.error for o in skipped} == {STOPPED_BEFORE}
    journal = store.journal(report.run_id or 0)
    assert sorted(r["status"] for r in journal) == ["done"] * 3 + ["skipped"] * (CHUNK_UNITS - 3)
    assert store.quarantined("conn") == []
    assert store.cursors("conn") == {}

    engine.should_stop = lambda: False
    again = engine.run()
    assert len(again.plan.operations) == CHUNK_UNITS * 2 + 7 - 3
    assert len(b.records("contact")) == CHUNK_UNITS * 2 + 7
    assert engine.run(dry_run=True).plan.operations == ()


@pytest.mark.parametrize("conflicts", ["newest", "b", "manual"])
def test_a_create_that_landed_before_a_crash_is_found_by_the_key_it_was_sent_with(
    store: Store, conflicts: str
) -> None:
    """The run dies after b created a contact but before it learnt the id; then that
    person's email is corrected on a. The rerun must find b's record by the email that
    was sent, link it instead of creating the person again, and bring b the correction:
    under every policy, since the pair's base is what was sent (an edit, not a conflict)."""
    from syncengine.policy import ConflictRule, Policy

    a, b = seeded(3)
    b.faults.crash_after_writes = 0  # die right after the first create lands
    engine = SyncEngine(store, "conn", a, b, Policy(conflicts=ConflictRule(conflicts)))
    with pytest.raises(SimulatedCrash):
        engine.run()
    (landed,) = b.records("contact").values()
    source = next(r for r in a.records("contact").values() if r.fields == landed.fields)
    a.put(Record("contact", source.id, {**source.fields, "email": "fixed@example.com"}))

    engine.run()
    engine.run()
    emails_b = sorted(str(r.fields["email"]) for r in b.records("contact").values())
    assert len(emails_b) == 3  # three people, none created twice
    assert "fixed@example.com" in emails_b
    assert sorted(str(r.fields["email"]) for r in a.records("contact").values()) == emails_b
    assert store.quarantined("conn") == [] and store.open_conflicts("conn") == []
    assert engine.run(dry_run=True).plan.operations == ()


def test_a_stop_request_while_reading_stops_before_planning(store: Store) -> None:
    """A stop asked for while the sides are read (a large remote side takes minutes):
    the run stops before its next read instead of planning from part of the reads,
    writes nothing, keeps the cursors, and is recorded as stopped."""
    a, b = seeded(5)
    reads: list[str] = []

    class StopAfterFirstRead(MemoryAdapter):
        def snapshot(self, entity: Entity, **kwargs: Any) -> Snapshot:
            reads.append(entity)
            return super().snapshot(entity, **kwargs)

    a = StopAfterFirstRead(id_prefix="a")
    for i in range(5):
        a.put(Record("contact", f"a{i}", {"email": f"p{i}@example.com"}))
    engine = SyncEngine(store, "conn", a, b, should_stop=lambda: bool(reads))
    with pytest.raises(StoppedWhileReading, match="stopped before reading side b's contacts"):
        engine.run()
    assert store.runs("conn")[0]["status"] == "stopped"
    assert b.records("contact") == {} and store.cursors("conn") == {}
    engine.should_stop = lambda: False
    assert len(engine.run().outcomes) == 5
    assert len(b.records("contact")) == 5


def test_a_resolution_the_stopped_run_did_not_reach_stays_for_the_next_run(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two conflicts resolved by a user; the run stops after the first pair's write. The
    second resolution was never applied, so it must not be closed: the next run applies
    it (a unit the run never reached is not a unit that succeeded)."""
    monkeypatch.setattr("syncengine.apply.CHUNK_UNITS", 1)
    from syncengine.policy import ConflictRule, Policy

    a, b = MemoryAdapter(id_prefix="a"), MemoryAdapter(id_prefix="b")
    for i in (1, 2):
        a.put(Record("contact", f"a{i}", {"email": f"p{i}@x.com", "first_name": "Ann"}))
    engine = SyncEngine(store, "conn", a, b, Policy(conflicts=ConflictRule.MANUAL))
    engine.run()
    for i, rec in enumerate(sorted(b.records("contact").values(), key=lambda r: r.id), 1):
        a.put(Record("contact", f"a{i}", {"email": f"p{i}@x.com", "first_name": "Bo"}))
        b.put(Record("contact", rec.id, {"email": f"p{i}@x.com", "first_name": "Cy"}))
    engine.run()
    assert len(store.open_conflicts("conn")) == 2
    for c in store.open_conflicts("conn"):
        store.resolve_conflict(c["id"], "a")
    stop = threading.Event()
    engine.should_stop = stop.is_set
    original = b.update

    def update_then_stop(*args: object, **kwargs: object) -> Record:
        stop.set()
        return original(*args, **kwargs)  # type: ignore[arg-type]

    b.update = update_then_stop  # type: ignore[method-assign]
    engine.run()
    assert store.runs("conn")[0]["status"] == "stopped"
    assert len(store.pending_resolutions("conn")) == 1
    engine.should_stop = lambda: False
    engine.run()
    assert store.pending_resolutions("conn") == [] and store.open_conflicts("conn") == []
    assert {r.fields["first_name"] for r in b.records("contact").values()} == {"Bo"}
