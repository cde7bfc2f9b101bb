"""Applying a plan: journal first, then the remote write, then the new base.

Ops are grouped into *units*, one per pair (a matched pair's link and its updates, or
one create, or one delete). For each chunk of units the journal rows are committed
before any remote call; after the calls, one transaction marks them done or failed and
moves the base of every unit that fully succeeded to what the sides returned, so our
own writes never come back as changes. A unit with a failed op keeps its old base, so
the change is planned again next run (idempotent writes make that safe); the failed
record is quarantined with its reason and the rest of the plan goes on.

After a crash, journal rows are left ``pending``. The next run settles them: a create
whose outcome is unknown is looked up by its match key on the target side (where the
adapter can) before it is sent again, and otherwise the new record is found by the
ordinary matching of unlinked records. Either way no duplicate is created.

**Concurrency.** A side whose ``Capabilities.write_concurrency`` is above 1 (GHL: each
call waits 150-400 ms on the network, so one at a time reaches a quarter to half of
the allowed rate) gets that many units in flight at once. Within a chunk, contact
units go first and the other units (children, which may need a contact created in
this chunk) after them; inside each wave, units run on one thread pool per side (the
side most of their writes go to), each write holding one of its side's slots. A unit's
own ops stay in order. The journal rows of a chunk are committed before its first
call; the progress callback and every store write (the settle transaction after the
chunk) stay on the applier's thread, and outcomes come back in plan order. Workers
fill in only their own unit, read links from the store, and change the run's shared
maps (``claimed``, ``created``, ``unavailable``) under one lock. When both sides take
one write at a time no thread is started at all.

**A side that cannot be written any more.** A ``SideUnavailable`` error (revoked token,
missing scope, spent daily budget) says nothing about the record: the op fails once,
with the side's message, and every later op to that side in this run is skipped,
while ops to the other side go on. Nothing is quarantined for it; the units not applied
keep their base, and the run keeps every cursor where it was (as a stopped run does),
so all of it is read and planned again by the next run.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from adapters.base import Adapter, Batching, KeyLookup, feeds_immediately
from state.store import Store, StoredRecord, now, stored
from syncengine.errors import (
    AdapterError,
    DuplicateOnSide,
    RecordNotFound,
    RecordRejected,
    SideUnavailable,
    TransientAdapterError,
    failure_text,
    is_transient,
)
from syncengine.models import (
    CHILD_ENTITIES,
    JSON,
    SIDES,
    Action,
    ConflictKind,
    Entity,
    Op,
    OpOutcome,
    OpStatus,
    Outcomes,
    Record,
    Side,
    other,
)
from syncengine.normalize import match_keys
from syncengine.policy import Policy

if TYPE_CHECKING:
    from syncengine.engine import Prepared

CHUNK_UNITS = 500
"""The first chunk's units, and the fewest a chunk holds (``next_chunk_size``)."""
CHUNK_SECONDS = 2.0
"""About how long a chunk should take, once the sides have shown their pace."""
MAX_CHUNK_UNITS = 20_000
MAX_ATTEMPTS = 4
STOPPED_BEFORE = "the run was stopped before this op"
MERGE_NEXT = "linked to a record the side already had; fields merge next run"
"""Why both records of such a pair are revisited next run (``Store.revisit``), where
they merge like a fresh match: there is no base."""


@dataclass(slots=True)
class Unit:
    entity: Entity
    ops: list[Op]
    a_id: str | None
    b_id: str | None
    results: dict[Side, Record] = field(default_factory=dict)
    outcomes: list[OpOutcome] = field(default_factory=list)
    linked_existing: bool = False
    side_unavailable: bool = False
    """It stopped because a side refuses every write: not the record's fault, so it is
    not quarantined (its base stays, and the next run plans it again)."""
    not_reached: bool = False
    """A stop request came before it started: none of its ops ran, nothing is
    quarantined, and the next run plans it again."""

    @property
    def spared(self) -> bool:
        """It did not fully run for a reason that is not the record's (no quarantine)."""
        return self.side_unavailable or self.not_reached

    def skip_reason(self) -> str:
        """Why the ops it did not run were skipped."""
        if self.not_reached:
            return STOPPED_BEFORE
        return "an earlier op of this record failed"

    @property
    def ok(self) -> bool:
        """Every op ran and succeeded (a unit a stopped run never reached is not ok)."""
        return len(self.outcomes) == len(self.ops) and all(
            o.status is OpStatus.DONE for o in self.outcomes
        )

    def record_keys(self) -> set[tuple[Side, Entity, str]]:
        """(side, entity, id) of every record the unit concerns: a create's source and
        the record it made, or the two records of a pair."""
        keys: set[tuple[Side, Entity, str]] = set()
        for op in self.ops:
            if op.action is Action.CREATE:
                keys.add((other(_side(op.side)), op.entity, op.source_id or ""))
            else:
                for side, rid in (("a", op.a_id), ("b", op.b_id)):
                    if rid:
                        keys.add((_side(side), op.entity, rid))
        keys |= {(side, self.entity, rec.id) for side, rec in self.results.items()}
        return keys


def _side(op_side: str) -> Side:
    return "a" if op_side == "a" else "b"


def _unit_ops(ops: Sequence[Op]) -> list[Op | list[Op]]:
    """The ops of each unit, in the order ops first name them: a create alone, as it
    is (no list: a first sync holds a million of them), the ops of one pair as a list.
    Units are made from these one chunk at a time and dropped with it (``_unit``)."""
    groups: list[Op | list[Op]] = []
    by_pair: dict[tuple[str, str, str], list[Op]] = {}
    for op in ops:
        if op.action is Action.CREATE:
            groups.append(op)
            continue
        key = (op.entity, op.a_id or "", op.b_id or "")
        group = by_pair.get(key)
        if group is None:
            group = by_pair[key] = []
            groups.append(group)
        group.append(op)
    return groups


def _unit(group: Op | list[Op]) -> Unit:
    ops = [group] if isinstance(group, Op) else group
    return Unit(ops[0].entity, ops, ops[0].a_id, ops[0].b_id)


@dataclass
class _Tally:
    """What the end of a run needs to know of its units, gathered chunk by chunk, so
    that no unit outlives its chunk."""

    pairs: set[tuple[Entity, str | None, str | None]] = field(default_factory=set)
    """The pair of every unit that is not a create (a create names one id: never a pair
    in play, a conflict's pair or a resolution's)."""
    failed: set[tuple[Entity, str | None, str | None]] = field(default_factory=set)
    """Of those, the pairs whose unit did not fully succeed."""
    unsettled: defaultdict[tuple[Side, Entity], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    """Records with no link that a unit did not settle (the source of a create, both ends
    of a link, where the unit did not fully run): they wait as pending. The failures, not
    the successes: a first sync settles a million."""
    quarantined: set[tuple[Side, Entity, str]] = field(default_factory=set)
    """Records that were in quarantine when the run began and that a unit concerns."""

    def add(self, unit: Unit, in_quarantine: Collection[tuple[Side, Entity, str]]) -> None:
        ok = unit.ok
        if unit.ops[0].action is not Action.CREATE:
            key = (unit.entity, unit.a_id, unit.b_id)
            self.pairs.add(key)
            if not ok:
                self.failed.add(key)
        if not ok:
            for side, rid in _unlinked_ends(unit.ops):
                self.unsettled[(side, unit.entity)].add(rid)
        if in_quarantine:
            self.quarantined |= {k for k in unit.record_keys() if k in in_quarantine}


def _unlinked_ends(ops: Iterable[Op]) -> Iterator[tuple[Side, str]]:
    """The records with no link these ops settle: a create's source, a link's two ends."""
    for op in ops:
        if op.action is Action.CREATE:
            yield other(_side(op.side)), op.source_id or ""
        elif op.action is Action.LINK:
            yield "a", op.a_id or ""
            yield "b", op.b_id or ""


def _waiting(
    unlinked: Mapping[tuple[Side, Entity], Mapping[str, Record]], ops: Sequence[Op]
) -> dict[tuple[Side, Entity], set[str]]:
    """Per side and entity, the records with no link that no op settles."""
    named: defaultdict[tuple[Side, Entity], set[str]] = defaultdict(set)
    for op in ops:
        for side, rid in _unlinked_ends((op,)):
            named[(side, op.entity)].add(rid)
    return {
        key: {rid for rid in recs if rid not in named.get(key, ())}
        for key, recs in unlinked.items()
    }


def _sides_written(unit: Unit) -> list[Side]:
    """The sides a unit sends writes to, in the order of its ops (a link writes nothing)."""
    out: list[Side] = []
    for op in unit.ops:
        side = _side(op.side)
        if op.action is not Action.LINK and side not in out:
            out.append(side)
    return out


def _waves(chunk: list[Unit]) -> list[list[Unit]]:
    """Contacts first, then everything else: a child created now may need the id of a
    contact created in this chunk (``Applier.created``), so it waits for the contact wave."""
    contacts = [u for u in chunk if u.entity == "contact"]
    rest = [u for u in chunk if u.entity != "contact"]
    return [w for w in (contacts, rest) if w]


def next_chunk_size(size: int, seconds: float) -> int:
    """The units of the next chunk, from how long this one of ``size`` took: about
    ``CHUNK_SECONDS`` of work, between ``CHUNK_UNITS`` and ``MAX_CHUNK_UNITS``, at most
    four times the last.

    A chunk's fixed costs are paid once per chunk: a file side rewrites its whole file
    (500-unit chunks made a 100k-contact first sync into a JSONL file quadratic: 200
    rewrites, 61 s of apply), and the store commits. A remote side, whose every write is
    durable on its own and slow, keeps small chunks: its journal is settled often, and
    a crash leaves few creates to look up."""
    pace = size * CHUNK_SECONDS / seconds if seconds > 0 else float("inf")
    return int(max(CHUNK_UNITS, min(MAX_CHUNK_UNITS, 4 * size, pace)))


def _retryable(exc: BaseException) -> bool:
    # A side that refuses every call will not take this one after a backoff either.
    return is_transient(exc) and not isinstance(exc, SideUnavailable)


def _delay(attempt: int, exc: BaseException | None) -> float:
    """Exponential backoff with jitter, never shorter than the side's Retry-After."""
    exp = min(30.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random())
    hint = exc.retry_after if isinstance(exc, TransientAdapterError) and exc.retry_after else 0.0
    return float(max(exp, hint))


def _wait(rs: RetryCallState) -> float:
    return _delay(rs.attempt_number + 1, rs.outcome.exception() if rs.outcome else None)


@dataclass
class Applier:
    store: Store
    connection: str
    run_id: int
    a: Adapter
    b: Adapter
    policy: Policy
    sleep: Callable[[float], None] | None = None
    progress: Callable[[int, int], None] | None = None
    should_stop: Callable[[], bool] = lambda: False
    heartbeat: Callable[[], None] = lambda: None
    """Called after every chunk: the engine renews the connection's lock lease."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    """The engine's clock: when a full pass happened is stamped with it."""
    in_quarantine: set[tuple[Side, Entity, str]] = field(default_factory=set)
    claimed: defaultdict[tuple[Side, Entity], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    """Per side and entity, ids of records this run links to a counterpart (sets of ids,
    not of (side, entity, id) tuples). What this run creates is claimed in ``_fresh``."""
    _fresh: defaultdict[tuple[Side, Entity], set[str]] = field(
        default_factory=lambda: defaultdict(set), init=False, repr=False
    )
    """Ids of the records the creates of the chunk in flight made, until its settle
    links them in the store, where ``_claimed`` finds them from then on (holding them all
    run long cost a first sync 42 bytes a record: 40 MB at a million)."""
    stopped: bool = False
    created: dict[tuple[Side, Entity, str], str] = field(default_factory=dict)
    """(target side, entity, source id) -> new id, for children of contacts created now:
    kept only for the contacts a child create of this plan waits for (``parents_wanted``)."""
    echoes: defaultdict[tuple[Side, Entity], dict[str, str]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    """Per side with an immediate change feed and entity: id -> version of every record
    this run wrote there whose base holds that very version now. A feed read right after
    the run shows these records at these versions: the engine takes them for echoes
    without reading their bases back (``SyncEngine._absorb_echoes``)."""
    parents_wanted: set[tuple[Side, str]] = field(default_factory=set)
    """(target side, source contact id) of every contact whose new id a child create of
    this plan needs (its parent on the target side is not known when planned)."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """What refused a write with ``SideUnavailable`` in this run -> why: a side (``"b"``),
    or one entity of it (``"b:appointment"``). No further op is sent there; the engine
    reports each once."""
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    """Guards ``claimed``, ``_fresh``, ``created`` and ``unavailable`` while units run at once."""
    _slots: dict[Side, threading.BoundedSemaphore] = field(
        default_factory=dict, init=False, repr=False
    )
    """Per side, its ``write_concurrency`` slots; empty when the run is sequential."""
    _aborted: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    """Set when a worker raised (a crash, a bug): no other worker starts another op."""
    _echo_sides: set[Side] = field(default_factory=set, init=False, repr=False)
    """The sides with an immediate change feed, whose ``echoes`` are kept."""
    _waiting: dict[tuple[Side, Entity], set[str]] = field(
        default_factory=dict, init=False, repr=False
    )
    """Records with no link that no op of the plan settles (held in a duplicate group,
    a child waiting for its contact): they wait as pending after the run."""
    _last_stored: StoredRecord | None = field(default=None, init=False, repr=False)
    """The base ``_stored`` built last (see there)."""

    def adapter(self, side: Side) -> Adapter:
        return self.a if side == "a" else self.b

    # -- the remote call, retried when transient ---------------------------------------------
    def _call(self, fn: Callable[[], Any]) -> tuple[Any, int]:
        try:
            return fn(), 1  # the common case, without building a retry loop
        except TransientAdapterError as exc:
            if not _retryable(exc):
                raise
            (self.sleep or time.sleep)(_delay(1, exc))
        attempts = 1

        def counted() -> Any:
            nonlocal attempts
            attempts += 1
            return fn()

        retrying = Retrying(
            stop=stop_after_attempt(MAX_ATTEMPTS - 1),
            wait=_wait,
            retry=retry_if_exception(_retryable),
            sleep=self.sleep or time.sleep,
            reraise=True,
        )
        return retrying(counted), attempts

    def _parent_on(self, side: Side, op: Op) -> str | None:
        target_parent = op.parent_a_id if side == "a" else op.parent_b_id
        if target_parent is not None or op.entity not in CHILD_ENTITIES:
            return target_parent
        source_parent = op.parent_b_id if side == "a" else op.parent_a_id
        if source_parent is None:
            return None
        new = self.created.get((side, "contact", source_parent))
        if new is not None:
            return new
        link = self.store.links_by_ids(self.connection, "contact", other(side), [source_parent])
        row = link.get(source_parent)
        return None if row is None else (row.a_id if side == "a" else row.b_id)

    def _create(self, unit: Unit, op: Op, inflight: set[tuple[str, str, str]]) -> Record:
        side: Side = "a" if op.side == "a" else "b"
        adapter = self.adapter(side)
        source_id = op.source_id or ""
        parent = self._parent_on(side, op)
        if op.entity in CHILD_ENTITIES and parent is None:
            raise RecordRejected(f"{op.entity} {source_id}: its contact is not on side {side} yet")
        record = Record(op.entity, source_id, op.fields, parent_id=parent)
        if (side, op.entity, source_id) in inflight and isinstance(adapter, KeyLookup):
            # A previous run may have created it before it could record the id: take an
            # unclaimed record with the same key (identical notes: any one of them).
            for key in match_keys(record, self.policy.default_region, self.policy.match_keys):
                found = sorted(
                    (
                        r
                        for r in adapter.find_by_key(op.entity, key)
                        if r.parent_id == parent or parent is None
                    ),
                    key=lambda r: r.id,
                )
                for candidate in found:
                    if self._try_claim(side, op.entity, candidate):
                        return candidate
        try:
            result, _ = self._call(lambda: adapter.create(record))
        except DuplicateOnSide as dup:
            existing = adapter.get(op.entity, dup.existing_id)
            if existing is None:
                raise
            if not self._try_claim(side, op.entity, existing):
                raise RecordRejected(
                    f"side {side} refused {op.entity} {source_id} as a duplicate of "
                    f"{existing.id}, which is already linked to another record; merge or "
                    f"re-key the two records on side {other(side)}",
                    record_id=source_id,
                ) from dup
            unit.linked_existing = True
            return existing
        assert isinstance(result, Record)
        with self._lock:
            self._fresh[(side, op.entity)].add(result.id)
        return result

    def _claimed(self, side: Side, entity: Entity, record_id: str) -> bool:
        """Whether a record already has a counterpart (linked, or claimed by this run)."""
        if record_id in self.claimed.get((side, entity), ()):
            return True
        if record_id in self._fresh.get((side, entity), ()):
            return True
        return bool(self.store.links_by_ids(self.connection, entity, side, [record_id]))

    def _try_claim(self, side: Side, entity: Entity, record: Record) -> bool:
        """Claim a record this run found on a side, unless it already has a counterpart.
        Check and claim are one step, so two units running at once never take one record."""
        with self._lock:
            if self._claimed(side, entity, record.id):
                return False
            self.claimed[(side, entity)].add(record.id)
            return True

    def _slot(self, side: Side) -> AbstractContextManager[Any]:
        """One of the side's write slots (nothing to wait for when the run is sequential)."""
        slot = self._slots.get(side)
        return slot if slot is not None else nullcontext()

    def _blocked(self, side: Side, entity: Entity) -> str | None:
        """The ``unavailable`` key that stops this write, if any: the side, or the side
        for this entity alone."""
        if not self.unavailable:
            return None  # every write of a run asks: no key built while nothing refused
        for key in (side, f"{side}:{entity}"):
            if key in self.unavailable:
                return key
        return None

    def _unavailable(self, unit: Unit, op: Op, side: Side, exc: SideUnavailable) -> OpOutcome:
        """The first refusal fails its op with the side's message; the rest are skipped."""
        unit.side_unavailable = True
        keys = [side] if exc.entities is None else [f"{side}:{e}" for e in sorted(exc.entities)]
        key = keys[0] if exc.entities is None else f"{side}:{op.entity}"
        with self._lock:
            first = self._blocked(side, op.entity) is None
            if first:
                for k in keys:
                    self.unavailable[k] = failure_text(exc)
                self.unavailable.setdefault(key, failure_text(exc))
        if first:
            return OpOutcome(op, OpStatus.FAILED, error=self.unavailable[key])
        return self._skip_unavailable(unit, op, side)

    def _skip_unavailable(self, unit: Unit, op: Op, side: Side) -> OpOutcome:
        unit.side_unavailable = True
        key = self._blocked(side, op.entity) or side
        why = self.unavailable[key].partition(":")[0]
        what = f"side {side} is" if key == side else f"{op.entity}s on side {side} are"
        return OpOutcome(
            op,
            OpStatus.SKIPPED,
            error=f"not written: {what} unavailable for the rest of this run ({why})",
        )

    def _run_unit(self, unit: Unit, inflight: set[tuple[str, str, str]]) -> None:
        """Run a unit's ops in order, up to the first that does not succeed. Once any
        worker raised, the run is going down: start nothing more (the journal rows stay
        ``pending``, as after a kill). A stop request (SIGTERM) lets the unit in flight
        finish and starts no other: against a remote side a chunk takes minutes."""
        if self.stopped or self.should_stop():
            self.stopped = unit.not_reached = True
            return
        for op in unit.ops:
            if self._aborted.is_set():
                return
            outcome = self._run_op(unit, op, inflight)
            unit.outcomes.append(outcome)
            if outcome.status is not OpStatus.DONE:
                return

    def _run_unit_in_worker(self, unit: Unit, inflight: set[tuple[str, str, str]]) -> None:
        try:
            self._run_unit(unit, inflight)
        except BaseException:
            self._aborted.set()
            raise

    def _run_op(self, unit: Unit, op: Op, inflight: set[tuple[str, str, str]]) -> OpOutcome:
        if op.action is Action.LINK:
            return OpOutcome(op, OpStatus.DONE)
        side: Side = "a" if op.side == "a" else "b"
        with self._slot(side):
            if self._blocked(
                side, op.entity
            ):  # seen after the wait: a slot's write may have failed
                return self._skip_unavailable(unit, op, side)
            return self._write(unit, op, side, inflight)

    def _write(
        self, unit: Unit, op: Op, side: Side, inflight: set[tuple[str, str, str]]
    ) -> OpOutcome:
        adapter = self.adapter(side)
        attempts = 1
        try:
            if op.action is Action.CREATE:
                result = self._create(unit, op, inflight)
                unit.results[side] = result
                if (side, op.source_id or "") in self.parents_wanted and op.entity == "contact":
                    with self._lock:
                        self.created[(side, op.entity, op.source_id or "")] = result.id
                return OpOutcome(op, OpStatus.DONE, result_id=result.id)
            target = op.target_id or ""
            if op.action is Action.UPDATE:
                result, attempts = self._call(lambda: adapter.update(op.entity, target, op.changes))
                unit.results[side] = result
                return OpOutcome(op, OpStatus.DONE, result_id=target, attempts=attempts)
            with suppress(RecordNotFound):  # already gone: the delete's goal holds
                _, attempts = self._call(lambda: adapter.delete(op.entity, target))
            return OpOutcome(op, OpStatus.DONE, result_id=target, attempts=attempts)
        except SideUnavailable as exc:
            return self._unavailable(unit, op, side, exc)
        except AdapterError as exc:
            status = OpStatus.FAILED if is_transient(exc) else OpStatus.QUARANTINED
            return OpOutcome(
                op,
                status,
                error=failure_text(exc),
                attempts=MAX_ATTEMPTS if is_transient(exc) else attempts,
            )

    # -- the whole plan ----------------------------------------------------------------------
    def apply(self, prepared: Prepared) -> Outcomes:
        plan = prepared.plan
        self.in_quarantine = {
            (q["side"], q["entity"], q["record_id"])
            for q in self.store.quarantined(self.connection)
        }
        inflight_rows = self.store.inflight_creates(self.connection)
        inflight = {
            (r["side"], r["entity"], r["a_id"] if r["side"] == "b" else r["b_id"])
            for r in inflight_rows
        }
        with self.store.transaction() as conn:
            self.store.settle_interrupted(conn, self.connection, self.run_id)
        self._echo_sides = {side for side in SIDES if feeds_immediately(self.adapter(side))}
        self.claimed = defaultdict(set)
        for op in plan.operations:
            if op.action is Action.CREATE:
                if op.entity in CHILD_ENTITIES:
                    target = _side(op.side)
                    wanted = op.parent_a_id if target == "a" else op.parent_b_id
                    source_parent = op.parent_b_id if target == "a" else op.parent_a_id
                    if wanted is None and source_parent is not None:
                        self.parents_wanted.add((target, source_parent))
                continue
            ends: tuple[tuple[Side, str | None], ...] = (("a", op.a_id), ("b", op.b_id))
            for side, rid in ends:
                if rid:
                    self.claimed[(side, op.entity)].add(rid)
        self._waiting = _waiting(prepared.unlinked, plan.operations)
        groups = _unit_ops(plan.operations)
        concurrency = {
            side: max(1, self.adapter(side).capabilities().write_concurrency) for side in SIDES
        }
        with ExitStack() as pools:
            workers: dict[Side, ThreadPoolExecutor] = {}
            if max(concurrency.values()) > 1:
                self._slots = {s: threading.BoundedSemaphore(n) for s, n in concurrency.items()}
                for side, n in concurrency.items():
                    pool = ThreadPoolExecutor(n, thread_name_prefix=f"apply-{side}")
                    workers[side] = pools.enter_context(_shut_down(pool))
            try:
                outcomes, tally = self._apply_chunks(
                    prepared, groups, inflight, workers, concurrency
                )
            except BaseException:
                self._aborted.set()  # e.g. Ctrl-C on the applier's thread: workers stop too
                raise
            finally:
                self._slots = {}
        with self.store.transaction() as conn:
            self._finish_run(conn, prepared, tally)
        return outcomes

    def _apply_chunks(
        self,
        prepared: Prepared,
        groups: list[Op | list[Op]],
        inflight: set[tuple[str, str, str]],
        workers: dict[Side, ThreadPoolExecutor],
        concurrency: dict[Side, int],
    ) -> tuple[Outcomes, _Tally]:
        total = len(prepared.plan.operations)
        done = 0
        outcomes = Outcomes()
        tally = _Tally()
        seq = 0
        start, size = 0, CHUNK_UNITS
        while start < len(groups):
            if self.should_stop():
                # A clean point: every journaled op so far is settled. The rest is
                # planned again next run (cursors stay where they were).
                self.stopped = True
                for group in groups[start:]:
                    unit = _unit(group)
                    tally.add(unit, self.in_quarantine)
                    outcomes.extend(
                        OpOutcome(op, OpStatus.SKIPPED, error=STOPPED_BEFORE) for op in unit.ops
                    )
                break
            began = time.perf_counter()
            chunk = [_unit(group) for group in groups[start : start + size]]
            start += len(chunk)
            rows = []
            journaled_at = now()  # one moment: the chunk's journal commits as one
            for unit in chunk:
                for op in unit.ops:
                    seq += 1
                    rows.append(_journal_row(self.run_id, self.connection, seq, op, journaled_at))
            with self.store.transaction() as conn:
                self.store.journal_begin(conn, rows)
            with ExitStack() as batches:
                for adapter in (self.a, self.b):
                    if isinstance(adapter, Batching):
                        batches.enter_context(adapter.batch())
                if workers:
                    done = self._run_parallel(chunk, inflight, workers, concurrency, done, total)
                else:
                    for unit in chunk:
                        self._run_unit(unit, inflight)
                        done += len(unit.ops)
                        if self.progress:
                            self.progress(done, total)
            self._settle_chunk(chunk, rows, prepared)
            self._fresh.clear()  # the chunk's new records are linked in the store now
            self.heartbeat()
            for u in chunk:
                tally.add(u, self.in_quarantine)
            for u in chunk:
                outcomes.extend(u.outcomes)
            outcomes.extend(
                OpOutcome(op, OpStatus.SKIPPED, error=u.skip_reason())
                for u in chunk
                for op in u.ops[len(u.outcomes) :]
            )
            size = next_chunk_size(size, time.perf_counter() - began)
        return outcomes, tally

    def _run_parallel(
        self,
        chunk: list[Unit],
        inflight: set[tuple[str, str, str]],
        workers: dict[Side, ThreadPoolExecutor],
        concurrency: dict[Side, int],
        done: int,
        total: int,
    ) -> int:
        """Run a chunk's units on the side pools, wave by wave; returns ``done`` advanced.

        Workers touch only their own unit (and the shared maps under ``_lock``); the
        progress callback runs here, on the applier's thread, as units finish. If a
        worker raises (a crash, a bug), units not yet started are cancelled and the
        error propagates: their journal rows stay ``pending`` for the next run."""
        for wave in _waves(chunk):
            running: dict[Future[None], Unit] = {}
            for unit in wave:
                sides = _sides_written(unit)
                if not sides:  # links only: nothing to send
                    self._run_unit(unit, inflight)
                    done += len(unit.ops)
                    if self.progress:
                        self.progress(done, total)
                    continue
                home = max(sides, key=lambda s: concurrency[s])
                running[workers[home].submit(self._run_unit_in_worker, unit, inflight)] = unit
            pending: set[Future[None]] = set(running)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    if future.exception() is not None:
                        for other_future in pending:
                            other_future.cancel()
                        future.result()  # re-raise it here, on the applier's thread
                    done += len(running[future].ops)
                if self.progress:
                    self.progress(done, total)
        return done

    def _settle_chunk(
        self, chunk: list[Unit], rows: list[dict[str, Any]], prepared: Prepared
    ) -> None:
        """Settle a chunk's units ``CHUNK_UNITS`` at a time, one transaction each: a
        large chunk (a file side's one rewrite) must not make one large transaction of
        scattered base updates, which outgrows SQLite's page cache and spills (measured
        at 1M records: a second sync's apply 2.4 s -> 5.5 s in 20,000-unit transactions).
        Each transaction holds whole units, their journal rows with them: a crash between
        two leaves the rest ``pending``, as a crash after the remote calls does."""
        first_row = 0
        for begin in range(0, len(chunk), CHUNK_UNITS):
            units = chunk[begin : begin + CHUNK_UNITS]
            ops = sum(len(u.ops) for u in units)
            with self.store.transaction() as conn:
                self._settle_units(conn, units, rows[first_row : first_row + ops], prepared)
            first_row += ops

    def _settle_units(
        self, conn: Connection, units: list[Unit], rows: list[dict[str, Any]], prepared: Prepared
    ) -> None:
        """Settle units in one transaction: their journal rows, bases, links, quarantine."""
        finished = []
        i = 0
        for unit in units:
            for n in range(len(unit.ops)):
                outcome = unit.outcomes[n] if n < len(unit.outcomes) else None
                finished.append(
                    (
                        rows[i]["seq"],
                        outcome.status.value if outcome else OpStatus.SKIPPED.value,
                        outcome.result_id if outcome else None,
                        outcome.error if outcome else f"skipped: {unit.skip_reason()}",
                        outcome.attempts if outcome else 0,
                    )
                )
                i += 1
        self.store.journal_finish(conn, self.run_id, finished)
        bases: dict[Side, list[StoredRecord]] = {"a": [], "b": []}
        created: dict[Side, list[StoredRecord]] = {"a": [], "b": []}
        """The bases of creates: a record just created has no stored row to compare with."""
        new_links: list[tuple[Entity, str, str]] = []
        fresh_links: list[tuple[Entity, str, str]] = []
        gone: dict[Entity, list[tuple[str, str]]] = {}
        replaced: dict[tuple[Side, Entity], list[str]] = {}
        """Rows of records gone on their side whose link a relink handed to a new record."""
        for unit in units:
            if not unit.ok:
                if not unit.spared:
                    self._quarantine_unit(conn, unit)
                continue
            if self.in_quarantine:
                self._release(conn, unit.record_keys())
            into = created if unit.ops[0].action is Action.CREATE else bases
            self._settle_unit(conn, unit, prepared, into, new_links, fresh_links, gone, replaced)
        wrote: dict[Side, set[str]] = {side: set() for side in self._echo_sides}
        if wrote:
            for u in units:
                if u.ok:
                    for side, rec in u.results.items():
                        if side in wrote:
                            wrote[side].add(rec.id)
        for side in SIDES:
            self._put_bases(conn, side, bases[side], wrote=wrote.get(side, ()))
            self._put_bases(conn, side, created[side], fresh=True, wrote=wrote.get(side, ()))
        for (side, entity), ids in replaced.items():
            self._delete_bases(conn, side, entity, ids)
        if new_links:
            self.store.put_links(
                conn, self.connection, [(e, a, b, "live") for e, a, b in new_links]
            )
        self.store.bulk_new_links(conn, self.connection, fresh_links)
        for entity, pairs in gone.items():
            self._forget_many(conn, entity, pairs)

    def _quarantine_unit(self, conn: Connection, unit: Unit) -> None:
        """Quarantine what failed, so the next run looks at it again. A link that fails
        (a fresh match or a relink) quarantines both its records: neither has a stored
        link to the other that would bring it back into play."""
        link = next((op for op in unit.ops if op.action is Action.LINK), None)
        reasons: dict[tuple[Side, str], str] = {}
        for outcome in unit.outcomes:
            if outcome.status is OpStatus.DONE:
                continue
            op = outcome.op
            keys: list[tuple[Side, str | None]]
            if op.action is Action.CREATE:  # retried from its source record
                keys = [(other(_side(op.side)), op.source_id)]
            elif link is not None:
                keys = [("a", link.a_id), ("b", link.b_id)]
            else:
                keys = [(_side(op.side), op.target_id)]
            for side, rid in keys:
                reasons.setdefault((side, rid or ""), outcome.error or "failed")
        for (side, rid), reason in reasons.items():
            self.store.quarantine(conn, self.connection, side, unit.entity, rid, reason)

    def _held_fields(self, prepared: Prepared, unit: Unit) -> list[str]:
        return [
            c.field
            for c in prepared.plan.conflicts
            if c.resolution == "held"
            and c.kind is ConflictKind.FIELD
            and c.entity == unit.entity
            and c.a_id == unit.a_id
            and c.b_id == unit.b_id
        ]

    def _settle_unit(
        self,
        conn: Connection,
        unit: Unit,
        prepared: Prepared,
        bases: dict[Side, list[StoredRecord]],
        new_links: list[tuple[Entity, str, str]],
        fresh_links: list[tuple[Entity, str, str]],
        gone: dict[Entity, list[tuple[str, str]]],
        replaced: dict[tuple[Side, Entity], list[str]],
    ) -> None:
        first = unit.ops[0]
        entity = unit.entity
        if first.action is Action.DELETE:
            gone.setdefault(entity, []).append((first.a_id or "", first.b_id or ""))
            return
        if first.action is Action.CREATE:
            target: Side = "a" if first.side == "a" else "b"
            source = other(target)
            source_rec = prepared.unlinked.get((source, entity), {}).get(first.source_id or "")
            recreated = source_rec is None
            if recreated:  # re-created from a linked survivor
                pair = next(
                    (
                        p
                        for p in prepared.pairs.values()
                        if p.entity == entity
                        and (p.a_id if source == "a" else p.b_id) == first.source_id
                    ),
                    None,
                )
                source_rec = (pair.a if source == "a" else pair.b) if pair else None
                if pair is not None:
                    self._forget(conn, entity, pair.a_id, pair.b_id, children=False)
            result = unit.results[target]
            if source_rec is None:  # nothing to link it to: it stays claimed all run
                self.claimed[(target, entity)].add(result.id)
                return
            a_rec, b_rec = (source_rec, result) if source == "a" else (result, source_rec)
            if unit.linked_existing:
                # Linked to a record the side already had: merge it like a fresh match.
                a_rec, b_rec = replace(a_rec, fields={}), replace(b_rec, fields={})
                self.store.revisit(
                    conn,
                    self.connection,
                    [("a", entity, a_rec.id), ("b", entity, b_rec.id)],
                    MERGE_NEXT,
                )
            bases["a"].append(self._stored(a_rec))
            bases["b"].append(self._stored(b_rec))
            (new_links if recreated or unit.linked_existing else fresh_links).append(
                (entity, a_rec.id, b_rec.id)
            )
            return
        # A link and/or updates of one pair.
        a_id, b_id = unit.a_id or "", unit.b_id or ""
        pair = prepared.pairs.get((entity, a_id, b_id))
        if pair is not None:
            cur_a, cur_b, old_a, old_b = pair.a, pair.b, pair.base_a.fields, pair.base_b.fields
        else:
            cur_a = prepared.unlinked.get(("a", entity), {}).get(a_id)
            cur_b = prepared.unlinked.get(("b", entity), {}).get(b_id)
            old_a = old_b = {}
            new_links.append((entity, a_id, b_id))
            relink = next((op.replaces for op in unit.ops if op.replaces), None)
            survived = prepared.pairs.get((entity, *relink)) if relink else None
            if survived is not None:
                # Its survivor is in play as linked; the gone record's row goes with its
                # link, which ``put_links`` hands over to the new record.
                if survived.a_id == a_id:
                    cur_a = survived.a
                    replaced.setdefault(("b", entity), []).append(survived.b_id)
                else:
                    cur_b = survived.b
                    replaced.setdefault(("a", entity), []).append(survived.a_id)
        if cur_a is None or cur_b is None:
            return
        new_a = unit.results.get("a", cur_a)
        new_b = unit.results.get("b", cur_b)
        held = self._held_fields(prepared, unit)
        bases["a"].append(self._stored(_keep_held(new_a, old_a, held)))
        bases["b"].append(self._stored(_keep_held(new_b, old_b, held)))

    def _release(self, conn: Connection, keys: Collection[tuple[Side, Entity, str]]) -> None:
        """Take records out of quarantine: those that were in it when the run began (a
        row this run wrote is for the next run)."""
        if not self.in_quarantine:
            return
        by_kind: dict[tuple[Side, Entity], list[str]] = {}
        for side, entity, rid in keys:
            if (side, entity, rid) in self.in_quarantine:
                by_kind.setdefault((side, entity), []).append(rid)
                self.in_quarantine.discard((side, entity, rid))
        for (side, entity), ids in sorted(by_kind.items()):
            self.store.release(conn, self.connection, side, entity, ids)

    def _settled_without_a_write(
        self, prepared: Prepared, with_a_unit: Collection[tuple[Side, Entity, str]]
    ) -> list[tuple[Side, Entity, str]]:
        """Quarantined records this run looked at and had nothing to write for (the pair
        agrees now, the record waits in a duplicate group, or it is gone): nothing is
        refused any more. Those with a unit were settled with it, or stay quarantined."""
        paired = {("a", e, a) for e, a, _ in prepared.pairs} | {
            ("b", e, b) for e, _, b in prepared.pairs
        }
        out: list[tuple[Side, Entity, str]] = []
        for key in self.in_quarantine:
            side, entity, rid = key
            if key in with_a_unit:
                continue
            if (
                key in paired
                or rid in prepared.unlinked.get((side, entity), {})
                or rid in prepared.pending_gone.get((side, entity), set())
            ):
                out.append(key)
        return out

    def _stored(self, record: Record, linked: bool = True) -> StoredRecord:
        """The record's stored base. The two records of a pair often hold one and the
        same fields mapping (a side that keeps what a create sent it): the second then
        reuses the first's JSON text, fingerprint and match keys."""
        last = self._last_stored
        if (
            last is not None
            and last.record.fields is record.fields
            and last.record.entity == record.entity
        ):
            return StoredRecord(record, last.fingerprint, linked, last.keys, last.data)
        self._last_stored = out = stored_base(record, self.policy, linked)
        return out

    def _put_bases(
        self,
        conn: Connection,
        side: Side,
        records: Sequence[StoredRecord],
        *,
        fresh: bool = False,
        wrote: Collection[str] = (),
    ) -> None:
        """Store bases of one side; ``wrote`` names the records this run wrote there (as
        the side returned them), whose versions go into ``echoes``."""
        self.store.put_records(conn, self.connection, side, records, fresh=fresh)
        if side not in self._echo_sides:
            return
        for sr in records:
            rec = sr.record
            versions = self.echoes[(side, rec.entity)]
            if rec.id in wrote and rec.version is not None:
                versions[rec.id] = rec.version
            else:
                versions.pop(rec.id, None)  # its base holds what this run did not write

    def _delete_bases(
        self, conn: Connection, side: Side, entity: Entity, ids: Collection[str]
    ) -> None:
        self.store.delete_records(conn, self.connection, side, entity, ids)
        versions = self.echoes.get((side, entity))
        if versions:
            for rid in ids:
                versions.pop(rid, None)

    def _forget(
        self, conn: Connection, entity: Entity, a_id: str, b_id: str, children: bool = True
    ) -> None:
        self._forget_many(conn, entity, [(a_id, b_id)], children=children)

    def _forget_many(
        self,
        conn: Connection,
        entity: Entity,
        pairs: Sequence[tuple[str, str]],
        children: bool = True,
    ) -> None:
        """Drop links and bases of pairs that are gone (and, for contacts, their children)."""
        if not pairs:
            return
        a_ids = [a for a, _ in pairs]
        b_ids = [b for _, b in pairs]
        self.store.delete_link_pairs(conn, self.connection, entity, pairs)
        self._delete_bases(conn, "a", entity, a_ids)
        self._delete_bases(conn, "b", entity, b_ids)
        self._release(conn, [("a", entity, a) for a in a_ids] + [("b", entity, b) for b in b_ids])
        if entity == "contact" and children:
            for child in CHILD_ENTITIES:
                kids_a = self.store.child_ids(self.connection, "a", child, a_ids, conn=conn)
                kids_b = self.store.child_ids(self.connection, "b", child, b_ids, conn=conn)
                self.store.delete_links(conn, self.connection, child, kids_a)
                self._delete_bases(conn, "a", child, kids_a)
                self._delete_bases(conn, "b", child, kids_b)

    def _finish_run(self, conn: Connection, prepared: Prepared, tally: _Tally) -> None:
        plan = prepared.plan
        touched = tally.pairs
        failed_pairs = tally.failed
        bases: dict[Side, list[StoredRecord]] = {"a": [], "b": []}
        held: dict[tuple[str, str, str], list[str]] = {}
        for c in plan.conflicts:
            if c.resolution == "held" and c.kind is ConflictKind.FIELD:
                held.setdefault((c.entity, c.a_id, c.b_id), []).append(c.field)
        changed_links = {(lc.entity, lc.a_id, lc.b_id) for lc in plan.link_changes}
        held_pairs = {(c.entity, c.a_id, c.b_id) for c in plan.conflicts if c.resolution == "held"}
        # Pairs in play with nothing to write: their base moves to what the sides hold now.
        for key, pair in prepared.pairs.items():
            if key in touched or key in changed_links or pair.a is None or pair.b is None:
                continue
            if key in held_pairs and key not in held:
                continue
            fields = held.get(key, [])
            bases["a"].append(self._stored(_keep_held(pair.a, pair.base_a.fields, fields)))
            bases["b"].append(self._stored(_keep_held(pair.b, pair.base_b.fields, fields)))
        forgets: dict[Entity, list[tuple[str, str]]] = {}
        for lc in plan.link_changes:
            if lc.change == "forget":
                forgets.setdefault(lc.entity, []).append((lc.a_id, lc.b_id))
            else:
                self.store.set_link_state(conn, self.connection, lc.entity, lc.a_id, "tombstone")
        for entity, pairs in forgets.items():
            self._forget_many(conn, entity, pairs)
        # Records still without a link wait as pending, so they are looked at again.
        for (side, entity), recs in prepared.unlinked.items():
            waiting = self._waiting.get((side, entity), set())
            unsettled = tally.unsettled.get((side, entity), set())
            if waiting or unsettled:
                for rid, rec in recs.items():
                    if rid in waiting or rid in unsettled:
                        bases[side].append(self._stored(rec, linked=False))
            gone = prepared.pending_gone.get((side, entity), set())
            if gone:
                self._delete_bases(conn, side, entity, gone)
        for side in SIDES:
            self._put_bases(conn, side, bases[side])
        if self.in_quarantine:
            self._release(conn, self._settled_without_a_write(prepared, tally.quarantined))
        # Conflicts: held ones stay open for review; the rest are history.
        rows = [_conflict_row(c) for c in plan.conflicts]
        self.store.record_conflicts(conn, self.connection, self.run_id, rows)
        in_play = {f"{e}:{a}:{b}" for (e, a, b) in prepared.pairs} | {
            f"{e}:{a}:{b}" for (e, a, b) in tally.pairs
        }
        held_keys = {c.key for c in plan.conflicts if c.resolution == "held"}
        self.store.supersede_conflicts(conn, self.connection, held_keys, in_play)
        # A resolution whose conflict is held again (the side it overrules changed since)
        # is set aside: the new open row takes its place for a fresh decision.
        resolved = [
            (v["id"], v["resolution"], v["resolved_value"])
            for k, v in prepared.resolutions.items()
            if tuple(k.split(":", 3)[:3]) not in failed_pairs and k not in held_keys
        ]
        self.store.close_resolutions(conn, resolved)
        self.store.set_aside_resolutions(
            conn, [v["id"] for k, v in prepared.resolutions.items() if k in held_keys]
        )
        self.store.record_duplicates(
            conn,
            self.connection,
            [
                {
                    "group_key": g.group_key,
                    "side": g.side,
                    "entity": g.entity,
                    "key": g.key,
                    "ids": list(g.ids),
                }
                for g in plan.duplicates
            ],
        )
        self.store.close_duplicates(conn, self.connection, [g.group_key for g in plan.duplicates])
        if self.stopped or self.unavailable:
            return  # the unapplied rest must be read again: keep the old cursors and revisits
        # Revisited pairs were planned and applied like any other: what failed is in
        # quarantine now; the rest has its base.
        self.store.done_revisiting(conn, self.connection, prepared.revisits)
        cursors = self.store.cursors(self.connection)
        for (side, entity), read in prepared.reads.items():
            last_full = cursors.get((side, entity), (None, None))[1]
            self.store.put_cursor(
                conn,
                self.connection,
                side,
                entity,
                read.cursor,
                self.clock() if read.full else last_full,
            )


def stored_base(record: Record, policy: Policy, linked: bool = True) -> StoredRecord:
    """A record as the store keeps its base: with the match keys it is found by."""
    return stored(record, match_keys(record, policy.default_region, policy.match_keys)[:2], linked)


@contextmanager
def _shut_down(pool: ThreadPoolExecutor) -> Iterator[ThreadPoolExecutor]:
    """Use a pool and shut it down after, dropping work not started if an error ends it."""
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _keep_held(record: Record, old: dict[str, JSON] | Any, held: list[str]) -> Record:
    """The record as base, but with fields under review kept at their old base value,
    so the conflict is seen again until someone resolves it."""
    if not held:
        return record
    fields = dict(record.fields)
    for name in held:
        head, _, sub = name.partition(".")
        if sub:
            inner = dict(fields.get(head) or {})
            old_inner = (old.get(head) or {}) if isinstance(old, dict) else {}
            if sub in old_inner:
                inner[sub] = old_inner[sub]
            else:
                inner.pop(sub, None)
            fields[head] = inner or None
        elif name in old:
            fields[name] = old[name]
        else:
            fields.pop(name, None)
    return replace(record, fields={k: v for k, v in fields.items() if v is not None})


def _conflict_row(c: Any) -> dict[str, Any]:
    return {
        "key": c.key,
        "entity": c.entity,
        "a_id": c.a_id,
        "b_id": c.b_id,
        "field": c.field,
        "kind": c.kind.value,
        "base": c.base,
        "a_value": c.a_value,
        "b_value": c.b_value,
        "status": "open" if c.resolution == "held" else "resolved",
        "resolution": None if c.resolution == "held" else c.resolution,
        "rule": c.rule,
    }


_payload_text = json.JSONEncoder(sort_keys=True, default=str).encode


def _journal_row(run_id: int, connection: str, seq: int, op: Op, at: datetime) -> dict[str, Any]:
    payload = {
        "changes": {c.field: {"from": c.before, "to": c.after} for c in op.changes},
        "fields": op.fields if type(op.fields) is dict else dict(op.fields),
        "parent_a_id": op.parent_a_id,
        "parent_b_id": op.parent_b_id,
        "reason": op.reason,
    }
    return {
        "run_id": run_id,
        "connection": connection,
        "seq": seq,
        "side": op.side,
        "action": op.action.value,
        "entity": op.entity,
        "a_id": op.a_id,
        "b_id": op.b_id,
        "payload": _payload_text(payload),
        "status": "pending",
        "attempts": 0,
        "started_at": at,
    }


__all__ = ["Applier", "stored_base"]
