"""A create the side refuses as a duplicate of a record it already had (GHL does, when
its search lags behind): the two are linked with no base and revisited next run, where
they merge as a fresh match, even though an incremental read sees neither change."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import pytest

from adapters.base import Snapshot
from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import Prepared, SyncEngine
from syncengine.errors import DuplicateOnSide, StoppedWhileReading
from syncengine.models import Entity, OpStatus, Record


class LaggingSide(MemoryAdapter):
    """Refuses a contact whose email it already holds; ``lagging`` ids it holds but its
    reads do not show yet (a search index behind its writes)."""

    def __init__(self) -> None:
        super().__init__(id_prefix="b")
        self.lagging: set[str] = set()

    def _visible(self, snap: Snapshot) -> Snapshot:
        return replace(snap, records=[r for r in snap.records if r.id not in self.lagging])

    def snapshot(
        self, entity: Entity, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        return self._visible(super().snapshot(entity, changed_parents=changed_parents))

    def changes_since(
        self, entity: Entity, cursor: str, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        return self._visible(super().changes_since(entity, cursor, changed_parents=changed_parents))

    def create(self, record: Record) -> Record:
        for held in self.records(record.entity).values():
            if held.fields.get("email") == record.fields.get("email"):
                raise DuplicateOnSide("a contact with this email exists", existing_id=held.id)
        return super().create(record)


def _sides() -> tuple[MemoryAdapter, LaggingSide]:
    a, b = MemoryAdapter(id_prefix="a"), LaggingSide()
    a.put(Record("contact", "a1", {"email": "p@x.com", "first_name": "Ann", "city": "Oslo"}))
    b.put(Record("contact", "bx", {"email": "p@x.com", "first_name": "Ann", "phone": "+4722"}))
    b.lagging.add("bx")
    return a, b


def test_a_create_refused_as_a_duplicate_links_and_merges_next_run(store: Store) -> None:
    a, b = _sides()
    engine = SyncEngine(store, "c", a, b)
    first = engine.run()
    assert [o.status for o in first.outcomes] == [OpStatus.DONE]
    assert list(b.records("contact")) == ["bx"]  # linked to what b had, not copied
    assert {(r["side"], r["record_id"]) for r in store.revisits("c")} == {
        ("a", "a1"),
        ("b", "bx"),
    }
    assert store.quarantined("c") == []  # nothing failed: nothing is quarantined

    b.lagging.clear()
    engine.run()  # incremental: neither record changed, the revisit brings the pair
    merged = {"email": "p@x.com", "first_name": "Ann", "city": "Oslo", "phone": "+4722"}
    assert a.records("contact")["a1"].fields == merged
    assert b.records("contact")["bx"].fields == merged
    assert store.revisits("c") == []
    assert engine.run(dry_run=True).plan.operations == ()


def test_a_dry_run_or_a_stopped_run_keeps_the_revisit(store: Store) -> None:
    a, b = _sides()
    engine = SyncEngine(store, "c", a, b)
    engine.run()
    b.lagging.clear()
    preview = engine.run(dry_run=True)
    assert {op.side for op in preview.plan.operations} == {"a", "b"}
    engine.should_stop = lambda: True  # a stop request while the sides are read
    with pytest.raises(StoppedWhileReading):
        engine.run()
    assert len(store.revisits("c")) == 2
    read = engine.prepare
    planned: list[bool] = []

    def prepare_then_stop() -> Prepared:
        prepared = read()
        planned.append(True)
        return prepared

    engine.prepare = prepare_then_stop  # type: ignore[method-assign]
    engine.should_stop = lambda: bool(planned)  # a stop request before the first chunk
    engine.run()
    assert len(store.revisits("c")) == 2
    engine.prepare = read  # type: ignore[method-assign]
    engine.should_stop = lambda: False
    engine.run()
    assert store.revisits("c") == []
    assert a.records("contact")["a1"].fields == b.records("contact")["bx"].fields


def test_a_failed_merge_of_a_revisited_pair_is_quarantined_and_retried(store: Store) -> None:
    a, b = _sides()
    engine = SyncEngine(store, "c", a, b)
    engine.run()
    b.lagging.clear()
    b.faults.permanent_ids.add("bx")
    engine.run()
    assert store.revisits("c") == []
    assert [(q["side"], q["record_id"]) for q in store.quarantined("c")] == [("b", "bx")]
    b.faults.permanent_ids.clear()
    engine.run()
    assert store.quarantined("c") == []
    assert a.records("contact")["a1"].fields == b.records("contact")["bx"].fields
