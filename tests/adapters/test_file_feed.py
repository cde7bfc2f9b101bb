"""A file side's change feed: its cursor is its content's digest.

A run over files nobody touched reads nothing (a hash of each file, no parse); a run
after its own writes reads nothing either (the engine moved the cursors past them); a
hand edit makes the next run read the file whole, so deletes are still seen; a file
with unreadable rows never gets a cursor, so every run reports them."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from adapters.files._store import KEPT_HISTORIES
from adapters.files.csvfile import CsvAdapter
from adapters.files.jsonl import JsonlAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.models import FieldChange, Record
from syncengine.policy import Policy


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def contact(email: str) -> Record:
    return Record("contact", "", {"email": email})


class Parses:
    """Counts the parses of a file side (what the digest spares)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = JsonlAdapter._parse

        def counted(adapter: JsonlAdapter, text: str) -> Any:
            self.count += 1
            return original(adapter, text)

        monkeypatch.setattr(JsonlAdapter, "_parse", counted)


def test_an_untouched_file_has_no_changes_and_is_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app.jsonl"
    write_lines(path, [{"id": "c1", "email": "a@example.com"}])
    cursor = JsonlAdapter(path).snapshot("contact").cursor
    assert cursor is not None
    parses = Parses(monkeypatch)
    fresh = JsonlAdapter(path)  # as the next run opens it
    snap = fresh.changes_since("contact", cursor)
    assert (snap.records, snap.deleted_ids, snap.complete, snap.cursor) == ([], (), False, cursor)
    assert parses.count == 0


def test_after_its_own_writes_the_feed_is_those_writes(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    adapter = JsonlAdapter(path)
    kept, edited, doomed = (adapter.create(contact(f"{n}@example.com")) for n in "abc")
    note = adapter.create(Record("note", "", {"body": "hi"}, parent_id=doomed.id))
    cursor = adapter.snapshot("contact").cursor
    assert cursor is not None and adapter.snapshot("note").cursor == cursor
    with adapter.batch():
        new = adapter.create(contact("d@example.com"))
        adapter.update("contact", edited.id, [FieldChange("first_name", None, "Bo")])
        adapter.delete("contact", doomed.id)  # and its note with it
    contacts = adapter.changes_since("contact", cursor)
    assert not contacts.complete
    assert sorted(r.id for r in contacts.records) == sorted([new.id, edited.id])
    assert contacts.deleted_ids == (doomed.id,)
    assert kept.id not in {r.id for r in contacts.records}
    notes = adapter.changes_since("note", cursor)
    assert (notes.records, notes.deleted_ids) == ([], (note.id,))
    assert contacts.cursor != cursor
    assert contacts.cursor is not None
    idle = adapter.changes_since("contact", contacts.cursor)
    assert (idle.records, idle.deleted_ids, idle.complete) == ([], (), False)


def test_a_hand_edit_makes_the_feed_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,email\nc1,a@example.com\nc2,b@example.com\n", encoding="utf-8")
    adapter = CsvAdapter(path)
    cursor = adapter.snapshot("contact").cursor
    assert cursor is not None
    path.write_text("id,email\nc1,a@example.com\n", encoding="utf-8")  # c2 deleted by hand
    snap = CsvAdapter(path).changes_since("contact", cursor)
    assert snap.complete and [r.id for r in snap.records] == ["c1"]
    # The same when this adapter had written meanwhile: its history ends with the edit.
    adapter.create(contact("z@example.com"))
    path.write_text(path.read_text(encoding="utf-8") + "c3,c@example.com\n", encoding="utf-8")
    assert adapter.changes_since("contact", cursor).complete


def test_a_file_with_unreadable_rows_gets_no_cursor(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    path.write_text('{"id": "c1", "email": "a@example.com"}\n{"id": "c2", broken\n')
    adapter = JsonlAdapter(path)
    snap = adapter.snapshot("contact")
    assert snap.problems and snap.cursor is None
    assert adapter.snapshot("note").cursor is not None  # the broken row claims no note


def engine(store: Store, a: Path, b: Path) -> SyncEngine:
    return SyncEngine(store, "files", JsonlAdapter(a), JsonlAdapter(b), Policy())


def test_runs_read_only_what_changed_and_still_see_a_hand_delete(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_lines(a, [{"id": f"a{i}", "email": f"p{i}@example.com"} for i in range(5)])
    b.write_text("")
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    first = engine(store, a, b)
    first.run()
    assert first.records_read == 5 and len(lines(b)) == 5
    # Nothing touched since: the next run (new adapters, as a new process) reads nothing,
    # its own writes to b included.
    idle = engine(store, a, b)
    assert not idle.run().plan.operations and idle.records_read == 0
    # A hand edit on b: b is read whole, so a line removed there is a delete.
    rows = lines(b)
    rows[0]["first_name"] = "Edited"
    write_lines(b, rows[:4])
    edited = engine(store, a, b)
    plan = edited.run().plan
    assert sorted(op.action.value for op in plan.operations) == ["delete", "update"]
    assert edited.records_read == 4  # b whole, a not at all
    assert {r["email"] for r in lines(a)} == {r["email"] for r in lines(b)}
    assert next(r for r in lines(a) if r["email"] == rows[0]["email"])["first_name"] == "Edited"
    after = engine(store, a, b)
    assert not after.run().plan.operations and after.records_read == 0
    store.close()


def test_only_the_last_cursors_keep_a_history(tmp_path: Path) -> None:
    adapter = JsonlAdapter(tmp_path / "app.jsonl")
    cursors = []
    for n in range(KEPT_HISTORIES + 1):
        cursors.append(adapter.snapshot("contact").cursor)
        adapter.create(contact(f"p{n}@example.com"))
    assert adapter.changes_since("contact", str(cursors[0])).complete  # forgotten: whole
    recent = adapter.changes_since("contact", str(cursors[-1]))
    assert not recent.complete and [r.fields["email"] for r in recent.records] == [
        f"p{KEPT_HISTORIES}@example.com"
    ]


class FileFeedMachine(RuleBasedStateMachine):
    """Whatever happens to the file (this adapter's writes, hand edits, a new process),
    the records at a cursor updated by ``changes_since`` that cursor are the file's."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.path = self.dir / "app.jsonl"
        self.adapter = JsonlAdapter(self.path)
        self.views: list[tuple[str, dict[str, Any]]] = []
        """(cursor, the contacts' fields by id when it was issued)."""

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def truth(self) -> dict[str, Any]:
        return {r.id: r.fields for r in JsonlAdapter(self.path).snapshot("contact").records}

    def ids(self) -> list[str]:
        return sorted(self.truth())

    @rule(n=st.integers(0, 5))
    def create(self, n: int) -> None:
        self.adapter.create(contact(f"p{n}-{len(self.ids())}@example.com"))

    @rule(pick=st.integers(0, 100), name=st.sampled_from(["Ann", "Bo"]))
    def update(self, pick: int, name: str) -> None:
        ids = self.ids()
        if ids:
            rid = ids[pick % len(ids)]
            self.adapter.update("contact", rid, [FieldChange("first_name", None, name)])

    @rule(pick=st.integers(0, 100))
    def delete(self, pick: int) -> None:
        ids = self.ids()
        if ids:
            self.adapter.delete("contact", ids[pick % len(ids)])

    @rule(pick=st.integers(0, 100), drop=st.booleans())
    def hand_edit(self, pick: int, drop: bool) -> None:
        rows = lines(self.path) if self.path.exists() else []
        if rows:
            i = pick % len(rows)
            if drop:
                del rows[i]
            else:
                rows[i]["city"] = f"Edited {pick}"
        else:
            rows = [{"id": f"hand{pick}", "email": f"hand{pick}@example.com"}]
        write_lines(self.path, rows)

    @rule()
    def new_process(self) -> None:
        self.adapter = JsonlAdapter(self.path)

    @rule()
    def snapshot(self) -> None:
        snap = self.adapter.snapshot("contact")
        assert snap.cursor is not None
        self.views.append((snap.cursor, {r.id: r.fields for r in snap.records}))

    @rule(pick=st.integers(0, 100))
    def feed(self, pick: int) -> None:
        if not self.views:
            return
        cursor, seen = self.views[pick % len(self.views)]
        snap = self.adapter.changes_since("contact", cursor)
        now = {} if snap.complete else dict(seen)
        now.update({r.id: r.fields for r in snap.records})
        for rid in snap.deleted_ids:
            now.pop(rid, None)
        assert now == self.truth()
        assert snap.cursor is not None
        self.views.append((snap.cursor, now))


FileFeedMachine.TestCase.settings = settings(
    settings.default, max_examples=min(settings.default.max_examples, 60)
)
TestFileFeed = FileFeedMachine.TestCase
