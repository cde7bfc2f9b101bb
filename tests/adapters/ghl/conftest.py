"""Fixtures for the GHL tests (the pieces live in ``ghl_world``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ghl_world import LOCATION, TOKEN, RecordingTransport, World

from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.fake import AsgiBridgeTransport, FakeGhlState, VirtualClock, create_app


@pytest.fixture
def world() -> Iterator[World]:
    clock = VirtualClock()
    state = FakeGhlState(clock=clock, sleep=clock.sleep)
    state.add_location(LOCATION)
    state.issue_token(LOCATION, token=TOKEN)
    state.add_custom_field(LOCATION, "favourite_colour")
    state.add_calendar(LOCATION, "CAL1")
    transport = RecordingTransport(AsgiBridgeTransport(create_app(state)))
    yield World(clock, state, transport, secrets={"env:GHL_TOKEN": TOKEN})


@pytest.fixture
def adapter(world: World) -> Iterator[GhlAdapter]:
    a = world.adapter(calendar_id="CAL1")
    yield a
    a.close()
