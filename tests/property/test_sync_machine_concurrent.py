"""The sync machine again, with both sides taking three writes at once (as GHL does).

Units then run on the applier's thread pools and finish in an order the plan does not
fix; a crash raised in one worker stops the others after their write in flight, whose
outcome the journal never learns (as after kill -9 with several requests on the wire).
Every rule, oracle and invariant is ``test_sync_machine``'s, unweakened.

What Hypothesis draws must not depend on the thread schedule, or a replay draws other
data (FlakyStrategyDefinition). So:

- rules draw only from fixed strategies (``PICK``, an index taken modulo the sorted
  live ids inside the rule), never from the records or the plan;
- a side hands out the id of a record the sync creates from its source's id (``ba3``
  for the copy of a3 on b), not from a counter the threads race for, so the records and
  their ids after a sync are the same on every replay;
- every injected fault names a record, never a position in the order of writes: the
  transient failures are all for the writes of one record (``pick`` of those the sync
  writes on the side), and a crash comes just before or just after one record's write;
  which other writes were in flight then is up to the threads, and the rerun must end
  the same either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule
from test_sync_machine import PICK, SIDE, SyncMachine, _pick

from adapters.base import Capabilities
from adapters.memory import MemoryAdapter, SimulatedCrash
from syncengine.errors import RecordRejected
from syncengine.models import Entity, FieldChange, Record, RunReport, Side, other

WRITERS = 3


class ConcurrentMemoryAdapter(MemoryAdapter):
    """A memory side with ``WRITERS`` write slots. Each write first yields its thread,
    so the writers interleave; the side itself applies one call at a time, as a server
    with its own locking does (the memory store is not meant for threads)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(capabilities=Capabilities(write_concurrency=WRITERS), **kwargs)
        self._mutex = threading.Lock()
        self._counting = threading.Lock()
        self._prefix = str(kwargs.get("id_prefix", "m"))
        self._issued: set[str] = set()
        self._source: str | None = None
        """While a create runs: the id of the record it was sent (its source's id)."""
        self.transient_key: str | None = None
        """Set: only the writes naming this record meet ``faults.transient_writes``."""
        self.crash_key: tuple[str, bool] | None = None
        """(record, landed): die just before (False) or just after (True) its write."""
        self.in_flight = 0
        self.max_in_flight = 0

    def new_id(self) -> str:
        if self._source is None:
            return super().new_id()  # a user's record, made on the machine's thread
        candidate, n = f"{self._prefix}{self._source}", 1
        while candidate in self._issued or any(candidate in r for r in self._records.values()):
            n += 1
            candidate = f"{self._prefix}{self._source}.{n}"  # never one id twice
        self._issued.add(candidate)
        return candidate

    @contextmanager
    def _writing(self, record_id: str) -> Iterator[None]:
        with self._counting:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(0)  # let another writer in first
        try:
            with self._mutex:
                self._maybe_crash(record_id, landed=False)
                yield
                self._maybe_crash(record_id, landed=True)
        finally:
            with self._counting:
                self.in_flight -= 1

    def _maybe_crash(self, record_id: str, *, landed: bool) -> None:
        if self.crash_key == (record_id, landed):
            self.crash_key = None
            when = "after" if landed else "before"
            raise SimulatedCrash(f"simulated crash {when} the write of {record_id}")

    def _before_write(self, record_id: str | None) -> None:
        if self.transient_key in (None, record_id):
            super()._before_write(record_id)
        elif record_id in self.faults.permanent_ids:
            raise RecordRejected("injected permanent failure", record_id=record_id)

    def create(self, record: Record) -> Record:
        with self._writing(record.id):
            self._source = record.id
            try:
                return super().create(record)
            finally:
                self._source = None

    def update(self, entity: Entity, record_id: str, changes: Sequence[FieldChange]) -> Record:
        with self._writing(record_id):
            return super().update(entity, record_id, changes)

    def delete(self, entity: Entity, record_id: str) -> None:
        with self._writing(record_id):
            super().delete(entity, record_id)

    # Workers read too (a create after a crash looks for its record by key).
    def get(self, entity: Entity, record_id: str) -> Record | None:
        with self._mutex:
            return super().get(entity, record_id)

    def find_by_key(self, entity: Entity, key: str) -> list[Record]:
        with self._mutex:
            return super().find_by_key(entity, key)


class ConcurrentSyncMachine(SyncMachine):
    # The faults under concurrency are this machine's point: rules of their own make
    # them as likely as a plain sync (``sync`` still draws them too).
    @rule(side=SIDE, n=st.integers(0, 9), pick=PICK)
    def crash_mid_apply(self, side: Side, n: int, pick: int) -> None:
        self._crash(side, n, pick)

    @rule(side=SIDE, n=st.integers(0, 9), pick=PICK)
    def transient_failures(self, side: Side, n: int, pick: int) -> None:
        self._transient(side, n, pick)

    def _new_side(self, side: Side) -> MemoryAdapter:
        return ConcurrentMemoryAdapter(clock=lambda: self.now, id_prefix=side)

    def _side(self, side: Side) -> ConcurrentMemoryAdapter:
        adapter = self.sides[side]
        assert isinstance(adapter, ConcurrentMemoryAdapter)
        return adapter

    def _target(self, side: Side, pick: int) -> tuple[Side, str] | None:
        """``pick`` of the records the next sync writes on ``side`` (else on the other
        side, else None): where a fault is sure to be met."""
        for s in (side, other(side)):
            key = _pick(self._written(s), pick)
            if key is not None:
                return s, key
        return None

    def _transient(self, side: Side, n: int, pick: int) -> None:
        """``n + 1`` transient failures for the writes of one record the sync writes
        (``_target``): four or more outlast its retries, whichever thread sends it."""
        target = self._target(side, pick)
        if target is None:
            self._sync()  # nothing to write: nothing can fail
            return
        side, key = target
        self._side(side).transient_key = key
        try:
            self._sync(transient=(side, n + 1), transient_key=key)
        finally:
            self._side(side).transient_key = None

    def _arm_crash(self, side: Side, n: int, pick: int) -> None:
        """Die just before (``n`` odd) or just after (even) the write of one record the
        sync writes (``_target``; with nothing to write, the run ends normally)."""
        target = self._target(side, pick)
        if target is not None:
            landed = n % 2 == 0
            self._side(target[0]).crash_key = (target[1], landed)
            event(f"crash {'after' if landed else 'before'} a write")

    def _disarm_crash(self, side: Side) -> None:
        for s in ("a", "b"):
            self._side(s).crash_key = None

    def _run(self, dry_run: bool = False) -> RunReport:
        sides = [self._side(s) for s in ("a", "b")]
        for adapter in sides:
            adapter.max_in_flight = 0
        try:
            return super()._run(dry_run)
        finally:
            if max(adapter.max_in_flight for adapter in sides) > 1:
                event("writes in flight together")


TestConcurrentSyncMachine = ConcurrentSyncMachine.TestCase
# Threads on top of the real store per step: fewer examples than the sequential machine.
TestConcurrentSyncMachine.settings = settings(
    settings.default,
    max_examples=min(settings.default.max_examples, 40),
    stateful_step_count=30,
)
