"""A connection's state belongs to the records it was built with (on both backends).

Two configs that share one state database and a connection name must not read each
other's links and bases as their own: the second is refused (exit 3) before it reads
or writes anything, the first's state is untouched, and ``--force`` adopts a side whose
records really moved.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from adapters.memory import MemoryAdapter
from state.store import IDENTITIES, LINKS, Store
from syncengine.engine import SyncEngine
from syncengine.errors import SideChangedRefusal
from syncengine.models import Record


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    MemoryAdapter.forget_all()


def pairing(name: str, n: int = 3) -> tuple[MemoryAdapter, MemoryAdapter]:
    a, b = MemoryAdapter.named(f"{name}-a"), MemoryAdapter.named(f"{name}-b")
    for i in range(n):
        a.put(Record("contact", f"{name}{i}", {"email": f"{name}{i}@example.com"}))
    return a, b


def links(store: Store) -> int:
    with store.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(LINKS)).scalar_one())


def test_the_first_run_adopts_its_sides_and_later_runs_pass(store: Store) -> None:
    a, b = pairing("x")
    engine = SyncEngine(store, "crm", a, b)
    assert engine.side_change() is None
    engine.run()
    assert store.side_identities("crm") == {"a": "memory store x-a", "b": "memory store x-b"}
    assert engine.run().plan.operations == ()


def test_another_pairing_under_the_same_connection_is_refused_and_changes_nothing(
    store: Store,
) -> None:
    xa, xb = pairing("x")
    SyncEngine(store, "crm", xa, xb).run()
    before = links(store)
    ya, yb = pairing("y")
    other = SyncEngine(store, "crm", ya, yb)

    preview = other.run(dry_run=True)
    assert preview.refusal is not None and "side a is memory store y-a now" in preview.refusal

    with pytest.raises(SideChangedRefusal, match="not memory store x-b") as refused:
        other.run()
    assert refused.value.exit_code == 3
    assert store.runs("crm")[0]["status"] == "refused"
    assert links(store) == before
    assert len(yb.records("contact")) == 0 and ya.writes == yb.writes == 0
    assert store.side_identities("crm")["a"] == "memory store x-a"
    # The first pairing goes on as if nothing happened.
    assert SyncEngine(store, "crm", xa, xb).run().plan.operations == ()


def test_force_adopts_a_side_whose_records_moved(store: Store) -> None:
    a, b = pairing("x")
    SyncEngine(store, "crm", a, b).run()
    moved = MemoryAdapter.named("x-b-moved")
    for rid, rec in b.records("contact").items():
        moved.put(Record("contact", rid, rec.fields, updated_at=rec.updated_at), touch=False)
    engine = SyncEngine(store, "crm", a, moved)
    with pytest.raises(SideChangedRefusal):
        engine.run()
    assert engine.run(force=True).plan.operations == ()  # the same records: nothing to do
    assert store.side_identities("crm")["b"] == "memory store x-b-moved"
    assert engine.side_change() is None
    assert engine.run().plan.operations == ()


def test_a_database_from_before_identities_adopts_on_its_next_run(store: Store) -> None:
    a, b = pairing("x")
    SyncEngine(store, "crm", a, b).run()
    with store.transaction() as conn:  # what migration 0005 leaves: links, no identities
        conn.execute(delete(IDENTITIES))
    engine = SyncEngine(store, "crm", a, b)
    assert engine.side_change() is None
    assert engine.run().plan.operations == ()
    assert store.side_identities("crm") == {"a": "memory store x-a", "b": "memory store x-b"}


def test_connections_keep_their_own_identities(store: Store) -> None:
    xa, xb = pairing("x")
    ya, yb = pairing("y")
    SyncEngine(store, "one", xa, xb).run()
    SyncEngine(store, "two", ya, yb).run()
    assert store.side_identities("one")["a"] == "memory store x-a"
    assert store.side_identities("two")["a"] == "memory store y-a"
