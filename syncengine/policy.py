"""How conflicts, deletes and directions are decided: the user's policy, as data.

A policy names a default conflict rule (``newest``, ``a``, ``b``, ``manual``), the side
that wins ties, what to do with deletes, and per-field overrides of both the conflict
rule and the direction a field may flow (``none``: not synced at all). Field rules are
looked up most specific first: ``contact.email``, then ``email``; for a custom field
``custom_fields.plan``, then ``custom_fields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property

from syncengine.models import ENTITIES, JSON, MAP_FIELDS, Entity, Side, other


class ConflictRule(StrEnum):
    NEWEST = "newest"
    A = "a"
    B = "b"
    MANUAL = "manual"

    def mirrored(self) -> ConflictRule:
        return {ConflictRule.A: ConflictRule.B, ConflictRule.B: ConflictRule.A}.get(self, self)


class DeleteRule(StrEnum):
    PROPAGATE = "propagate"
    IGNORE = "ignore"
    MANUAL = "manual"


class Direction(StrEnum):
    BOTH = "both"
    A_TO_B = "a->b"
    B_TO_A = "b->a"
    NONE = "none"
    """Not synced: each side keeps its own value, and a create does not copy it."""

    def allows(self, source: Side) -> bool:
        """Whether a change made on ``source`` may flow to the other side."""
        if self is Direction.BOTH:
            return True
        if self is Direction.NONE:
            return False
        return (self is Direction.A_TO_B) == (source == "a")

    def mirrored(self) -> Direction:
        return {Direction.A_TO_B: Direction.B_TO_A, Direction.B_TO_A: Direction.A_TO_B}.get(
            self, self
        )


@dataclass(frozen=True)
class FieldRule:
    conflicts: ConflictRule | None = None
    direction: Direction = Direction.BOTH


@dataclass(frozen=True)
class Policy:
    conflicts: ConflictRule = ConflictRule.NEWEST
    tie_break: Side = "a"
    deletes: DeleteRule = DeleteRule.PROPAGATE
    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    match_keys: tuple[str, ...] = ("email", "phone")
    default_region: str = "US"
    entities: tuple[Entity, ...] = ENTITIES
    max_delete_share: float = 0.2
    min_guarded_deletes: int = 3
    """The delete guard ignores runs deleting fewer records than this (tiny sides)."""

    def rule_for(self, entity: Entity, field_name: str) -> FieldRule:
        """The most specific rule for a field (cached: asked for every field of every pair)."""
        found = self._rule_cache.get((entity, field_name))
        if found is None:
            found = self._rule_cache[(entity, field_name)] = self._lookup(entity, field_name)
        return found

    @cached_property
    def _rule_cache(self) -> dict[tuple[str, str], FieldRule]:
        return {}

    def _lookup(self, entity: Entity, field_name: str) -> FieldRule:
        names = [f"{entity}.{field_name}", field_name]
        if "." in field_name:
            head = field_name.split(".", 1)[0]
            names += [f"{entity}.{head}", head]
        for name in names:
            if name in self.fields:
                return self.fields[name]
        return FieldRule()

    def copied(self, entity: Entity, fields: Mapping[str, JSON]) -> Mapping[str, JSON]:
        """The fields a create copies to the other side: all but those (and the custom
        field keys) whose direction is ``none``."""
        if not self._excludes:
            return fields  # the common case: nothing to leave out, nothing copied
        out: dict[str, JSON] = {}
        for name, value in fields.items():
            if name in MAP_FIELDS and isinstance(value, Mapping):
                kept = {
                    k: v
                    for k, v in value.items()
                    if self.rule_for(entity, f"{name}.{k}").direction is not Direction.NONE
                }
                if kept:
                    out[name] = kept
            elif self.rule_for(entity, name).direction is not Direction.NONE:
                out[name] = value
        return out

    @cached_property
    def _excludes(self) -> bool:
        return any(r.direction is Direction.NONE for r in self.fields.values())

    def conflict_rule(self, entity: Entity, field_name: str) -> ConflictRule:
        return self.rule_for(entity, field_name).conflicts or self.conflicts

    def mirrored(self) -> Policy:
        """The same policy with sides a and b swapped (for the symmetry property)."""
        return replace(
            self,
            conflicts=self.conflicts.mirrored(),
            tie_break=other(self.tie_break),
            fields={
                k: FieldRule(
                    conflicts=r.conflicts.mirrored() if r.conflicts else None,
                    direction=r.direction.mirrored(),
                )
                for k, r in self.fields.items()
            },
        )
