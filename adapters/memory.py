"""The in-memory reference adapter: the whole Protocol, for tests, examples and the bench.

It keeps a change log so it can answer ``changes_since`` like a real incremental API,
and it can be told to fail (transiently or for good) to exercise retries and
quarantine. Named stores live in a process-wide registry so a config file can say
``adapter = "memory"`` and ``name = "x"`` and tests can seed that store directly.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from adapters.base import AdapterContext, Capabilities, Snapshot
from adapters.keyindex import KeyIndex
from syncengine.errors import (
    PermanentAdapterError,
    RecordNotFound,
    RecordRejected,
    TransientAdapterError,
)
from syncengine.models import CHILD_ENTITIES, Entity, FieldChange, Record
from syncengine.normalize import canonical_fields, is_canonical


@dataclass
class FaultPlan:
    """Failures to inject: the next N writes fail transiently; listed ids fail for good."""

    transient_writes: int = 0
    permanent_ids: set[str] = field(default_factory=set)
    crash_after_writes: int | None = None
    """Raise ``SimulatedCrash`` after this many more successful writes (property tests)."""


class SimulatedCrash(BaseException):
    """Stands in for kill -9 in tests: not an Exception, so nothing catches it."""


class MemoryAdapter:
    name = "memory"
    SETTINGS = ("name",)
    """``name``: the process-wide store to use (default ``CONNECTION-SIDE``)."""
    immediate_changes = True
    """Its change log is written with the record: a run may read its own writes back."""
    _stores: ClassVar[dict[str, MemoryAdapter]] = {}

    def __init__(
        self,
        *,
        capabilities: Capabilities | None = None,
        clock: Callable[[], datetime] | None = None,
        id_prefix: str = "m",
    ) -> None:
        self._caps = capabilities or Capabilities()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._records: dict[Entity, dict[str, Record]] = {}
        self._log: dict[Entity, tuple[array[int], list[str]]] = {}
        """Per entity, the sequence number and the record id of every change, in order, as
        two columns: 16 bytes a change instead of a tuple and an int (92 bytes; a bench
        contact costs the side 942 bytes instead of 1,017)."""
        self._keys = KeyIndex()
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._ids = itertools.count(1)
        self._id_prefix = id_prefix
        self.home: str | None = None
        """The registry name of a named store: its identity."""
        self.faults = FaultPlan()
        self.writes = 0
        self.reads = 0

    # -- registry of named stores (config: adapter = "memory", name = "...") --------
    @classmethod
    def named(cls, name: str) -> MemoryAdapter:
        if name not in cls._stores:
            cls._stores[name] = cls(id_prefix=name)
            cls._stores[name].home = name
        return cls._stores[name]

    @classmethod
    def settings_problems(cls, settings: Mapping[str, Any]) -> list[str]:
        name = settings.get("name")
        if name is not None and (not isinstance(name, str) or not name):
            return [f"memory adapter: setting 'name' must be a non-empty string, not {name!r}"]
        return []

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], context: AdapterContext) -> MemoryAdapter:
        return cls.named(str(settings.get("name", f"{context.connection}-{context.side}")))

    def identity(self) -> str:
        return f"memory store {self.home}" if self.home is not None else self.name

    @classmethod
    def forget_all(cls) -> None:
        cls._stores.clear()

    # -- direct access for tests and seeding -----------------------------------------
    def put(self, record: Record, *, touch: bool = True) -> Record:
        """Write a record as a user of this system would (not through the sync)."""
        return self._stamp(
            record.entity,
            record.id,
            record.fields,
            record.parent_id,
            self._clock() if touch or record.updated_at is None else record.updated_at,
        )

    def remove(self, entity: Entity, record_id: str) -> None:
        """Delete as a user would; deleting a contact deletes its children."""
        self._records.get(entity, {}).pop(record_id, None)
        self._log_change(entity, record_id)
        if entity == "contact":
            for child in CHILD_ENTITIES:
                for rid in [
                    r.id for r in self._records.get(child, {}).values() if r.parent_id == record_id
                ]:
                    self.remove(child, rid)

    def records(self, entity: Entity) -> dict[str, Record]:
        return dict(self._records.get(entity, {}))

    def new_id(self) -> str:
        """A fresh id, never one a seeded record already uses."""
        while True:
            candidate = f"{self._id_prefix}{next(self._ids)}"
            for records in self._records.values():
                if candidate in records:
                    break
            else:
                return candidate

    # -- the Protocol ------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return self._caps

    def snapshot(
        self, entity: Entity, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        self.reads += 1
        return Snapshot(
            entity=entity,
            records=list(self._records.get(entity, {}).values()),
            complete=True,
            cursor=self._cursor(),
        )

    def changes_since(
        self, entity: Entity, cursor: str, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        self.reads += 1
        seqs, ids = self._log.get(entity, (array("q"), []))
        start = bisect.bisect_right(seqs, int(cursor))
        current = self._records.get(entity, {})
        changed: list[Record] = []
        deleted: dict[str, None] = {}
        # A record's version is the sequence number of its last change, so the entry of
        # that change names it once: no set of every id seen (a million after a first
        # sync, read back at the end of the run) is needed to drop the earlier entries.
        for seq, rid in zip(seqs[start:], ids[start:], strict=True):
            record = current.get(rid)
            if record is None:
                deleted[rid] = None  # gone: ids only, usually few
            elif record.version == str(seq):
                changed.append(record)
        return Snapshot(
            entity=entity,
            records=changed,
            complete=False,
            deleted_ids=tuple(deleted),
            cursor=self._cursor(),
        )

    def get(self, entity: Entity, record_id: str) -> Record | None:
        self.reads += 1
        return self._records.get(entity, {}).get(record_id)

    def find_by_key(self, entity: Entity, key: str) -> list[Record]:
        self.reads += 1
        records = self._records.get(entity, {})
        return self._keys.find(entity, key, records.values, records.get)

    def create(self, record: Record) -> Record:
        self._before_write(record.id)
        if record.entity not in self._caps.can_create:
            raise PermanentAdapterError(f"memory side cannot create {record.entity}")
        if record.entity in CHILD_ENTITIES and (
            record.parent_id is None or record.parent_id not in self._records.get("contact", {})
        ):
            raise RecordRejected(
                f"{record.entity} needs an existing contact, got {record.parent_id!r}"
            )
        created = self._stamp(
            record.entity,
            self.new_id(),
            self._caps.takes(record.entity, record.fields),
            record.parent_id,
            self._clock(),
            shared=True,
        )
        self._after_write()
        return created

    def update(self, entity: Entity, record_id: str, changes: Sequence[FieldChange]) -> Record:
        self._before_write(record_id)
        if entity not in self._caps.can_update:
            raise PermanentAdapterError(f"memory side cannot update {entity}s")
        current = self._records.get(entity, {}).get(record_id)
        if current is None:
            raise RecordNotFound(f"memory {entity} {record_id} does not exist", record_id=record_id)
        fields = dict(current.fields)
        for change in self._caps.takes_changes(entity, changes):
            fields[change.field] = change.after
        # ``fields`` is this call's own dict: the record is stamped with it, not a copy.
        updated = self._stamp(
            entity, record_id, fields, current.parent_id, self._clock(), shared=True
        )
        self._after_write()
        return updated

    def delete(self, entity: Entity, record_id: str) -> None:
        self._before_write(record_id)
        if entity not in self._caps.can_delete:
            raise PermanentAdapterError(f"memory side cannot delete {entity}s")
        if record_id not in self._records.get(entity, {}):
            raise RecordNotFound(f"memory {entity} {record_id} does not exist", record_id=record_id)
        self.remove(entity, record_id)
        self._after_write()

    def close(self) -> None:
        return None

    # -- internals ---------------------------------------------------------------------
    def _stamp(
        self,
        entity: Entity,
        record_id: str,
        fields: Mapping[str, Any],
        parent_id: str | None,
        updated_at: datetime,
        *,
        shared: bool = False,
    ) -> Record:
        """Store a record as this side holds it: canonical fields, a new version.

        ``shared`` says the caller will not change ``fields`` (the sync's own records,
        or a dict built for this write): where they are canonical already the record
        keeps that very dict. A create from a sync then costs the side no copy of the
        fields its source already holds (a bench contact: 340 of its 620 bytes)."""
        seq = self._last_seq = next(self._seq)
        stamped = Record(
            entity,
            record_id,
            fields
            if shared and type(fields) is dict and is_canonical(fields)
            else canonical_fields(fields),
            updated_at=updated_at,
            parent_id=parent_id,
            version=str(seq),
        )
        self._records.setdefault(entity, {})[record_id] = stamped
        self._keys.add(stamped)
        self._append_log(entity, seq, record_id)
        return stamped

    def _cursor(self) -> str:
        return str(self._last_seq)

    def _log_change(self, entity: Entity, record_id: str) -> None:
        self._last_seq = next(self._seq)
        self._append_log(entity, self._last_seq, record_id)

    def _append_log(self, entity: Entity, seq: int, record_id: str) -> None:
        log = self._log.get(entity)
        if log is None:
            log = self._log[entity] = (array("q"), [])
        log[0].append(seq)
        log[1].append(record_id)

    def _before_write(self, record_id: str | None) -> None:
        if self.faults.transient_writes > 0:
            self.faults.transient_writes -= 1
            raise TransientAdapterError("injected transient failure", record_id=record_id)
        if record_id is not None and record_id in self.faults.permanent_ids:
            raise RecordRejected("injected permanent failure", record_id=record_id)

    def _after_write(self) -> None:
        self.writes += 1
        if self.faults.crash_after_writes is not None:
            if self.faults.crash_after_writes <= 0:
                self.faults.crash_after_writes = None
                raise SimulatedCrash("simulated crash after a successful write")
            self.faults.crash_after_writes -= 1
