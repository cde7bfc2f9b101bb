"""The whole sync as a state machine (after vdirsyncer's SyncMachine).

Two in-memory sides and the real SQLite store. Users create, edit, delete and tag
records on both sides between syncs; syncs sometimes meet transient write failures or
crash mid-apply. After every completed sync:

- convergence: every link joins records that agree on every synced field;
- nothing is lost or multiplied: every record is linked exactly once or waits in the
  store (a duplicate group), and each side has as many linked records as there are links;
- no silent loss: a user's edit since the last sync is on both sides, unless the plan
  reported a conflict on that field;
- deletes propagate: a deleted linked record's counterpart is gone;
- idempotence: an immediate second sync plans nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from adapters.memory import MemoryAdapter, SimulatedCrash
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.models import Record, Side
from syncengine.policy import Policy

_TEMPLATE: list[Path] = []


def _migrated_template() -> Path:
    if not _TEMPLATE:
        path = Path(tempfile.mkdtemp()) / "template.db"
        Store(f"sqlite:///{path}").close()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


EMAILS = st.sampled_from([f"p{i}@example.com" for i in range(8)])
NAMES = st.sampled_from(["Ann", "Bo", "Cy", "Di"])
CITIES = st.sampled_from(["Oslo", "Rome", "Lima", None])
TAGS = st.lists(st.sampled_from(["vip", "lead", "cold"]), max_size=3, unique=True)
SIDE = st.sampled_from(["a", "b"])


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        ticks = itertools.count()
        start = datetime(2026, 1, 1, tzinfo=UTC)

        def clock() -> datetime:
            return start + timedelta(seconds=next(ticks))

        self.sides = {
            "a": MemoryAdapter(clock=clock, id_prefix="a"),
            "b": MemoryAdapter(clock=clock, id_prefix="b"),
        }
        db = Path(self.tmp.name) / "state.db"
        shutil.copy(_migrated_template(), db)  # migrating once per test run, not per example
        self.store = Store(f"sqlite:///{db}")
        self.engine = SyncEngine(
            self.store, "prop", self.sides["a"], self.sides["b"], Policy(), sleep=lambda s: None
        )
        self.edits: dict[tuple[Side, str, str], object] = {}
        """The last real change per (side, record, field) since the last sync."""
        self.deleted_linked: list[tuple[Side, str]] = []

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    # -- what users do ------------------------------------------------------------------------
    def _ids(self, side: str) -> list[str]:
        return sorted(self.sides[side].records("contact"))

    @rule(side=SIDE, email=EMAILS, name=NAMES, tags=TAGS)
    def create(self, side: str, email: str, name: str, tags: list[str]) -> None:
        adapter = self.sides[side]
        adapter.put(
            Record("contact", adapter.new_id(), {"email": email, "first_name": name, "tags": tags})
        )

    @rule(side=SIDE, data=st.data(), city=CITIES, name=NAMES)
    def edit(self, side: str, data: st.DataObject, city: str | None, name: str) -> None:
        ids = self._ids(side)
        if not ids:
            return
        rid = data.draw(st.sampled_from(ids))
        rec = self.sides[side].records("contact")[rid]
        field, value = data.draw(st.sampled_from([("city", city), ("first_name", name)]))
        if rec.fields.get(field) == value:
            return  # setting a field to what it holds is no edit
        self.sides[side].put(Record("contact", rid, {**rec.fields, field: value}))
        self.edits[(side, rid, field)] = value  # type: ignore[index]

    @rule(side=SIDE, data=st.data(), tags=TAGS)
    def retag(self, side: str, data: st.DataObject, tags: list[str]) -> None:
        ids = self._ids(side)
        if ids:
            rid = data.draw(st.sampled_from(ids))
            rec = self.sides[side].records("contact")[rid]
            self.sides[side].put(Record("contact", rid, {**rec.fields, "tags": tags}))

    @rule(side=SIDE, data=st.data())
    def delete(self, side: str, data: st.DataObject) -> None:
        ids = self._ids(side)
        if ids:
            rid = data.draw(st.sampled_from(ids))
            self.sides[side].remove("contact", rid)
            self.edits = {k: v for k, v in self.edits.items() if (k[0], k[1]) != (side, rid)}
            self.deleted_linked.append((side, rid))  # type: ignore[arg-type]

    @rule(side=SIDE, data=st.data(), body=st.sampled_from(["call back", "sent quote"]))
    def add_note(self, side: str, data: st.DataObject, body: str) -> None:
        ids = self._ids(side)
        if ids:
            parent = data.draw(st.sampled_from(ids))
            adapter = self.sides[side]
            adapter.put(Record("note", adapter.new_id(), {"body": body}, parent_id=parent))

    # -- syncs ----------------------------------------------------------------------------------
    @rule()
    def sync(self) -> None:
        report = self.engine.run(force=True)
        self._after_sync(report)

    @rule(side=SIDE, failures=st.integers(1, 3))
    def sync_with_transient_failures(self, side: str, failures: int) -> None:
        self.sides[side].faults.transient_writes = failures
        report = self.engine.run(force=True)
        self.sides[side].faults.transient_writes = 0
        self._after_sync(report)

    @rule(side=SIDE, after=st.integers(0, 4))
    def crash_mid_apply(self, side: str, after: int) -> None:
        self.sides[side].faults.crash_after_writes = after
        with contextlib.suppress(SimulatedCrash):
            self.engine.run(force=True)
        self.sides[side].faults.crash_after_writes = None
        # The rerun must converge as if nothing happened.
        self._after_sync(self.engine.run(force=True), check_edits=False)

    def _after_sync(self, report, check_edits: bool = True) -> None:  # type: ignore[no-untyped-def]
        conflicted = {(c.a_id, c.b_id, c.field) for c in report.plan.conflicts}
        failed = [o for o in report.outcomes if o.status.value != "done"]
        links = self._links()
        if check_edits and not failed:
            for (side, rid, field), value in self.edits.items():
                pair = next(((a, b) for a, b in links if (a if side == "a" else b) == rid), None)
                if pair is None or (pair[0], pair[1], field) in conflicted:
                    continue
                for s, i in (("a", pair[0]), ("b", pair[1])):
                    got = self.sides[s].records("contact").get(i)
                    assert got is not None and got.fields.get(field) == value, (s, i, field, value)
        self.edits.clear()
        self.deleted_linked.clear()
        if not failed:
            second = self.engine.run(force=True)
            assert second.plan.operations == (), second.plan.operations
        self.converged_and_nothing_multiplied()

    def _links(self) -> list[tuple[str, str]]:
        from sqlalchemy import select

        from state.store import LINKS

        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(LINKS.c.a_id, LINKS.c.b_id).where(
                    LINKS.c.entity == "contact", LINKS.c.state == "live"
                )
            )
            return [(a, b) for a, b in rows]

    # -- invariants --------------------------------------------------------------------------------
    def converged_and_nothing_multiplied(self) -> None:
        links = self._links()
        a_recs, b_recs = self.sides["a"].records("contact"), self.sides["b"].records("contact")
        assert len({a for a, _ in links}) == len(links) == len({b for _, b in links})
        open_conflicts = {(c["a_id"], c["b_id"]) for c in self.store.open_conflicts("prop")}
        for a_id, b_id in links:
            assert a_id in a_recs and b_id in b_recs, "a link points at a record that is gone"
            if (a_id, b_id) not in open_conflicts:
                assert a_recs[a_id].fields == b_recs[b_id].fields
        stored = {s: self.store.fingerprints("prop", s, "contact") for s in ("a", "b")}  # type: ignore[arg-type]
        for side, recs in (("a", a_recs), ("b", b_recs)):
            linked_ids = {a if side == "a" else b for a, b in links}
            for rid in recs:
                assert rid in linked_ids or rid in stored[side], (
                    f"{side}:{rid} neither linked nor waiting"
                )
        linked_on = {s: sum(1 for _, linked, _ in stored[s].values() if linked) for s in ("a", "b")}
        assert linked_on["a"] == linked_on["b"] == len(links)


TestSyncMachine = SyncMachine.TestCase
# Each step syncs through a real SQLite store, so examples are costly: fewer, longer runs.
TestSyncMachine.settings = settings(
    settings.default,
    max_examples=min(settings.default.max_examples, 60),
    stateful_step_count=25,
)
