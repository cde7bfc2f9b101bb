"""Before a run plans: settle the contact creates a dead run sent but never recorded.

A run killed between a side accepting a create and the journal learning the new id
leaves a ``pending`` create row. The record it created is on the target side, unlinked,
and holds what the journal row says was sent, while the source may have been edited
since (a corrected email is the case that matters: looked up by the source's *current*
keys, the landed record is not found and the person is created twice). So each such
create is looked up by the keys of what was *sent*, and the record found is linked to
its source now, with an empty base: the plan then merges the pair like a fresh match,
field by field under the conflict policy, instead of creating it again.

Only contacts: a note or task matches by content within its contact, and its contact
may itself have been created by the dead run; those are looked up by the applier, once
the parent is known (``apply.Applier._create``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from adapters.base import Adapter, KeyLookup
from state.store import Store, stored
from syncengine.models import Record, Side, other
from syncengine.normalize import match_keys
from syncengine.policy import Policy

MERGE_NEXT = "linked to a record the side already had; fields merge next run"
"""The quarantine reason that puts both records of a pair in play again (see engine)."""


def recover_inflight_creates(
    store: Store, connection: str, sides: Mapping[Side, Adapter], policy: Policy
) -> int:
    """Link each landed contact create of a dead run to its source; returns how many."""
    rows = [r for r in store.inflight_creates(connection) if r["entity"] == "contact"]
    taken: set[tuple[Side, str]] = set()
    found: list[tuple[dict[str, object], Side, str, str]] = []
    for row in rows:
        target: Side = "a" if row["side"] == "a" else "b"
        source = other(target)
        source_id = str(row["a_id"] if target == "b" else row["b_id"])
        adapter = sides[target]
        if not isinstance(adapter, KeyLookup):
            continue
        if store.links_by_ids(connection, "contact", source, [source_id]):
            continue  # linked meanwhile (matched by a later run)
        sent = json.loads(row["payload"]).get("fields", {})
        keys = match_keys(
            Record("contact", source_id, sent), policy.default_region, policy.match_keys
        )
        for key in keys:
            candidates = sorted(
                c.id
                for c in adapter.find_by_key("contact", key)
                if (target, c.id) not in taken
                and not store.links_by_ids(connection, "contact", target, [c.id])
            )
            if candidates:
                taken.add((target, candidates[0]))
                found.append((row, target, source_id, candidates[0]))
                break
    if not found:
        return 0
    with store.transaction() as conn:
        for row, target, source_id, landed_id in found:
            a_id, b_id = (source_id, landed_id) if target == "b" else (landed_id, source_id)
            store.put_links(conn, connection, [("contact", a_id, b_id, "live")])
            pair: tuple[tuple[Side, str], ...] = (("a", a_id), ("b", b_id))
            for side, rid in pair:
                empty = stored(Record("contact", rid, {}), ())
                store.put_records(conn, connection, side, [empty])
                store.quarantine(conn, connection, side, "contact", rid, MERGE_NEXT)
            seq = int(str(row["seq"]))
            store.journal_finish(
                conn, int(str(row["run_id"])), [(seq, "recovered", landed_id, None, 0)]
            )
    return len(found)


__all__ = ["MERGE_NEXT", "recover_inflight_creates"]
