"""The fake's "write applied, response lost" fault, and creates that survive it.

A create whose response is lost has happened, but the client cannot know (GHL pitfall 9).
The adapter must look the record up before it posts again; a blind retry would make a
duplicate on a location that allows duplicate contacts, and always for notes.
"""

from __future__ import annotations

import httpx
import pytest
from ghl_world import LOCATION, TOKEN, World

from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.fake import FakeGhlState
from syncengine.errors import DuplicateOnSide, TransientAdapterError
from syncengine.models import Record

pytestmark = pytest.mark.timeout(30)

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Version": "2021-07-28"}


def posts(state: FakeGhlState, path: str) -> list[tuple[int, bool]]:
    return [(r.status, r.lost) for r in state.requests if r.method == "POST" and r.path == path]


def test_the_write_lands_and_the_client_sees_a_dropped_connection(world: World) -> None:
    world.state.faults.lost_response_next = 1
    with httpx.Client(transport=world.transport, base_url="http://fake") as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(
                "/contacts/", headers=HEADERS, json={"locationId": LOCATION, "email": "l@x.io"}
            )
        # reads never lose their response, and the fault was used up by the write
        found = client.get(
            "/contacts/search/duplicate",
            headers=HEADERS,
            params={"locationId": LOCATION, "email": "l@x.io"},
        )
    assert found.json()["contact"]["email"] == "l@x.io"
    assert posts(world.state, "/contacts/") == [(201, True)]
    assert [c["email"] for c in world.state.locations[LOCATION].contacts.values()] == ["l@x.io"]


def test_a_refused_write_is_not_a_lost_one(world: World) -> None:
    world.state.faults.lost_response_next = 1
    world.state.faults.error_next = 1  # answered 5xx before it was handled
    with httpx.Client(transport=world.transport, base_url="http://fake") as client:
        first = client.post("/contacts/", headers=HEADERS, json={"locationId": LOCATION})
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/contacts/", headers=HEADERS, json={"locationId": LOCATION})
    assert first.status_code >= 500
    assert posts(world.state, "/contacts/") == [(first.status_code, False), (201, True)]


def test_contact_create_with_lost_response_makes_no_duplicate(world: World) -> None:
    world.state.locations[LOCATION].allow_duplicates = True  # GHL would not refuse a copy
    adapter = world.adapter()
    world.state.faults.lost_response_next = 1
    created = adapter.create(Record("contact", "", {"email": "once@example.com", "tags": ["t"]}))
    contacts = world.state.locations[LOCATION].contacts
    assert list(contacts) == [created.id]
    assert created.fields == {"email": "once@example.com", "tags": ["t"]}
    assert posts(world.state, "/contacts/") == [(201, True)]  # looked up, never re-posted
    assert any(r.path == "/contacts/search/duplicate" for r in world.state.requests)


def test_note_create_with_lost_response_makes_no_duplicate(world: World) -> None:
    adapter = world.adapter()
    parent = adapter.create(Record("contact", "", {"email": "p@example.com"}))
    world.state.faults.lost_response_next = 1
    note = adapter.create(Record("note", "", {"body": "call back"}, parent_id=parent.id))
    notes = world.state.locations[LOCATION].notes
    assert [f"{parent.id}/{n}" for n in notes] == [note.id]
    assert posts(world.state, f"/contacts/{parent.id}/notes") == [(201, True)]


class LookupsFail(httpx.BaseTransport):
    """Passes requests on, but refuses the connection for every duplicate look-up while
    ``failing`` is set: a create whose POST was lost then cannot find out either."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.failing = True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.failing and request.url.path == "/contacts/search/duplicate":
            raise httpx.ReadError("connection dropped (test)", request=request)
        return self.inner.handle_request(request)


def test_a_create_called_again_after_giving_up_still_looks_first(world: World) -> None:
    """The applier calls ``create`` again after a transient failure: the second call
    must not post blindly, since the first one's POST may have landed."""
    world.state.locations[LOCATION].allow_duplicates = True
    transport = LookupsFail(world.transport)
    adapter = GhlAdapter.from_settings(
        {"location_id": LOCATION, "token": "env:GHL_TOKEN", "base_url": "http://fake"},
        world.context(http_transport=transport),
        clock=world.clock,
    )
    world.state.faults.lost_response_next = 1
    record = Record("contact", "", {"email": "again@example.com"})
    with pytest.raises(TransientAdapterError):
        adapter.create(record)
    assert len(world.state.locations[LOCATION].contacts) == 1  # it did land
    transport.failing = False
    again = adapter.create(record)
    assert list(world.state.locations[LOCATION].contacts) == [again.id]
    assert posts(world.state, "/contacts/") == [(201, True)]
    adapter.close()


def test_a_create_that_surely_failed_is_sent_again(world: World) -> None:
    """A 5xx before handling changed nothing: the look-up finds nothing, the POST goes."""
    adapter = world.adapter()
    adapter.snapshot("contact")
    world.state.faults.error_next = 1
    created = adapter.create(Record("contact", "", {"email": "retry@example.com"}))
    assert list(world.state.locations[LOCATION].contacts) == [created.id]
    (failed, _), sent = posts(world.state, "/contacts/")
    assert failed >= 500 and sent == (201, False)


def test_a_lost_refusal_is_reported_as_the_duplicate_it_was(world: World) -> None:
    """GHL refused the create as a duplicate but the answer was lost: the look-up finds
    the contact GHL already had, with other values. It is not ours, so taking it as the
    created record would give the base GHL's values for ours; it is a duplicate."""
    adapter = world.adapter()
    there = adapter.create(Record("contact", "", {"email": "both@example.com", "city": "Oslo"}))
    world.state.faults.lost_response_next = 1
    with pytest.raises(DuplicateOnSide) as caught:
        adapter.create(Record("contact", "", {"email": "both@example.com", "first_name": "New"}))
    assert caught.value.existing_id == there.id
    assert posts(world.state, "/contacts/") == [(201, False), (400, True)]
    assert list(world.state.locations[LOCATION].contacts) == [there.id]
