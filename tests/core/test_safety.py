from __future__ import annotations

import pytest

from syncengine.errors import MassDeleteRefusal, SideChangedRefusal, SideEmptiedRefusal
from syncengine.models import Action, Op, Plan
from syncengine.policy import Policy
from syncengine.safety import SideStats, check_plan, side_changed_refusal


def deletes(n: int) -> Plan:
    return Plan("t", tuple(Op("b", Action.DELETE, "contact", f"a{i}", f"b{i}") for i in range(n)))


def test_side_that_had_records_and_returns_none_is_refused():
    with pytest.raises(SideEmptiedRefusal, match="side a returned no contacts but had 10"):
        check_plan(
            Plan("t"), [SideStats("a", "contact", had=10, returned=0)], Policy(), force=False
        )


def test_incremental_read_with_nothing_new_is_not_an_emptied_side():
    check_plan(Plan("t"), [SideStats("a", "contact", had=10, returned=None)], Policy(), force=False)


def test_mass_delete_over_the_share_is_refused_and_force_overrides():
    stats = [SideStats("b", "contact", had=100, returned=100)]
    check_plan(deletes(20), stats, Policy(), force=False)  # exactly 20 %: allowed
    with pytest.raises(MassDeleteRefusal, match="deletes 21 of 100"):
        check_plan(deletes(21), stats, Policy(), force=False)
    check_plan(deletes(21), stats, Policy(), force=True)


def test_tiny_sides_are_not_guarded_below_the_minimum():
    check_plan(deletes(2), [SideStats("b", "contact", had=3, returned=3)], Policy(), force=False)


def test_sides_the_state_has_no_identity_for_are_taken_as_they_are():
    assert side_changed_refusal("c", {}, {"a": "jsonl file /x/a", "b": "ghl location L"}) is None
    same = {"a": "jsonl file /x/a", "b": "ghl location L"}
    assert side_changed_refusal("c", same, dict(same)) is None


def test_a_side_that_is_other_records_is_refused_naming_both_and_the_fixes():
    refusal = side_changed_refusal(
        "crm",
        {"a": "jsonl file /x/a.jsonl", "b": "ghl location L1"},
        {"a": "jsonl file /x/a.jsonl", "b": "ghl location L2"},
    )
    assert isinstance(refusal, SideChangedRefusal)
    assert refusal.exit_code == 3
    text = str(refusal)
    assert "side b is ghl location L2 now, not ghl location L1" in text
    assert "side a" not in text
    assert "connection name of its own" in text
    assert "`syncengine run crm --force` once to adopt this side" in text


def test_both_sides_changed_are_both_named():
    text = str(
        side_changed_refusal(
            "c", {"a": "memory store x-a", "b": "memory store x-b"}, {"a": "m1", "b": "m2"}
        )
    )
    assert "side a is m1 now, not memory store x-a; side b is m2 now" in text
    assert "adopt these sides" in text
