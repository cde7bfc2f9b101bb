"""A faithful fake of GoHighLevel API v2 (contacts, notes, tasks, appointments, OAuth).

Tests run it in-process through ``AsgiBridgeTransport`` (a sync httpx transport) or on a
real port with ``serve``; ``FakeGhlState`` holds its data and its runtime knobs.
"""

from __future__ import annotations

from adapters.ghl.fake.app import create_app, serve
from adapters.ghl.fake.bridge import AsgiBridgeTransport
from adapters.ghl.fake.state import ALL_SCOPES, FakeGhlState, Faults, VirtualClock

__all__ = [
    "ALL_SCOPES",
    "AsgiBridgeTransport",
    "FakeGhlState",
    "Faults",
    "VirtualClock",
    "create_app",
    "serve",
]
