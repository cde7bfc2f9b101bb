"""Mapping round trips, property-tested: canonical -> GHL -> canonical is the identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ghl import mapping
from adapters.ghl.mapping import CustomFieldDefs
from syncengine.models import FieldChange
from syncengine.normalize import canonical_fields

DEFS = CustomFieldDefs({"cf1": "colour", "cf2": "size"})
text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
contacts = st.fixed_dictionaries(
    {},
    optional={
        "first_name": text,
        "last_name": text,
        "city": text,
        "country": st.sampled_from(["US", "GB"]),
        "email": st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.com", fullmatch=True),
        "phone": st.integers(2_000_000, 9_999_999).map(lambda n: f"+1202{n}"),
        "company_name": text,
        "postal_code": text,
        "website": text,
        "source": text,
        "timezone": st.sampled_from(["UTC", "America/New_York"]),
        "date_of_birth": st.dates().map(lambda d: d.isoformat()),
        "tags": st.lists(text, min_size=1, max_size=4, unique=True).map(sorted),
        "custom_fields": st.dictionaries(st.sampled_from(["colour", "size"]), text, min_size=1),
    },
)


def as_response(body: dict[str, Any]) -> dict[str, Any]:
    """What GHL answers for a created body: custom fields as {id, value}, plus an id."""
    out = {k: v for k, v in body.items() if k != "customFields"}
    out["customFields"] = [
        {"id": c["id"], "value": c["field_value"]} for c in body.get("customFields", [])
    ]
    if "dateOfBirth" in out:
        out["dateOfBirth"] = f"{out['dateOfBirth']}T00:00:00.000Z"
    return {"id": "c1", **out}


@settings(max_examples=150, deadline=None)
@given(contacts)
def test_contact_round_trip(fields: dict[str, Any]) -> None:
    canonical = canonical_fields(fields)
    body = mapping.contact_create_body(canonical, DEFS, "L1", "US")
    assert mapping.contact_from_ghl(as_response(body), DEFS).fields == canonical


@settings(max_examples=100, deadline=None)
@given(contacts, contacts)
def test_update_never_sends_tags_or_create_only_fields(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    before, after = canonical_fields(a), canonical_fields(b)
    changes = [
        FieldChange(k, before.get(k), after.get(k))
        for k in set(before) | set(after)
        if before.get(k) != after.get(k)
    ]
    plan = mapping.contact_update(changes, DEFS, "US")
    assert not {"tags", "companyName", "locationId", "gender"} & set(plan.body)
    assert set(plan.tags_added) == set(after.get("tags", [])) - set(before.get("tags", []))
    assert set(plan.tags_removed) == set(before.get("tags", [])) - set(after.get("tags", []))
    for write in plan.body.get("customFields", []):
        assert set(write) == {"id", "field_value"}


@settings(max_examples=100, deadline=None)
@given(text, text, instants, st.booleans(), text)
def test_task_round_trip(title: str, body: str, due: datetime, done: bool, who: str) -> None:
    canonical = canonical_fields(
        {
            "title": title,
            "body": body,
            "due_date": mapping.iso_utc(due),
            "completed": done,
            "assigned_to": who,
        }
    )
    sent = mapping.task_body(canonical)
    assert sent["dueDate"].endswith("Z")
    assert mapping.task_from_ghl({"id": "t", **sent}, "c").fields == canonical


@settings(max_examples=100, deadline=None)
@given(text, instants, st.integers(1, 600), st.sampled_from(["new", "confirmed", "showed"]))
def test_appointment_round_trip_keeps_an_explicit_offset(
    title: str, start: datetime, minutes: int, status: str
) -> None:
    canonical = canonical_fields(
        {
            "title": title,
            "start_time": mapping.iso_utc(start),
            "status": status,
            "end_time": mapping.iso_utc(start + timedelta(minutes=minutes)),
            "calendar_id": "CAL",
        }
    )
    record = mapping.appointment_from_ghl({"id": "a", **mapping.appointment_body(canonical)})
    assert record.fields == canonical
    assert record.fields["start_time"].endswith("+00:00")


def test_naive_appointment_times_are_read_in_the_location_timezone() -> None:
    record = mapping.appointment_from_ghl(
        {"id": "a", "startTime": "2021-07-16 11:00:00", "endTime": "2021-07-16 11:30:00"},
        naive_tz="Asia/Kolkata",
    )
    assert record.fields["start_time"] == "2021-07-16T05:30:00+00:00"


def test_unknown_custom_field_key_is_refused_with_its_fix() -> None:
    with pytest.raises(Exception, match="Settings > Custom Fields"):
        mapping.contact_create_body({"custom_fields": {"nope": "1"}}, DEFS, "L1", "US")
