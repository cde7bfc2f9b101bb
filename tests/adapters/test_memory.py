"""The memory adapter against the contract, plus its fault injection and change log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.base import AdapterContext, Capabilities
from adapters.memory import MemoryAdapter, SimulatedCrash
from adapters.testing import AdapterContract, MakeAdapter, ManualClock
from syncengine.errors import RecordRejected, TransientAdapterError
from syncengine.models import CONTACT_FIELDS, FieldChange, Record


class TestMemoryContract(AdapterContract):
    rejects_invalid_email = False  # the reference adapter stores what it is given

    @pytest.fixture
    def make_adapter(self) -> MakeAdapter:
        store = MemoryAdapter()
        return lambda: store

    def cursor_order(self, cursor: str) -> int:
        return int(cursor)


CONTACTS_ONLY = Capabilities(
    entities=frozenset({"contact"}),
    can_create=frozenset({"contact"}),
    can_update=frozenset({"contact"}),
    can_delete=frozenset({"contact"}),
    fields={"contact": frozenset(CONTACT_FIELDS)},
    read_only_fields={"contact": frozenset({"source", "date_of_birth"})},
    create_only_fields={"contact": frozenset({"company_name"})},
)


class TestMemoryContactsOnlyContract(AdapterContract):
    """A narrower side, so the capability tests have something to refuse."""

    rejects_invalid_email = False

    @pytest.fixture
    def make_adapter(self) -> MakeAdapter:
        store = MemoryAdapter(capabilities=CONTACTS_ONLY)
        return lambda: store


NOTES_FROZEN = Capabilities(
    can_update=frozenset({"contact", "task", "appointment"}),
    can_delete=frozenset({"contact", "task", "appointment"}),
)


class TestMemoryFrozenNotesContract(AdapterContract):
    """Notes can be created but not changed: the contract expects a refusal."""

    rejects_invalid_email = False

    @pytest.fixture
    def make_adapter(self) -> MakeAdapter:
        store = MemoryAdapter(capabilities=NOTES_FROZEN)
        return lambda: store


# -- memory-specific -----------------------------------------------------------------------
@pytest.fixture
def memory(clock: ManualClock) -> Iterator[MemoryAdapter]:
    adapter = MemoryAdapter(clock=clock)
    yield adapter
    adapter.close()


def contact(email: str = "ada@example.com", **fields: str) -> Record:
    return Record(entity="contact", id="", fields={"email": email, **fields})


def test_transient_faults_fail_then_clear(memory: MemoryAdapter) -> None:
    memory.faults.transient_writes = 2
    for _ in range(2):
        with pytest.raises(TransientAdapterError):
            memory.create(contact())
    assert memory.records("contact") == {}
    created = memory.create(contact())
    assert memory.records("contact") == {created.id: created}
    assert memory.writes == 1


def test_permanent_fault_rejects_one_record(memory: MemoryAdapter) -> None:
    bad, good = memory.create(contact("a@example.com")), memory.create(contact("b@example.com"))
    memory.faults.permanent_ids.add(bad.id)
    with pytest.raises(RecordRejected) as caught:
        memory.update("contact", bad.id, [FieldChange("first_name", None, "X")])
    assert caught.value.record_id == bad.id
    updated = memory.update("contact", good.id, [FieldChange("first_name", None, "Y")])
    assert updated.fields["first_name"] == "Y"
    assert "first_name" not in memory.records("contact")[bad.id].fields


def test_simulated_crash_happens_after_the_write_landed(memory: MemoryAdapter) -> None:
    memory.faults.crash_after_writes = 1
    memory.create(contact("a@example.com"))
    with pytest.raises(SimulatedCrash):
        memory.create(contact("b@example.com"))
    emails = sorted(r.fields["email"] for r in memory.records("contact").values())
    assert emails == ["a@example.com", "b@example.com"]
    assert memory.faults.crash_after_writes is None
    assert not isinstance(SimulatedCrash(), Exception)


def test_change_log_orders_changes_and_reports_user_deletes(memory: MemoryAdapter) -> None:
    parent = memory.create(contact())
    note = memory.create(Record(entity="note", id="", fields={"title": "hi"}, parent_id=parent.id))
    cursor = memory.snapshot("note").cursor
    assert cursor is not None
    memory.remove("contact", parent.id)  # as a user would: takes the note with it
    notes = memory.changes_since("note", cursor)
    contacts = memory.changes_since("contact", cursor)
    assert notes.deleted_ids == (note.id,)
    assert contacts.deleted_ids == (parent.id,)
    assert notes.cursor == contacts.cursor
    assert int(notes.cursor or 0) > int(cursor)


def test_changes_since_reports_each_record_once(memory: MemoryAdapter) -> None:
    record = memory.create(contact())
    cursor = memory.snapshot("contact").cursor or "0"
    for name in ("B", "C", "D"):
        memory.update("contact", record.id, [FieldChange("first_name", None, name)])
    changes = memory.changes_since("contact", cursor)
    assert [(r.id, r.fields["first_name"]) for r in changes.records] == [(record.id, "D")]


def test_put_stamps_updated_at_unless_told_not_to(
    memory: MemoryAdapter, clock: ManualClock
) -> None:
    created = memory.create(contact())
    assert created.updated_at == clock.now
    clock.tick()
    old = clock.now - timedelta(days=3)
    kept = memory.put(replace(created, updated_at=old), touch=False)
    assert kept.updated_at == old
    touched = memory.put(replace(created, fields={"email": " x@example.com "}))
    assert touched.updated_at == clock.now
    assert touched.fields == {"email": "x@example.com"}


def test_ids_carry_the_prefix_and_never_repeat() -> None:
    adapter = MemoryAdapter(id_prefix="left")
    ids = [adapter.create(contact(f"{n}@example.com")).id for n in range(3)]
    assert ids == ["left1", "left2", "left3"]


def test_named_stores_are_shared_between_openings() -> None:
    MemoryAdapter.forget_all()
    try:
        context = AdapterContext(connection="demo", side="b")
        first = MemoryAdapter.from_settings({}, context)
        assert MemoryAdapter.from_settings({}, context) is first
        assert MemoryAdapter.from_settings({"name": "other"}, context) is not first
        assert first.new_id().startswith("demo-b")
    finally:
        MemoryAdapter.forget_all()


def test_reads_and_writes_are_counted(memory: MemoryAdapter) -> None:
    record = memory.create(contact())
    memory.get("contact", record.id)
    memory.snapshot("contact")
    memory.find_by_key("contact", "email:ada@example.com")
    assert (memory.reads, memory.writes) == (3, 1)
