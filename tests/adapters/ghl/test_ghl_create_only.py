"""GHL takes ``company_name`` when it creates a contact, and never after.

The GHL side listed ``company_name`` as read-only, so the plan left it out of every
create as well: a contact made in GHL by a sync never had a company, while the plan's
note said GHL takes it on create. It is now create-only: a create carries it, an update
leaves GHL's value as it is, and the unchanged difference plans nothing on later runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ghl_world import World

from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.models import Record
from syncengine.policy import Policy

pytestmark = pytest.mark.timeout(120)


def test_a_contact_created_in_ghl_has_its_company_and_later_changes_stay_out(
    world: World, tmp_path: Path
) -> None:
    a = MemoryAdapter(id_prefix="a")
    a.put(Record("contact", "c1", {"email": "bob@example.com", "company_name": "Bobco"}))
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    policy = Policy(entities=("contact",), match_keys=("email",))

    def sync() -> list[tuple[str, str]]:
        b = world.adapter()
        try:
            report = SyncEngine(store, "c", a, b, policy, sleep=world.clock.sleep).run()
        finally:
            b.close()
        return [(op.side, op.action.value) for op in report.plan.operations]

    assert sync() == [("b", "create")]
    b = world.adapter()
    (created,) = b.snapshot("contact").records
    b.close()
    assert created.fields["company_name"] == "Bobco"
    assert sync() == []
    a.put(Record("contact", "c1", {"email": "bob@example.com", "company_name": "Bobco Ltd"}))
    assert sync() == []  # GHL cannot take the change: nothing is sent, every run
    assert sync() == []
    b = world.adapter()
    assert b.get("contact", created.id).fields["company_name"] == "Bobco"  # type: ignore[union-attr]
    b.close()
    store.close()
