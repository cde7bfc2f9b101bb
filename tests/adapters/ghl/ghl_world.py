"""Shared pieces of the GHL tests: a fake GHL on a virtual clock and an adapter wired to it.

The fake and the client share one ``VirtualClock``: the 10-second rate window and the
retry backoff pass in no real time, so the suite stays fast while the limits stay real.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from adapters.base import AdapterContext, CallRecord
from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.fake import FakeGhlState, VirtualClock
from adapters.ghl.fake.state import iso_ms

LOCATION = "LOC0000000000000001"
TOKEN = "pit-super-secret-token-0123456789"


class RecordingTransport(httpx.BaseTransport):
    """Keeps every exchange so tests can count calls or validate them against the spec."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.exchanges.append((request, response))
        return response


@dataclass
class World:
    clock: VirtualClock
    state: FakeGhlState
    transport: RecordingTransport
    audit: list[CallRecord] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def context(self, **overrides: object) -> AdapterContext:
        def resolve(reference: str, *, setting: str) -> str:
            return self.secrets[reference]

        ctx = AdapterContext(
            connection="t",
            audit=self.audit.append,
            secrets=resolve,
            http_transport=self.transport,
            sleep=self.clock.sleep,
        )
        for key, value in overrides.items():
            setattr(ctx, key, value)
        return ctx

    def adapter(self, **settings: object) -> GhlAdapter:
        merged = {
            "location_id": LOCATION,
            "token": "env:GHL_TOKEN",
            "base_url": "http://fake",
            **settings,
        }
        return GhlAdapter.from_settings(merged, self.context(), clock=self.clock)


def seed_contacts(world: World, count: int, **extra: object) -> list[str]:
    """Contacts put straight into the fake, one second apart in ``dateAdded``; ``extra``
    fields on each."""
    loc = world.state.locations[LOCATION]
    ids = []
    for i in range(count):
        cid = f"C{i:05d}"
        when = iso_ms(world.clock.now - 86_400 + i)
        loc.contacts[cid] = {
            "id": cid,
            "locationId": LOCATION,
            "email": f"p{i}@example.com",
            "firstName": f"P{i}",
            "dateAdded": when,
            "dateUpdated": when,
            "tags": [],
            "customFields": [],
            **extra,
        }
        world.state.index_contact(loc, cid)
        ids.append(cid)
    return ids
