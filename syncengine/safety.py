"""Safety guards: typed refusals, not warnings (after vdirsyncer's ``StorageEmpty``).

A side that had records and now returns none is far more often an outage, a wrong
token or a wrong file path than a user who deleted everything; a plan that deletes a
large share of a side is likewise refused. ``--force`` overrides both. A run raises the
refusal before its first write; a preview carries it beside the plan (``guard_refusal``)
so the user sees what the guard stopped, not only that it stopped something.

Before either, a side must still be the records the state was built with: links and
bases hold only ids, so a config pointed at other records under a connection name
already in use (two pairings sharing one PostgreSQL database) would take the other
pairing's links for its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from syncengine.errors import (
    MassDeleteRefusal,
    SafetyRefusal,
    SideChangedRefusal,
    SideEmptiedRefusal,
)
from syncengine.models import SIDES, Action, Entity, Plan, Side
from syncengine.policy import Policy


@dataclass(frozen=True)
class SideStats:
    side: Side
    entity: Entity
    had: int
    """Linked records the store holds for this side and entity."""
    returned: int | None
    """Records a full read returned; None for an incremental read."""
    deletes: int = 0


def side_changed_refusal(
    connection: str, built_with: Mapping[Side, str], now: Mapping[Side, str]
) -> SideChangedRefusal | None:
    """The refusal of a run whose sides are not the ones ``connection``'s state was built
    with, or None. A side the state has no identity for yet (a new connection, a
    database from before identities were kept) is taken as it is."""
    moved = [s for s in SIDES if s in built_with and s in now and built_with[s] != now[s]]
    if not moved:
        return None
    what = "; ".join(f"side {s} is {now[s]} now, not {built_with[s]}" for s in moved)
    these = "these sides" if len(moved) > 1 else "this side"
    return SideChangedRefusal(
        f"connection {connection!r} was last synced with other records: {what}. Its links "
        f"and bases are for those records: a run would relink or delete records {these} "
        f"never had. If this config is another "
        f"pairing sharing the state database, give it a connection name of its own or its "
        f"own [state] url; if the records really moved (a renamed file, a migrated "
        f"location), run `syncengine run {connection} --force` once to adopt {these}."
    )


def guard_refusal(plan: Plan, stats: Sequence[SideStats], policy: Policy) -> SafetyRefusal | None:
    """The refusal a run of ``plan`` would meet, or None; its text names commands that work."""
    force = f"`syncengine run {plan.connection} --force`"
    for s in stats:
        if s.returned == 0 and s.had > 0:
            return SideEmptiedRefusal(
                f"side {s.side} returned no {s.entity}s but had {s.had} linked; refusing to "
                f"delete them all. Check the side's settings (a file side's path, an API side's "
                f"token and account), or run "
                f"{force} once if the side really is empty now."
            )
    deletes: dict[tuple[str, str], int] = {}
    for op in plan.operations:
        if op.action is Action.DELETE:
            deletes[(op.side, op.entity)] = deletes.get((op.side, op.entity), 0) + 1
    had: dict[tuple[str, str], int] = {(s.side, s.entity): s.had for s in stats}
    for (side, entity), n in sorted(deletes.items()):
        base = had.get((side, entity), 0)
        if n >= policy.min_guarded_deletes and base and n / base > policy.max_delete_share:
            return MassDeleteRefusal(
                f"the plan deletes {n} of {base} {entity}s on side {side} "
                f"({n / base:.0%}, more than max_delete_share {policy.max_delete_share:.0%}); "
                f"`syncengine plan {plan.connection}` shows the plan, then run {force} once "
                f"if it is intended."
            )
    return None


def check_plan(plan: Plan, stats: Sequence[SideStats], policy: Policy, *, force: bool) -> None:
    """Raise the guard's refusal unless ``force``: a run calls this before its first write."""
    refusal = None if force else guard_refusal(plan, stats, policy)
    if refusal is not None:
        raise refusal
