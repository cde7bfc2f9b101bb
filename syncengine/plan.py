"""``reconcile``: from the base and what changed on each side to a deterministic plan.

The engine hands over only what is in play: the linked pairs where at least one side
changed (an unchanged side is passed as its base), the records with no link, and the
match keys the store already holds. Nothing here does I/O or reads the clock, and the
output order depends on nothing but the input, so the same state always plans the same.

Contacts are planned first: children need to know which contacts are linked, matched,
created or deleted in this run.

**A record made again.** When one side deletes a linked contact and, in the same
interval, holds a new one with its match key, that is the person made again there (a
user re-entered them, or a dead run's re-create landed): the survivor on the other side
is linked to the new record and the two merge as a fresh match (empty base), instead of
the survivor being deleted, kept or re-created and the new record copied beside it. This
holds under every delete rule, ``propagate`` included: the survivor keeps its id, its
history and its children (which follow it to the new record), and the plan does not
depend on whether a delete would have succeeded. The old pair's delete then raises no
conflict; the fresh merge reports field conflicts as any match does. Meanwhile a new
record beside a survivor that stays, on its own side, is its duplicate and waits in a
group (see ``match.match_contacts``).

**Children under a deleted contact.** A child new on one side under a contact deleted
on the other is not created there: if the delete reaches its own side in this run it
goes with its contact; if the contact is re-created in this run it goes with it (the
applier puts it under the new id); otherwise (the delete is held, ignored, or fails) it
waits, and follows its contact in the run that re-creates it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from syncengine.capabilities import Capabilities
from syncengine.match import Survivor, match_children, match_contacts
from syncengine.merge import USER_RESOLVED, merge_pair, stale_resolution, synced_fields
from syncengine.models import (
    ACTION_ORDER,
    CHILD_ENTITIES,
    ENTITIES,
    SIDES,
    Action,
    Conflict,
    ConflictKind,
    Decision,
    DuplicateGroup,
    Entity,
    FieldChange,
    LinkChange,
    Op,
    Plan,
    Record,
    Resolution,
    Side,
    other,
)
from syncengine.normalize import match_keys
from syncengine.policy import ConflictRule, DeleteRule, Policy


@dataclass(frozen=True, slots=True)
class LinkedPair:
    """A linked pair in play. ``a``/``b`` is None where that side deleted the record."""

    entity: Entity
    a_id: str
    b_id: str
    base_a: Record
    base_b: Record
    a: Record | None
    b: Record | None


@dataclass(frozen=True)
class SyncInput:
    connection: str
    caps_a: Capabilities
    caps_b: Capabilities
    pairs: Sequence[LinkedPair] = ()
    unlinked_a: Sequence[Record] = ()
    unlinked_b: Sequence[Record] = ()
    linked_keys_a: Mapping[str, Collection[str]] = field(default_factory=dict)
    """Match key -> ids of already-linked records on a holding it (duplicate detection)."""
    linked_keys_b: Mapping[str, Collection[str]] = field(default_factory=dict)
    contact_links: Mapping[str, str] = field(default_factory=dict)
    """a contact id -> b contact id, for every contact a child in play hangs under."""
    notes: tuple[str, ...] = ()
    resolutions: Mapping[str, Resolution] = field(default_factory=dict)
    """Conflict key -> a user's decision on a held conflict."""


def _sort_key(op: Op) -> tuple[int, int, str, str, str]:
    return (
        ENTITIES.index(op.entity),
        ACTION_ORDER[op.action],
        op.side,
        op.a_id or "",
        op.b_id or "",
    )


@dataclass
class _Planner:
    inp: SyncInput
    policy: Policy
    ops: list[Op] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    link_changes: list[LinkChange] = field(default_factory=list)
    one_way_kept: Counter[tuple[Entity, str, Side]] = field(default_factory=Counter)
    """(entity, field, side) -> changes there that the field's direction keeps there."""
    refused: int = 0
    """Creates and deletes left undone because the target side cannot make them."""
    # contacts, as this plan leaves them, for their children:
    a_to_b: dict[str, str] = field(default_factory=dict)
    b_to_a: dict[str, str] = field(default_factory=dict)
    created_from: dict[Side, set[str]] = field(default_factory=lambda: {"a": set(), "b": set()})
    """Ids of records on a side whose counterpart this plan creates on the other side."""
    deleted_on: dict[Side, set[str]] = field(default_factory=lambda: {"a": set(), "b": set()})
    """Contact ids this plan deletes on a side (their children go with them)."""
    gone_from: dict[Side, set[str]] = field(default_factory=lambda: {"a": set(), "b": set()})
    """Contact ids that a side deleted itself since the last sync."""
    relinked: dict[Side, set[str]] = field(default_factory=lambda: {"a": set(), "b": set()})
    """Survivors on a side linked in this plan to a new record on the side that deleted
    their counterpart (``relink``)."""
    waiting_keys: dict[Side, set[str]] = field(default_factory=lambda: {"a": set(), "b": set()})
    """Match keys of the unlinked contacts that wait (held) on a side in this plan."""
    orphans: dict[Side, list[Record]] = field(default_factory=lambda: {"a": [], "b": []})
    """Linked children of relinked contacts whose counterparts went with the deleted
    contact: matched and created like new children of the survivor (``children``)."""

    def caps(self, side: Side) -> Capabilities:
        return self.inp.caps_a if side == "a" else self.inp.caps_b

    def syncs(self, entity: Entity) -> bool:
        return (
            entity in self.policy.entities
            and entity in self.inp.caps_a.entities
            and entity in self.inp.caps_b.entities
        )

    # -- ops -----------------------------------------------------------------------------
    def create(self, target: Side, rec: Record, parent_target: str | None, reason: str) -> None:
        caps = self.caps(target)
        if rec.entity not in caps.can_create:
            self.notes.append(
                f"{rec.entity} {rec.id} on {other(target)} not created: "
                f"side {target} cannot create {rec.entity}s"
            )
            self.refused += 1
            return
        fields = caps.takes(rec.entity, self.policy.copied(rec.entity, rec.fields))
        source_parent = rec.parent_id
        self.created_from[other(target)].add(rec.id)
        self.ops.append(
            Op(
                side=target,
                action=Action.CREATE,
                entity=rec.entity,
                a_id=rec.id if target == "b" else None,
                b_id=rec.id if target == "a" else None,
                fields=fields,
                parent_a_id=parent_target if target == "a" else source_parent,
                parent_b_id=parent_target if target == "b" else source_parent,
                reason=reason,
            )
        )

    def delete(self, target: Side, entity: Entity, a_id: str, b_id: str, reason: str) -> bool:
        if entity not in self.caps(target).can_delete:
            self.notes.append(
                f"{entity} deleted on {other(target)} kept on {target}: "
                f"side {target} cannot delete {entity}s"
            )
            self.refused += 1
            self.link_changes.append(LinkChange(entity, a_id, b_id, "tombstone", reason))
            return False
        self.ops.append(
            Op(
                side=target,
                action=Action.DELETE,
                entity=entity,
                a_id=a_id,
                b_id=b_id,
                reason=reason,
            )
        )
        if entity == "contact":
            self.deleted_on[target].add(a_id if target == "a" else b_id)
        return True

    def merge(
        self,
        entity: Entity,
        a_id: str,
        b_id: str,
        base_a: Record | None,
        base_b: Record | None,
        a: Record,
        b: Record,
        reason: str,
    ) -> None:
        merged = merge_pair(
            entity=entity,
            a_id=a_id,
            b_id=b_id,
            base_a=base_a.fields if base_a else {},
            base_b=base_b.fields if base_b else {},
            a=a,
            b=b,
            policy=self.policy,
            caps_a=self.inp.caps_a,
            caps_b=self.inp.caps_b,
            resolutions=self.resolutions_for(entity, a_id, b_id),
        )
        self.conflicts += merged.conflicts
        self.decisions += merged.decisions
        for name, side in merged.kept_on_their_side:
            self.one_way_kept[(entity, name, side)] += 1
        per_side: tuple[tuple[Side, list[FieldChange]], ...] = (
            ("a", merged.changes_a),
            ("b", merged.changes_b),
        )
        for side, changes in per_side:
            if changes:
                decided = sorted(merged.user_decided & {c.field for c in changes})
                self.ops.append(
                    Op(
                        side=side,
                        action=Action.UPDATE,
                        entity=entity,
                        a_id=a_id,
                        b_id=b_id,
                        changes=tuple(changes),
                        reason=f"{reason}; {', '.join(decided)} {USER_RESOLVED}"
                        if decided
                        else reason,
                    )
                )

    # -- linked pairs ----------------------------------------------------------------------
    def pair(self, p: LinkedPair) -> None:
        if p.a is None and p.b is None:
            # Gone on both sides: nothing to write, only the link to forget.
            self.link_changes.append(
                LinkChange(p.entity, p.a_id, p.b_id, "forget", "deleted on both sides")
            )
            return
        if p.a is not None and p.b is not None:
            self.merge(
                p.entity, p.a_id, p.b_id, p.base_a, p.base_b, p.a, p.b, "changed since last sync"
            )
            return
        gone: Side = "a" if p.a is None else "b"
        survivor = p.b if gone == "a" else p.a
        assert survivor is not None
        self.deleted_pair(p, gone, survivor)

    def deleted_pair(self, p: LinkedPair, gone: Side, survivor: Record) -> None:
        keep: Side = other(gone)
        base_keep = p.base_b if keep == "b" else p.base_a
        if p.entity == "contact":
            self.gone_from[gone].add(p.a_id if gone == "a" else p.b_id)
        else:
            parent = (p.base_a if gone == "a" else p.base_b).parent_id
            if parent in self.gone_from[gone]:
                self.child_of_deleted_contact(p, gone, survivor)
                return
        edited = survivor.fields != base_keep.fields
        rule = self.policy.deletes
        if rule is DeleteRule.IGNORE:
            # Deletes never propagate: the survivor stays, tombstoned so it is not re-created.
            self.link_changes.append(
                LinkChange(
                    p.entity, p.a_id, p.b_id, "tombstone", f"deleted on {gone}; deletes are ignored"
                )
            )
            return
        if not edited and rule is DeleteRule.PROPAGATE:
            # Deleted on one side, untouched on the other: the delete flows.
            self.delete(keep, p.entity, p.a_id, p.b_id, f"deleted on {gone}")
            return
        kind = ConflictKind.DELETE_VS_EDIT if edited else ConflictKind.DELETE
        resolution = self.delete_resolution(p, gone, edited)
        if resolution[0] == keep and self.waits_beside(p, gone, survivor):
            # Re-created, it would join the records with its key that wait on the
            # deleting side as duplicates: it waits with them instead.
            resolution = ("held", f"delete vs edit: held, records with its key wait on {gone}")
        self.conflicts.append(
            Conflict(
                entity=p.entity,
                a_id=p.a_id,
                b_id=p.b_id,
                field="*",
                kind=kind,
                base=dict(base_keep.fields),
                a_value=None if gone == "a" else dict(survivor.fields),
                b_value=None if gone == "b" else dict(survivor.fields),
                a_updated_at=None if gone == "a" else survivor.updated_at,
                b_updated_at=None if gone == "b" else survivor.updated_at,
                resolution=resolution[0],
                rule=resolution[1],
            )
        )
        if resolution[0] == "held":
            return
        if resolution[0] == gone:
            self.delete(keep, p.entity, p.a_id, p.b_id, f"deleted on {gone}; {resolution[1]}")
        else:
            self.recreate(p, gone, survivor, resolution[1])

    def waits_beside(self, p: LinkedPair, gone: Side, survivor: Record) -> bool:
        """Whether a contact to be re-created on ``gone`` shares a key with a record held
        there in this plan (a user's explicit decision is carried out all the same)."""
        if p.entity != "contact" or f"contact:{p.a_id}:{p.b_id}:*" in self.inp.resolutions:
            return False
        keys = match_keys(survivor, self.policy.default_region, self.policy.match_keys)
        return not self.waiting_keys[gone].isdisjoint(keys)

    def survivor(self, p: LinkedPair) -> Survivor:
        """The side of a pair gone on the other, and whether the delete rule lets it stay."""
        gone: Side = "a" if p.a is None else "b"
        keep = other(gone)
        record = p.b if gone == "a" else p.a
        assert record is not None
        edited = record.fields != (p.base_b if keep == "b" else p.base_a).fields
        if self.policy.deletes is DeleteRule.IGNORE or p.entity not in self.caps(keep).can_delete:
            return Survivor(keep, record, stays=True)
        if not edited and self.policy.deletes is DeleteRule.PROPAGATE:
            return Survivor(keep, record, stays=False)
        return Survivor(keep, record, stays=self.delete_resolution(p, gone, edited)[0] != gone)

    def resolutions_for(self, entity: Entity, a_id: str, b_id: str) -> dict[str, Resolution]:
        """A user's decisions on this pair, by field (conflict keys end in the field)."""
        prefix = f"{entity}:{a_id}:{b_id}:"
        return {
            key.removeprefix(prefix): value
            for key, value in self.inp.resolutions.items()
            if key.startswith(prefix)
        }

    def delete_resolution(
        self, p: LinkedPair, gone: Side, edited: bool
    ) -> tuple[Literal["a", "b", "held"], str]:
        user = self.inp.resolutions.get(f"{p.entity}:{p.a_id}:{p.b_id}:*")
        if user is not None and user.keep in ("a", "b"):
            keep: Side = "a" if user.keep == "a" else "b"
            survivor = p.b if gone == "a" else p.a
            fields = None if survivor is None else dict(survivor.fields)
            # Keeping the delete overrules the record: not if it was edited since.
            edited_since = keep == gone and user.overruled_since(
                *((None, fields) if gone == "a" else (fields, None))
            )
            if not edited_since:
                return keep, f"{USER_RESOLVED}: keep {keep}"
            return "held", stale_resolution(f"keep {keep}", other(gone), "edited the record")
        entity = p.entity
        if not edited:
            return "held", "delete held for review (deletes = manual)"
        rule = self.policy.conflict_rule(entity, "*")
        if rule is ConflictRule.MANUAL or self.policy.deletes is DeleteRule.MANUAL:
            return "held", "delete vs edit: held for review (manual)"
        if rule is ConflictRule.NEWEST:
            # We do not know when a record was deleted, so the edit (no data lost) wins.
            return other(gone), "delete vs edit: the edit wins (newest keeps data)"
        winner: Side = "a" if rule is ConflictRule.A else "b"
        return winner, f"delete vs edit: policy says {winner} wins"

    def recreate(self, p: LinkedPair, gone: Side, survivor: Record, why: str) -> None:
        parent_target = None
        if survivor.parent_id is not None:
            parent_target = (self.b_to_a if gone == "a" else self.a_to_b).get(survivor.parent_id)
        # No forget here: the create, once it succeeds, replaces this link with the new one.
        self.create(gone, survivor, parent_target, f"re-created: {why}")
        if p.entity == "contact":
            if gone == "a":
                self.b_to_a.pop(p.b_id, None)
            else:
                self.a_to_b.pop(p.a_id, None)

    def child_of_deleted_contact(self, p: LinkedPair, gone: Side, survivor: Record) -> None:
        contact_keep = survivor.parent_id or ""
        if contact_keep in self.deleted_on[other(gone)]:
            # The contact's delete takes its children along on the other side too.
            self.link_changes.append(
                LinkChange(p.entity, p.a_id, p.b_id, "forget", "its contact was deleted")
            )
        elif contact_keep in self.created_from[other(gone)]:
            # The contact comes back on the deleting side, so its children come back too
            # (the create replaces this link once it succeeds).
            self.create(gone, survivor, None, "re-created with its contact")
        elif contact_keep in self.relinked[other(gone)]:
            # The contact is linked to the record made again on the deleting side: its
            # children go there too, matched with that record's own or created under it.
            self.orphans[other(gone)].append(survivor)

    # -- records with no link --------------------------------------------------------------
    def contacts(self) -> None:
        self.a_to_b.update(self.inp.contact_links)
        self.b_to_a.update({b: a for a, b in self.inp.contact_links.items()})
        pairs = sorted((p for p in self.inp.pairs if p.entity == "contact"), key=lambda p: p.a_id)
        if not self.syncs("contact"):
            for p in pairs:
                self.pair(p)
            return
        result = match_contacts(
            [r for r in self.inp.unlinked_a if r.entity == "contact"],
            [r for r in self.inp.unlinked_b if r.entity == "contact"],
            linked_keys_a=self.linked_keys_now("a"),
            linked_keys_b=self.linked_keys_now("b"),
            region=self.policy.default_region,
            key_kinds=self.policy.match_keys,
            survivors=[self.survivor(p) for p in pairs if (p.a is None) != (p.b is None)],
        )
        unlinked: tuple[tuple[Side, Sequence[Record]], ...] = (
            ("a", self.inp.unlinked_a),
            ("b", self.inp.unlinked_b),
        )
        for side, records in unlinked:
            for r in records:
                if r.entity == "contact" and (side, r.id) in result.held:
                    self.waiting_keys[side].update(
                        match_keys(r, self.policy.default_region, self.policy.match_keys)
                    )
        # A relink names its survivor on one side and an unlinked record on the other;
        # ids of linked and unlinked records never meet, so both serve as its handle.
        relinks: dict[tuple[Side, str], tuple[Record, Record, str]] = {}
        for relink in result.relinks:
            relinks[("a", relink[0].id)] = relinks[("b", relink[1].id)] = relink
        for p in pairs:
            found = relinks.get(("a", p.a_id) if p.b is None else ("b", p.b_id))
            if found is not None and (p.a is None) != (p.b is None):
                self.relink(p, *found)
            else:
                self.pair(p)
        self.duplicates += result.groups
        for rec_a, rec_b, key in result.pairs:
            self.link(rec_a, rec_b, f"matched by {key.split(':', 1)[0]}")
        for rec in result.only_a:
            self.create("b", rec, None, "new on a")
        for rec in result.only_b:
            self.create("a", rec, None, "new on b")

    def link(
        self,
        rec_a: Record,
        rec_b: Record,
        reason: str,
        replaces: tuple[str, str] | None = None,
    ) -> None:
        """Link two records as a fresh match: merged field by field from an empty base."""
        self.ops.append(
            Op(
                side="both",
                action=Action.LINK,
                entity=rec_a.entity,
                a_id=rec_a.id,
                b_id=rec_b.id,
                reason=reason,
                replaces=replaces,
            )
        )
        if rec_a.entity == "contact":
            self.a_to_b[rec_a.id] = rec_b.id
            self.b_to_a[rec_b.id] = rec_a.id
        self.merge(
            rec_a.entity,
            rec_a.id,
            rec_b.id,
            None,
            None,
            rec_a,
            rec_b,
            "first sync of a matched pair",
        )

    def relink(self, p: LinkedPair, rec_a: Record, rec_b: Record, key: str) -> None:
        """A pair gone on one side whose survivor a new record there matches: the person
        was made again on that side. The survivor is linked to the new record (merged as
        a fresh match) instead of being deleted, kept, held or copied beside it, whatever
        the delete rule; its children follow it to the new record."""
        gone: Side = "a" if p.a is None else "b"
        keep = other(gone)
        self.gone_from[gone].add(p.a_id if gone == "a" else p.b_id)
        self.relinked[keep].add(p.b_id if gone == "a" else p.a_id)
        if gone == "a":
            self.a_to_b.pop(p.a_id, None)
        else:
            self.b_to_a.pop(p.b_id, None)
        kind = key.split(":", 1)[0]
        self.link(
            rec_a,
            rec_b,
            f"matched by {kind}: made again on {gone} after its delete there",
            replaces=(p.a_id, p.b_id),
        )

    def linked_keys_now(self, side: Side) -> dict[str, list[str]]:
        """Keys of linked contacts as this plan leaves them: a pair in play counts with its
        current keys, and not at all if it is gone on either side (its survivor is matched
        as one, see ``match_contacts``)."""
        stored = self.inp.linked_keys_a if side == "a" else self.inp.linked_keys_b
        in_play = {
            p.a_id if side == "a" else p.b_id: p for p in self.inp.pairs if p.entity == "contact"
        }
        out: dict[str, list[str]] = {}
        for key, ids in stored.items():
            kept = [i for i in ids if i not in in_play]
            if kept:
                out[key] = kept
        for rid, p in in_play.items():
            current = p.a if side == "a" else p.b
            if p.a is None or p.b is None or current is None:
                continue
            for key in match_keys(current, self.policy.default_region, self.policy.match_keys):
                out.setdefault(key, []).append(rid)
        return out

    def children(self, entity: Entity) -> None:
        for p in sorted((p for p in self.inp.pairs if p.entity == entity), key=lambda p: p.a_id):
            self.pair(p)
        if not self.syncs(entity):
            return
        orphans = {s: [r for r in self.orphans[s] if r.entity == entity] for s in SIDES}
        result = match_children(
            [r for r in self.inp.unlinked_a if r.entity == entity] + orphans["a"],
            [r for r in self.inp.unlinked_b if r.entity == entity] + orphans["b"],
            parent_a_to_b=self.a_to_b,
        )
        for rec_a, rec_b, _ in result.pairs:
            self.link(rec_a, rec_b, "matched by content under a linked contact")
        sources: tuple[tuple[Side, list[Record]], ...] = (
            ("a", result.only_a),
            ("b", result.only_b),
        )
        for source, records in sources:
            target = other(source)
            mapping = self.a_to_b if source == "a" else self.b_to_a
            orphan_ids = {r.id for r in orphans[source]}
            went = parted = 0
            waiting: list[Record] = []
            for rec in records:
                parent = rec.parent_id or ""
                if rec.id in orphan_ids:
                    # Its contact is relinked and nothing new there matched it: it comes
                    # back under the new record (the create replaces its old link).
                    self.create(target, rec, mapping[parent], "re-created with its contact")
                elif parent in self.deleted_on[source]:
                    # Its contact's delete reaches this side in this run: it goes with it.
                    went += 1
                elif mapping.get(parent) in self.gone_from[target]:
                    # Its contact is gone on the target side and not back (the delete is
                    # held, ignored, or failing): nothing to create it under. It waits,
                    # and follows its contact if the contact is re-created.
                    parted += 1
                elif parent in mapping:
                    self.create(target, rec, mapping[parent], f"new on {source}")
                elif parent in self.created_from[source]:
                    # Its contact is created (or re-created) on the target side in this
                    # run: the applier puts it under the new id.
                    self.create(target, rec, None, f"new on {source}, with its new contact")
                else:
                    waiting.append(rec)
            if went:
                self.notes.append(
                    f"{went} {entity}(s) new on {source} not created: their contact is "
                    f"deleted on {source} in this run"
                )
            if parted:
                self.notes.append(
                    f"{parted} {entity}(s) new on {source} wait: their contact was deleted "
                    f"on {target}"
                )
            if waiting:
                shown = ", ".join(f"{r.id} under {r.parent_id}" for r in waiting[:3])
                more = f", and {len(waiting) - 3} more" if len(waiting) > 3 else ""
                self.notes.append(
                    f"{len(waiting)} {entity}(s) on {source} wait for their contact to be "
                    f"linked ({shown}{more}): their contacts are unreadable, held in "
                    "duplicate groups, or not there at all"
                )

    def note_one_way_fields(self) -> None:
        """Changes a one-way field keeps where they were made show no write in any row,
        so the plan says that they stay, and why (else the user sees an edit ignored)."""
        for (entity, name, side), n in sorted(
            self.one_way_kept.items(), key=lambda kv: (ENTITIES.index(kv[0][0]), kv[0][1:])
        ):
            direction = self.policy.rule_for(entity, name).direction
            self.notes.append(
                f"{n} {entity} change(s) to {name} on {side} stay on {side}: the field flows "
                f"{direction} only (its direction in the connection's fields table)"
            )

    def note_contact_writes(self) -> None:
        """What the plan's contact ops do that their rows do not show (one pass).

        A contact's delete takes its children on that side with it (as deleting it in
        the app would): those of entities this connection syncs went on the other side
        too, the rest exist only there, so the plan says they go. A contact created
        with no field at all is most often a file whose columns are not mapped: it has
        nothing to be matched by later."""
        deletes = {"a": 0, "b": 0}
        empty: dict[str, list[str]] = {"a": [], "b": []}
        for op in self.ops:
            if op.entity != "contact":
                continue
            if op.action is Action.DELETE:
                deletes[op.side] += 1
            elif op.action is Action.CREATE and not any(op.fields.values()):
                empty[op.side].append(str(op.source_id))
        for side in ("a", "b"):
            held = [e for e in CHILD_ENTITIES if e in self.caps(side).entities]
            unsynced = [f"{e}s" for e in held if not self.syncs(e)]
            if deletes[side] and unsynced:
                self.notes.append(
                    f"side {side}: the {deletes[side]} contact delete(s) there also delete "
                    f"any {_either(unsynced)} those contacts have there, which this "
                    "connection does not sync (so no copy of them is on the other side); "
                    'set deletes = "manual" to review deletes first'
                )
            if empty[side]:
                ids = empty[side]
                shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
                self.notes.append(
                    f"{len(ids)} contact(s) created on {side} with no field at all (from "
                    f"{shown}): nothing to match them by later; check that the other "
                    "side's columns or keys are named as the fields are"
                )

    def plan(self) -> Plan:
        self.contacts()
        for entity in CHILD_ENTITIES:
            self.children(entity)
        for entity in ENTITIES:
            if entity in self.policy.entities and not self.syncs(entity):
                missing = [s for s in ("a", "b") if entity not in self.caps(s).entities]
                if missing:
                    self.notes.append(
                        f"{entity}s are not synced: side {', '.join(missing)} does not hold them"
                    )
        self.note_contact_writes()
        self.note_one_way_fields()
        synced = {entity for entity in ENTITIES if self.syncs(entity)}
        notes = (
            [n.text for n in (*self.inp.caps_a.notes, *self.inp.caps_b.notes) if n.about & synced]
            + list(self.inp.notes)
            + self.notes
        )
        return Plan(
            connection=self.inp.connection,
            operations=tuple(sorted(self.ops, key=_sort_key)),
            conflicts=tuple(
                sorted(
                    self.conflicts,
                    key=lambda c: (ENTITIES.index(c.entity), c.a_id, c.b_id, c.field),
                )
            ),
            duplicates=tuple(
                sorted(self.duplicates, key=lambda d: (d.side, ENTITIES.index(d.entity), d.key))
            ),
            decisions=tuple(
                sorted(
                    self.decisions,
                    key=lambda d: (ENTITIES.index(d.entity), d.a_id or "", d.b_id or "", d.field),
                )
            ),
            notes=tuple(notes),
            link_changes=tuple(
                sorted(self.link_changes, key=lambda c: (ENTITIES.index(c.entity), c.a_id, c.b_id))
            ),
            kept_apart=sum(self.one_way_kept.values()) + self.refused,
        )


def reconcile(inp: SyncInput, policy: Policy) -> Plan:
    """Plan one run. Pure: same input, same plan."""
    return _Planner(inp, policy).plan()


def _either(names: Sequence[str]) -> str:
    """``notes, tasks or appointments``."""
    return " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))


__all__ = ["LinkedPair", "SyncInput", "reconcile", "synced_fields"]
