"""Linking new records instead of duplicating them, and finding duplicate groups.

A record with no link is first looked for on the other side, by match key, strongest
first (email, then phone; content for keyless contacts). Before that, records on one
side that share a key with another record of the same side form a *duplicate group*:
all its unlinked members are held back (reported, never created or linked), because
linking or creating any of them could multiply or wrongly merge a person.

Pairs are made by key kind, strongest first, over all records at once, so the result
does not depend on which side is a. A *survivor* (a linked contact whose counterpart
the other side just deleted) takes part as well: a new record on the deleting side with
its key is linked to it (the person made again there), never copied beside it.

Children (notes, tasks, appointments) match by content under their linked contact, one
to one in id order, so two identical notes on each side link as two pairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from syncengine.models import SIDES, DuplicateGroup, Entity, Record, Side, other
from syncengine.normalize import match_keys


@dataclass
class MatchResult:
    pairs: list[tuple[Record, Record, str]] = field(default_factory=list)
    """(a record, b record, the key that matched them)."""
    only_a: list[Record] = field(default_factory=list)
    only_b: list[Record] = field(default_factory=list)
    groups: list[DuplicateGroup] = field(default_factory=list)
    held: set[tuple[Side, str]] = field(default_factory=set)
    relinks: list[tuple[Record, Record, str]] = field(default_factory=list)
    """(a record, b record, key) where one of the two is a ``Survivor``."""


def _index(
    records: Iterable[Record], keys_of: Mapping[str, tuple[str, ...]]
) -> dict[str, list[str]]:
    index: dict[str, list[str]] = defaultdict(list)
    for r in records:
        for key in keys_of[r.id]:
            index[key].append(r.id)
    return index


def duplicate_groups(
    side: Side,
    entity: Entity,
    unlinked: Sequence[Record],
    keys_of: Mapping[str, tuple[str, ...]],
    linked_keys: Mapping[str, Collection[str]],
) -> list[DuplicateGroup]:
    """Groups of one side's records sharing a key, where at least one is unlinked."""
    return _groups(side, entity, _index(unlinked, keys_of), linked_keys, keys_of)


def _told_apart_by(
    key: str, members: Collection[str], keys_of: Mapping[str, tuple[str, ...]]
) -> str | None:
    """``"email"`` when ``key`` is a phone and every member has an email of its own.
    A linked member's keys are not at hand here: then nothing is claimed."""
    if not key.startswith("phone:"):
        return None
    emails = set()
    for rid in members:
        email = next((k for k in keys_of.get(rid, ()) if k.startswith("email:")), None)
        if email is None:
            return None
        emails.add(email)
    return "email" if len(emails) == len(members) else None


def _groups(
    side: Side,
    entity: Entity,
    index: Mapping[str, list[str]],
    linked_keys: Mapping[str, Collection[str]],
    keys_of: Mapping[str, tuple[str, ...]],
) -> list[DuplicateGroup]:
    groups = []
    # Nearly every key is held by one record and no linked one: no group, so neither
    # sorted nor looked at again.
    shared = [k for k, ids in index.items() if len(ids) > 1 or k in linked_keys]
    for key in sorted(shared):
        unlinked_ids = set(index[key])
        members = unlinked_ids | set(linked_keys.get(key, ()))
        if len(members) > 1:
            groups.append(
                DuplicateGroup(
                    side,
                    entity,
                    key,
                    tuple(sorted(members)),
                    tuple(sorted(unlinked_ids)),
                    _told_apart_by(key, members, keys_of),
                )
            )
    return groups


@dataclass(frozen=True, slots=True)
class Survivor:
    """A linked contact whose counterpart the other side deleted since the last sync."""

    side: Side
    record: Record
    stays: bool
    """Whether it outlives the plan when nothing new is linked to it (the delete is
    ignored, held, or loses to an edit). One the plan deletes guards no key."""


def match_contacts(
    unlinked_a: Sequence[Record],
    unlinked_b: Sequence[Record],
    *,
    linked_keys_a: Mapping[str, Collection[str]],
    linked_keys_b: Mapping[str, Collection[str]],
    region: str,
    key_kinds: tuple[str, ...],
    survivors: Sequence[Survivor] = (),
) -> MatchResult:
    """Link unlinked records by key, hold duplicate groups, and say what is left.

    Pairs are made strongest key kind first, all records at once: within one kind each
    record holds one key and each key leads to at most one free record per side (more
    would be a duplicate group), so the pairs of a kind never compete, and a record whose
    email and phone lead to two records links by its email whichever side it is on.

    A *survivor* (``Survivor``) holding a key takes part too. A new record on the side
    that deleted its counterpart, holding that key, is the person made again there: it
    is linked to the survivor (``relinks``), not copied beside it, even where a new
    record on the survivor's side holds the key as well. A survivor that stays (or is
    relinked) guards its key like any linked record: a new record beside it on its side
    waits in a group with it. A key that leads to two survivors links nothing: the new
    records holding it wait.
    """
    out = MatchResult()
    unlinked: dict[Side, Sequence[Record]] = {"a": unlinked_a, "b": unlinked_b}
    linked: dict[Side, Mapping[str, Collection[str]]] = {"a": linked_keys_a, "b": linked_keys_b}
    keys = {s: {r.id: match_keys(r, region, key_kinds) for r in unlinked[s]} for s in SIDES}
    index = {s: _index(unlinked[s], keys[s]) for s in SIDES}
    out.groups = [g for s in SIDES for g in _groups(s, "contact", index[s], linked[s], keys[s])]
    for g in out.groups:
        out.held.update((g.side, rid) for rid in g.held_ids)
    # A record whose key leads into a duplicate group on the other side waits with it:
    # linking it to one member or creating it again would both be wrong.
    group_keys = {(g.side, g.key) for g in out.groups}
    for side in SIDES:
        if not any(g.side != side for g in out.groups):
            continue  # no group on the other side to lead into
        for r in unlinked[side]:
            if any((other(side), k) in group_keys for k in keys[side][r.id]):
                out.held.add((side, r.id))
    free: dict[Side, dict[str, Record]] = {
        s: {r.id: r for r in unlinked[s] if (s, r.id) not in out.held} for s in SIDES
    }
    pairing = _Pairing(
        out,
        # The index of all records serves as the index of the free ones where none is
        # held (the common case): a first sync builds one index of a million keys, not two.
        index={
            s: index[s] if len(free[s]) == len(unlinked[s]) else _index(free[s].values(), keys[s])
            for s in SIDES
        },
        free=free,
        kept={s: _survivors_by_key(s, survivors, region, key_kinds) for s in SIDES},
    )
    for kind in _key_kinds(*pairing.index.values(), *pairing.kept.values()):
        pairing.settle_kind(kind)
    out.pairs.sort(key=lambda p: p[0].id)
    out.relinks.sort(key=lambda p: (p[0].id, p[1].id))
    left = pairing.claimed | out.held
    out.only_a = sorted((r for r in free["a"].values() if ("a", r.id) not in left), key=_id)
    out.only_b = sorted((r for r in free["b"].values() if ("b", r.id) not in left), key=_id)
    return out


def _id(record: Record) -> str:
    return record.id


@dataclass
class _Pairing:
    """The records of one ``match_contacts`` call, settled key by key."""

    out: MatchResult
    index: dict[Side, dict[str, list[str]]]
    """Per side, key -> ids of the free (unheld) unlinked records holding it."""
    free: dict[Side, dict[str, Record]]
    kept: dict[Side, dict[str, list[Survivor]]]
    """Per side, key -> the survivors holding it."""
    claimed: set[tuple[Side, str]] = field(default_factory=set)

    def settle_kind(self, kind: str) -> None:
        # Only a key held on both sides, or by a survivor, can link or hold anything
        # (``settle``): a key of one side's new records alone settles nothing.
        index_a, index_b = self.index["a"], self.index["b"]
        small, large = (index_a, index_b) if len(index_a) <= len(index_b) else (index_b, index_a)
        keys = {k for k in small if k in large and _kind(k) == kind}
        keys.update(k for s in SIDES for k in self.kept[s] if _kind(k) == kind)
        for key in sorted(keys):
            self.settle(key)

    def settle(self, key: str) -> None:
        """Link, relink or hold what holds this key (and no stronger key linked)."""
        free = {
            s: [i for i in self.index[s].get(key, ()) if (s, i) not in self.claimed] for s in SIDES
        }
        kept = {
            s: [v.record for v in self.kept[s].get(key, ()) if (s, v.record.id) not in self.claimed]
            for s in SIDES
        }
        if not self.kept["a"].get(key) and not self.kept["b"].get(key):
            if len(free["a"]) == 1 and len(free["b"]) == 1:
                self.claim(self.free["a"][free["a"][0]], self.free["b"][free["b"][0]], key, False)
            return
        for survivor_side in SIDES:
            new_side = other(survivor_side)
            if len(kept[survivor_side]) == 1 and not kept[new_side] and len(free[new_side]) == 1:
                # The person made again on the side that deleted the survivor's counterpart.
                survivor, new = kept[survivor_side][0], self.free[new_side][free[new_side][0]]
                pair = (survivor, new) if survivor_side == "a" else (new, survivor)
                self.claim(*pair, key, True)
        ambiguous = bool(kept["a"] and kept["b"]) or len(kept["a"]) > 1 or len(kept["b"]) > 1
        for side in SIDES:
            waiting = [i for i in free[side] if (side, i) not in self.claimed]
            guarded = any(
                v.stays or (side, v.record.id) in self.claimed for v in self.kept[side].get(key, ())
            )
            if waiting and (guarded or ambiguous):
                # Beside a survivor that stays, or where the key leads to survivors no one
                # record can be: it waits, as a duplicate does.
                self.hold(side, key, waiting)

    def claim(self, rec_a: Record, rec_b: Record, key: str, relink: bool) -> None:
        self.claimed.update({("a", rec_a.id), ("b", rec_b.id)})
        (self.out.relinks if relink else self.out.pairs).append((rec_a, rec_b, key))

    def hold(self, side: Side, key: str, ids: list[str]) -> None:
        """Hold these records, in a group with the survivors holding the key (per side)."""
        self.out.held.update((side, i) for i in ids)
        for group_side in SIDES:
            members = [v.record.id for v in self.kept[group_side].get(key, ())]
            if not members:
                continue
            held = set(ids if group_side == side else ())
            for g in self.out.groups:
                if (g.side, g.key) == (group_side, key):  # held on the other side already
                    held |= set(g.held_ids)
                    self.out.groups.remove(g)
                    break
            group = DuplicateGroup(
                group_side, "contact", key, tuple(sorted({*members, *held})), tuple(sorted(held))
            )
            self.out.groups.append(group)


def _survivors_by_key(
    side: Side, survivors: Sequence[Survivor], region: str, key_kinds: tuple[str, ...]
) -> dict[str, list[Survivor]]:
    index: dict[str, list[Survivor]] = defaultdict(list)
    for v in survivors:
        if v.side == side:
            for key in match_keys(v.record, region, key_kinds):
                index[key].append(v)
    return index


def _kind(key: str) -> str:
    return key.split(":", 1)[0]


def _key_kinds(*indexes: Collection[str]) -> list[str]:
    """The key kinds present, strongest first (``match_keys`` order, then content)."""
    order = {"email": 0, "phone": 1}
    kinds = {_kind(k) for index in indexes for k in index}
    return sorted(kinds, key=lambda k: (order.get(k, len(order)), k))


def match_children(
    unlinked_a: Sequence[Record],
    unlinked_b: Sequence[Record],
    *,
    parent_a_to_b: Mapping[str, str],
) -> MatchResult:
    """Pair children by content under the same linked contact, one to one in id order.

    Children whose contact has no counterpart yet (it is created in this run) cannot
    have a counterpart either, so they go to ``only_a``/``only_b`` for creation.
    """
    out = MatchResult()
    buckets: dict[tuple[str, str], tuple[list[Record], list[Record]]] = defaultdict(
        lambda: ([], [])
    )
    for rec in sorted(unlinked_a, key=lambda r: r.id):
        parent_b = parent_a_to_b.get(rec.parent_id or "")
        if parent_b is None:
            out.only_a.append(rec)
            continue
        buckets[(parent_b, match_keys(rec)[0])][0].append(rec)
    for rec in sorted(unlinked_b, key=lambda r: r.id):
        buckets[(rec.parent_id or "", match_keys(rec)[0])][1].append(rec)
    for key in sorted(buckets):
        side_a, side_b = buckets[key]
        for rec_a, rec_b in zip(side_a, side_b, strict=False):
            out.pairs.append((rec_a, rec_b, key[1]))
        out.only_a.extend(side_a[len(side_b) :])
        out.only_b.extend(side_b[len(side_a) :])
    out.only_a.sort(key=lambda r: r.id)
    out.only_b.sort(key=lambda r: r.id)
    return out
