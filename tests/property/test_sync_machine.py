"""The whole sync as a state machine (after vdirsyncer's SyncMachine).

Two in-memory sides and the real SQLite store, under a policy drawn per example
(conflicts newest/a/b/manual, tie-break a/b, deletes propagate/ignore/manual) and with
incremental or full reads. Users create, edit, tag, delete and add notes on both sides
between syncs (also both sides at once: conflicts, deletes against edits), and time
moves only when the machine says (so update times tie). Syncs sometimes read in full,
meet transient write failures (some outlasting the retries), records that fail for good
until the faults are cleared, or a crash mid-apply followed by a rerun.

Before each sync the machine takes both sides; ``sync_oracle`` says from that, the
fields each linked pair last agreed on and the policy what both sides must hold after.
After every sync (for a crash: after the rerun):

- reported failures: exactly the writes the injected faults break are FAILED (transient,
  four attempts) or QUARANTINED (permanent), each quarantined in the store;
- no silent loss: every linked pair holds what the oracle says (a user's last edit of a
  field or tag on one side is on both, unless a conflicting edit legitimately won, or a
  conflict is held for review); a new record is linked, created on the other side with
  its fields, or waits in a duplicate group (or quarantine) with nothing written to it;
- deletes propagate: a linked record deleted on one side and untouched on the other is
  gone from both (under ``propagate``); under ``ignore`` the survivor stays, untouched;
  unless a new record with its email was made on the deleting side: then, under every
  rule, the survivor is linked to that record and the two merge as a fresh match;
- no duplicate creation: a sync never leaves more records sharing an email on a side
  than there were before it, nor more than one where there was none or one;
- convergence: every link joins records that agree on every field not under review;
  every record is linked once or waits in the store;
- idempotence: an immediate second sync plans nothing (with faults still active: only
  the quarantined records' ops again); once the faults are cleared, a sync converges.

Engine bugs this machine found are pinned in test_sync_regressions.py; the flags below
name each and the one narrow allowance the machine makes for it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from sqlalchemy import select
from sync_oracle import AfterDelete, expect_delete, expect_merge

from adapters.memory import MemoryAdapter, SimulatedCrash
from state.store import LINKS, Store
from syncengine.apply import MAX_ATTEMPTS
from syncengine.engine import SyncEngine
from syncengine.models import Action, Op, OpStatus, Record, RunReport, Side
from syncengine.policy import ConflictRule, DeleteRule, Policy

T = TypeVar("T")
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
PICK = st.integers(0, 10**6)
"""Which of the records a rule acts on: ``_pick(ids, pick)``. Rules draw only from fixed
strategies like this one, never from the state (the records, the plan), so what a rule
draws is the same on every replay even where the state is not (concurrent writes)."""


def _pick(items: list[T], pick: int) -> T | None:
    return items[pick % len(items)] if items else None


Pair = tuple[str, str]
Records = dict[str, Record]


@dataclass
class Before:
    """Both sides and the links just before a sync (for a crash: before the crashed run)."""

    recs: dict[Side, Records]
    links: dict[Pair, str]
    """(a_id, b_id) -> link state (live or tombstone), contacts."""
    transient: int = 0
    transient_side: Side = "a"
    transient_key: str | None = None
    """Set: only writes naming this record (``_named``) meet the transient failures."""


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.sides: dict[Side, MemoryAdapter] = {s: self._new_side(s) for s in ("a", "b")}
        db = Path(self.tmp.name) / "state.db"
        shutil.copy(_migrated_template(), db)  # migrating once per test run, not per example
        self.store = Store(f"sqlite:///{db}")
        self.policy = Policy()
        self.engine: SyncEngine | None = None
        self.agreed: dict[Pair, dict[str, Any]] = {}
        """Per live contact link, the fields both sides last agreed on (the base)."""
        self.resolved: dict[Pair, dict[str, tuple[Side, Any, Any]]] = {}
        """Per pair, the held conflicts a user resolved that no run has carried out yet."""

    @initialize(
        conflicts=st.sampled_from(list(ConflictRule)),
        tie_break=SIDE,
        deletes=st.sampled_from(list(DeleteRule)),
        full_reads=st.booleans(),
        people=st.lists(st.tuples(SIDE, NAMES, TAGS), min_size=3, max_size=5),
    )
    def choose_policy(
        self,
        conflicts: ConflictRule,
        tie_break: Side,
        deletes: DeleteRule,
        full_reads: bool,
        people: list[tuple[Side, str, list[str]]],
    ) -> None:
        """The policy and the read mode of this example (full: every run reads everything),
        and a first sync of a few people (p0@, p1@, ...), so users mostly edit linked ones."""
        policy = self.policy = Policy(conflicts=conflicts, tie_break=tie_break, deletes=deletes)
        self.engine = SyncEngine(
            self.store,
            "prop",
            self.sides["a"],
            self.sides["b"],
            policy,
            full_pass_every=timedelta(0) if full_reads else None,
            sleep=lambda s: None,
        )
        for i, (side, name, tags) in enumerate(people):
            self.create(side, f"p{i}@example.com", name, tags)
        self._sync()

    def _new_side(self, side: Side) -> MemoryAdapter:
        return MemoryAdapter(clock=lambda: self.now, id_prefix=side)

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    # -- what users do ------------------------------------------------------------------------
    def _ids(self, side: Side) -> list[str]:
        return sorted(self.sides[side].records("contact"))

    def _put(self, side: Side, rid: str, fields: dict[str, Any]) -> None:
        self.sides[side].put(Record("contact", rid, fields))

    @rule()
    def tick(self) -> None:
        """Time moves on (until then, every write has the same update time: ties)."""
        self.now += timedelta(seconds=1)

    @rule(side=SIDE, email=EMAILS, name=NAMES, tags=TAGS)
    def create(self, side: Side, email: str, name: str, tags: list[str]) -> None:
        self._put(
            side, self.sides[side].new_id(), {"email": email, "first_name": name, "tags": tags}
        )

    @rule(side=SIDE, pick=PICK, city=CITIES, name=NAMES, which=st.booleans())
    def edit(self, side: Side, pick: int, city: str | None, name: str, which: bool) -> None:
        rid = _pick(self._ids(side), pick)
        if rid is not None:
            rec = self.sides[side].records("contact")[rid]
            field, value = ("city", city) if which else ("first_name", name)
            self._put(side, rid, {**rec.fields, field: value})

    @rule(side=SIDE, pick=PICK, tag=st.sampled_from(["vip", "lead", "cold"]))
    def toggle_tag(self, side: Side, pick: int, tag: str) -> None:
        rid = _pick(self._ids(side), pick)
        if rid is not None:
            rec = self.sides[side].records("contact")[rid]
            tags = set(rec.fields.get("tags") or ())
            self._put(side, rid, {**rec.fields, "tags": sorted(tags ^ {tag})})

    @rule(side=SIDE, pick=PICK, tags=TAGS)
    def retag(self, side: Side, pick: int, tags: list[str]) -> None:
        rid = _pick(self._ids(side), pick)
        if rid is not None:
            rec = self.sides[side].records("contact")[rid]
            self._put(side, rid, {**rec.fields, "tags": tags})

    @rule(side=SIDE, pick=PICK)
    def delete(self, side: Side, pick: int) -> None:
        rid = _pick(self._ids(side), pick)
        if rid is not None:
            self.sides[side].remove("contact", rid)

    def _live_pairs(self) -> list[Pair]:
        a_ids, b_ids = set(self._ids("a")), set(self._ids("b"))
        return sorted(
            (a, b)
            for (a, b), state in self._links().items()
            if state == "live" and a in a_ids and b in b_ids
        )

    @rule(
        pick=PICK,
        field=st.sampled_from(["city", "first_name", "tags"]),
        tags=st.tuples(TAGS, TAGS),
        first=st.integers(0, 3),
        shift=st.integers(0, 2),
    )
    def edit_both(
        self, pick: int, field: str, tags: tuple[list[str], list[str]], first: int, shift: int
    ) -> None:
        """Both sides change one field of a linked pair: to two different values (a
        conflict: ``first`` in the field's pool, and another one to ``len - 1`` places
        on), or, for tags, each side its own adds and removes."""
        pair = _pick(self._live_pairs(), pick)
        if pair is not None:
            if field == "tags":
                values: list[Any] = list(tags)
            else:
                pool = ["Oslo", "Rome", "Lima", None] if field == "city" else ["Ann", "Bo", "Cy"]
                i = first % len(pool)
                j = (i + 1 + shift % (len(pool) - 1)) % len(pool)  # never i
                values = [pool[i], pool[j]]
            for side, rid, value in zip(("a", "b"), pair, values, strict=True):
                rec = self.sides[side].records("contact")[rid]  # type: ignore[index]
                self._put(side, rid, {**rec.fields, field: value})  # type: ignore[arg-type]

    @rule(pick=PICK, gone=SIDE, city=CITIES)
    def delete_and_edit(self, pick: int, gone: Side, city: str | None) -> None:
        """One side deletes a linked record while the other edits it."""
        pair = _pick(self._live_pairs(), pick)
        if pair is not None:
            a_id, b_id = pair
            keep: Side = "b" if gone == "a" else "a"
            kept = b_id if gone == "a" else a_id
            self.sides[gone].remove("contact", a_id if gone == "a" else b_id)
            rec = self.sides[keep].records("contact")[kept]
            self._put(keep, kept, {**rec.fields, "city": city})

    @rule(side=SIDE, pick=PICK, body=st.sampled_from(["call back", "sent quote"]))
    def add_note(self, side: Side, pick: int, body: str) -> None:
        parent = _pick(self._ids(side), pick)
        if parent is not None:
            adapter = self.sides[side]
            adapter.put(Record("note", adapter.new_id(), {"body": body}, parent_id=parent))

    @rule(pick=PICK, keep=SIDE)
    def resolve(self, pick: int, keep: Side) -> None:
        """A user settles a held field conflict (``resolve ID --keep SIDE``), on the values
        it showed; edits may follow before the next run carries it out."""
        held = [c for c in self.store.open_conflicts("prop") if c["kind"] == "field"]
        chosen = _pick(held, pick)
        if chosen is None:
            return
        self.store.resolve_conflicts([int(chosen["id"])], keep)
        pair = (chosen["a_id"], chosen["b_id"])
        self.resolved.setdefault(pair, {})[chosen["field"]] = (
            keep,
            chosen["a_value"],
            chosen["b_value"],
        )
        event("conflict resolved by a user")

    @rule(pick=PICK, city=CITIES, name=NAMES)
    def edit_after_resolving(self, pick: int, city: str | None, name: str) -> None:
        """The side a resolution overrules edits the field again before a run carries
        it out: that edit was never reviewed, so the run must hold the conflict again."""
        chosen = _pick(sorted((p, f) for p, fields in self.resolved.items() for f in fields), pick)
        if chosen is None:
            return
        pair, field_name = chosen
        keep = self.resolved[pair][field_name][0]
        side: Side = "b" if keep == "a" else "a"
        rid = pair[1] if side == "b" else pair[0]
        rec = self.sides[side].records("contact").get(rid)
        if rec is not None:
            value = city if field_name == "city" else name
            self._put(side, rid, {**rec.fields, field_name: value})
            event("the overruled side edited a resolved field")

    # -- syncs ----------------------------------------------------------------------------------
    @rule(
        how=st.sampled_from(["as configured", "full", "transient", "crash", "break", "heal"]),
        side=SIDE,
        n=st.integers(0, 9),
        pick=PICK,
    )
    def sync(self, how: str, side: Side, n: int, pick: int) -> None:
        """One sync, reading as the engine is configured or (``full``) everything; or
        with ``n + 1`` transient write failures on ``side`` (four or more outlast an op's
        retries); or crashing mid-apply on ``side``, then rerun (see ``_transient`` and
        ``_arm_crash``); or after breaking one record on ``side`` for good (``pick`` of
        those it writes, its writes fail until a ``heal``; a create is named by its
        source id); or, ``heal``, once every fault is cleared."""
        assert self.engine is not None
        if how == "transient":
            self._transient(side, n, pick)
        elif how == "crash":
            self._crash(side, n, pick)
        elif how == "full":
            every = self.engine.full_pass_every
            self.engine.full_pass_every = timedelta(0)
            try:
                self._sync()
            finally:
                self.engine.full_pass_every = every
        else:
            if how == "break":
                # Mostly a record this sync writes on the side (else any): the fault bites.
                ids = self._written(side, ("contact",)) or self._ids(side) + self._ids(
                    "b" if side == "a" else "a"
                )
                broken = _pick(ids, pick)
                if broken is not None:
                    self.sides[side].faults.permanent_ids.add(broken)
            elif how == "heal":
                for adapter in self.sides.values():
                    adapter.faults.permanent_ids.clear()
            self._sync()

    def _written(self, side: Side, entities: tuple[str, ...] = ("contact", "note")) -> list[str]:
        """The records the next sync writes on ``side``, as ``_named`` names them."""
        plan = self._run(dry_run=True).plan
        return sorted(
            {_named(op) for op in plan.operations if op.side == side and op.entity in entities}
        )

    def _transient(self, side: Side, n: int, pick: int) -> None:
        """``n + 1`` transient failures, met by the side's next write attempts in order."""
        self._sync(transient=(side, n + 1))

    def _arm_crash(self, side: Side, n: int, pick: int) -> None:
        """The side dies (``SimulatedCrash``) after ``n // 2`` more successful writes."""
        self.sides[side].faults.crash_after_writes = n // 2

    def _disarm_crash(self, side: Side) -> None:
        self.sides[side].faults.crash_after_writes = None

    def _crash(self, side: Side, n: int, pick: int) -> None:
        assert self.engine is not None
        before = self._before()
        self._arm_crash(side, n, pick)
        try:
            with contextlib.suppress(SimulatedCrash):
                self._run()
        finally:
            self._disarm_crash(side)
        rerun = self._run()
        # The rerun must end where the sync would have ended without the crash.
        self._step(before, rerun)

    def _run(self, dry_run: bool = False) -> RunReport:
        assert self.engine is not None
        return self.engine.run(dry_run=dry_run, force=True)

    def _sync(
        self, transient: tuple[Side, int] | None = None, transient_key: str | None = None
    ) -> None:
        """One sync and its checks; ``transient``: (side, failures) armed for it, met by
        any write on the side or (``transient_key``) only by the writes naming that record."""
        assert self.engine is not None
        before = self._before()
        before.transient_key = transient_key
        if transient:
            before.transient_side, before.transient = transient
            self.sides[transient[0]].faults.transient_writes = transient[1]
        try:
            report = self._run()
        finally:
            left = {s: a.faults.transient_writes for s, a in self.sides.items()}
            for adapter in self.sides.values():
                adapter.faults.transient_writes = 0
        if transient:
            self._check_transient(before, report, left[transient[0]])
        self._step(before, report)

    def _step(self, before: Before, report: RunReport) -> None:
        """Check a sync, then that an immediate second one has nothing left to do."""
        assert self.engine is not None
        failed = self._check(before, report)
        again = self._before()
        quarantined = self._quarantined()
        second = self._run()
        ops = list(second.plan.operations)
        if not failed and not any(self._permanent().values()):
            assert ops == [], ops
        else:
            # Only what failed is planned again (its base did not move): the rest is settled.
            for op in ops:
                assert _touches(op, quarantined), (op, quarantined)
        self._check(again, second)

    # -- reading the state ------------------------------------------------------------------------
    def _before(self) -> Before:
        recs = {s: a.records("contact") for s, a in self.sides.items()}
        return Before(recs, self._links())  # type: ignore[arg-type]

    def _links(self, entity: str = "contact") -> dict[Pair, str]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(LINKS.c.a_id, LINKS.c.b_id, LINKS.c.state).where(
                    LINKS.c.connection == "prop", LINKS.c.entity == entity
                )
            )
            return {(a, b): state for a, b, state in rows}

    def _permanent(self) -> dict[Side, set[str]]:
        return {s: set(a.faults.permanent_ids) for s, a in self.sides.items()}

    # -- invariants --------------------------------------------------------------------------------
    def _check_transient(self, before: Before, report: RunReport, left: int) -> None:
        """Each write attempt on the side (naming ``transient_key``, when set) takes one
        injected failure: an op meeting four in a row is FAILED after four attempts; one
        meeting fewer is retried through; the others do not fail."""
        remaining = before.transient
        for o in report.outcomes:
            if o.op.side != before.transient_side or o.status is OpStatus.SKIPPED:
                continue
            if o.op.action is Action.LINK or "its contact is not on side" in (o.error or ""):
                continue  # no call: a link writes nothing; a child waits for its contact
            if before.transient_key not in (None, _named(o.op)):
                assert o.status is not OpStatus.FAILED, o
                continue
            if remaining >= MAX_ATTEMPTS:
                assert o.status is OpStatus.FAILED and o.attempts == MAX_ATTEMPTS, o
                remaining -= MAX_ATTEMPTS
            else:
                assert o.status is not OpStatus.FAILED, o
                remaining = 0
        assert left == remaining, (left, remaining)

    def _quarantined(self) -> set[tuple[str, str]]:
        return {(q["side"], q["record_id"]) for q in self.store.quarantined("prop")}

    def _check(self, before: Before, report: RunReport) -> set[tuple[str, str]]:
        """Check one sync; return the (side, id) of records whose writes did not succeed."""
        permanent = self._permanent()
        outcomes = report.outcomes
        # Reported failures: exactly the broken records' writes, each in quarantine.
        quarantined = self._quarantined()
        unmade = {
            (o.op.side, o.op.source_id)
            for o in outcomes
            if o.op.entity == "contact"
            and o.op.action is Action.CREATE
            and o.status is not OpStatus.DONE
        }
        for o in outcomes:
            if o.op.action is Action.LINK or o.status is OpStatus.SKIPPED:
                continue
            side: Side = "a" if o.op.side == "a" else "b"
            named = _named(o.op)
            if o.op.entity != "contact":
                # A note fails with its contact (whose own create failed), or not at all.
                parent = o.op.parent_b_id if side == "a" else o.op.parent_a_id
                assert o.status is not OpStatus.QUARANTINED or (
                    "its contact is not on side" in (o.error or "") or (o.op.side, parent) in unmade
                ), o
            elif o.status is not OpStatus.FAILED:
                assert (o.status is OpStatus.QUARANTINED) == (named in permanent[side]), o
            if o.status is not OpStatus.DONE:
                assert _owner(o.op) in quarantined, (_owner(o.op), o)
        for o in outcomes:
            if o.status is not OpStatus.DONE:
                event(f"{o.op.entity} {o.op.action.value} {o.status.value}")
        failed_ops = [o.op for o in outcomes if o.status is not OpStatus.DONE]
        failed = {(s, i) for op in failed_ops for s, i in (("a", op.a_id), ("b", op.b_id)) if i}
        self._check_outcome(before, failed)
        self._check_converged(failed)
        if not failed:
            # Nothing failed: nothing is left in quarantine (what was there went through).
            left = self._quarantined()
            assert not left, left
        return failed

    def _check_outcome(self, before: Before, failed: set[tuple[str, str]]) -> None:
        """The sides after the sync against the oracle, pair by pair and record by record."""
        after = {s: a.records("contact") for s, a in self.sides.items()}
        links = self._links()
        live = {p for p, state in links.items() if state == "live"}
        new_of = {("a", a): b for a, b in live} | {("b", b): a for a, b in live}
        held: dict[Pair, set[str]] = {}
        for c in self.store.open_conflicts("prop"):
            held.setdefault((c["a_id"], c["b_id"]), set()).add(c["field"])
        agreed: dict[Pair, dict[str, Any]] = {}
        """The new ``self.agreed``: per live link, the fields the sides now agree on."""
        seen: dict[Side, set[str]] = {"a": set(), "b": set()}
        """Records some link accounts for; the others must be untouched and waiting."""

        def holds(side: Side, rid: str, fields: dict[str, Any], why: str) -> None:
            got = after[side].get(rid)
            assert got is not None, f"{side}:{rid} is gone ({why})"
            assert dict(got.fields) == fields, (side, rid, dict(got.fields), fields, why)

        def created_from(source: Side, sid: str) -> None:
            """A new link whose other record the sync created: a copy of the source."""
            target: Side = "b" if source == "a" else "a"
            new = new_of.get((source, sid))
            assert new is not None, f"{source}:{sid} should have been copied to {target}"
            assert new not in before.recs[target], (source, sid, new)
            fields = dict(before.recs[source][sid].fields)
            holds(source, sid, fields, "the source of a create is not written")
            holds(target, new, fields, f"created from {source}:{sid}")
            seen[target].add(new)
            event(f"created on {target}")
            agreed[(sid, new) if source == "a" else (new, sid)] = fields

        groups = self.store.open_duplicates("prop")
        in_groups = {(g["side"], i) for g in groups for i in g["ids"]}
        group_keys = {(g["side"], g["key"]) for g in groups}
        for (a_id, b_id), state in sorted(before.links.items()):
            seen["a"].add(a_id)
            seen["b"].add(b_id)
            rec_a, rec_b = before.recs["a"].get(a_id), before.recs["b"].get(b_id)
            if state != "live":
                # A tombstoned survivor is linked to nothing: the sync never writes it.
                for side, rec in (("a", rec_a), ("b", rec_b)):
                    if rec is not None:
                        holds(side, rec.id, dict(rec.fields), "tombstoned survivor")  # type: ignore[arg-type]
                continue
            base = self.agreed[(a_id, b_id)]
            if ("a", a_id) in failed or ("b", b_id) in failed:
                if (a_id, b_id) in live:
                    agreed[(a_id, b_id)] = base  # a failed write leaves the base where it was
                continue
            resolved = self.resolved.pop((a_id, b_id), {})  # carried out or set aside
            if rec_a is None and rec_b is None:
                assert (a_id, b_id) not in links, "a pair gone on both sides keeps its link"
            elif rec_a is not None and rec_b is not None:
                m = expect_merge(base, rec_a, rec_b, self.policy, resolved)
                if resolved.keys() & m.held:
                    event("a resolution held again: the side it overrules changed since")
                assert (a_id, b_id) in live, (a_id, b_id, links.get((a_id, b_id)))
                holds("a", a_id, m.a, "merged")
                holds("b", b_id, m.b, "merged")
                assert held.get((a_id, b_id), set()) == m.held, (held.get((a_id, b_id)), m.held)
                for name in set(base) | set(rec_a.fields) | set(rec_b.fields):
                    va, vb, vbase = rec_a.fields.get(name), rec_b.fields.get(name), base.get(name)
                    if va != vbase and vb != vbase and va != vb:
                        event(f"both sides changed {name}")
                if m.held:
                    event("conflict held for review")
                kept = {**m.a, **{f: base.get(f) for f in m.held}}  # held: the base stays
                agreed[(a_id, b_id)] = {k: v for k, v in kept.items() if v is not None}
            else:
                gone: Side = "a" if rec_a is None else "b"
                keep: Side = "b" if gone == "a" else "a"
                survivor = rec_b if rec_a is None else rec_a
                assert survivor is not None
                again = new_of.get((keep, survivor.id))
                if again is not None and again in before.recs[gone]:
                    # The person was made again on the deleting side: the survivor is
                    # linked to that new record, whatever the delete rule, and the two
                    # merge as a fresh match (checked with the other new links below).
                    assert (survivor.id, again) not in before.links, (survivor.id, again)
                    assert (again, survivor.id) not in before.links, (survivor.id, again)
                    made = before.recs[gone][again].fields.get("email")
                    assert made == survivor.fields.get("email"), (survivor, made)
                    event("survivor linked to its record made again")
                    continue
                verdict = expect_delete(base, gone, survivor, self.policy)
                email = survivor.fields.get("email")
                if verdict.outcome == "recreated" and any(
                    (gone, rid) in in_groups and r.fields.get("email") == email
                    for rid, r in before.recs[gone].items()
                ):
                    # Re-created, it would join the duplicates that wait there: it waits.
                    verdict = AfterDelete("held", keep)
                event(f"delete on one side: {verdict.outcome}")
                if verdict.outcome == "deleted":
                    # Deletes propagate: gone from both sides, link and all.
                    assert survivor.id not in after[keep], f"{keep}:{survivor.id} outlived its pair"
                    assert (a_id, b_id) not in links
                elif verdict.outcome == "tombstoned":
                    holds(keep, survivor.id, dict(survivor.fields), "delete ignored")
                    assert links.get((a_id, b_id)) == "tombstone", links.get((a_id, b_id))
                elif verdict.outcome == "held":
                    holds(keep, survivor.id, dict(survivor.fields), "delete held for review")
                    assert "*" in held.get((a_id, b_id), set()), held
                    agreed[(a_id, b_id)] = base
                else:
                    created_from(keep, survivor.id)

        for a_id, b_id in sorted(live - set(agreed) - set(before.links)):
            had_a, had_b = a_id in before.recs["a"], b_id in before.recs["b"]
            if had_a and had_b:
                # Two records that existed, linked now: a first merge from an empty base.
                event("matched")
                m = expect_merge({}, before.recs["a"][a_id], before.recs["b"][b_id], self.policy)
                holds("a", a_id, m.a, "first merge of a matched pair")
                holds("b", b_id, m.b, "first merge of a matched pair")
                assert held.get((a_id, b_id), set()) == m.held, (held.get((a_id, b_id)), m.held)
                agreed[(a_id, b_id)] = {k: v for k, v in m.a.items() if k not in m.held}
                seen["a"].add(a_id)
                seen["b"].add(b_id)
            else:
                assert had_a or had_b, f"link {a_id}-{b_id} joins two records the sync made"
                created_from("a" if had_a else "b", a_id if had_a else b_id)
                seen["a" if had_a else "b"].add(a_id if had_a else b_id)

        # Records no link accounts for were not written and wait for a reason.
        for side, other_side in (("a", "b"), ("b", "a")):
            for rid, rec in before.recs[side].items():  # type: ignore[index]
                if rid in seen[side] or rid not in after[side]:  # type: ignore[index]
                    continue
                if (side, rid) not in failed:
                    # (A link whose later write failed may have written its first side.)
                    holds(side, rid, dict(rec.fields), "unlinked: nothing is written to it")  # type: ignore[arg-type]
                assert (
                    (side, rid) in in_groups
                    or (other_side, f"email:{rec.fields['email']}") in group_keys
                    or (side, rid) in failed
                ), f"{side}:{rid} was left unlinked with no duplicate group and no failure"
            for rid in set(after[side]) - set(before.recs[side]):  # type: ignore[index]
                assert rid in seen[side], f"{side}:{rid} was created but is not linked"  # type: ignore[index]

        # No duplicate creation: never more records per email on a side than before.
        for side in ("a", "b"):
            was = Counter(r.fields.get("email") for r in before.recs[side].values())  # type: ignore[index]
            now = Counter(r.fields.get("email") for r in after[side].values())  # type: ignore[index]
            for email, n in now.items():
                allowed = max(1, was[email])
                assert n <= allowed, f"{n} records of {email} on {side}, was {was[email]}"
        assert set(agreed) == live, f"links the oracle cannot account for: {live - set(agreed)}"
        self.agreed = agreed

    def _check_converged(self, failed: set[tuple[str, str]]) -> None:
        links = self._links()
        live = [p for p, state in links.items() if state == "live"]
        a_recs, b_recs = self.sides["a"].records("contact"), self.sides["b"].records("contact")
        assert len({a for a, _ in links}) == len(links) == len({b for _, b in links})
        conflicts: dict[Pair, list[dict[str, Any]]] = {}
        for c in self.store.open_conflicts("prop"):
            conflicts.setdefault((c["a_id"], c["b_id"]), []).append(c)
        for a_id, b_id in live:
            if ("a", a_id) in failed or ("b", b_id) in failed:
                continue  # its base did not move: it converges once the fault is gone
            held = conflicts.get((a_id, b_id), [])
            if any(c["field"] == "*" for c in held):
                continue  # a delete held for review: one side is gone until it is resolved
            assert a_id in a_recs and b_id in b_recs, "a link points at a record that is gone"
            fa, fb = dict(a_recs[a_id].fields), dict(b_recs[b_id].fields)
            for c in held:
                fa.pop(c["field"], None)
                fb.pop(c["field"], None)
            assert fa == fb, (a_id, b_id, fa, fb)
        stored = {s: self.store.fingerprints("prop", s, "contact") for s in ("a", "b")}  # type: ignore[arg-type]
        for side, recs in (("a", a_recs), ("b", b_recs)):
            linked_ids = {a if side == "a" else b for a, b in links}
            for rid in recs:
                assert rid in linked_ids or rid in stored[side], (
                    f"{side}:{rid} neither linked nor waiting"
                )
        linked_on = {s: sum(1 for _, linked, _ in stored[s].values() if linked) for s in ("a", "b")}
        assert linked_on["a"] == linked_on["b"] == len(links), (linked_on, links)
        # Notes under linked contacts: linked one to one and equal.
        a_notes, b_notes = self.sides["a"].records("note"), self.sides["b"].records("note")
        for (a_id, b_id), state in self._links("note").items():
            if state == "live" and a_id in a_notes and b_id in b_notes:
                assert a_notes[a_id].fields == b_notes[b_id].fields


def _named(op: Op) -> str:
    """The record id a write sends to its side: a create's source id, else its target."""
    return (op.source_id if op.action is Action.CREATE else op.target_id) or ""


def _touches(op: Op, records: set[tuple[str, str]]) -> bool:
    return any((s, i) in records for s, i in (("a", op.a_id), ("b", op.b_id)) if i)


def _owner(op: Op) -> tuple[str, str]:
    """The record a failed op is quarantined under: a create's source, else its target."""
    if op.action is Action.CREATE:
        return ("a" if op.side == "b" else "b", op.source_id or "")
    return ("a" if op.side == "a" else "b", op.target_id or "")


TestSyncMachine = SyncMachine.TestCase
# Each step syncs through a real SQLite store, so examples are costly: fewer, longer runs.
TestSyncMachine.settings = settings(
    settings.default,
    max_examples=min(settings.default.max_examples, 80),
    stateful_step_count=30,
)
