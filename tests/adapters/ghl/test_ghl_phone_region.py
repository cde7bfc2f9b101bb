"""Phones go to GHL in E.164, read with the connection's ``default_region``.

The GHL adapter read every phone as a US number whatever the connection said: with
``default_region = "DE"`` the Berlin number ``030 1234567`` went to GHL as the US
number +10301234567, silently, while the engine matched it as +49301234567. A phone
that is no number at all went out as it was and came back as a 422 on every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ghl_world import LOCATION, World

from adapters.ghl import mapping
from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.mapping import CustomFieldDefs
from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.errors import RecordRejected
from syncengine.models import FieldChange, OpStatus, Record
from syncengine.normalize import e164_problem
from syncengine.policy import Policy

pytestmark = pytest.mark.timeout(120)


def test_bodies_read_phones_with_the_region_and_refuse_what_is_no_number() -> None:
    defs = CustomFieldDefs({})
    body = mapping.contact_create_body({"phone": "030 1234567"}, defs, "L", "DE")
    assert body["phone"] == "+49301234567"
    update = mapping.contact_update([FieldChange("phone", None, "020 7946 0958")], defs, "GB")
    assert update.body["phone"] == "+442079460958"
    for bad in ("call me", "1"):
        with pytest.raises(RecordRejected, match=f"phone '{bad}', which is not a phone number"):
            mapping.contact_create_body({"phone": bad}, defs, "L", "DE")
        with pytest.raises(RecordRejected, match="read with default_region 'DE'"):
            mapping.contact_update([FieldChange("phone", None, bad)], defs, "DE")
    # An update that clears the phone is no bad phone; counting requests never refuses.
    assert mapping.contact_update([FieldChange("phone", "+4930", None)], defs, "DE").body
    assert mapping.contact_update_requests([FieldChange("phone", None, "call me")]) == 1


def test_a_sync_sends_the_number_the_region_names_and_quarantines_no_number(
    world: World, tmp_path: Path
) -> None:
    a = MemoryAdapter(id_prefix="a")
    a.put(Record("contact", "c1", {"email": "berlin@example.com", "phone": "030 1234567"}))
    a.put(Record("contact", "c2", {"email": "nobody@example.com", "phone": "call me"}))
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    policy = Policy(entities=("contact",), match_keys=("email",), default_region="DE")

    def ghl() -> GhlAdapter:
        settings = {"location_id": LOCATION, "token": "env:GHL_TOKEN", "base_url": "http://fake"}
        context = world.context(default_region="DE")
        return GhlAdapter.from_settings(settings, context, clock=world.clock)

    for attempt in range(2):
        b = ghl()
        seen = len(world.transport.exchanges)
        report = SyncEngine(store, "c", a, b, policy, sleep=world.clock.sleep).run()
        b.close()
        outcome = {o.op.source_id: o for o in report.outcomes}
        assert outcome["c2"].status is OpStatus.QUARANTINED
        assert "phone 'call me', which is not a phone number" in str(outcome["c2"].error)
        sent = [
            r
            for r, _ in world.transport.exchanges[seen:]
            if r.method == "POST" and r.url.path == "/contacts/"
        ]
        assert len(sent) == (1 if attempt == 0 else 0)  # never a request for "call me"
        assert ("c1" in outcome) == (attempt == 0)  # written once; no change after
    b = ghl()
    (berlin,) = b.snapshot("contact").records
    b.close()
    assert berlin.fields["phone"] == "+49301234567"
    store.close()


def test_a_phone_ghl_would_change_is_refused_with_what_to_do() -> None:
    """GHL keeps E.164 only: an extension would be dropped, and a national number that
    is no valid number where ``default_region`` says would become a number no one has."""
    defs = CustomFieldDefs({})
    with pytest.raises(RecordRejected, match=r"whose extension \(12\) a phone in E\.164"):
        mapping.contact_create_body({"phone": "+1 (212) 555-0100 ext. 12"}, defs, "L", "US")
    with pytest.raises(RecordRejected, match="which is no valid number in DE"):
        mapping.contact_update([FieldChange("phone", None, "12345")], defs, "DE")
    # Written with its country code, a number is the writer's word, valid or not.
    assert mapping.contact_create_body({"phone": "+18832327657"}, defs, "L", "DE")["phone"]
    body = mapping.contact_create_body({"phone": "0049 30 1234567"}, defs, "L", "GB")
    assert body["phone"] == "+49301234567"


@pytest.mark.parametrize(
    ("phone", "region", "problem"),
    [
        ("+49 30 1234567", "US", None),
        ("030 1234567", "DE", None),
        ("(212) 555-0100", "US", None),
        ("call me", "US", "which is not a phone number"),
        ("212-555-0100 x7", "US", "whose extension (7)"),
        ("12345", "DE", "which is no valid number in DE"),
    ],
)
def test_e164_problem_says_why_a_phone_cannot_be_kept(
    phone: str, region: str, problem: str | None
) -> None:
    found = e164_problem(phone, region)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found and repr(phone) in found
