"""Linking new records instead of duplicating them, and finding duplicate groups.

A record with no link is first looked for on the other side, by match key, strongest
first (email, then phone; content for keyless contacts). Before that, records on one
side that share a key with another record of the same side form a *duplicate group*:
all its unlinked members are held back (reported, never created or linked), because
linking or creating any of them could multiply or wrongly merge a person.

Children (notes, tasks, appointments) match by content under their linked contact, one
to one in id order, so two identical notes on each side link as two pairs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from syncengine.models import DuplicateGroup, Entity, Record, Side
from syncengine.normalize import match_keys


@dataclass
class MatchResult:
    pairs: list[tuple[Record, Record, str]] = field(default_factory=list)
    """(a record, b record, the key that matched them)."""
    only_a: list[Record] = field(default_factory=list)
    only_b: list[Record] = field(default_factory=list)
    groups: list[DuplicateGroup] = field(default_factory=list)
    held: set[tuple[Side, str]] = field(default_factory=set)


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
    index = _index(unlinked, keys_of)
    groups = []
    for key in sorted(index):
        unlinked_ids = set(index[key])
        members = unlinked_ids | set(linked_keys.get(key, ()))
        if len(members) > 1:
            groups.append(
                DuplicateGroup(
                    side, entity, key, tuple(sorted(members)), tuple(sorted(unlinked_ids))
                )
            )
    return groups


def match_contacts(
    unlinked_a: Sequence[Record],
    unlinked_b: Sequence[Record],
    *,
    linked_keys_a: Mapping[str, Collection[str]],
    linked_keys_b: Mapping[str, Collection[str]],
    region: str,
    key_kinds: tuple[str, ...],
) -> MatchResult:
    out = MatchResult()
    keys_a = {r.id: match_keys(r, region, key_kinds) for r in unlinked_a}
    keys_b = {r.id: match_keys(r, region, key_kinds) for r in unlinked_b}
    out.groups = duplicate_groups("a", "contact", unlinked_a, keys_a, linked_keys_a)
    out.groups += duplicate_groups("b", "contact", unlinked_b, keys_b, linked_keys_b)
    for g in out.groups:
        out.held.update((g.side, rid) for rid in g.held_ids)
    # A record whose key leads into a duplicate group on the other side waits with it:
    # linking it to one member or creating it again would both be wrong.
    group_keys = {(g.side, g.key) for g in out.groups}
    for side, records, keys in (("b", unlinked_b, keys_b), ("a", unlinked_a, keys_a)):
        for r in records:
            if any(("a" if side == "b" else "b", k) in group_keys for k in keys[r.id]):
                out.held.add((side, r.id))  # type: ignore[arg-type]
    free_a = [r for r in unlinked_a if ("a", r.id) not in out.held]
    free_b = [r for r in unlinked_b if ("b", r.id) not in out.held]
    index_a, index_b = _index(free_a, keys_a), _index(free_b, keys_b)
    by_id_a, by_id_b = {r.id: r for r in free_a}, {r.id: r for r in free_b}
    claimed_a: set[str] = set()
    claimed_b: set[str] = set()
    # Strongest key kind first, all records at once: within one kind each free record
    # holds one key and each key leads to one free record per side (more would be a
    # duplicate group), so the pairs of a kind never compete, and a record whose email
    # and phone lead to two records links by its email, whichever side it is on.
    for kind in _key_kinds(index_a, index_b):
        for key in sorted(k for k in index_a if _kind(k) == kind):
            ids_a, ids_b = index_a[key], index_b.get(key, [])
            if len(ids_a) != 1 or len(ids_b) != 1:
                continue  # no counterpart, or ambiguous on a side: no link by this key
            a_id, b_id = ids_a[0], ids_b[0]
            if a_id in claimed_a or b_id in claimed_b:
                continue  # linked already by a stronger key
            claimed_a.add(a_id)
            claimed_b.add(b_id)
            out.pairs.append((by_id_a[a_id], by_id_b[b_id], key))
    out.pairs.sort(key=lambda p: p[0].id)
    out.only_a = sorted((r for r in free_a if r.id not in claimed_a), key=lambda r: r.id)
    out.only_b = sorted((r for r in free_b if r.id not in claimed_b), key=lambda r: r.id)
    return out


def _kind(key: str) -> str:
    return key.split(":", 1)[0]


def _key_kinds(*indexes: Mapping[str, list[str]]) -> list[str]:
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
