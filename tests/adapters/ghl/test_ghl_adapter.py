"""The GHL adapter against the fake, in-process: reads, writes, incremental, budget."""

from __future__ import annotations

import pytest
from ghl_world import LOCATION, TOKEN, World

from adapters.base import Adapter, Checkable, Incremental, KeyLookup
from adapters.ghl.adapter import GhlAdapter
from syncengine.errors import (
    ConfigError,
    DuplicateOnSide,
    PermanentAdapterError,
    RecordNotFound,
    RecordRejected,
)
from syncengine.models import FieldChange, Record

pytestmark = pytest.mark.timeout(30)


def contact(**fields: object) -> Record:
    return Record("contact", "", dict(fields))


def test_implements_the_protocols(adapter: GhlAdapter) -> None:
    assert isinstance(adapter, Adapter)
    assert isinstance(adapter, Incremental)
    assert isinstance(adapter, KeyLookup)
    assert isinstance(adapter, Checkable)


def test_create_then_get_round_trips_every_contact_field(adapter: GhlAdapter) -> None:
    fields = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+12025550143",
        "company_name": "Engines Ltd",
        "address1": "1 Loop Rd",
        "city": "London",
        "state": "LDN",
        "postal_code": "N1",
        "country": "GB",
        "website": "https://ada.example",
        "source": "import",
        "date_of_birth": "1815-12-10",
        "timezone": "Europe/London",
        "tags": ["math", "vip"],
        "custom_fields": {"favourite_colour": "green"},
    }
    created = adapter.create(contact(**fields))
    assert created.fields == fields
    assert adapter.get("contact", created.id) == created


def test_update_sends_tag_deltas_and_never_forbidden_fields(
    world: World, adapter: GhlAdapter
) -> None:
    created = adapter.create(contact(email="b@example.com", tags=["a", "b"], company_name="Old Co"))
    world.state.locations[LOCATION].contacts[created.id]["tags"].append("added-in-ghl")
    updated = adapter.update(
        "contact",
        created.id,
        [
            FieldChange("tags", ["a", "b"], ["b", "c"]),
            FieldChange("city", None, "Paris"),
            FieldChange("company_name", "Old Co", "New Co"),
            FieldChange("custom_fields", None, {"favourite_colour": "red"}),
        ],
    )
    assert updated.fields["tags"] == ["added-in-ghl", "b", "c"]  # GHL's own tag survives
    assert updated.fields["city"] == "Paris"
    assert updated.fields["company_name"] == "Old Co"  # create-only on GHL
    assert updated.fields["custom_fields"] == {"favourite_colour": "red"}
    puts = [r for r, _ in world.transport.exchanges if r.method == "PUT"]
    assert puts and all(
        b"tags" not in r.content
        and b"companyName" not in r.content
        and b"locationId" not in r.content
        for r in puts
    )


def test_snapshot_and_get_make_no_write_calls(world: World, adapter: GhlAdapter) -> None:
    created = adapter.create(contact(email="c@example.com"))
    adapter.create(Record("note", "", {"body": "hello"}, parent_id=created.id))
    before = len(world.state.writes())
    for entity in ("contact", "note", "task", "appointment"):
        adapter.snapshot(entity)  # type: ignore[arg-type]
    adapter.get("contact", created.id)
    adapter.changes_since("contact", adapter.snapshot("contact").cursor or "")
    adapter.find_by_key("contact", "email:c@example.com")
    assert len(world.state.writes()) == before


def test_children_crud_with_composite_ids(adapter: GhlAdapter) -> None:
    parent = adapter.create(contact(email="d@example.com"))
    note = adapter.create(Record("note", "", {"title": "T", "body": "B"}, parent_id=parent.id))
    task = adapter.create(
        Record(
            "task",
            "",
            {"title": "Call", "due_date": "2026-03-01T09:30:00+00:00"},
            parent_id=parent.id,
        )
    )
    appt = adapter.create(
        Record(
            "appointment",
            "",
            {
                "title": "Meet",
                "start_time": "2026-03-02T10:00:00+00:00",
                "end_time": "2026-03-02T10:30:00+00:00",
                "status": "confirmed",
            },
            parent_id=parent.id,
        )
    )
    assert note.id.startswith(f"{parent.id}/") and note.parent_id == parent.id
    assert task.fields == {
        "title": "Call",
        "due_date": "2026-03-01T09:30:00+00:00",
        "completed": False,
    }
    assert appt.fields["calendar_id"] == "CAL1"
    adapter.update("task", task.id, [FieldChange("completed", False, True)])
    adapter.update("note", note.id, [FieldChange("body", "B", "B2")])
    snap = {e: adapter.snapshot(e) for e in ("note", "task", "appointment")}  # type: ignore[misc]
    assert [r.fields["body"] for r in snap["note"].records] == ["B2"]
    assert snap["task"].records[0].fields["completed"] is True
    assert snap["appointment"].records[0].fields["start_time"] == "2026-03-02T10:00:00+00:00"
    assert adapter.get("note", note.id) == snap["note"].records[0]
    adapter.delete("note", note.id)
    assert adapter.get("note", note.id) is None
    with pytest.raises(RecordNotFound):
        adapter.delete("task", f"{parent.id}/missing")


def test_appointments_are_one_way_without_calendar(world: World) -> None:
    adapter = world.adapter()
    caps = adapter.capabilities()
    assert "appointment" not in caps.can_create
    assert any("appointments flow one way" in n.text for n in caps.notes)
    with pytest.raises(PermanentAdapterError, match="calendar_id"):
        adapter.create(Record("appointment", "", {"title": "x"}, parent_id="p"))


def test_duplicate_create_names_the_existing_contact(world: World, adapter: GhlAdapter) -> None:
    first = adapter.create(contact(email="dup@example.com"))
    with pytest.raises(DuplicateOnSide) as caught:
        adapter.create(contact(email="DUP@example.com", first_name="Again"))
    assert caught.value.existing_id == first.id
    assert [r.id for r in adapter.find_by_key("contact", "email:dup@example.com")] == [first.id]
    assert adapter.find_by_key("contact", "phone:+12025550199") == []


def test_rejected_field_carries_ghl_message(adapter: GhlAdapter) -> None:
    with pytest.raises(RecordRejected, match="email must be an email"):
        adapter.create(contact(email="not-an-email"))
    with pytest.raises(RecordRejected, match="no_such_field"):
        adapter.create(contact(email="x@example.com", custom_fields={"no_such_field": "1"}))


def test_incremental_overlap_dedups_and_survives_search_lag(
    world: World, adapter: GhlAdapter
) -> None:
    world.state.search_lag_seconds = 5
    a = adapter.create(contact(email="a1@example.com"))
    world.clock.sleep(10)
    first = adapter.snapshot("contact")
    assert [r.id for r in first.records] == [a.id]
    b = adapter.create(contact(email="b1@example.com"))  # not searchable for 5 s
    lagging = adapter.changes_since("contact", first.cursor or "")
    assert lagging.records == [] and not lagging.complete
    world.clock.sleep(6)
    caught_up = adapter.changes_since("contact", lagging.cursor or "")
    assert [r.id for r in caught_up.records] == [b.id]  # a is inside the overlap: deduped
    again = adapter.changes_since("contact", caught_up.cursor or "")
    assert again.records == []
    adapter.update("contact", a.id, [FieldChange("city", None, "Rome")])
    world.clock.sleep(6)
    assert [r.id for r in adapter.changes_since("contact", again.cursor or "").records] == [a.id]


def test_paging_past_ten_thousand_uses_search_after(world: World) -> None:
    loc = world.state.locations[LOCATION]
    for i in range(10_250):
        cid = f"C{i:06d}"
        loc.contacts[cid] = {
            "id": cid,
            "locationId": LOCATION,
            "email": f"u{i}@ex.com",
            "dateAdded": "2026-01-01T00:00:00.000Z",
            "dateUpdated": "2026-01-01T00:00:00.000Z",
            "tags": [],
            "customFields": [],
        }
        world.state.index_contact(loc, cid)
    adapter = world.adapter()
    snap = adapter.snapshot("contact")
    assert len(snap.records) == 10_250 and len({r.id for r in snap.records}) == 10_250
    searches = [r for r, _ in world.transport.exchanges if r.url.path == "/contacts/search"]
    assert len(searches) == 21  # 10,250 / 500, rounded up


def test_child_budget_covers_changed_parents_and_rolls(world: World) -> None:
    adapter = world.adapter(request_budget=9)  # 3 child reads each for notes, tasks, appts
    ids = sorted(adapter.create(contact(email=f"k{i}@example.com")).id for i in range(6))
    adapter.snapshot("contact")
    reads_before = len(world.transport.exchanges)
    snap = adapter.snapshot("note", changed_parents=[ids[4]])
    assert snap.covered_parents is not None and ids[4] in snap.covered_parents
    assert len(snap.covered_parents) == 3
    assert len(world.transport.exchanges) - reads_before == 3
    follow = adapter.changes_since("note", snap.cursor or "")
    assert follow.covered_parents is not None
    assert not (follow.covered_parents - {ids[4]}) & (snap.covered_parents - {ids[4]})


def test_check_reports_missing_scopes_by_name(world: World) -> None:
    world.state.issue_token(LOCATION, scopes={"contacts.readonly"}, token="pit-limited-0001")
    world.secrets["env:LIMITED"] = "pit-limited-0001"
    limited = world.adapter(token="env:LIMITED", calendar_id="CAL1")
    problems = limited.check()
    for scope in ("contacts.write", "locations/customFields.readonly", "calendars/events.write"):
        assert any(scope in p for p in problems), (scope, problems)
    assert not any("contacts.readonly" in p for p in problems)
    assert world.adapter(calendar_id="CAL1").check() == []
    assert world.state.writes() and all(r.status in (400, 401) for r in world.state.writes())


def test_check_of_an_unreachable_ghl_answers_at_once_with_one_problem(world: World) -> None:
    """Nothing listens there: one problem naming base_url, after one try per probe (no
    minutes of backoff before the user learns the address is wrong)."""
    slept: list[float] = []
    context = world.context(http_transport=None, sleep=slept.append)
    unreachable = GhlAdapter.from_settings(
        {"location_id": LOCATION, "token": "env:GHL_TOKEN", "base_url": "http://127.0.0.1:1"},
        context,
        clock=world.clock,
    )
    (problem,) = unreachable.check()
    assert "failed on the connection" in problem and "http://127.0.0.1:1" in problem
    assert "will retry" not in problem
    assert slept == []


def test_from_settings_refuses_bad_settings_all_at_once(world: World) -> None:
    with pytest.raises(ConfigError) as caught:
        GhlAdapter.from_settings({"auth": "magic", "request_budget": -1}, world.context())
    assert len(caught.value.problems) == 3


def test_audit_rows_never_hold_the_token(world: World, adapter: GhlAdapter) -> None:
    world.state.faults.error_next = 1
    adapter.create(contact(email="t@example.com"))
    adapter.snapshot("contact")
    world.state.tokens.pop(TOKEN)
    with pytest.raises(Exception) as caught:
        adapter.get("contact", "whatever")
    assert TOKEN not in str(caught.value)
    assert world.audit and all(TOKEN not in repr(row) for row in world.audit)
    assert any(row.retries == 1 for row in world.audit)
