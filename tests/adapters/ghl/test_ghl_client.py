"""Client error mapping and retry rules, with ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from adapters.base import AdapterContext, CallRecord
from adapters.ghl.client import CONNECT_ATTEMPTS, GhlClient, StaticToken
from adapters.ghl.fake import VirtualClock
from syncengine.errors import (
    AuthError,
    DuplicateOnSide,
    RecordNotFound,
    RecordRejected,
    TransientAdapterError,
    Unreachable,
)

pytestmark = pytest.mark.timeout(20)
SECRET = "pit-never-show-me-42"


def client(
    handler: Callable[[httpx.Request], httpx.Response], audit: list[CallRecord] | None = None
) -> GhlClient:
    rows = audit if audit is not None else []
    clock = VirtualClock()
    ctx = AdapterContext(
        audit=rows.append, http_transport=httpx.MockTransport(handler), sleep=clock.sleep
    )
    return GhlClient(
        base_url="http://ghl",
        location_id="L1",
        tokens=StaticToken(SECRET),
        context=ctx,
        clock=clock,
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {
                "message": "This location does not allow duplicated contacts.",
                "meta": {"contactId": "X1", "matchingField": "email"},
            },
            DuplicateOnSide,
        ),
        (400, {"message": "Contact with id Q not found"}, RecordNotFound),
        (422, {"message": ["property gender should not exist"]}, RecordRejected),
        (401, {"message": "The token is not authorized for this scope."}, AuthError),
        (401, {"message": f"Invalid JWT {SECRET}"}, AuthError),
        (403, {"message": "The token does not have access to this location."}, AuthError),
    ],
)
def test_4xx_map_to_the_error_tree(status: int, body: dict[str, object], kind: type) -> None:
    c = client(lambda r: httpx.Response(status, json=body))
    with pytest.raises(kind) as caught:
        c.call("GET", "/contacts/Q")
    assert SECRET not in str(caught.value)
    if kind is DuplicateOnSide:
        assert caught.value.existing_id == "X1"


def test_a_403_for_the_location_names_the_location_id_setting() -> None:
    """A token refused for a location is most often a mistyped location_id: say so."""
    body = {"message": "The token does not have access to this location."}
    c = client(lambda r: httpx.Response(403, json=body))
    with pytest.raises(AuthError) as caught:
        c.call("GET", "/contacts/Q")
    assert "Check location_id = 'L1' on this side" in str(caught.value)
    assert "or use a token issued for that location" in str(caught.value)


def test_creates_are_not_retried_on_5xx_but_reads_are() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return (
            httpx.Response(503, json={"message": "down"})
            if len(calls) < 3
            else httpx.Response(200, json={"ok": True})
        )

    c = client(handler)
    with pytest.raises(TransientAdapterError):
        c.call("POST", "/contacts/", json={}, idempotent=False)
    assert calls == ["POST"]
    assert c.call("GET", "/contacts/a") == {"ok": True}
    assert calls == ["POST", "GET", "GET"]


def test_429_is_retried_even_for_creates_and_audited() -> None:
    audit: list[CallRecord] = []
    answers = iter([httpx.Response(429), httpx.Response(201, json={"contact": {"id": "n"}})])
    c = client(lambda r: next(answers), audit)
    assert c.call("POST", "/contacts/", json={}, idempotent=False) == {"contact": {"id": "n"}}
    assert [(a.status, a.retries) for a in audit] == [(429, 0), (201, 1)]


def test_a_refused_connection_is_retried_briefly_even_for_a_create_then_unreachable() -> None:
    """Nothing was sent, so a create may go again; after a few tries (seconds, not the
    minute a 5xx gets) the side is unreachable for the run, with the fix named."""
    audit: list[CallRecord] = []

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    c = client(refused, audit)
    started = c._clock()
    with pytest.raises(Unreachable) as caught:
        c.call("POST", "/contacts/", json={}, idempotent=False)
    assert len(audit) == CONNECT_ATTEMPTS
    assert c._clock() - started < 10  # virtual seconds of backoff
    assert "check base_url (http://ghl)" in str(caught.value)
    answers = iter([httpx.ConnectError("refused", request=httpx.Request("GET", "http://ghl"))])

    def back(request: httpx.Request) -> httpx.Response:
        failure = next(answers, None)
        if failure is not None:
            raise failure
        return httpx.Response(201, json={"contact": {"id": "n"}})

    again = client(back)  # the side is back after one refusal: the create goes through
    assert again.call("POST", "/contacts/", json={}, idempotent=False) == {"contact": {"id": "n"}}


def test_query_secrets_and_personal_data_are_masked_in_audit_paths() -> None:
    audit: list[CallRecord] = []
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.query, "ascii"))
        return httpx.Response(200, json={})

    c = client(handler, audit)
    c.call(
        "GET",
        "/contacts/search/duplicate",
        params={"access_token": SECRET, "email": "a@b.c", "number": "+15550100", "locationId": "L"},
    )
    assert audit[0].path == (
        "/contacts/search/duplicate?access_token=%2A%2A%2A&email=%2A%2A%2A"
        "&number=%2A%2A%2A&locationId=L"
    )
    assert "a%40b.c" in seen[0]  # masked in the audit trail only, sent as asked
    assert all(SECRET not in repr(a) and "a@b.c" not in repr(a) for a in audit)


@pytest.mark.parametrize(
    ("path", "message", "kind"),
    [
        ("/contacts/Q", "Contact with id Q not found", RecordNotFound),
        ("/contacts/Q/notes/N", "Contact with id Q not found", RecordNotFound),
        ("/calendars/events/appointments/E", "Appointment with id E not found", RecordNotFound),
        # an id the request's body named, not the record it addressed: bad data
        ("/calendars/events/appointments/E", "Calendar with id CAL9 not found", RecordRejected),
    ],
)
def test_not_found_only_when_ghl_names_the_addressed_id(
    path: str, message: str, kind: type
) -> None:
    c = client(lambda r: httpx.Response(400, json={"statusCode": 400, "message": message}))
    with pytest.raises(kind):
        c.call("PUT", path, json={"calendarId": "CAL9"})
