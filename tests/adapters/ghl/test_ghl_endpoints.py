"""The less travelled GHL endpoints, each against the fake: the deprecated contact list
(as the reader, and as the fallback when search fails), contacts of a business, upsert,
and the task ``/completed`` endpoint."""

from __future__ import annotations

import httpx
import pytest
from ghl_world import LOCATION, World, seed_contacts

from adapters.ghl.adapter import GhlAdapter
from syncengine.errors import ConfigError, RecordRejected
from syncengine.models import FieldChange, Record

pytestmark = pytest.mark.timeout(60)


def paths(world: World, start: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.url.path) for r, _ in world.transport.exchanges[start:]]


def test_the_list_reader_pages_with_start_after(world: World) -> None:
    ids = seed_contacts(world, 250)
    adapter = world.adapter(reader="list")
    snap = adapter.snapshot("contact")
    assert snap.complete and sorted(r.id for r in snap.records) == ids
    lists = [r for r, _ in world.transport.exchanges if r.url.path == "/contacts/"]
    assert len(lists) == 3  # 100 a page
    assert "startAfter" not in lists[0].url.params
    assert lists[1].url.params["startAfterId"] == ids[99]
    assert ("POST", "/contacts/search") not in paths(world)
    adapter.close()


def test_an_incremental_read_through_the_list_keeps_what_changed(world: World) -> None:
    ids = seed_contacts(world, 120)
    adapter = world.adapter(reader="list")
    cursor = adapter.snapshot("contact").cursor or ""
    world.clock.sleep(600)  # past the overlap
    adapter.update("contact", ids[7], [FieldChange("city", None, "Bern")])
    changes = adapter.changes_since("contact", cursor)
    assert not changes.complete
    assert [(r.id, r.fields["city"]) for r in changes.records] == [(ids[7], "Bern")]
    adapter.close()


class SearchDown(httpx.BaseTransport):
    """Passes requests on, but every search fails as a server error would."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/contacts/search":
            return httpx.Response(503, json={"statusCode": 503, "message": "search is down"})
        return self.inner.handle_request(request)


def test_a_failing_search_falls_back_to_the_list(world: World) -> None:
    ids = seed_contacts(world, 130)

    def session() -> GhlAdapter:
        return GhlAdapter.from_settings(
            {"location_id": LOCATION, "token": "env:GHL_TOKEN", "base_url": "http://fake"},
            world.context(http_transport=SearchDown(world.transport)),
            clock=world.clock,
        )

    first = session()
    snap = first.snapshot("contact")
    assert snap.complete and sorted(r.id for r in snap.records) == ids
    notes = first.snapshot("note")
    first.close()
    later = session()  # no full read in this session: the window is listed
    start = len(world.transport.exchanges)
    window = later.changes_since("note", notes.cursor or "")
    assert window.covered_parents == frozenset(ids)
    assert ("GET", "/contacts/") in paths(world, start)
    since = later.changes_since("contact", snap.cursor or "")
    assert since.records == [] and not since.complete
    later.close()


def test_reader_must_be_search_or_list(world: World) -> None:
    with pytest.raises(ConfigError, match="reader must be"):
        world.adapter(reader="scan")


def test_contacts_of_a_business_page_with_skip(world: World) -> None:
    members = seed_contacts(world, 130, businessId="biz-1")
    loc = world.state.locations[LOCATION]
    loc.contacts["other"] = {**loc.contacts[members[0]], "id": "other", "businessId": "biz-2"}
    adapter = world.adapter()
    found = adapter.contacts_of_business("biz-1")
    assert sorted(r.id for r in found) == members
    pages = [r for r, _ in world.transport.exchanges if r.url.path == "/contacts/business/biz-1"]
    assert [p.url.params["skip"] for p in pages] == ["0", "100"]
    assert adapter.contacts_of_business("nobody") == []
    adapter.close()


def test_upsert_updates_the_match_keeps_tags_and_reports_what_ghl_ignored(
    world: World, adapter: GhlAdapter
) -> None:
    fresh = adapter.upsert_contact({"email": "u@example.com", "first_name": "Una", "tags": ["a"]})
    assert fresh.created and fresh.ignored == ()
    assert fresh.record.fields["tags"] == ["a"]
    world.state.locations[LOCATION].contacts[fresh.record.id]["tags"].append("set-in-ghl")
    again = adapter.upsert_contact({"email": "U@example.com", "city": "Rome", "tags": ["b"]})
    assert not again.created and again.record.id == fresh.record.id
    assert again.record.fields["city"] == "Rome" and again.record.fields["first_name"] == "Una"
    assert again.record.fields["tags"] == ["a", "b", "set-in-ghl"]  # none replaced
    other = adapter.create(
        Record("contact", "", {"email": "p@example.com", "phone": "+12025550188"})
    )
    dropped = adapter.upsert_contact({"email": "u@example.com", "phone": "+12025550188"})
    assert dropped.record.id == fresh.record.id and dropped.ignored == ("phone",)  # issue #37
    assert other.id != fresh.record.id
    with pytest.raises(RecordRejected, match="email or a phone"):
        adapter.upsert_contact({"first_name": "Nobody"})


def test_completing_a_task_uses_the_completed_endpoint(world: World, adapter: GhlAdapter) -> None:
    parent = adapter.create(Record("contact", "", {"email": "t@example.com"}))
    task = adapter.create(
        Record(
            "task",
            "",
            {"title": "Call", "due_date": "2026-03-01T09:30:00+00:00"},
            parent_id=parent.id,
        )
    )
    start = len(world.transport.exchanges)
    done = adapter.update("task", task.id, [FieldChange("completed", False, True)])
    assert done.fields["completed"] is True and done.fields["title"] == "Call"
    child = task.id.split("/")[1]
    assert paths(world, start) == [("PUT", f"/contacts/{parent.id}/tasks/{child}/completed")]
    start = len(world.transport.exchanges)
    adapter.update(
        "task",
        task.id,
        [FieldChange("completed", True, False), FieldChange("title", "Call", "Call back")],
    )
    assert paths(world, start) == [("PUT", f"/contacts/{parent.id}/tasks/{child}")]
    assert world.state.locations[LOCATION].tasks[child]["completed"] is False
