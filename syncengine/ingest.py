"""Reading a side and comparing it with the base in bulk.

A full snapshot is compared by fingerprint against the stored base of every record in
one pass: an unchanged record costs a hash and a dict lookup (none at all when the side
reports the version the base holds), no diff; a record the base does not hold is new
without being hashed. An incremental read names only what changed, and the base is
looked up for just those ids. Either way the result is the same shape: the changed
records (canonical), the ids known deleted, and what could not be read.

A record that could not be read is never taken for deleted; if the read could not
even tell which record was bad, no delete is inferred for that entity in this run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from adapters.base import Adapter, Incremental, Snapshot
from syncengine.errors import MalformedRecord
from syncengine.fingerprint import fingerprint
from syncengine.models import Entity, Record, Side
from syncengine.normalize import canonical_fields, is_canonical


@dataclass
class SideRead:
    side: Side
    entity: Entity
    changed: dict[str, Record] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    problems: list[MalformedRecord] = field(default_factory=list)
    cursor: str | None = None
    full: bool = True
    returned: int = 0
    notes: list[str] = field(default_factory=list)


BULK_LOOKUP_LIMIT = 100_000
"""Up to this many ids an incremental read probes the base id by id; past it, one scan.
A probe costs an index descent per id, a scan a row per stored record and a dict of the
whole base in memory. At 1M stored records the benchmark's second sync (15,000 ids a
side) read in 11.6 s scanning and 1.1 s probing; a run that reads back every record it
has just written (1M after a first sync) still scans."""

Stored = dict[str, tuple[str, bool, str | None]]
"""id -> (fingerprint, linked, version) of the base, as the store returns it."""


def read_side(
    adapter: Adapter,
    side: Side,
    entity: Entity,
    *,
    load_stored: Callable[[Collection[str] | None], Stored],
    cursor: str | None,
    full_pass_due: bool,
    changed_parents: set[str] | None,
    stored_parent_of: Callable[[], dict[str, str | None]] | None = None,
) -> tuple[SideRead, Stored]:
    """Read one side and compare with its base. An incremental read loads the base only
    for the ids it returned; a full read loads all of it (to see what is missing)."""
    if isinstance(adapter, Incremental) and cursor is not None and not full_pass_due:
        snap = adapter.changes_since(entity, cursor, changed_parents=changed_parents)
        ids = [r.id for r in snap.records] + list(snap.deleted_ids)
        # A feed may answer with everything (a file edited by hand): then, as for any
        # complete read, what it lacks is deleted, which takes the whole base.
        small = not snap.complete and len(ids) <= BULK_LOOKUP_LIMIT
        stored = load_stored(ids if small else None)
    else:
        snap = adapter.snapshot(entity, changed_parents=changed_parents)
        stored = load_stored(None)
    parents = (
        stored_parent_of()
        if snap.complete and snap.covered_parents is not None and stored_parent_of
        else None
    )
    return ingest(snap, side, stored, stored_parent_of=parents), stored


def ingest(
    snap: Snapshot,
    side: Side,
    stored: Stored,
    *,
    stored_parent_of: dict[str, str | None] | None = None,
) -> SideRead:
    out = SideRead(
        side,
        snap.entity,
        problems=list(snap.problems),
        cursor=snap.cursor,
        full=snap.complete,
        returned=len(snap.records),
        notes=list(snap.notes),
    )
    changed = out.changed
    for rec in snap.records:
        known = stored.get(rec.id)
        if known is not None and rec.version is not None and known[2] == rec.version:
            continue  # same version as the base: unchanged, no hashing needed
        # Most sides hand over canonical records already: checked, not rebuilt.
        same = is_canonical(rec.fields)
        fields = rec.fields if same else canonical_fields(rec.fields)
        # A record the base does not hold is new whatever its content: no hash for it.
        if known is None or known[0] != fingerprint(fields):
            same = same or fields == rec.fields
            changed[rec.id] = rec if same else replace(rec, fields=fields)
    bad_ids = {p.record_id for p in snap.problems if p.record_id}
    if snap.complete:
        seen = {rec.id for rec in snap.records}
        missing = {i for i in stored if i not in seen and i not in bad_ids}
        if snap.covered_parents is not None and stored_parent_of is not None:
            missing = {i for i in missing if stored_parent_of.get(i) in snap.covered_parents}
        nameless = sum(1 for p in snap.problems if p.record_id is None)
        if nameless and missing:
            # An unreadable record whose id is unknown may be any of the missing ones.
            out.notes.append(
                f"side {side}: {len(missing)} {snap.entity}(s) gone from it not treated "
                f"as deleted this run: {nameless} unreadable record(s) there, whose id "
                "cannot be read, may be among them; fix those (see Problems) and the next "
                "run treats what is really gone as deleted"
            )
            return out
        out.deleted = missing
    else:
        out.deleted = {i for i in snap.deleted_ids if i in stored and i not in bad_ids}
    return out


def only_echoes(snap: Snapshot, stored: Stored) -> bool:
    """Whether a change feed read right after a run holds nothing but that run's own
    writes: every changed record is stored at the version (or content) the run wrote,
    and every deleted one is already gone from the base. Anything else (an edit made
    on the side while the run was writing) means the cursor must stay where it was."""
    for rec in snap.records:
        known = stored.get(rec.id)
        if known is None:
            return False
        if rec.version is not None and known[2] == rec.version:
            continue
        if known[0] != fingerprint(canonical_fields(rec.fields)):
            return False
    return not any(rid in stored for rid in snap.deleted_ids)


def full_pass_due(last_full: datetime | None, every: timedelta | None, now: datetime) -> bool:
    if every is None:
        return False
    if last_full is None:
        return True
    return now - last_full.astimezone(UTC) >= every
