"""Every fault kind of the fake ends with the right data in GHL and a correct snapshot."""

from __future__ import annotations

import pytest
from ghl_world import LOCATION, World

from syncengine.models import FieldChange, Record

pytestmark = pytest.mark.timeout(60)


def run_workload(world: World) -> None:
    adapter = world.adapter(calendar_id="CAL1")
    ids = [
        adapter.create(Record("contact", "", {"email": f"f{i}@example.com"})).id for i in range(15)
    ]
    for cid in ids:
        adapter.update(
            "contact", cid, [FieldChange("city", None, "Oslo"), FieldChange("tags", None, ["x"])]
        )
        adapter.create(Record("note", "", {"body": f"n-{cid}"}, parent_id=cid))
    world.state.faults = type(world.state.faults)()  # calm, then verify
    contacts = adapter.snapshot("contact").records
    notes = adapter.snapshot("note").records
    assert sorted(r.id for r in contacts) == sorted(ids)
    assert all(r.fields["city"] == "Oslo" and r.fields["tags"] == ["x"] for r in contacts)
    assert sorted(r.fields["body"] for r in notes) == sorted(f"n-{c}" for c in ids)
    assert len(world.state.locations[LOCATION].contacts) == 15  # no duplicate creates


def test_share_of_5xx(world: World) -> None:
    world.state.faults.error_share = 0.3
    run_workload(world)
    assert any(r.status >= 500 for r in world.state.requests)


def test_429_bursts(world: World) -> None:
    world.state.faults.burst_429 = 5
    run_workload(world)
    assert sum(r.status == 429 for r in world.state.requests) == 5


def test_real_rate_limit_is_never_hit(world: World) -> None:
    world.state.rate_max = 20  # the client learns the cap from X-RateLimit-Max
    start = world.clock.now
    run_workload(world)
    assert len(world.state.requests) > 60
    assert world.clock.now - start >= 30  # it waited for the window instead
    assert not any(r.status == 429 for r in world.state.requests)


def test_latency(world: World) -> None:
    world.state.faults.latency = 0.5  # virtual seconds, via the shared clock
    start = world.clock.now
    run_workload(world)
    assert world.clock.now - start >= 0.5 * 60  # 60 writes, each answered 0.5 s late


def test_dropped_connections_do_not_duplicate_creates(world: World) -> None:
    world.state.faults.drop_share = 0.2
    run_workload(world)
    assert any(r.status == 0 for r in world.state.requests)
