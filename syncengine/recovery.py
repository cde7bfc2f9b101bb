"""Before a run plans: settle the contact creates a dead run sent but never recorded.

A run killed between a side accepting a create and the journal learning the new id
leaves a ``pending`` create row. The record it created is on the target side, unlinked,
and holds what the journal row says was sent, while the source may have been edited
since (a corrected email is the case that matters: looked up by the source's *current*
keys, the landed record is not found and the person is created twice). So each such
create is looked up by the keys of what was *sent*, and the record found is linked to
its source now, instead of being created again.

Its base is what was sent: both sides held it the moment the call landed. So an edit
made on either side since (the corrected email) is a change against that base and flows
like any other, under every policy; an empty base would make each such field a
conflict, and a policy that favours the other side would undo the edit.

A *re-create* (a delete against an edit, which the edit won) is sent from a source that
is still linked to the deleted record. Once its copy has landed, that old pair is over:
the landed copy takes the deleted record's place in the link, and the source's children
wait as unlinked records, so the plan creates them under the copy, as the dead run
would have done after its contact wave.

Only contacts: a note or task matches by content within its contact, and its contact
may itself have been created by the dead run; those are looked up by the applier, once
the parent is known (``apply.Applier._create``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adapters.base import Adapter, KeyLookup
from state.store import LinkRow, Store, StoredRecord
from syncengine.apply import stored_base
from syncengine.models import CHILD_ENTITIES, SIDES, Entity, Record, Side, other
from syncengine.normalize import canonical_fields, match_keys
from syncengine.policy import Policy


def recover_inflight_creates(
    store: Store, connection: str, sides: Mapping[Side, Adapter], policy: Policy
) -> int:
    """Link each landed contact create of a dead run to its source; returns how many."""
    rows = [r for r in store.inflight_creates(connection) if r["entity"] == "contact"]
    taken: set[tuple[Side, str]] = set()
    found: list[tuple[dict[str, object], Side, str, str, dict[str, Any]]] = []
    """(journal row, target side, source id, landed id, the fields sent)."""
    replaced: list[tuple[LinkRow, Side]] = []
    """Old pairs of re-created records, with the side that kept its record."""
    for row in rows:
        target: Side = "a" if row["side"] == "a" else "b"
        source = other(target)
        source_id = str(row["a_id"] if target == "b" else row["b_id"])
        adapter = sides[target]
        if not isinstance(adapter, KeyLookup):
            continue
        old = store.links_by_ids(connection, "contact", source, [source_id]).get(source_id)
        if old is not None:
            old_target = old.a_id if target == "a" else old.b_id
            if adapter.get("contact", old_target) is not None:
                continue  # linked meanwhile to a record that exists: nothing was re-created
        sent = canonical_fields(json.loads(str(row["payload"])).get("fields", {}))
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
                found.append((row, target, source_id, candidates[0], sent))
                if old is not None:
                    replaced.append((old, source))
                break
    if not found:
        return 0
    orphans = _orphaned_children(store, connection, replaced, policy)
    with store.transaction() as conn:
        for old, kept in replaced:
            store.delete_link_pairs(conn, connection, "contact", [(old.a_id, old.b_id)])
            gone = other(kept)
            gone_id = [old.a_id if gone == "a" else old.b_id]
            store.delete_records(conn, connection, gone, "contact", gone_id)
            store.release(conn, connection, gone, "contact", gone_id)  # it is deleted
        for side, entity, kids, waiting in orphans:
            if side == "a":
                store.delete_links(conn, connection, entity, kids)
            store.delete_records(conn, connection, side, entity, kids)
            store.put_records(conn, connection, side, waiting)
            store.release(
                conn, connection, side, entity, set(kids) - {w.record.id for w in waiting}
            )
        for row, target, source_id, landed_id, sent in found:
            a_id, b_id = (source_id, landed_id) if target == "b" else (landed_id, source_id)
            store.put_links(conn, connection, [("contact", a_id, b_id, "live")])
            # Both sides held what was sent when the call landed: that is their base.
            pair: tuple[tuple[Side, str], ...] = (("a", a_id), ("b", b_id))
            for side, rid in pair:
                agreed = stored_base(Record("contact", rid, sent), policy)
                store.put_records(conn, connection, side, [agreed])
            # The create landed: its source has nothing left to retry (the plan that
            # follows quarantines it again if a write of the pair fails).
            store.release(conn, connection, other(target), "contact", [source_id])
            seq = int(str(row["seq"]))
            store.journal_finish(
                conn, int(str(row["run_id"])), [(seq, "recovered", landed_id, None, 0)]
            )
    return len(found)


def _orphaned_children(
    store: Store, connection: str, replaced: list[tuple[LinkRow, Side]], policy: Policy
) -> list[tuple[Side, Entity, list[str], list[StoredRecord]]]:
    """Per side and child entity, the children of the replaced pairs, whose links and
    bases go; on the side that kept its contact they stay as unlinked records, to be
    created under the landed copy."""
    out: list[tuple[Side, Entity, list[str], list[StoredRecord]]] = []
    for entity in CHILD_ENTITIES:
        for side in SIDES:
            parents = [old.a_id if side == "a" else old.b_id for old, _ in replaced]
            kept = {old.a_id if side == "a" else old.b_id for old, s in replaced if s == side}
            kids = store.child_ids(connection, side, entity, parents)
            if not kids:
                continue
            loaded = store.load_records(connection, side, entity, kids).values()
            waiting = [
                stored_base(sr.record, policy, linked=False)
                for sr in loaded
                if sr.record.parent_id in kept
            ]
            out.append((side, entity, kids, waiting))
    return out


__all__ = ["recover_inflight_creates"]
