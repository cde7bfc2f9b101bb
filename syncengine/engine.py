"""One run of one connection: read both sides, plan, guard, apply.

The engine is the only code that talks to both the adapters and the store. It reads
each side (incrementally where it can), compares with the base in bulk, hands the pure
core only what is in play, and then applies the plan through ``apply.Applier``. A plan
(``dry_run``) stops before the first write: neither side nor the base moves.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from adapters.base import (
    Adapter,
    CallRecord,
    Interruptible,
    WriteCost,
    feeds_immediately,
    identity_of,
)
from state.store import Store
from state.store import now as store_now
from syncengine.apply import Applier
from syncengine.errors import (
    AdapterError,
    ReadStopped,
    SideChangedRefusal,
    SideReadFailed,
    StoppedWhileReading,
)
from syncengine.ingest import (
    BULK_LOOKUP_LIMIT,
    SideRead,
    Stored,
    full_pass_due,
    only_echoes,
    read_side,
)
from syncengine.locking import Lease
from syncengine.models import (
    CHILD_ENTITIES,
    ENTITIES,
    SIDES,
    Action,
    Entity,
    Plan,
    Record,
    Resolution,
    RunReport,
    Side,
    other,
)
from syncengine.normalize import canonical_fields, match_keys
from syncengine.plan import LinkedPair, SyncInput, reconcile
from syncengine.policy import Policy
from syncengine.recovery import recover_inflight_creates
from syncengine.safety import SideStats, check_plan, guard_refusal, side_changed_refusal

UNREADABLE_KEPT = 200
"""How many unreadable-record messages a run keeps in its summary (`syncengine quarantine`)."""


@dataclass
class Prepared:
    """Everything a run read and decided, before any write."""

    plan: Plan
    reads: dict[tuple[Side, Entity], SideRead]
    pairs: dict[tuple[Entity, str, str], LinkedPair]
    unlinked: dict[tuple[Side, Entity], dict[str, Record]]
    pending_gone: dict[tuple[Side, Entity], set[str]]
    stats: list[SideStats]
    resolutions: dict[str, dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    revisits: set[tuple[Side, Entity, str]] = field(default_factory=set)
    """The revisit rows this run brought into play (they go once it gets through)."""
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    """``problems`` as data (side, entity, where, record_id, problem), for monitoring."""


@dataclass
class SyncEngine:
    store: Store
    connection: str
    a: Adapter
    b: Adapter
    policy: Policy = field(default_factory=Policy)
    full_pass_every: timedelta | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] | None = None
    progress: Callable[[int, int], None] | None = None
    calls: list[tuple[Side, CallRecord]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per phase of the last run: read, plan, apply (for the bench)."""
    records_read: int = 0
    should_stop: Callable[[], bool] = lambda: False
    """Checked before each read of a side, between the requests of a long read (an
    ``Interruptible`` side), and before each record's ops: a stop request while reading
    ends the run before it plans; while applying, it lets the record in flight finish,
    settles the chunk and ends the run there."""
    run_started: Callable[[int | None], None] = lambda run_id: None
    """Told each run's id (None for a plan), so audit rows can name their run."""
    keep_history: timedelta | None = None
    """How long runs, their journal and calls, and settled conflicts are kept; each run
    prunes what is older (``Store.prune_history``). None keeps everything."""

    def adapter(self, side: Side) -> Adapter:
        return self.a if side == "a" else self.b

    def entities(self) -> list[Entity]:
        return [e for e in ENTITIES if e in self.policy.entities]

    # -- reading -------------------------------------------------------------------------
    def prepare(self) -> Prepared:
        t0 = time.perf_counter()
        self.records_read = 0
        cursors = self.store.cursors(self.connection)
        now = self.clock()
        reads: dict[tuple[Side, Entity], SideRead] = {}
        stored_all: dict[tuple[Side, Entity], Stored] = {}
        full_had: dict[tuple[Side, Entity], int] = {}
        self._reads_stop_when(self.should_stop)
        try:
            self._read_all(cursors, now, reads, stored_all, full_had)
        finally:
            self._reads_stop_when(lambda: False)  # the writes that follow always finish
        self.records_read = sum(r.returned for r in reads.values())
        t1 = time.perf_counter()
        prepared = self._assemble(reads, stored_all)
        prepared.stats = self._side_stats(prepared, full_had)
        self.timings = {"read": t1 - t0, "plan": time.perf_counter() - t1}
        return prepared

    def _read_all(
        self,
        cursors: Mapping[tuple[str, str], tuple[str | None, datetime | None]],
        now: datetime,
        reads: dict[tuple[Side, Entity], SideRead],
        stored_all: dict[tuple[Side, Entity], Stored],
        full_had: dict[tuple[Side, Entity], int],
    ) -> None:
        """Read every entity of both sides into ``reads``, with their bases."""
        for entity in self.entities():
            for side in SIDES:
                adapter = self.adapter(side)
                if entity not in adapter.capabilities().entities:
                    continue
                if self.should_stop():  # a plan from part of the reads would be wrong
                    raise _stopped("before reading", side, entity)
                cursor, last_full = cursors.get((side, entity), (None, None))
                changed_parents = None
                if entity in CHILD_ENTITIES:
                    contacts = reads.get((side, "contact"))
                    changed_parents = set(contacts.changed) if contacts else set()
                try:
                    read, stored = read_side(
                        adapter,
                        side,
                        entity,
                        load_stored=partial(self.store.fingerprints, self.connection, side, entity),
                        cursor=cursor,
                        full_pass_due=full_pass_due(last_full, self.full_pass_every, now),
                        changed_parents=changed_parents,
                        stored_parent_of=partial(self._parents, side, entity),
                    )
                except ReadStopped as exc:
                    raise _stopped("while reading", side, entity) from exc
                except AdapterError as exc:
                    raise SideReadFailed(side, adapter.name, exc) from exc
                went_along: set[str] = set()
                if entity in CHILD_ENTITIES:
                    # A contact deleted on a side takes its children with it there.
                    contact_read = reads.get((side, "contact"))
                    gone_contacts = contact_read.deleted if contact_read else set()
                    if gone_contacts:
                        kids = self.store.child_ids(self.connection, side, entity, gone_contacts)
                        stored.update(self.store.fingerprints(self.connection, side, entity, kids))
                        went_along = set(kids)
                        read.deleted |= went_along
                        for rid in list(read.changed):
                            if read.changed[rid].parent_id in gone_contacts:
                                del read.changed[rid]
                stored_all[(side, entity)] = stored
                reads[(side, entity)] = read
                if read.full:
                    # Children gone with their deleted contact do not count as "had": a
                    # side whose last note went with its contact was not emptied.
                    full_had[(side, entity)] = sum(
                        1
                        for rid, (_, linked, _) in stored.items()
                        if linked and rid not in went_along
                    )

    def _reads_stop_when(self, should_stop: Callable[[], bool]) -> None:
        """Let sides whose reads take many requests stop between them (``Interruptible``)."""
        for side in SIDES:
            adapter = self.adapter(side)
            if isinstance(adapter, Interruptible):
                adapter.stop_reading_when(should_stop)

    def _side_stats(
        self, prepared: Prepared, full_had: Mapping[tuple[Side, Entity], int]
    ) -> list[SideStats]:
        """What the guards weigh the plan against: per side and entity, the linked
        records it holds. The deletes a plan sends *to* a side are weighed against that
        side's count, which an incremental read of it does not know: it is counted in
        the store, only where the plan deletes something."""
        deleting = {
            (op.side, op.entity) for op in prepared.plan.operations if op.action is Action.DELETE
        }
        stats = []
        for (side, entity), read in prepared.reads.items():
            had = full_had.get((side, entity))
            if had is None:
                had = (
                    self.store.count_linked(self.connection, side, entity)
                    if (side, entity) in deleting
                    else 0
                )
            stats.append(
                SideStats(
                    side,
                    entity,
                    had=had,
                    returned=read.returned if read.full else None,
                    deletes=len(read.deleted),
                )
            )
        return stats

    def _parents(self, side: Side, entity: Entity) -> dict[str, str | None]:
        return self.store.parent_ids(self.connection, side, entity)

    def _extra_in_play(
        self,
    ) -> tuple[
        dict[tuple[Side, Entity], set[str]],
        dict[str, dict[str, Any]],
        set[tuple[Side, Entity, str]],
    ]:
        """Records to look at again though they did not change: quarantined ones and
        those marked for a revisit, with their counterparts, and pairs with open or
        just-resolved conflicts.

        A quarantined record's counterpart comes too: the failed write carried a change
        read from it, and an incremental read has moved past that change, so the pair
        is planned again from what both sides hold now, not from the counterpart's base."""
        extra: dict[tuple[Side, Entity], set[str]] = {}
        revisits = {
            (r["side"], r["entity"], r["record_id"]) for r in self.store.revisits(self.connection)
        }
        for side, entity, rid in revisits:
            extra.setdefault((side, entity), set()).add(rid)
        for q in self.store.quarantined(self.connection):
            extra.setdefault((q["side"], q["entity"]), set()).add(q["record_id"])
        for (side, entity), ids in list(extra.items()):
            for link in self.store.links_by_ids(self.connection, entity, side, ids).values():
                extra.setdefault((other(side), entity), set()).add(
                    link.b_id if side == "a" else link.a_id
                )
        resolutions: dict[str, dict[str, Any]] = {}
        for c in self.store.open_conflicts(self.connection) + self.store.pending_resolutions(
            self.connection
        ):
            extra.setdefault(("a", c["entity"]), set()).add(c["a_id"])
            extra.setdefault(("b", c["entity"]), set()).add(c["b_id"])
            if c["status"] == "resolving":
                resolutions[c["key"]] = c
        return extra, resolutions, revisits

    def _assemble(
        self,
        reads: dict[tuple[Side, Entity], SideRead],
        stored_all: dict[tuple[Side, Entity], Stored],
    ) -> Prepared:
        extra, resolutions, revisits = self._extra_in_play()
        pairs: dict[tuple[Entity, str, str], LinkedPair] = {}
        unlinked: dict[tuple[Side, Entity], dict[str, Record]] = {}
        pending_gone: dict[tuple[Side, Entity], set[str]] = {}
        linked_keys: dict[Side, dict[str, list[str]]] = {"a": {}, "b": {}}
        problems: list[str] = []
        unreadable: list[dict[str, Any]] = []
        notes: list[str] = []
        for read in reads.values():
            problems += [str(p) for p in read.problems]
            unreadable += [
                {
                    "side": read.side,
                    "entity": read.entity,
                    "where": p.where,
                    "record_id": p.record_id,
                    "problem": str(p),
                }
                for p in read.problems
            ]
            notes += read.notes
        for entity in self.entities():
            side_reads = {s: reads.get((s, entity)) for s in ("a", "b")}
            if side_reads["a"] is None or side_reads["b"] is None:
                continue
            ra, rb = side_reads["a"], side_reads["b"]
            assert ra is not None and rb is not None
            for side, read in _by_side(ra, rb):
                again = {
                    i
                    for i in extra.get((side, entity), ())
                    if i not in read.changed and i not in read.deleted
                }
                known = (
                    self.store.fingerprints(self.connection, side, entity, again) if again else {}
                )
                for rid in sorted(again):
                    current = self.adapter(side).get(entity, rid)
                    if current is None:
                        if rid in known:
                            read.deleted.add(rid)
                    else:
                        read.changed[rid] = replace(
                            current, fields=canonical_fields(current.fields)
                        )
            touched_a = set(ra.changed) | ra.deleted
            touched_b = set(rb.changed) | rb.deleted
            links_a = self.store.links_by_ids(self.connection, entity, "a", touched_a)
            links_b = self.store.links_by_ids(self.connection, entity, "b", touched_b)
            link_rows = {(r.a_id, r.b_id, r.state) for r in [*links_a.values(), *links_b.values()]}
            live = [(a_id, b_id) for a_id, b_id, state in link_rows if state == "live"]
            base_a = self.store.load_records(self.connection, "a", entity, [a for a, _ in live])
            base_b = self.store.load_records(self.connection, "b", entity, [b for _, b in live])
            for a_id, b_id in sorted(live):
                if a_id not in base_a or b_id not in base_b:
                    continue
                cur_a = None if a_id in ra.deleted else ra.changed.get(a_id, base_a[a_id].record)
                cur_b = None if b_id in rb.deleted else rb.changed.get(b_id, base_b[b_id].record)
                pairs[(entity, a_id, b_id)] = LinkedPair(
                    entity, a_id, b_id, base_a[a_id].record, base_b[b_id].record, cur_a, cur_b
                )
            linked_ids: dict[Side, set[str]] = {"a": set(links_a), "b": set(links_b)}
            for side, read in _by_side(ra, rb):
                pending_ids = self.store.pending_ids(self.connection, side, entity)
                gone = pending_ids & read.deleted
                pending_gone[(side, entity)] = gone
                # Where none of the changed records is linked (a first sync) and none is
                # pending beside them, the new records are the changed ones: the same
                # dict serves (no copy of a million entries; nothing reads ``changed``
                # once the plan is made).
                new = (
                    read.changed
                    if not linked_ids[side] and pending_ids <= read.changed.keys()
                    else {rid: r for rid, r in read.changed.items() if rid not in linked_ids[side]}
                )
                todo = {i for i in pending_ids if i not in new and i not in gone}
                if todo:
                    for sr in self.store.load_records(self.connection, side, entity, todo).values():
                        new[sr.record.id] = sr.record
                unlinked[(side, entity)] = new
                if (
                    entity != "contact"
                    or not new
                    or not self.store.has_linked(self.connection, side, entity)
                ):
                    continue  # nothing linked to collide with (a first sync): no keys needed
                keys = {
                    k
                    for r in new.values()
                    for k in match_keys(r, self.policy.default_region, self.policy.match_keys)
                }
                if keys:
                    for k, ids in self.store.linked_ids_by_keys(
                        self.connection, side, entity, keys
                    ).items():
                        linked_keys[side][k] = ids
        self._refresh_survivors(pairs, unlinked, reads)
        contact_links = self._contact_links(pairs, unlinked)
        inp = SyncInput(
            connection=self.connection,
            caps_a=self.a.capabilities(),
            caps_b=self.b.capabilities(),
            pairs=list(pairs.values()),
            unlinked_a=[r for (s, _), recs in unlinked.items() if s == "a" for r in recs.values()],
            unlinked_b=[r for (s, _), recs in unlinked.items() if s == "b" for r in recs.values()],
            linked_keys_a=linked_keys["a"],
            linked_keys_b=linked_keys["b"],
            contact_links=contact_links,
            notes=tuple(notes),
            resolutions={
                k: Resolution(v["resolution"], v["resolved_value"], v["a_value"], v["b_value"])
                for k, v in resolutions.items()
            },
        )
        plan = reconcile(inp, self.policy)
        return Prepared(
            plan,
            reads,
            pairs,
            unlinked,
            pending_gone,
            [],
            resolutions,
            problems,
            revisits,
            unreadable,
        )

    def _refresh_survivors(
        self,
        pairs: dict[tuple[Entity, str, str], LinkedPair],
        unlinked: Mapping[tuple[Side, Entity], Mapping[str, Record]],
        reads: Mapping[tuple[Side, Entity], SideRead],
    ) -> None:
        """A contact whose counterpart was deleted, unchanged itself, is in play as its
        base. Where a new record on the deleting side holds one of its keys, the plan may
        link the two as a fresh match, weighing their update times: so it is read again,
        to be weighed at its own time, not its base's."""
        survivors = [
            (key, p)
            for key, p in pairs.items()
            if p.entity == "contact" and (p.a is None) != (p.b is None)
        ]
        if not survivors:
            return  # the common case: no match keys of every new record to compute
        wanted: dict[Side, set[str]] = {"a": set(), "b": set()}
        for side in SIDES:
            for r in unlinked.get((side, "contact"), {}).values():
                wanted[side].update(
                    match_keys(r, self.policy.default_region, self.policy.match_keys)
                )
        for key, p in survivors:
            keep: Side = "a" if p.b is None else "b"
            rid = p.a_id if keep == "a" else p.b_id
            read = reads.get((keep, "contact"))
            survivor = p.a if keep == "a" else p.b
            if survivor is None or read is None or rid in read.changed:
                continue
            keys = match_keys(survivor, self.policy.default_region, self.policy.match_keys)
            if not wanted["b" if keep == "a" else "a"].intersection(keys):
                continue
            current = self.adapter(keep).get("contact", rid)
            if current is not None:
                current = replace(current, fields=canonical_fields(current.fields))
                pairs[key] = replace(p, a=current) if keep == "a" else replace(p, b=current)

    def _contact_links(
        self,
        pairs: Mapping[tuple[Entity, str, str], LinkedPair],
        unlinked: Mapping[tuple[Side, Entity], Mapping[str, Record]],
    ) -> dict[str, str]:
        parents_a: set[str] = set()
        parents_b: set[str] = set()
        for p in pairs.values():
            if p.entity != "contact":
                if p.base_a.parent_id:
                    parents_a.add(p.base_a.parent_id)
                if p.base_b.parent_id:
                    parents_b.add(p.base_b.parent_id)
        for (side, entity), recs in unlinked.items():
            if entity == "contact":
                continue
            for r in recs.values():
                if r.parent_id:
                    (parents_a if side == "a" else parents_b).add(r.parent_id)
        out: dict[str, str] = {}
        for link in self.store.links_by_ids(self.connection, "contact", "a", parents_a).values():
            if link.state == "live":
                out[link.a_id] = link.b_id
        for link in self.store.links_by_ids(self.connection, "contact", "b", parents_b).values():
            if link.state == "live":
                out[link.a_id] = link.b_id
        return out

    # -- running -------------------------------------------------------------------------
    def _with_request_notes(self, prepared: Prepared) -> Prepared:
        """Say in the plan how many external requests the reads took and the writes will."""
        reads = self._calls_by_side()
        notes = []
        for side in SIDES:
            adapter = self.adapter(side)
            ops = [op for op in prepared.plan.operations if op.side == side]
            if isinstance(adapter, WriteCost):
                writes = sum(adapter.write_requests(op) for op in ops)
            elif reads.get(side):
                writes = len(ops)
            else:
                continue  # a local side (file, memory): requests mean nothing there
            notes.append(
                f"side {side} ({adapter.name}): {reads.get(side, 0)} requests to read; "
                f"about {writes} more to apply this plan"
            )
        if notes:
            prepared.plan = replace(prepared.plan, notes=(*prepared.plan.notes, *notes))
        return prepared

    def run(self, *, dry_run: bool = False, force: bool = False) -> RunReport:
        with _collector_paused():
            return self._run(dry_run=dry_run, force=force)

    def _run(self, *, dry_run: bool, force: bool) -> RunReport:
        started = self.clock()
        self.calls.clear()
        if dry_run:
            self.run_started(None)
            changed = self.side_change()
            prepared = self._with_request_notes(self.prepare())
            # A preview shows the plan a guard would stop, with the refusal beside it.
            refusal = (
                None
                if force
                else changed or guard_refusal(prepared.plan, prepared.stats, self.policy)
            )
            return RunReport(
                None,
                self.connection,
                prepared.plan,
                started_at=started,
                finished_at=self.clock(),
                dry_run=True,
                problems=tuple(prepared.problems),
                refusal=str(refusal) if refusal is not None else None,
            )
        with Lease(self.store, self.connection) as lease:
            return self._run_locked(lease, started, force)

    def _run_locked(self, lease: Lease, started: datetime, force: bool) -> RunReport:
        run_id = self.store.start_run(self.connection, "run")
        self.run_started(run_id)
        planned = 0
        try:
            built_with, now = self._sides()
            changed = side_changed_refusal(self.connection, built_with, now)
            if changed is not None and not force:
                raise changed
            if built_with != now:
                # The first run of a connection, or a forced one: these are its sides now.
                self.store.adopt_side_identities(self.connection, now)
            # Only a run that holds the lock may settle what a dead run left in flight.
            recover_inflight_creates(
                self.store, self.connection, {"a": self.a, "b": self.b}, self.policy
            )
            prepared = self._with_request_notes(self.prepare())
            check_plan(prepared.plan, prepared.stats, self.policy, force=force)
            applier = Applier(
                self.store,
                self.connection,
                run_id,
                self.a,
                self.b,
                self.policy,
                sleep=self.sleep,
                progress=self.progress,
                should_stop=lambda: self.should_stop() or lease.lost,
                heartbeat=lease.renew,
                clock=self.clock,
            )
            t0 = time.perf_counter()
            planned = len(prepared.plan.operations)
            outcomes = applier.apply(prepared)
            self.timings["apply"] = time.perf_counter() - t0
            lease.check()
            if self.keep_history is not None:
                self.store.prune_history(self.connection, store_now() - self.keep_history)
            if not applier.stopped and not applier.unavailable:
                # Cursors stayed where they were for a stopped run or a refusing side:
                # moving them past echoes would skip what was not applied.
                self._absorb_echoes(prepared, applier.echoes)
            failed = outcomes.any_failed() or prepared.problems
            # Built last, so the time it reports covers reading this run's writes back.
            report = RunReport(
                run_id,
                self.connection,
                prepared.plan,
                outcomes,
                started,
                self.clock(),
                calls=self._calls_by_side(),
                problems=(
                    *prepared.problems,
                    *(
                        f"side {key} took no more writes this run ({why}); "
                        "what it missed is planned again next run"
                        if ":" not in key
                        else f"side {key.split(':')[0]} took no more {key.split(':')[1]} "
                        f"writes this run ({why}); they are planned again next run"
                        for key, why in sorted(applier.unavailable.items())
                    ),
                ),
            )
            self.store.finish_run(
                run_id,
                "stopped" if applier.stopped else "partial" if failed else "ok",
                {
                    **report.summary(),
                    "unreadable": prepared.problems[:UNREADABLE_KEPT],
                    "unreadable_records": prepared.unreadable[:UNREADABLE_KEPT],
                },
            )
            return report
        except BaseException as exc:
            status = getattr(exc, "run_status", None) or {3: "refused", 4: "lock lost"}.get(
                getattr(exc, "exit_code", 0), "failed"
            )
            self.store.finish_run(run_id, status, {}, error=str(exc))
            raise
        finally:
            self.store.after_run(written=planned)

    def _sides(self) -> tuple[dict[Side, str], dict[Side, str]]:
        """The identity of each side the state was built with, and of each side now."""
        now = {s: identity_of(self.adapter(s)) for s in SIDES}
        return self.store.side_identities(self.connection), now

    def side_change(self) -> SideChangedRefusal | None:
        """The refusal a run would meet for sides that are not the ones the state was
        built with (``plan`` and ``check`` show it), or None."""
        return side_changed_refusal(self.connection, *self._sides())

    def _absorb_echoes(
        self, prepared: Prepared, echoes: Mapping[tuple[Side, Entity], Mapping[str, str]]
    ) -> None:
        """Read this run's own writes back from sides with an immediate change feed and
        move their cursors past them, so the next run does not list (and compare) every
        record this run wrote. Skipped where anything else changed meanwhile.

        A record at the version the applier wrote and stored as its base (``echoes``)
        is an echo as it stands; only the rest are compared with their stored bases
        (after a first sync: none, instead of the whole base read back)."""
        moved: list[tuple[Side, Entity, str, datetime | None]] = []
        cursors = self.store.cursors(self.connection)
        for (side, entity), read in prepared.reads.items():
            adapter = self.adapter(side)
            if read.cursor is None or not feeds_immediately(adapter):
                continue
            snap = adapter.changes_since(entity, read.cursor)
            if snap.complete or snap.cursor is None or snap.cursor == read.cursor:
                # A complete answer (someone else changed the side meanwhile) shows
                # deletes only by absence, which an echo check does not look for.
                continue
            wrote = echoes.get((side, entity), {})
            unsure = [r for r in snap.records if r.version is None or wrote.get(r.id) != r.version]
            ids = [r.id for r in unsure] + list(snap.deleted_ids)
            stored = self.store.fingerprints(
                self.connection, side, entity, ids if len(ids) <= BULK_LOOKUP_LIMIT else None
            )
            if only_echoes(replace(snap, records=unsure), stored):
                last_full = cursors.get((side, entity), (None, None))[1]
                moved.append((side, entity, snap.cursor, last_full))
        if moved:
            with self.store.transaction() as conn:
                for side, entity, cursor, last_full in moved:
                    self.store.put_cursor(conn, self.connection, side, entity, cursor, last_full)

    def _calls_by_side(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for side, _ in self.calls:
            out[side] = out.get(side, 0) + 1
        return out


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A run allocates millions of short-lived objects and makes almost no reference
    cycles; the cyclic collector would walk every live object again and again (seconds
    at 100k records). Pause it for the run; it resumes (and finds any cycles) after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _by_side(ra: SideRead, rb: SideRead) -> tuple[tuple[Side, SideRead], tuple[Side, SideRead]]:
    return (("a", ra), ("b", rb))


def _stopped(when: str, side: Side, entity: Entity) -> StoppedWhileReading:
    """The stop of a run asked to stop while it read its sides (see ``should_stop``)."""
    return StoppedWhileReading(
        f"stopped {when} side {side}'s {entity}s: nothing was written; the next run "
        "reads both sides again"
    )
