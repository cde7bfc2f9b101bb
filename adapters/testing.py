"""The contract every adapter keeps, as a pytest base class to subclass.

Each adapter's test module subclasses ``AdapterContract`` and overrides one fixture,
``make_adapter``: a zero-argument callable that opens an adapter over one fresh, empty
store. Calling it again opens a second adapter over the *same* store (a new file
handle, a new client to the same fake server), which is how durability is checked.
Records are seeded only through the adapter's own ``create``, so the suite needs no
backdoor into the system behind the adapter::

    class TestJsonl(AdapterContract):
        @pytest.fixture
        def make_adapter(self, tmp_path: Path) -> Callable[[], Adapter]:
            return lambda: JsonlAdapter(tmp_path / "side.jsonl")

The suite reads ``capabilities()`` and tests only what the side claims: entities it
does not hold must read as empty and refuse writes, read-only fields must not be
written, optional Protocols (``Incremental``, ``KeyLookup``) are tested when present.
What differs between real systems is a class attribute or an overridable method
(``sample_fields``, ``changed_value``, ``cursor_order``), never a fork of a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import pytest

from adapters.base import Adapter, Incremental, KeyLookup
from syncengine.errors import (
    AdapterError,
    PermanentAdapterError,
    RecordNotFound,
    RecordRejected,
)
from syncengine.models import (
    CHILD_ENTITIES,
    ENTITIES,
    FIELDS,
    JSON,
    Entity,
    FieldChange,
    Record,
)
from syncengine.normalize import canonical_fields

__all__ = ["ENTITY_FIELDS", "AdapterContract", "MakeAdapter", "ManualClock"]

MakeAdapter = Callable[[], Adapter]
"""Opens an adapter over the test's store; each call is a new adapter, same store."""

ENTITY_FIELDS: list[tuple[Entity, str]] = [(e, f) for e in ENTITIES for f in FIELDS[e]]
"""Every (entity, field) pair, for tests parametrised per field."""

_SAMPLES: dict[Entity, dict[str, JSON]] = {
    "contact": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada{n}@example.com",
        "phone": "+1415555{n:04d}",
        "company_name": "Analytical Engines",
        "address1": "12 St James's Square",
        "city": "London",
        "state": "LDN",
        "postal_code": "SW1Y 4JH",
        "country": "GB",
        "website": "https://example.com/ada{n}",
        "source": "import",
        "date_of_birth": "1815-12-10",
        "timezone": "Europe/London",
        "tags": ["math", "vip"],
        "custom_fields": {"favourite_number": "7", "plan": "gold"},
    },
    "note": {"title": "Call notes {n}", "body": "Asked about pricing."},
    "task": {
        "title": "Send quote {n}",
        "body": "Include the discount.",
        "due_date": "2030-01-15T09:00:00+00:00",
        "completed": False,
        "assigned_to": "user-1",
    },
    "appointment": {
        "title": "Demo {n}",
        "start_time": "2030-01-15T10:00:00+00:00",
        "end_time": "2030-01-15T11:00:00+00:00",
        "status": "confirmed",
        "calendar_id": "cal-1",
        "address": "Zoom",
        "notes": "Bring slides.",
    },
}

_CHANGED: dict[str, JSON] = {
    "email": "changed{n}@example.org",
    "phone": "+1415666{n:04d}",
    "website": "https://example.org/changed{n}",
    "date_of_birth": "1816-01-01",
    "timezone": "America/New_York",
    "tags": ["beta", "math"],
    "custom_fields": {"favourite_number": "8", "colour": "blue"},
    "due_date": "2031-02-01T09:00:00+00:00",
    "start_time": "2031-02-01T10:00:00+00:00",
    "end_time": "2031-02-01T11:00:00+00:00",
    "status": "cancelled",
    "calendar_id": "cal-2",
}


class ManualClock:
    """A clock the test moves by hand, for adapters that take ``clock=``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)


def _fill(value: JSON, n: int) -> JSON:
    return value.format(n=n) if isinstance(value, str) else value


class AdapterContract:
    """Tests every adapter must pass. Subclass it and override ``make_adapter``."""

    bulk_count: ClassVar[int] = 12
    """Contacts created by the completeness test; set it above the side's page size."""
    rejects_invalid_email: ClassVar[bool] = True
    """Whether the side refuses an invalid email on create (RecordRejected)."""
    cascades_child_deletes: ClassVar[bool] = True
    """Whether deleting a contact deletes its notes, tasks and appointments."""
    cursor_overlap: ClassVar[bool] = False
    """Whether ``changes_since`` may repeat changes from just before the cursor (an
    overlap window); if so, the suite does not check that old changes stay out."""

    # -- what a subclass provides ---------------------------------------------------------
    @pytest.fixture
    def make_adapter(self) -> MakeAdapter:
        """Override: open adapters over one fresh, empty store (see the module doc)."""
        raise NotImplementedError(f"{type(self).__name__} must override the make_adapter fixture")

    def sample_fields(self, entity: Entity, n: int = 0) -> dict[str, JSON]:
        """Canonical fields of a valid record; ``n`` makes match keys unique. Override
        when the real system only accepts other values (e.g. its calendar ids)."""
        return {k: _fill(v, n) for k, v in _SAMPLES[entity].items()}

    def changed_value(self, entity: Entity, field: str, current: JSON, n: int = 0) -> JSON:
        """A valid value for ``field`` that differs from ``current``."""
        if field in _CHANGED:
            return _fill(_CHANGED[field], n)
        if field == "completed":
            return not current
        return f"Changed {field} {n}"

    def cursor_order(self, cursor: str) -> Any:
        """A sort key for cursors when the side's cursors are ordered; None if opaque."""
        return None

    def comparable(self, record: Record | None) -> Record | None:
        """What of a written record must equal the same record read back. Override when a
        side's write responses leave something out that its reads return (a timestamp)."""
        return record

    # -- fixtures and helpers -------------------------------------------------------------
    @pytest.fixture
    def adapter(self, make_adapter: MakeAdapter) -> Iterator[Adapter]:
        opened = make_adapter()
        yield opened
        opened.close()

    def supports(self, adapter: Adapter, entity: Entity) -> bool:
        caps = adapter.capabilities()
        return entity in caps.entities and entity in caps.can_create

    def require(self, adapter: Adapter, *entities: Entity) -> None:
        for entity in entities:
            if not self.supports(adapter, entity):
                pytest.skip(f"{adapter.name} cannot hold/create {entity} records")

    def expected(
        self, adapter: Adapter, entity: Entity, fields: dict[str, JSON]
    ) -> dict[str, JSON]:
        """What the side should hold after creating a record of ``fields`` (or updating
        one to them): the fields a create writes, canonical."""
        creatable = adapter.capabilities().creatable_fields(entity)
        return canonical_fields({k: v for k, v in fields.items() if k in creatable})

    def seed(
        self,
        adapter: Adapter,
        entity: Entity = "contact",
        n: int = 0,
        *,
        parent_id: str | None = None,
        **overrides: JSON,
    ) -> Record:
        """Create a sample record through the adapter itself and return what it holds."""
        fields = {**self.sample_fields(entity, n), **overrides}
        return adapter.create(
            Record(entity=entity, id=f"seed-{entity}-{n}", fields=fields, parent_id=parent_id)
        )

    def seed_family(self, adapter: Adapter) -> tuple[Record, list[Record]]:
        """A contact with one child of each entity the side holds."""
        contact = self.seed(adapter, "contact", 1)
        children = [
            self.seed(adapter, child, 1, parent_id=contact.id)
            for child in CHILD_ENTITIES
            if self.supports(adapter, child)
        ]
        return contact, children

    def writable(self, adapter: Adapter, entity: Entity, field: str) -> None:
        caps = adapter.capabilities()
        self.require(adapter, entity)
        if entity not in caps.can_update or field not in caps.writable_fields(entity):
            pytest.skip(f"{adapter.name} cannot write {entity}.{field}")

    # -- capabilities ---------------------------------------------------------------------
    def test_capabilities_are_consistent(self, adapter: Adapter) -> None:
        caps = adapter.capabilities()
        assert caps.entities, "a side must hold at least one entity"
        for ops in (caps.can_create, caps.can_update, caps.can_delete):
            assert ops <= caps.entities
        for entity, read_only in caps.read_only_fields.items():
            assert read_only <= caps.fields.get(entity, frozenset())
        for entity, create_only in caps.create_only_fields.items():
            assert create_only <= caps.fields.get(entity, frozenset())
            assert not create_only & caps.read_only_fields.get(entity, frozenset())
        for entity, names in caps.fields.items():
            assert names <= set(FIELDS[entity]), f"unknown {entity} fields {names}"

    # -- snapshots ------------------------------------------------------------------------
    def test_fresh_side_is_empty(self, adapter: Adapter) -> None:
        for entity in sorted(adapter.capabilities().entities):
            snap = adapter.snapshot(entity)
            assert snap.entity == entity
            assert snap.records == []
            assert snap.problems == []

    def test_snapshot_is_complete_and_exact(self, adapter: Adapter) -> None:
        self.require(adapter, "contact")
        created = {r.id: r for r in (self.seed(adapter, n=n) for n in range(self.bulk_count))}
        snap = adapter.snapshot("contact")
        assert snap.complete
        assert snap.problems == []
        assert sorted(r.id for r in snap.records) == sorted(created)
        for record in snap.records:
            assert record.entity == "contact"
            assert record.fields == created[record.id].fields

    def test_snapshot_holds_only_its_entity(self, adapter: Adapter) -> None:
        self.require(adapter, "contact")
        contact, children = self.seed_family(adapter)
        assert [r.id for r in adapter.snapshot("contact").records] == [contact.id]
        for child in children:
            assert [r.id for r in adapter.snapshot(child.entity).records] == [child.id]

    def test_snapshot_values_are_canonical(self, adapter: Adapter) -> None:
        self.require(adapter, "contact")
        self.seed(adapter, first_name="  Ada  ", company_name="", tags=["b", " a ", "b"])
        (record,) = adapter.snapshot("contact").records
        assert dict(record.fields) == canonical_fields(record.fields)
        assert record.fields["first_name"] == "Ada"
        assert "company_name" not in record.fields

    def test_writes_are_durable(self, adapter: Adapter, make_adapter: MakeAdapter) -> None:
        self.require(adapter, "contact")
        kept = self.seed(adapter, n=1)
        gone = self.seed(adapter, n=2)
        adapter.update("contact", kept.id, [FieldChange("first_name", "Ada", "Augusta")])
        adapter.delete("contact", gone.id)
        reopened = make_adapter()
        try:
            (record,) = reopened.snapshot("contact").records
            assert record.id == kept.id
            assert record.fields["first_name"] == "Augusta"
        finally:
            if reopened is not adapter:
                reopened.close()

    # -- create / get ---------------------------------------------------------------------
    @pytest.mark.parametrize("entity", ENTITIES)
    def test_create_returns_new_id_and_stored_fields(
        self, adapter: Adapter, entity: Entity
    ) -> None:
        self.require(adapter, entity)
        parent = self.seed(adapter, "contact", 99).id if entity in CHILD_ENTITIES else None
        fields = self.sample_fields(entity, 1)
        created = adapter.create(
            Record(entity=entity, id="ignored-by-create", fields=fields, parent_id=parent)
        )
        assert created.id and created.id != "ignored-by-create"
        assert created.entity == entity
        assert created.parent_id == parent
        assert dict(created.fields) == self.expected(adapter, entity, fields)
        assert self.comparable(adapter.get(entity, created.id)) == self.comparable(created)

    def test_create_gives_distinct_ids(self, adapter: Adapter) -> None:
        self.require(adapter, "contact")
        ids = {self.seed(adapter, n=n).id for n in range(3)}
        assert len(ids) == 3

    def test_get_missing_returns_none(self, adapter: Adapter) -> None:
        for entity in sorted(adapter.capabilities().entities):
            assert adapter.get(entity, "no-such-id") is None

    def test_get_does_not_cross_entities(self, adapter: Adapter) -> None:
        self.require(adapter, "contact", "note")
        contact, _ = self.seed_family(adapter)
        assert adapter.get("note", contact.id) is None

    # -- update ---------------------------------------------------------------------------
    @pytest.mark.parametrize(("entity", "field"), ENTITY_FIELDS)
    def test_update_one_field_leaves_others_alone(
        self, adapter: Adapter, entity: Entity, field: str
    ) -> None:
        self.writable(adapter, entity, field)
        parent = self.seed(adapter, "contact", 99).id if entity in CHILD_ENTITIES else None
        before = self.seed(adapter, entity, 1, parent_id=parent)
        new = self.changed_value(entity, field, before.fields.get(field), 2)
        after = adapter.update(
            entity, before.id, [FieldChange(field, before.fields.get(field), new)]
        )
        expected = {**before.fields, field: new}
        assert dict(after.fields) == self.expected(adapter, entity, expected)
        assert after.id == before.id
        assert after.parent_id == before.parent_id
        assert self.comparable(adapter.get(entity, before.id)) == self.comparable(after)

    @pytest.mark.parametrize("field", ["first_name", "email", "tags", "custom_fields"])
    def test_update_to_none_clears_the_field(self, adapter: Adapter, field: str) -> None:
        self.writable(adapter, "contact", field)
        before = self.seed(adapter)
        after = adapter.update(
            "contact", before.id, [FieldChange(field, before.fields[field], None)]
        )
        assert field not in after.fields
        assert {k: v for k, v in before.fields.items() if k != field} == dict(after.fields)

    def test_update_leaves_other_records_alone(self, adapter: Adapter) -> None:
        self.writable(adapter, "contact", "first_name")
        target, bystander = self.seed(adapter, n=1), self.seed(adapter, n=2)
        adapter.update("contact", target.id, [FieldChange("first_name", "Ada", "Augusta")])
        assert adapter.get("contact", bystander.id) == bystander

    def test_update_several_fields_at_once(self, adapter: Adapter) -> None:
        self.writable(adapter, "contact", "first_name")
        self.writable(adapter, "contact", "city")
        before = self.seed(adapter)
        after = adapter.update(
            "contact",
            before.id,
            [FieldChange("first_name", "Ada", "Augusta"), FieldChange("city", "London", "Paris")],
        )
        assert (after.fields["first_name"], after.fields["city"]) == ("Augusta", "Paris")

    # -- tags and custom fields -----------------------------------------------------------
    def test_tags_round_trip_as_a_set(self, adapter: Adapter) -> None:
        self.writable(adapter, "contact", "tags")
        created = self.seed(adapter, tags=["vip", " math ", "vip", "beta"])
        assert created.fields["tags"] == ["beta", "math", "vip"]
        updated = adapter.update(
            "contact", created.id, [FieldChange("tags", created.fields["tags"], ["vip", "new"])]
        )
        assert updated.fields["tags"] == ["new", "vip"]
        assert adapter.get("contact", created.id) == updated

    def test_custom_fields_round_trip(self, adapter: Adapter) -> None:
        self.writable(adapter, "contact", "custom_fields")
        created = self.seed(adapter, custom_fields={"plan": "gold", "seats": "5", "empty": ""})
        assert created.fields["custom_fields"] == {"plan": "gold", "seats": "5"}
        updated = adapter.update(
            "contact",
            created.id,
            [FieldChange("custom_fields", created.fields["custom_fields"], {"plan": "silver"})],
        )
        assert updated.fields["custom_fields"] == {"plan": "silver"}
        assert adapter.get("contact", created.id) == updated

    # -- children -------------------------------------------------------------------------
    @pytest.mark.parametrize("entity", CHILD_ENTITIES)
    def test_child_lives_under_its_contact(self, adapter: Adapter, entity: Entity) -> None:
        self.require(adapter, "contact", entity)
        contact, other = self.seed(adapter, n=1), self.seed(adapter, n=2)
        child = self.seed(adapter, entity, 1, parent_id=contact.id)
        self.seed(adapter, entity, 2, parent_id=other.id)
        assert child.parent_id == contact.id
        snap = adapter.snapshot(entity)
        assert {r.id: r.parent_id for r in snap.records}[child.id] == contact.id
        scoped = adapter.snapshot(entity, changed_parents=[contact.id])
        assert child.id in {r.id for r in scoped.records}
        if scoped.covered_parents is not None:
            assert contact.id in scoped.covered_parents

    @pytest.mark.parametrize("entity", CHILD_ENTITIES)
    def test_child_without_its_contact_is_refused(self, adapter: Adapter, entity: Entity) -> None:
        self.require(adapter, entity)
        orphan = Record(entity=entity, id="", fields=self.sample_fields(entity), parent_id="nope")
        with pytest.raises((RecordRejected, RecordNotFound)):
            adapter.create(orphan)
        assert adapter.snapshot(entity).records == []

    def test_deleting_a_contact_deletes_its_children(self, adapter: Adapter) -> None:
        if not self.cascades_child_deletes:
            pytest.skip(f"{adapter.name} keeps children of a deleted contact")
        self.require(adapter, "contact")
        contact, children = self.seed_family(adapter)
        if not children:
            pytest.skip(f"{adapter.name} holds no child entities")
        adapter.delete("contact", contact.id)
        for child in children:
            assert adapter.get(child.entity, child.id) is None
            assert adapter.snapshot(child.entity).records == []

    # -- delete ---------------------------------------------------------------------------
    @pytest.mark.parametrize("entity", ENTITIES)
    def test_delete_round_trip(self, adapter: Adapter, entity: Entity) -> None:
        self.require(adapter, entity)
        if entity not in adapter.capabilities().can_delete:
            pytest.skip(f"{adapter.name} cannot delete {entity}")
        parent = self.seed(adapter, "contact", 99).id if entity in CHILD_ENTITIES else None
        doomed = self.seed(adapter, entity, 1, parent_id=parent)
        kept = self.seed(adapter, entity, 2, parent_id=parent)
        adapter.delete(entity, doomed.id)
        assert adapter.get(entity, doomed.id) is None
        assert [r.id for r in adapter.snapshot(entity).records] == [kept.id]

    # -- error mapping --------------------------------------------------------------------
    @pytest.mark.parametrize("entity", ENTITIES)
    def test_delete_missing_raises_record_not_found(self, adapter: Adapter, entity: Entity) -> None:
        if entity not in adapter.capabilities().can_delete:
            pytest.skip(f"{adapter.name} cannot delete {entity}")
        with pytest.raises(RecordNotFound) as caught:
            adapter.delete(entity, "no-such-id")
        assert caught.value.record_id == "no-such-id"

    @pytest.mark.parametrize("entity", ENTITIES)
    def test_update_missing_raises_record_not_found(self, adapter: Adapter, entity: Entity) -> None:
        if entity not in adapter.capabilities().can_update:
            pytest.skip(f"{adapter.name} cannot update {entity}")
        field = FIELDS[entity][0]
        with pytest.raises(RecordNotFound) as caught:
            adapter.update(entity, "no-such-id", [FieldChange(field, None, "x")])
        assert caught.value.record_id == "no-such-id"

    def test_deleted_record_cannot_be_deleted_again(self, adapter: Adapter) -> None:
        self.require(adapter, "contact")
        record = self.seed(adapter)
        adapter.delete("contact", record.id)
        with pytest.raises(RecordNotFound):
            adapter.delete("contact", record.id)

    def test_invalid_email_is_rejected(self, adapter: Adapter) -> None:
        if not self.rejects_invalid_email:
            pytest.skip(f"{adapter.name} stores emails unchecked")
        self.writable(adapter, "contact", "email")
        with pytest.raises(RecordRejected):
            self.seed(adapter, email="not-an-email@")
        assert adapter.snapshot("contact").records == []
        record = self.seed(adapter)
        with pytest.raises(RecordRejected) as caught:
            adapter.update("contact", record.id, [FieldChange("email", None, "nope@")])
        assert caught.value.record_id == record.id
        assert adapter.get("contact", record.id) == record

    def test_errors_are_adapter_errors(self, adapter: Adapter) -> None:
        """The Protocol promises AdapterError subclasses and nothing else."""
        caps = adapter.capabilities()
        entity = sorted(caps.entities)[0]
        calls: list[Callable[[], object]] = [
            lambda: adapter.delete(entity, "no-such-id"),
            lambda: adapter.update(entity, "no-such-id", []),
        ]
        for call in calls:
            with pytest.raises(AdapterError):
                call()

    # -- capabilities honoured ------------------------------------------------------------
    def test_read_only_fields_are_not_written(self, adapter: Adapter) -> None:
        for entity, field, sent, created in self._create_with_each(adapter, "read_only_fields"):
            assert created.fields.get(field) != sent, f"{entity}.{field} was written"
            self._update_leaves(adapter, created, field)

    def test_create_only_fields_are_written_on_create_only(self, adapter: Adapter) -> None:
        for entity, field, sent, created in self._create_with_each(adapter, "create_only_fields"):
            assert created.fields.get(field) == sent, f"{entity}.{field} was not written"
            self._update_leaves(adapter, created, field)

    def _create_with_each(
        self, adapter: Adapter, kind: Literal["read_only_fields", "create_only_fields"]
    ) -> Iterator[tuple[Entity, str, JSON, Record]]:
        """Per field of ``caps.<kind>`` on an entity the side creates: the value sent for
        it (canonical) and the record a create of a sample record with it made."""
        caps = adapter.capabilities()
        listed: Mapping[Entity, frozenset[str]] = getattr(caps, kind)
        cases = [
            (e, f)
            for e, names in sorted(listed.items())
            for f in sorted(names)
            if self.supports(adapter, e)
        ]
        if not cases:
            pytest.skip(f"{adapter.name} has no {kind} on entities it can create")
        parent = self.seed(adapter, "contact", 99).id if self.supports(adapter, "contact") else None
        for entity, field in cases:
            fields = self.sample_fields(entity, 1)
            fields[field] = self.changed_value(entity, field, fields.get(field), 3)
            created = adapter.create(
                Record(entity, "", fields, parent_id=parent if entity in CHILD_ENTITIES else None)
            )
            yield entity, field, canonical_fields(fields)[field], created

    def _update_leaves(self, adapter: Adapter, created: Record, field: str) -> None:
        """An update of ``field`` (which the side does not update) leaves it as it is."""
        if created.entity not in adapter.capabilities().can_update:
            return
        before = created.fields.get(field)
        new = self.changed_value(created.entity, field, before, 4)
        updated = adapter.update(created.entity, created.id, [FieldChange(field, before, new)])
        assert updated.fields.get(field) == before, (created.entity, field)
        got = adapter.get(created.entity, created.id)
        assert got is not None and got.fields.get(field) == before, (created.entity, field)

    @pytest.mark.parametrize("entity", ENTITIES)
    def test_create_refused_where_not_allowed(self, adapter: Adapter, entity: Entity) -> None:
        caps = adapter.capabilities()
        if entity in caps.can_create:
            pytest.skip(f"{adapter.name} can create {entity}")
        parent = None
        if entity in CHILD_ENTITIES and self.supports(adapter, "contact"):
            parent = self.seed(adapter, "contact", 99).id
        record = Record(entity=entity, id="", fields=self.sample_fields(entity), parent_id=parent)
        with pytest.raises(PermanentAdapterError):
            adapter.create(record)
        assert adapter.snapshot(entity).records == []

    @pytest.mark.parametrize("entity", ENTITIES)
    def test_update_and_delete_refused_where_not_allowed(
        self, adapter: Adapter, entity: Entity
    ) -> None:
        caps = adapter.capabilities()
        if entity in caps.can_update and entity in caps.can_delete:
            pytest.skip(f"{adapter.name} can update and delete {entity}")
        self.require(adapter, entity)
        parent = self.seed(adapter, "contact", 99).id if entity in CHILD_ENTITIES else None
        record = self.seed(adapter, entity, 1, parent_id=parent)
        field = sorted(caps.writable_fields(entity))[0]
        if entity not in caps.can_update:
            new = self.changed_value(entity, field, record.fields.get(field), 2)
            with pytest.raises(PermanentAdapterError):
                adapter.update(entity, record.id, [FieldChange(field, None, new)])
        if entity not in caps.can_delete:
            with pytest.raises(PermanentAdapterError):
                adapter.delete(entity, record.id)
        assert adapter.get(entity, record.id) == record

    @pytest.mark.parametrize("entity", ENTITIES)
    def test_entity_the_side_does_not_hold(self, adapter: Adapter, entity: Entity) -> None:
        """An entity outside ``Capabilities.entities`` reads as empty and refuses writes,
        so a side without notes never looks like it deleted them all."""
        caps = adapter.capabilities()
        if entity in caps.entities:
            pytest.skip(f"{adapter.name} holds {entity}")
        snap = adapter.snapshot(entity)
        assert snap.records == []
        assert adapter.get(entity, "anything") is None
        with pytest.raises(PermanentAdapterError):
            adapter.create(Record(entity=entity, id="", fields=self.sample_fields(entity)))

    # -- optional Protocols ---------------------------------------------------------------
    def test_find_by_key(self, adapter: Adapter) -> None:
        if not isinstance(adapter, KeyLookup):
            pytest.skip(f"{adapter.name} has no KeyLookup")
        self.require(adapter, "contact")
        wanted = self.seed(adapter, n=1, email="Ada.Lovelace@Example.com")
        self.seed(adapter, n=2)
        assert [r.id for r in adapter.find_by_key("contact", "email:ada.lovelace@example.com")] == [
            wanted.id
        ]
        assert adapter.find_by_key("contact", "email:nobody@example.com") == []

    def test_find_by_key_follows_writes(self, adapter: Adapter) -> None:
        """A side that keeps an index for its look-ups (files, memory) keeps it true
        across writes made after it was first asked: creates are found, a changed email
        is found by its new key and not its old one, a deleted record is not found."""
        if not isinstance(adapter, KeyLookup):
            pytest.skip(f"{adapter.name} has no KeyLookup")
        self.require(adapter, "contact")
        self.writable(adapter, "contact", "email")
        moved = self.seed(adapter, n=1, email="moved@example.com")
        doomed = self.seed(adapter, n=2, email="doomed@example.com")
        assert [r.id for r in adapter.find_by_key("contact", "email:moved@example.com")] == [
            moved.id
        ]
        assert [r.id for r in adapter.find_by_key("contact", "email:doomed@example.com")] == [
            doomed.id
        ]
        late = self.seed(adapter, n=3, email="late@example.com")
        adapter.update(
            "contact",
            moved.id,
            [FieldChange("email", "moved@example.com", "arrived@example.com")],
        )
        adapter.delete("contact", doomed.id)
        assert [r.id for r in adapter.find_by_key("contact", "email:late@example.com")] == [late.id]
        found = adapter.find_by_key("contact", "email:arrived@example.com")
        assert [r.id for r in found] == [moved.id]
        assert found[0].fields["email"] == "arrived@example.com"
        assert adapter.find_by_key("contact", "email:moved@example.com") == []
        assert adapter.find_by_key("contact", "email:doomed@example.com") == []

    def _incremental(self, adapter: Adapter) -> Incremental:
        if not isinstance(adapter, Incremental):
            pytest.skip(f"{adapter.name} is not Incremental")
        self.require(adapter, "contact")
        return adapter

    def test_changes_since_reports_creates_updates_and_deletes(self, adapter: Adapter) -> None:
        incremental = self._incremental(adapter)
        untouched = self.seed(adapter, n=1)
        edited, doomed = self.seed(adapter, n=2), self.seed(adapter, n=3)
        start = adapter.snapshot("contact").cursor
        assert start is not None, "an Incremental side's full snapshot must carry a cursor"
        created = self.seed(adapter, n=4)
        adapter.update("contact", edited.id, [FieldChange("first_name", "Ada", "Augusta")])
        adapter.delete("contact", doomed.id)
        changes = incremental.changes_since("contact", start)
        assert not changes.complete
        got = {r.id: r for r in changes.records}
        assert created.id in got
        assert got[edited.id].fields["first_name"] == "Augusta"
        assert doomed.id in changes.deleted_ids
        assert doomed.id not in got
        if not self.cursor_overlap:
            assert untouched.id not in got

    def test_cursors_never_go_backwards(self, adapter: Adapter) -> None:
        incremental = self._incremental(adapter)
        first = self.seed(adapter, n=1)
        c0 = adapter.snapshot("contact").cursor
        assert c0 is not None
        second = self.seed(adapter, n=2)
        step1 = incremental.changes_since("contact", c0)
        assert step1.cursor is not None
        idle = incremental.changes_since("contact", step1.cursor)
        assert idle.cursor is not None
        if not self.cursor_overlap:
            assert idle.records == [] and idle.deleted_ids == ()
        third = self.seed(adapter, n=3)
        step2 = incremental.changes_since("contact", idle.cursor)
        assert step2.cursor is not None
        seen = {r.id for r in step2.records}
        assert third.id in seen
        if not self.cursor_overlap:
            assert seen == {third.id}
            assert first.id not in {r.id for r in step1.records}
            assert second.id in {r.id for r in step1.records}
        order = [self.cursor_order(c) for c in (c0, step1.cursor, idle.cursor, step2.cursor)]
        if order[0] is not None:
            assert order == sorted(order), f"cursors went backwards: {order}"
