from __future__ import annotations

import pytest

from syncengine.errors import MassDeleteRefusal, SideEmptiedRefusal
from syncengine.models import Action, Op, Plan
from syncengine.policy import Policy
from syncengine.safety import SideStats, check_plan


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
