"""End to end over a real socket: the fake under uvicorn on 127.0.0.1, a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from adapters.base import AdapterContext
from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.fake import FakeGhlState, create_app
from syncengine.models import FieldChange, Record

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def served() -> Iterator[tuple[str, FakeGhlState]]:
    state = FakeGhlState()
    state.add_location("LOCU")
    state.issue_token("LOCU", token="pit-uvicorn-secret")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", state
    server.should_exit = True
    thread.join(5)


def test_adapter_over_real_http_with_timeouts_and_drops(served: tuple[str, FakeGhlState]) -> None:
    url, state = served
    ctx = AdapterContext(
        secrets=lambda ref, setting: "pit-uvicorn-secret", sleep=lambda s: time.sleep(min(s, 0.05))
    )
    adapter = GhlAdapter.from_settings(
        {"location_id": "LOCU", "token": "env:T", "base_url": url, "timeout": 0.5}, ctx
    )
    created = adapter.create(Record("contact", "", {"email": "u@example.com"}))
    state.faults.latency_next = (1, 1.5)  # first attempt times out, the retry succeeds
    state.faults.drop_next = 1
    updated = adapter.update("contact", created.id, [FieldChange("city", None, "Kyiv")])
    assert updated.fields["city"] == "Kyiv"
    assert [r.id for r in adapter.snapshot("contact").records] == [created.id]
    adapter.close()
