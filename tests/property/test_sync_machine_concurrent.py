"""The sync machine again, with both sides taking three writes at once (as GHL does).

Units then run on the applier's thread pools and finish in an order the plan does not
fix; a crash raised in one worker stops the others after their write in flight, whose
outcome the journal never learns (as after kill -9 with several requests on the wire).
Every invariant of ``test_sync_machine`` holds, except that which op meets which
injected transient failure depends on the interleaving: the transient check is the
part that does not, see ``_check_transient``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from hypothesis import settings
from test_sync_machine import Before, SyncMachine

from adapters.base import Capabilities
from adapters.memory import MemoryAdapter
from syncengine.apply import MAX_ATTEMPTS
from syncengine.models import Action, Entity, FieldChange, OpStatus, Record, RunReport

WRITERS = 3


class ConcurrentMemoryAdapter(MemoryAdapter):
    """A memory side with ``WRITERS`` write slots. Each write first yields its thread,
    so the writers interleave; the side itself applies one write at a time, as a server
    with its own locking does."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(capabilities=Capabilities(write_concurrency=WRITERS), **kwargs)  # type: ignore[arg-type]
        self._mutex = threading.Lock()

    def create(self, record: Record) -> Record:
        time.sleep(0)
        with self._mutex:
            return super().create(record)

    def update(self, entity: Entity, record_id: str, changes: Sequence[FieldChange]) -> Record:
        time.sleep(0)
        with self._mutex:
            return super().update(entity, record_id, changes)

    def delete(self, entity: Entity, record_id: str) -> None:
        time.sleep(0)
        with self._mutex:
            super().delete(entity, record_id)


class ConcurrentSyncMachine(SyncMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sides = {
            "a": ConcurrentMemoryAdapter(clock=lambda: self.now, id_prefix="a"),
            "b": ConcurrentMemoryAdapter(clock=lambda: self.now, id_prefix="b"),
        }

    def _check_transient(self, before: Before, report: RunReport, left: int) -> None:
        """Which ops meet the injected failures depends on the interleaving; what does
        not: an op that failed met ``MAX_ATTEMPTS`` of them, the failures consumed are
        at least those; the rest of the machine's checks say what every other op did."""
        consumed = before.transient - left
        failed = 0
        for o in report.outcomes:
            if o.op.side != before.transient_side or o.op.action is Action.LINK:
                continue
            if o.status is OpStatus.FAILED:
                assert o.attempts == MAX_ATTEMPTS, o
                failed += 1
        assert consumed >= 0 and failed * MAX_ATTEMPTS <= consumed, (failed, consumed)


TestConcurrentSyncMachine = ConcurrentSyncMachine.TestCase
TestConcurrentSyncMachine.settings = settings(
    settings.default,
    max_examples=min(settings.default.max_examples, 40),
    stateful_step_count=30,
)
