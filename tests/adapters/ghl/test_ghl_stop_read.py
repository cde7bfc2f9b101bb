"""A stop request (Ctrl-C) while the run pages through a GHL location: the read stops
between two requests, the run writes nothing and says where it stopped, and the next
run reads the location whole. Counted in requests against the fake."""

from __future__ import annotations

from pathlib import Path

import pytest
from ghl_world import World, seed_contacts

from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.errors import ReadStopped, StoppedWhileReading
from syncengine.policy import Policy


def searches(world: World, start: int) -> int:
    return sum(
        1
        for request, _ in world.transport.exchanges[start:]
        if request.url.path == "/contacts/search"
    )


def test_a_stop_request_ends_a_paged_read_between_pages(world: World, tmp_path: Path) -> None:
    seed_contacts(world, 250)  # three pages of 100
    a = MemoryAdapter(id_prefix="a")
    b = world.adapter()
    b.page_limit = 100
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    stop_after_pages = 1

    def asked_to_stop() -> bool:
        return searches(world, 0) >= stop_after_pages

    engine = SyncEngine(store, "c", a, b, Policy(entities=("contact",)), should_stop=asked_to_stop)
    with pytest.raises(StoppedWhileReading, match="stopped while reading side b's contacts"):
        engine.run()
    assert searches(world, 0) == 1  # not the other two pages
    assert store.runs("c")[0]["status"] == "stopped"
    assert a.records("contact") == {} and store.cursors("c") == {}

    # Once the run's reads are over the side forgets the request (its writes always
    # finish): read directly, while the predicate still says stop, it pages through.
    assert asked_to_stop() and len(b.snapshot("contact").records) == 250
    b.stop_reading_when(lambda: True)
    with pytest.raises(ReadStopped):
        b.snapshot("contact")
    engine.should_stop = lambda: False
    before = searches(world, 0)
    report = engine.run()
    assert searches(world, before) >= 3  # the whole location, page by page
    assert len(a.records("contact")) == 250
    assert all(o.error is None for o in report.outcomes)
    store.close()
    b.close()
