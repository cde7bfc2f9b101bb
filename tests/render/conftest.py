"""Hand-built plans and reports covering every op kind, conflict kind and hostile value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncengine.models import (
    Action,
    Conflict,
    ConflictKind,
    Decision,
    DuplicateGroup,
    FieldChange,
    LinkChange,
    Op,
    OpOutcome,
    OpStatus,
    Plan,
    RunReport,
)

HOSTILE = "<script>alert('x')</script>"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 1, 12, 0, 7, 250000, tzinfo=UTC)

LINK = Op("both", Action.LINK, "contact", "a1", "b1", reason="matched by email")
CREATE_B = Op(
    "b",
    Action.CREATE,
    "contact",
    "a2",
    None,
    fields={
        "first_name": "Zoë",
        "email": "zoe@example.com",
        "tags": ["lead", "vip"],
        "custom_fields": {"plan": "gold"},
    },
    reason="new on a",
)
UPDATE_B = Op(
    "b",
    Action.UPDATE,
    "contact",
    "a3",
    "b3",
    changes=(
        FieldChange(
            "custom_fields",
            {"plan": "gold", "seats": 3, "address": {"city": "Köln"}},
            {"plan": "silver", "seats": 3, "region": "eu", "address": {"city": "Bonn"}},
        ),
        FieldChange("tags", ["lead", "vip"], ["customer", "vip"]),
        FieldChange("last_name", "O'Brien", HOSTILE),
    ),
    reason="changed on a",
)
UPDATE_A = Op(
    "a",
    Action.UPDATE,
    "note",
    "n1",
    "nb1",
    changes=(FieldChange("body", "old", "pipe | and `tick` and [bold]markup[/bold]"),),
    reason="changed on b",
)
DELETE_A = Op("a", Action.DELETE, "task", "t1", "tb1", reason="deleted on b")
CREATE_A = Op(
    "a",
    Action.CREATE,
    "appointment",
    None,
    "ap1",
    fields={"title": "Kick-off", "start_time": "2025-03-02T09:00:00+00:00"},
    parent_a_id="a1",
    parent_b_id="b1",
    reason="new on b",
)

HELD_EMAIL = Conflict(
    "contact",
    "a4",
    "b4",
    "email",
    ConflictKind.FIELD,
    base="x@old.example",
    a_value="x@a.example",
    b_value="x@b.example",
    a_updated_at=T0,
    b_updated_at=T1,
    resolution="held",
    rule="hold",
)
RESOLVED_PHONE = Conflict(
    "contact",
    "a5",
    "b5",
    "phone",
    ConflictKind.FIELD,
    base="+4930111",
    a_value="+4930222",
    b_value="+4930333",
    a_updated_at=T0,
    b_updated_at=T1,
    resolution="b",
    rule="newest_wins",
)
HELD_DELETE = Conflict(
    "task",
    "t9",
    "tb9",
    "title",
    ConflictKind.DELETE_VS_EDIT,
    base="Call",
    a_value=None,
    b_value="Call back",
    a_updated_at=None,
    b_updated_at=T1,
    resolution="held",
    rule="hold",
)
HELD_CUSTOM = Conflict(
    "contact",
    "a6",
    "b6",
    "custom_fields",
    ConflictKind.FIELD,
    base={"plan": "gold", "tier": 1},
    a_value={"plan": "silver", "tier": 1},
    b_value={"plan": "gold", "tier": 2, "note": HOSTILE},
    a_updated_at=T0,
    b_updated_at=T1,
    resolution="held",
    rule="hold",
)
DUPLICATES = DuplicateGroup("a", "contact", "email:dup@example.com", ("a7", "a8"), ("a7", "a8"))
DECISION = Decision(
    "contact",
    "a5",
    "b5",
    "phone",
    "+4930111",
    "+4930222",
    "+4930333",
    "newest_wins",
    "b",
    "+4930333",
)

OPS = (LINK, CREATE_B, UPDATE_B, UPDATE_A, DELETE_A, CREATE_A)
CONFLICTS = (RESOLVED_PHONE, HELD_EMAIL, HELD_DELETE, HELD_CUSTOM)


@pytest.fixture
def plan() -> Plan:
    return Plan(
        connection="crm→ghl",
        operations=OPS,
        conflicts=CONFLICTS,
        duplicates=(DUPLICATES,),
        decisions=(DECISION,),
        notes=(f"2 records skipped {HOSTILE}",),
        link_changes=(LinkChange("contact", "a10", "b10", "forget", "deleted on both sides"),),
    )


@pytest.fixture
def report(plan: Plan) -> RunReport:
    outcomes = (
        OpOutcome(LINK, OpStatus.DONE),
        OpOutcome(CREATE_B, OpStatus.DONE, result_id="b2"),
        OpOutcome(UPDATE_B, OpStatus.FAILED, error="HTTP 503 from side b", attempts=3),
        OpOutcome(UPDATE_A, OpStatus.DONE),
        OpOutcome(DELETE_A, OpStatus.QUARANTINED, error="HTTP 422: task is locked"),
        # CREATE_A never ran: the run stopped before it.
    )
    return RunReport(
        run_id=42,
        connection="crm→ghl",
        plan=plan,
        outcomes=outcomes,
        started_at=T0,
        finished_at=T1,
        dry_run=False,
        calls={"b": 40, "a": 12},
        problems=(f"a: contacts.csv row 7: invalid email {HOSTILE}",),
    )


@pytest.fixture
def hostile() -> str:
    """A value that must never reach a page as markup."""
    return HOSTILE
