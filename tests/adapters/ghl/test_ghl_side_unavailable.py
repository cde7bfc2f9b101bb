"""Errors that make the whole GHL side unavailable: a spent day, a refused token.

They are ``SideUnavailable``: not ``Transient`` (retrying within the run cannot help and
would stall it) and not ``Permanent`` (no record is at fault, none may be quarantined).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from ghl_world import LOCATION, TOKEN, World

from adapters.base import AdapterContext
from adapters.ghl.client import GhlClient, StaticToken
from adapters.ghl.fake import VirtualClock
from syncengine.errors import (
    AuthError,
    Permanent,
    RateLimitExhausted,
    SideUnavailable,
    is_transient,
)
from syncengine.models import Record

pytestmark = pytest.mark.timeout(30)


def stops_the_side(exc: BaseException) -> bool:
    return (
        isinstance(exc, SideUnavailable)
        and not is_transient(exc)
        and not isinstance(exc, Permanent)
    )


def test_a_spent_day_refuses_at_once_and_resets_with_the_day(world: World) -> None:
    world.state.daily_limit = 5
    adapter = world.adapter()
    for i in range(4):  # the custom-field read is the first of the five
        adapter.create(Record("contact", "", {"email": f"d{i}@example.com"}))
    sent = len(world.state.requests)
    started = world.clock.now
    with pytest.raises(RateLimitExhausted) as caught:
        adapter.get("contact", "anything")
    assert stops_the_side(caught.value)
    assert len(world.state.requests) == sent  # refused before sending
    assert world.clock.now == started  # and without waiting for anything
    assert caught.value.resets_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert "2026-01-02 00:00 UTC" in str(caught.value)
    with pytest.raises(RateLimitExhausted):  # every further call, alike
        adapter.snapshot("contact")
    world.clock.sleep(86_400)  # the next UTC day: GHL's bucket and ours refill
    assert len(adapter.snapshot("contact").records) == 4
    adapter.close()


def test_a_429_that_says_the_day_is_spent_is_not_retried() -> None:
    answers: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answers.append(429)
        return httpx.Response(
            429,
            json={"message": "Too many requests"},
            headers={"x-ratelimit-daily-remaining": "0", "x-ratelimit-limit-daily": "200000"},
        )

    clock = VirtualClock(1_767_268_800.0)  # 2026-01-01T12:00:00Z
    client = GhlClient(
        base_url="http://ghl",
        location_id="L1",
        tokens=StaticToken("pit-x"),
        context=AdapterContext(http_transport=httpx.MockTransport(handler), sleep=clock.sleep),
        clock=clock,
    )
    with pytest.raises(RateLimitExhausted) as caught:
        client.call("PUT", "/contacts/c1", json={}, record_id="c1")
    assert answers == [429]  # one request, not eight attempts through the burst window
    assert caught.value.record_id == "c1"
    assert caught.value.resets_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert clock.now == 1_767_268_800.0


def test_a_burst_429_is_still_waited_out(world: World) -> None:
    world.state.faults.burst_429 = 2
    adapter = world.adapter()
    assert adapter.snapshot("contact").records == []
    assert sum(r.status == 429 for r in world.state.requests) == 2


@pytest.mark.parametrize("case", ["revoked", "read-only scope on a write", "other location"])
def test_refused_credentials_stop_the_side(world: World, case: str) -> None:
    if case == "read-only scope on a write":
        read_only = {"contacts.readonly", "locations/customFields.readonly"}
        world.state.issue_token(LOCATION, scopes=read_only, token="pit-readonly-01")
        world.secrets["env:GHL_TOKEN"] = "pit-readonly-01"
    elif case == "other location":
        world.state.add_location("LOCOTHER")
        world.state.issue_token("LOCOTHER", token="pit-other-location")
        world.secrets["env:GHL_TOKEN"] = "pit-other-location"
    adapter = world.adapter()
    if case == "revoked":
        adapter.snapshot("contact")
        world.state.tokens.pop(TOKEN)  # revoked in GHL's UI while we run
    with pytest.raises(AuthError) as caught:
        adapter.create(Record("contact", "", {"email": "w@example.com"}))
    assert stops_the_side(caught.value)
    assert TOKEN not in str(caught.value)
    assert not world.state.locations[LOCATION].contacts
    last = world.state.requests[-1]
    expected = {"revoked": 401, "read-only scope on a write": 401, "other location": 403}[case]
    assert last.status == expected
    if case != "other location":  # (that one fails at the first call: custom fields)
        assert (last.method, last.path) == ("POST", "/contacts/")
    adapter.close()
