"""What a sync must leave on both sides: the test's own model of the three-way merge.

The machine in test_sync_machine.py keeps, per linked pair, the fields both sides last
agreed on (``agreed``). Before each sync it takes both sides' records; from those, the
agreed fields and the policy, ``expect_pair`` says what each side must hold after it:
a field changed on one side only carries that side's value (the user's last edit) to
both; changed on both to different values, the policy's winner (newest by the record's
update time, ties to ``tie_break``; or the named side; or, under manual, each keeps its
own); tags merge as sets, every add and remove applying. A delete propagates when the
other side is untouched, is ignored (tombstone), or meets an edit as a conflict.

It is deliberately small and written from the README, not from the engine's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from syncengine.models import Record, Side, other
from syncengine.normalize import canonical_fields
from syncengine.policy import ConflictRule, DeleteRule, Policy


@dataclass(frozen=True)
class Merged:
    """Both sides present after the sync: what each holds, and fields held for review."""

    a: dict[str, Any]
    b: dict[str, Any]
    held: frozenset[str]


@dataclass(frozen=True)
class AfterDelete:
    """One side deleted its record since the agreed state."""

    outcome: Literal["deleted", "tombstoned", "held", "recreated"]
    """deleted: gone from both; tombstoned: the survivor stays, linked to nothing;
    held: a conflict for review, nothing written; recreated: the survivor comes back on
    the side that deleted it."""
    survivor: Side


def winner(policy: Policy, a: Record, b: Record) -> Side | None:
    """Who wins a conflict between these two records (None: held for review)."""
    if policy.conflicts is ConflictRule.MANUAL:
        return None
    if policy.conflicts is ConflictRule.NEWEST:
        if a.updated_at is None or b.updated_at is None or a.updated_at == b.updated_at:
            return policy.tie_break
        return "a" if a.updated_at > b.updated_at else "b"
    return "a" if policy.conflicts is ConflictRule.A else "b"


def _tags(value: Any) -> set[str]:
    return set(value or ())


Resolved = Mapping[str, tuple[Side, Any, Any]]
"""Field -> a user's ``resolve --keep SIDE`` of its held conflict, and what a and b held
when the user saw it."""


def expect_merge(
    agreed: Mapping[str, Any],
    a: Record,
    b: Record,
    policy: Policy,
    resolved: Resolved | None = None,
) -> Merged:
    """Both sides present: field by field against what they last agreed on. A held
    conflict a user resolved takes the kept side's value, unless the other side changed
    it since the user saw it: that edit was never reviewed, so it is held again."""
    resolved = resolved or {}
    out_a: dict[str, Any] = {}
    out_b: dict[str, Any] = {}
    held: set[str] = set()
    for name in sorted(set(agreed) | set(a.fields) | set(b.fields)):
        base, va, vb = agreed.get(name), a.fields.get(name), b.fields.get(name)
        if name == "tags":
            g, sa, sb = _tags(base), _tags(va), _tags(vb)
            merged = (g | (sa - g) | (sb - g)) - (g - sa) - (g - sb)
            out_a[name] = out_b[name] = sorted(merged)
            continue
        a_changed, b_changed = va != base, vb != base
        if a_changed and b_changed and va != vb:
            side = winner(policy, a, b)
            if side is None and name in resolved:
                keep, seen_a, seen_b = resolved[name]
                if (vb if keep == "a" else va) == (seen_b if keep == "a" else seen_a):
                    side = keep
            if side is None:
                out_a[name], out_b[name] = va, vb
                held.add(name)
                continue
            value = va if side == "a" else vb
        else:
            value = va if a_changed else vb
        out_a[name] = out_b[name] = value
    return Merged(canonical_fields(out_a), canonical_fields(out_b), frozenset(held))


def expect_delete(
    agreed: Mapping[str, Any], gone: Side, survivor: Record, policy: Policy
) -> AfterDelete:
    keep = other(gone)
    edited = dict(survivor.fields) != dict(agreed)
    if policy.deletes is DeleteRule.IGNORE:
        return AfterDelete("tombstoned", keep)
    if not edited and policy.deletes is DeleteRule.PROPAGATE:
        return AfterDelete("deleted", keep)
    if not edited or policy.deletes is DeleteRule.MANUAL:
        return AfterDelete("held", keep)
    if policy.conflicts is ConflictRule.MANUAL:
        return AfterDelete("held", keep)
    if policy.conflicts is ConflictRule.NEWEST:
        return AfterDelete("recreated", keep)  # we cannot know when a delete happened
    named: Side = "a" if policy.conflicts is ConflictRule.A else "b"
    return AfterDelete("deleted" if named == gone else "recreated", keep)
