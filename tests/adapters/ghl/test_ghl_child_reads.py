"""Which children a run reads from GHL, counted in requests against the fake.

A run must read the notes and tasks of the contacts its own contact read found new or
changed, plus a rolling window of the others within the request budget, split equally
between the child entities; an incremental run must never list every contact to find
that window. The engine tests run the real ``SyncEngine`` (a memory side a, the GHL
adapter as side b, the state in SQLite), with a new adapter per run, as a session is.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ghl_world import LOCATION, World, seed_contacts

from adapters.ghl.rolling import DEFAULT_REQUEST_BUDGET, from_order, take_window
from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.models import FieldChange
from syncengine.policy import Policy

pytestmark = pytest.mark.timeout(120)


def add_note(world: World, contact_id: str, body: str) -> None:
    loc = world.state.locations[LOCATION]
    nid = world.state.new_id()
    loc.notes[nid] = {
        "id": nid,
        "contactId": contact_id,
        "body": body,
        "dateAdded": world.state.now_iso(),
    }


def touch(world: World, contact_id: str, **changes: object) -> None:
    """A GHL user's edit: new field values and a new ``dateUpdated``."""
    loc = world.state.locations[LOCATION]
    loc.contacts[contact_id].update(changes, dateUpdated=world.state.now_iso())
    world.state.index_contact(loc, contact_id)


def kinds(world: World, start: int) -> Counter[str]:
    """The requests sent since ``start``, by kind."""
    out: Counter[str] = Counter()
    for request, _ in world.transport.exchanges[start:]:
        path = request.url.path
        if path == "/contacts/search":
            body = request.content.decode()
            out["search " + ("by dateUpdated" if "dateUpdated" in body else "by dateAdded")] += 1
            if '"filters"' not in body and "dateUpdated" in body:
                out["full contact search"] += 1
        elif path.endswith(("/notes", "/tasks")):
            out[f"{request.method} {path.rsplit('/', 1)[1]}"] += 1
        else:
            out[f"{request.method} {path}"] += 1
    return out


class Runs:
    """The engine over one store, a fresh GHL adapter per run (a session per run)."""

    def __init__(self, world: World, tmp_path: Path, **settings: object) -> None:
        self.world = world
        self.settings = settings
        self.a = MemoryAdapter(id_prefix="a")
        self.store = Store(f"sqlite:///{tmp_path / 'state.db'}")
        self.policy = Policy(entities=("contact", "note", "task"), match_keys=("email",))
        self.ahead = timedelta(0)
        """How far the engine's clock runs ahead of the wall clock: when full passes fall
        due (the store stamps them with the wall clock)."""

    def run(self) -> Counter[str]:
        start = len(self.world.transport.exchanges)
        b = self.world.adapter(**self.settings)
        engine = SyncEngine(
            self.store,
            "c",
            self.a,
            b,
            self.policy,
            full_pass_every=timedelta(days=30),
            clock=lambda: datetime.now(UTC) + self.ahead,
            sleep=self.world.clock.sleep,
        )
        report = engine.run()
        b.close()
        assert not report.problems and all(o.error is None for o in report.outcomes)
        return kinds(self.world, start)

    def notes_on_a(self) -> set[str]:
        return {str(r.fields.get("body")) for r in self.a.records("note").values()}

    def close(self) -> None:
        self.store.close()


def test_incremental_run_reads_children_of_the_changed_contacts_and_a_window(
    world: World, tmp_path: Path
) -> None:
    ids = seed_contacts(world, 200)
    add_note(world, ids[0], "seed note")
    runs = Runs(world, tmp_path, request_budget=60)  # 20 child reads each: notes, tasks, appts
    first = runs.run()  # every contact is new: the children of all of them are read
    assert first["GET notes"] == first["GET tasks"] == 200
    assert runs.notes_on_a() == {"seed note"}

    quiet = runs.run()
    assert quiet == Counter(
        {
            "GET /locations/LOC0000000000000001/customFields": 1,
            "search by dateUpdated": 1,  # the incremental contact read: one page
            "search by dateAdded": 2,  # one window page per child entity
            "GET notes": 20,
            "GET tasks": 20,
        }
    )

    changed = [ids[57], ids[120], ids[199]]
    for cid in changed:
        touch(world, cid, city="Oslo")
    add_note(world, ids[120], "on a changed contact")
    add_note(world, ids[10], "on a quiet contact")  # behind the window: read when it comes by
    world.clock.sleep(1)
    counted = runs.run()
    assert counted["full contact search"] == 0
    assert counted["search by dateUpdated"] == 1
    assert counted["search by dateAdded"] == 2
    assert counted["GET notes"] == counted["GET tasks"] == 20  # 3 changed + 17 of the window
    assert sum(counted.values()) == 1 + 1 + 2 + 40
    assert "on a changed contact" in runs.notes_on_a()
    cities = {
        r.fields.get("email"): r.fields.get("city") for r in runs.a.records("contact").values()
    }
    assert [cities[f"p{int(c[1:])}@example.com"] for c in changed] == ["Oslo"] * 3

    sweeps = 0
    while "on a quiet contact" not in runs.notes_on_a():
        runs.run()
        sweeps += 1
        assert sweeps <= 200 // 20, "the window should come round to every contact"
    runs.close()


def test_a_child_deleted_in_ghl_goes_at_the_next_full_pass_not_before(
    world: World, tmp_path: Path
) -> None:
    ids = seed_contacts(world, 10)
    add_note(world, ids[2], "doomed")
    add_note(world, ids[7], "kept")
    runs = Runs(world, tmp_path)
    runs.run()
    assert runs.notes_on_a() == {"doomed", "kept"}
    full_pass = runs.store.cursors("c")[("b", "note")][1]
    notes = world.state.locations[LOCATION].notes
    (doomed,) = [n for n, note in notes.items() if note["body"] == "doomed"]
    del notes[doomed]  # deleted in GHL
    quiet = runs.run()
    assert quiet["GET notes"] == 10  # every contact's notes read, but incrementally:
    assert runs.notes_on_a() == {"doomed", "kept"}  # an incremental read infers no deletes
    assert runs.store.cursors("c")[("b", "note")][1] == full_pass  # and is no full pass
    runs.ahead = timedelta(days=31)  # the monthly full pass is due (and was not put off)
    runs.run()
    assert runs.notes_on_a() == {"kept"}
    runs.close()


def test_changed_contacts_are_read_even_beyond_the_budget(world: World, tmp_path: Path) -> None:
    ids = seed_contacts(world, 30)
    runs = Runs(world, tmp_path, request_budget=6)  # 2 child reads per entity
    runs.run()
    for cid in ids[:5]:
        touch(world, cid, city="Rome")
        add_note(world, cid, f"note {cid}")
    world.clock.sleep(1)
    counted = runs.run()
    assert counted["GET notes"] == counted["GET tasks"] == 5  # all 5 changed, no window left
    assert counted["search by dateAdded"] == 0
    assert {f"note {c}" for c in ids[:5]} <= runs.notes_on_a()
    runs.close()


def test_without_a_budget_the_default_caps_child_reads(world: World) -> None:
    seed_contacts(world, 1_000)
    first = world.adapter()
    contacts = first.snapshot("contact")
    notes = first.snapshot("note", changed_parents=[])
    first.close()
    adapter = world.adapter()  # the next run's session: no full contact read
    start = len(world.transport.exchanges)
    adapter.changes_since("contact", contacts.cursor or "")
    snap = adapter.changes_since("note", notes.cursor or "")
    counted = kinds(world, start)
    share = DEFAULT_REQUEST_BUDGET // 3
    assert counted["GET notes"] == share
    assert counted["full contact search"] == 0
    assert snap.covered_parents is not None and len(snap.covered_parents) == share
    adapter.close()


def test_a_reused_adapter_forgets_the_last_runs_changed_contacts(world: World) -> None:
    ids = seed_contacts(world, 10)
    adapter = world.adapter(request_budget=0)  # nothing but the changed contacts
    cursor = adapter.snapshot("contact").cursor or ""
    world.clock.sleep(1)
    touch(world, ids[3], city="Lima")
    changes = adapter.changes_since("contact", cursor)
    assert [r.id for r in changes.records] == [ids[3]]
    assert adapter.snapshot("note").covered_parents == frozenset({ids[3]})
    adapter.changes_since("contact", changes.cursor or "")  # the next run: nothing new
    assert adapter.snapshot("note").covered_parents == frozenset()
    adapter.close()


def test_the_window_follows_the_list_reader_too(world: World) -> None:
    ids = seed_contacts(world, 12)
    adapter = world.adapter(reader="list", request_budget=15)  # 5 per child entity
    start = len(world.transport.exchanges)
    first = adapter.snapshot("note")  # no full contact read: windows come from the list
    second = adapter.changes_since("note", first.cursor or "")
    third = adapter.changes_since("note", second.cursor or "")
    assert first.covered_parents == frozenset(ids[:5])
    assert second.covered_parents == frozenset(ids[5:10])
    assert third.covered_parents == frozenset(ids[10:] + ids[:3])  # round to the start
    lists = [r for r, _ in world.transport.exchanges[start:] if r.url.path == "/contacts/"]
    assert lists and not [
        r for r, _ in world.transport.exchanges[start:] if r.url.path == "/contacts/search"
    ]
    adapter.close()


# -- the window itself (no I/O) -------------------------------------------------------------
ORDER = [(t, f"c{t}") for t in range(10)]


def test_take_window_goes_on_after_the_position_and_wraps_once() -> None:
    fetch = from_order(ORDER)
    assert take_window(fetch, None, 3) == (["c0", "c1", "c2"], (2, "c2"))
    assert take_window(fetch, (8, "c8"), 3) == (["c9", "c0", "c1"], (1, "c1"))
    picked, last = take_window(fetch, (4, "c4"), 50)
    assert picked == [f"c{t}" for t in (5, 6, 7, 8, 9, 0, 1, 2, 3, 4)] and last == (4, "c4")


def test_take_window_passes_over_excluded_ids_without_counting_them() -> None:
    fetch = from_order(ORDER)
    picked, last = take_window(fetch, None, 3, exclude={"c1", "c2"}, page_max=2)
    assert picked == ["c0", "c3", "c4"] and last == (4, "c4")
    assert take_window(fetch, None, 0) == ([], None)


def test_the_engines_changed_contacts_replace_the_adapters_own(world: World) -> None:
    """The adapter's incremental read also returns contacts the last run wrote itself;
    when the engine names the contacts that really changed, only those are must-reads."""
    ids = seed_contacts(world, 10)
    adapter = world.adapter(request_budget=0)
    contacts = adapter.snapshot("contact")
    notes = adapter.snapshot("note")
    adapter.update("contact", ids[1], [FieldChange("city", None, "Kyiv")])  # our own write
    touch(world, ids[6], city="Riga")  # a GHL user's edit
    world.clock.sleep(1)
    later = world.adapter(request_budget=0)
    later.changes_since("contact", contacts.cursor or "")
    mine = later.changes_since("note", notes.cursor or "")
    told = later.changes_since("note", notes.cursor or "", changed_parents=[ids[6]])
    assert mine.covered_parents == frozenset({ids[1], ids[6]})
    assert told.covered_parents == frozenset({ids[6]})
    adapter.close()
    later.close()
