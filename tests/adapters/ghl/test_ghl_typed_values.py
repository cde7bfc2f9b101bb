"""Dates and times GHL cannot take are refused before a request, as the record's fault.

A side that does not check its values (the memory side here; a file side checks them on
read) can hand over a task due "next friday" or a birthday on 30 February. The GHL
adapter refuses such a record with ``RecordRejected`` naming the field and the fix, so
the run quarantines that record and syncs the rest, instead of failing on parsing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ghl_world import World

from adapters.ghl import mapping
from adapters.ghl.mapping import CustomFieldDefs
from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.errors import RecordRejected
from syncengine.models import FieldChange, OpStatus, Record
from syncengine.policy import Policy

pytestmark = pytest.mark.timeout(120)


def test_bodies_refuse_a_date_or_time_that_is_none() -> None:
    defs = CustomFieldDefs({})
    with pytest.raises(RecordRejected, match="date_of_birth '1990-02-30', which is not a date"):
        mapping.contact_create_body({"date_of_birth": "1990-02-30"}, defs, "L", "US")
    with pytest.raises(RecordRejected, match="due_date 'next friday'"):
        mapping.task_body({"title": "t", "due_date": "next friday"})
    with pytest.raises(RecordRejected, match="end_time 'soon'"):
        mapping.appointment_body({"start_time": "2030-01-15T10:00:00Z", "end_time": "soon"})
    with pytest.raises(RecordRejected, match="date_of_birth 'x'"):
        mapping.contact_update([FieldChange("date_of_birth", None, "x")], defs, "US")
    # Counting an update's requests (the plan's notes) never refuses.
    assert mapping.contact_update_requests([FieldChange("date_of_birth", None, "x")]) == 1
    # Any form GHL takes is sent as the date it names, in the form GHL returns.
    body = mapping.contact_create_body({"date_of_birth": "09/25/1990"}, defs, "L", "US")
    assert body["dateOfBirth"] == "1990-09-25"
    update = mapping.contact_update([FieldChange("date_of_birth", None, "1990.9.5")], defs, "US")
    assert update.body["dateOfBirth"] == "1990-09-05"


def test_a_record_with_a_bad_time_is_quarantined_and_the_rest_syncs(
    world: World, tmp_path: Path
) -> None:
    a = MemoryAdapter(id_prefix="a")
    a.put(Record("contact", "c1", {"email": "ann@example.com", "date_of_birth": "1990-02-30"}))
    a.put(Record("contact", "c2", {"email": "bo@example.com", "date_of_birth": "09/25/1990"}))
    a.put(Record("task", "t1", {"title": "call", "due_date": "next friday"}, parent_id="c2"))
    a.put(
        Record("task", "t2", {"title": "mail", "due_date": "2030-01-15T09:00:00Z"}, parent_id="c2")
    )
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    policy = Policy(entities=("contact", "task"), match_keys=("email",))
    for attempt in range(2):  # the second run retries the quarantined and refuses them again
        b = world.adapter()
        report = SyncEngine(store, "c", a, b, policy, sleep=world.clock.sleep).run()
        b.close()
        refused = {
            (o.op.entity, o.op.source_id): o.error
            for o in report.outcomes
            if o.status is OpStatus.QUARANTINED
        }
        assert set(refused) == {("contact", "c1"), ("task", "t1")}, attempt
        if attempt == 0:  # the rest is written once
            done = {
                (o.op.entity, o.op.source_id) for o in report.outcomes if o.status is OpStatus.DONE
            }
            assert done == {("contact", "c2"), ("task", "t2")}
        assert "date_of_birth '1990-02-30', which is not a date" in str(refused[("contact", "c1")])
        assert "due_date 'next friday', which is not an ISO-8601 time" in str(
            refused[("task", "t1")]
        )
    b = world.adapter()
    assert [r.fields["email"] for r in b.snapshot("contact").records] == ["bo@example.com"]
    b.close()
    store.close()
