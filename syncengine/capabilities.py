"""What a side holds and may do, as data (the adapter reports it, the core plans by it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncengine.models import ENTITIES, FIELDS, Entity, FieldChange


@dataclass(frozen=True, slots=True)
class SideNote:
    """A plain-language fact about a side, for the plan to show where it matters: only
    to a connection that syncs one of ``about`` (a contacts-only connection is not told
    how appointments flow)."""

    text: str
    about: frozenset[Entity] = frozenset(ENTITIES)


@dataclass(frozen=True)
class Capabilities:
    """What one side holds and may do. Unlisted entities are not synced to or from it."""

    entities: frozenset[Entity] = frozenset(ENTITIES)
    can_create: frozenset[Entity] = frozenset(ENTITIES)
    can_update: frozenset[Entity] = frozenset(ENTITIES)
    can_delete: frozenset[Entity] = frozenset(ENTITIES)
    fields: Mapping[Entity, frozenset[str]] = field(
        default_factory=lambda: {e: frozenset(FIELDS[e]) for e in ENTITIES}
    )
    read_only_fields: Mapping[Entity, frozenset[str]] = field(default_factory=dict)
    create_only_fields: Mapping[Entity, frozenset[str]] = field(default_factory=dict)
    """Fields the side takes when it creates a record and never after (GHL's
    ``company_name``: its update body has no such field). A create carries them; an
    update leaves them as the side has them."""
    notes: tuple[SideNote, ...] = ()
    """Facts the plan should show (e.g. "appointments are read-only")."""
    write_concurrency: int = 1
    """How many writes the side takes at once (files and memory: 1). A remote API whose
    calls wait on the network (GHL: 150-400 ms each, 100 requests / 10 s allowed) needs
    several in flight to use its allowance; the applier runs that many units at a time."""

    _creatable: Mapping[Entity, frozenset[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _writable: Mapping[Entity, frozenset[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    """``creatable_fields`` and ``writable_fields`` of every entity, worked out once: a
    run asks per record."""

    def __post_init__(self) -> None:
        none: frozenset[str] = frozenset()
        creatable = {
            e: names - self.read_only_fields.get(e, none) for e, names in self.fields.items()
        }
        writable = {
            e: names - self.create_only_fields.get(e, none) for e, names in creatable.items()
        }
        object.__setattr__(self, "_creatable", creatable)
        object.__setattr__(self, "_writable", writable)

    def creatable_fields(self, entity: Entity) -> frozenset[str]:
        """The fields a create writes: all but the read-only ones."""
        return self._creatable.get(entity, frozenset())

    def writable_fields(self, entity: Entity) -> frozenset[str]:
        """The fields an update writes: neither read-only nor create-only."""
        return self._writable.get(entity, frozenset())

    def takes(self, entity: Entity, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        """The part of ``fields`` this side writes when it creates a record: the mapping
        itself where it writes all of it (records are never changed in place), so a
        first sync's million creates copy no fields."""
        creatable = self.creatable_fields(entity)
        if creatable.issuperset(fields):
            return fields
        return {k: v for k, v in fields.items() if k in creatable}

    def takes_changes(self, entity: Entity, changes: Iterable[FieldChange]) -> list[FieldChange]:
        """The changes of an update this side writes (the rest are read-only there)."""
        writable = self.writable_fields(entity)
        return [c for c in changes if c.field in writable]

    @property
    def read_only(self) -> bool:
        return not (self.can_create or self.can_update or self.can_delete)
