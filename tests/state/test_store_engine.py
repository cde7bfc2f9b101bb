"""A whole sync through ``SyncEngine`` with its base in the store converges (on PostgreSQL\nas on SQLite: the ``store`` fixture runs on both)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from adapters.memory import MemoryAdapter
from state.store import LOCKS, Store
from syncengine.apply import CHUNK_UNITS
from syncengine.engine import SyncEngine
from syncengine.errors import LockedError
from syncengine.models import Record


def by_email(adapter: MemoryAdapter) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for rec in adapter.records("contact").values():
        email = rec.fields["email"]
        assert isinstance(email, str)
        assert email not in out, f"duplicate {email} on one side"
        out[email] = dict(rec.fields)
    return out


def test_two_memory_sides_converge_through_the_store(store: Store) -> None:
    a, b = MemoryAdapter(id_prefix="a"), MemoryAdapter(id_prefix="b")
    for i in range(30):
        a.put(
            Record("contact", f"seed-a{i}", {"first_name": f"A{i}", "email": f"p{i}@example.com"})
        )
    for i in range(20, 40):  # 20..29 overlap by email and get linked, not duplicated
        b.put(Record("contact", f"seed-b{i}", {"email": f"p{i}@example.com", "city": f"City {i}"}))
    a.put(Record("note", "n1", {"title": "Call", "body": "about the demo"}, parent_id="seed-a0"))
    engine = SyncEngine(store, "conn", a, b)

    first = engine.run()
    assert first.run_id is not None
    side_a, side_b = by_email(a), by_email(b)
    assert side_a == side_b
    assert len(side_a) == 40
    assert side_a["p25@example.com"] == {
        "first_name": "A25",
        "email": "p25@example.com",
        "city": "City 25",
    }
    (note,) = b.records("note").values()
    assert note.fields == {"title": "Call", "body": "about the demo"}
    assert b.records("contact")[note.parent_id or ""].fields["email"] == "p0@example.com"
    assert store.count_links("conn", "contact") == 40

    # Edits on both sides after the first sync flow across; a second run plans nothing.
    a.put(Record("contact", "seed-a3", {**a.records("contact")["seed-a3"].fields, "city": "Oslo"}))
    b.remove("contact", "seed-b35")
    second = engine.run()
    assert second.plan.summary()["operations"] == 2
    assert by_email(a) == by_email(b)
    assert by_email(b)["p3@example.com"]["city"] == "Oslo"
    assert "p35@example.com" not in by_email(a)

    again = engine.run(dry_run=True)
    assert again.plan.operations == ()
    assert [r["status"] for r in store.runs("conn")] == ["ok", "ok"]


class LeaseProbe(MemoryAdapter):
    """Side b of a long run: after its first write the run has lasted past the lock's
    TTL (the lease is made to expire); in the next chunk another run tries to start."""

    def __init__(self, store: Store, rival: Store, second_chunk_at: int) -> None:
        super().__init__(id_prefix="b")
        self.store, self.rival, self.second_chunk_at = store, rival, second_chunk_at
        self.creates = 0
        self.rival_got_lock: bool | None = None

    def create(self, record: Record) -> Record:
        self.creates += 1
        if self.creates == 1:
            with self.store.transaction() as conn:
                conn.execute(update(LOCKS).values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
        elif self.creates == self.second_chunk_at:
            try:
                self.rival.acquire_lock("conn")
                self.rival_got_lock = True
            except LockedError:
                self.rival_got_lock = False
        return super().create(record)


def test_a_long_run_keeps_its_lock(state_url: str) -> None:
    store, rival = Store(state_url), Store(state_url)
    try:
        a = MemoryAdapter(id_prefix="a")
        for i in range(CHUNK_UNITS + 10):
            a.put(Record("contact", f"seed-a{i}", {"email": f"p{i}@example.com"}))
        b = LeaseProbe(store, rival, second_chunk_at=CHUNK_UNITS + 5)
        SyncEngine(store, "conn", a, b).run()
        assert b.rival_got_lock is False
    finally:
        store.close()
        rival.close()
