"""Three-way, per-field merge of one linked pair against its base.

Each side is compared with its *own* base (the version of that side agreed at the last
sync), so a field one side cannot hold or write never looks like a change. For each
field the decision table is (after vdirsyncer's, per field instead of per item):

    a changed   b changed   values          outcome
    no          no          -               nothing
    yes         yes         equal           nothing: the same change on both
    yes         no          -               a's value flows to b (if direction allows)
    no          yes         -               b's value flows to a (if direction allows)
    yes         yes         different       conflict, decided by the field's rule

Tags merge as sets (every add and remove from both sides applies), custom fields
merge key by key as if each key were its own field. The result says what to write
on each side, every conflict, and a ``Decision`` per touched field explaining why.
Where the two sides differ in a base or in what they end with (a held conflict, a
one-way field, a side that cannot write it, one address spelt two ways), the
explanation names both, ``{"a": ..., "b": ...}``, as a conflict's base does; where they
agree it is the one value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Literal

from syncengine.capabilities import Capabilities
from syncengine.models import (
    FIELDS,
    JSON,
    MAP_FIELDS,
    SET_FIELDS,
    Conflict,
    ConflictKind,
    Decision,
    Entity,
    FieldChange,
    Record,
    Resolution,
    Side,
)
from syncengine.normalize import equivalent
from syncengine.policy import ConflictRule, Direction, Policy

Winner = Literal["a", "b", "merged", "none"]


@dataclass
class PairMerge:
    """What to write on each side for one pair, and why."""

    changes_a: list[FieldChange] = field(default_factory=list)
    changes_b: list[FieldChange] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    user_decided: set[str] = field(default_factory=set)
    """Top-level fields whose values come from a user's resolution of a held conflict."""
    kept_on_their_side: list[tuple[str, Side]] = field(default_factory=list)
    """(field, side) of changes that stay where they were made: the field's direction
    flows the other way (the plan says so: their rows show no write)."""


@dataclass(frozen=True)
class _Verdict:
    to_a: JSON
    to_b: JSON
    rule: str
    winner: Winner
    conflict: Literal["a", "b", "held"] | None = None
    stays: Side | None = None
    """The side whose change the field's direction keeps there."""


def per_side(a: JSON, b: JSON) -> JSON:
    """One value where both sides hold the same, else ``{"a": ..., "b": ...}``: how a
    conflict's base and a decision's base and result name what differs per side, so
    neither side's value stands for both (swapping a and b mirrors the explanation)."""
    return a if a == b else {"a": a, "b": b}


def synced_fields(entity: Entity, caps_a: Capabilities, caps_b: Capabilities) -> list[str]:
    """Fields both sides hold: only these can be kept in agreement."""
    held_a = caps_a.fields.get(entity, frozenset())
    held_b = caps_b.fields.get(entity, frozenset())
    return [f for f in FIELDS[entity] if f in held_a and f in held_b]


def _newer(a_time: datetime | None, b_time: datetime | None, tie_break: Side) -> Side:
    if a_time is None or b_time is None or a_time == b_time:
        return tie_break
    return "a" if a_time > b_time else "b"


def decide(
    *,
    base_a: JSON,
    base_b: JSON,
    a: JSON,
    b: JSON,
    direction: Direction,
    rule: ConflictRule,
    tie_break: Side,
    a_time: datetime | None,
    b_time: datetime | None,
    same: Callable[[JSON, JSON], bool] = lambda x, y: x == y,
) -> _Verdict:
    """The decision table for one scalar field. ``same`` says when two values agree."""
    a_changed = a != base_a
    b_changed = b != base_b
    if not a_changed and not b_changed:
        # Neither side moved: whatever difference remains is one the sides are allowed.
        return _Verdict(a, b, "unchanged", "none")
    if same(a, b):
        # Both arrived at the same value (the same edit, or one side already had it).
        return _Verdict(a, b, "same value on both", "none")
    if direction is Direction.NONE:
        return _Verdict(a, b, "not synced (direction none): each side keeps its own", "none")
    if a_changed and not b_changed:
        if direction.allows("a"):
            return _Verdict(a, a, "changed on a only", "a")
        return _Verdict(
            a, b, f"changed on a only; direction {direction} keeps it on a", "none", stays="a"
        )
    if b_changed and not a_changed:
        if direction.allows("b"):
            return _Verdict(b, b, "changed on b only", "b")
        return _Verdict(
            a, b, f"changed on b only; direction {direction} keeps it on b", "none", stays="b"
        )
    # Both changed, differently: a conflict. A one-way field belongs to its source.
    if direction is Direction.A_TO_B:
        return _Verdict(a, a, "conflict: field flows a->b, a wins", "a", "a")
    if direction is Direction.B_TO_A:
        return _Verdict(b, b, "conflict: field flows b->a, b wins", "b", "b")
    if rule is ConflictRule.MANUAL:
        return _Verdict(a, b, "conflict: held for review (manual)", "none", "held")
    if rule is ConflictRule.NEWEST:
        winner = _newer(a_time, b_time, tie_break)
        untimed = [s for s, t in (("a", a_time), ("b", b_time)) if t is None]
        if untimed:
            # Not a tie: one side (a CSV without updated_at) cannot say when.
            which = (
                f"{untimed[0]} has no update time"
                if len(untimed) == 1
                else "neither side has an update time"
            )
            why = f"conflict: newest cannot compare ({which}), tie_break {tie_break} wins"
        elif a_time == b_time:
            why = f"conflict: newest wins (tie, to {tie_break})"
        else:
            why = f"conflict: newest wins ({winner} is newer)"
    else:
        winner = "a" if rule is ConflictRule.A else "b"
        why = f"conflict: policy says {winner} wins"
    value = a if winner == "a" else b
    return _Verdict(value, value, why, winner, winner)


def _same(field_name: str, region: str, x: JSON, y: JSON) -> bool:
    return equivalent(field_name, x, y, region)


def _as_set(value: JSON) -> set[str]:
    return set(value) if isinstance(value, list | tuple | set | frozenset) else set()


def _set_or_none(values: set[str]) -> list[str] | None:
    return sorted(values) or None


def merge_set(base_a: JSON, base_b: JSON, a: JSON, b: JSON, direction: Direction) -> _Verdict:
    """Set merge: each side's adds and removes (against its own base) apply to the other."""
    sa, sb, ba, bb = _as_set(a), _as_set(b), _as_set(base_a), _as_set(base_b)
    to_a = (sa | (sb - bb)) - (bb - sb) if direction.allows("b") else sa
    to_b = (sb | (sa - ba)) - (ba - sa) if direction.allows("a") else sb
    winner: Winner = "none" if (to_a == sa and to_b == sb) else "merged"
    return _Verdict(_set_or_none(to_a), _set_or_none(to_b), "set merge", winner)


USER_RESOLVED = "resolved by a user"
"""How a decision a user made on a held conflict is named (its rule, and its op's reason)."""


HELD_AGAIN = "held again"


def stale_resolution(decision: str, side: Side, what: str = "changed it") -> str:
    """The rule of a conflict held again because the side a user's decision overrules
    changed since it was made: that edit was never reviewed, so it is not overwritten."""
    return (
        f"{HELD_AGAIN}: {side} {what} after it was resolved ({decision}); "
        "review it again with its new value"
    )


def merge_pair(
    *,
    entity: Entity,
    a_id: str,
    b_id: str,
    base_a: Mapping[str, JSON],
    base_b: Mapping[str, JSON],
    a: Record,
    b: Record,
    policy: Policy,
    caps_a: Capabilities,
    caps_b: Capabilities,
    resolutions: Mapping[str, Resolution] | None = None,
) -> PairMerge:
    """Merge one pair. ``base_a``/``base_b`` are empty for a pair linked in this run.
    ``resolutions`` are a user's decisions on this pair's fields held for review."""
    resolutions = resolutions or {}
    out = PairMerge()
    writable_a = caps_a.writable_fields(entity) if entity in caps_a.can_update else frozenset()
    writable_b = caps_b.writable_fields(entity) if entity in caps_b.can_update else frozenset()

    def record(name: str, v: _Verdict, ba: JSON, bb: JSON, va: JSON, vb: JSON) -> tuple[JSON, JSON]:
        user = resolutions.get(name)
        if user is not None and v.conflict == "held":
            keep = user.keep
            changed = user.overruled_since(va, vb)
            if changed is not None:
                made = f"keep {keep}" if keep != "value" else "a new value"
                v = replace(v, rule=stale_resolution(made, changed))
            else:
                chosen = va if keep == "a" else vb if keep == "b" else user.value
                winner: Winner = "a" if keep == "a" else "b" if keep == "b" else "merged"
                decided = keep if keep != "value" else "a new value"
                v = _Verdict(chosen, chosen, f"{USER_RESOLVED}: {decided}", winner, None)
                out.user_decided.add(name.split(".", 1)[0])
        to_a, to_b, why = v.to_a, v.to_b, v.rule
        if v.stays is not None:
            out.kept_on_their_side.append((name, v.stays))
        if to_a != va and name.split(".", 1)[0] not in writable_a:
            to_a, why = va, why + "; a cannot write it"
        if to_b != vb and name.split(".", 1)[0] not in writable_b:
            to_b, why = vb, why + "; b cannot write it"
        if v.conflict is not None:
            out.conflicts.append(
                Conflict(
                    entity=entity,
                    a_id=a_id,
                    b_id=b_id,
                    field=name,
                    kind=ConflictKind.FIELD,
                    base=per_side(ba, bb),
                    a_value=va,
                    b_value=vb,
                    a_updated_at=a.updated_at,
                    b_updated_at=b.updated_at,
                    resolution=v.conflict,
                    rule=why,
                )
            )
        if v.to_a != va or v.to_b != vb or v.conflict is not None:
            out.decisions.append(
                Decision(
                    entity,
                    a_id,
                    b_id,
                    name,
                    per_side(ba, bb),
                    va,
                    vb,
                    why,
                    v.winner,
                    per_side(to_a, to_b),
                )
            )
        return to_a, to_b

    fields_a, fields_b = a.fields, b.fields
    for name in synced_fields(entity, caps_a, caps_b):
        ba, bb, va, vb = base_a.get(name), base_b.get(name), fields_a.get(name), fields_b.get(name)
        if va == ba and vb == bb:
            # Neither side moved this field (nor any key or member of it): every branch
            # of the decision table leaves it as it is, so skip the table.
            continue
        rule = policy.rule_for(entity, name)
        if name in SET_FIELDS:
            to_a, to_b = record(name, merge_set(ba, bb, va, vb, rule.direction), ba, bb, va, vb)
        elif name in MAP_FIELDS:
            to_a, to_b = _merge_map(name, ba, bb, va, vb, entity, policy, a, b, record)
        else:
            verdict = decide(
                base_a=ba,
                base_b=bb,
                a=va,
                b=vb,
                direction=rule.direction,
                rule=policy.conflict_rule(entity, name),
                tie_break=policy.tie_break,
                a_time=a.updated_at,
                b_time=b.updated_at,
                same=partial(_same, name, policy.default_region),
            )
            to_a, to_b = record(name, verdict, ba, bb, va, vb)
        if to_a != va:
            out.changes_a.append(FieldChange(name, va, to_a))
        if to_b != vb:
            out.changes_b.append(FieldChange(name, vb, to_b))
    return out


def _merge_map(
    name: str,
    ba: JSON,
    bb: JSON,
    va: JSON,
    vb: JSON,
    entity: Entity,
    policy: Policy,
    a: Record,
    b: Record,
    record: Callable[[str, _Verdict, JSON, JSON, JSON, JSON], tuple[JSON, JSON]],
) -> tuple[JSON, JSON]:
    """Merge a dict field key by key; each key is decided like a field of its own."""
    maps = [m if isinstance(m, Mapping) else {} for m in (ba, bb, va, vb)]
    keys = sorted(set().union(*maps))
    to_a: dict[str, JSON] = {}
    to_b: dict[str, JSON] = {}
    for key in keys:
        sub = f"{name}.{key}"
        kba, kbb, kva, kvb = (m.get(key) for m in maps)
        rule = policy.rule_for(entity, sub)
        verdict = decide(
            base_a=kba,
            base_b=kbb,
            a=kva,
            b=kvb,
            direction=rule.direction,
            rule=policy.conflict_rule(entity, sub),
            tie_break=policy.tie_break,
            a_time=a.updated_at,
            b_time=b.updated_at,
        )
        ka, kb = record(sub, verdict, kba, kbb, kva, kvb)
        if ka is not None:
            to_a[key] = ka
        if kb is not None:
            to_b[key] = kb
    return (to_a or None), (to_b or None)
