"""The per-field decision table, set merge and per-key map merge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncengine.capabilities import Capabilities
from syncengine.merge import decide, merge_pair, merge_set
from syncengine.models import Record, Resolution
from syncengine.policy import ConflictRule, Direction, FieldRule, Policy

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 1, 2, tzinfo=UTC)
CAPS = Capabilities()


def _decide(
    ba, bb, a, b, *, direction=Direction.BOTH, rule=ConflictRule.NEWEST, tie="a", ta=T1, tb=T2
):
    return decide(
        base_a=ba,
        base_b=bb,
        a=a,
        b=b,
        direction=direction,
        rule=rule,
        tie_break=tie,
        a_time=ta,
        b_time=tb,
    )


@pytest.mark.parametrize(
    ("base", "a", "b", "to_a", "to_b", "winner"),
    [
        ("x", "x", "x", "x", "x", "none"),  # nothing changed
        ("x", "y", "x", "y", "y", "a"),  # only a changed: flows to b
        ("x", "x", "y", "y", "y", "b"),  # only b changed: flows to a
        ("x", "y", "y", "y", "y", "none"),  # the same change on both: no conflict
        ("x", None, "x", None, None, "a"),  # a cleared the field: the clear flows
    ],
)
def test_decision_table(base, a, b, to_a, to_b, winner):
    v = _decide(base, base, a, b)
    assert (v.to_a, v.to_b, v.winner, v.conflict) == (to_a, to_b, winner, None)


@pytest.mark.parametrize(
    ("rule", "ta", "tb", "tie", "winner"),
    [
        (ConflictRule.NEWEST, T1, T2, "a", "b"),
        (ConflictRule.NEWEST, T2, T1, "a", "a"),
        (ConflictRule.NEWEST, T1, T1, "b", "b"),  # a tie goes to the configured side
        (ConflictRule.NEWEST, None, T1, "a", "a"),  # unknown time counts as a tie
        (ConflictRule.A, T1, T2, "b", "a"),
        (ConflictRule.B, T2, T1, "a", "b"),
    ],
)
def test_conflict_rules(rule, ta, tb, tie, winner):
    v = _decide("x", "x", "from-a", "from-b", rule=rule, tie=tie, ta=ta, tb=tb)
    assert v.conflict == winner
    assert v.to_a == v.to_b == f"from-{winner}"


@pytest.mark.parametrize(
    ("ta", "tb", "rule"),
    [
        (T1, T2, "conflict: newest wins (b is newer)"),
        (T1, T1, "conflict: newest wins (tie, to a)"),
        (None, T1, "conflict: newest cannot compare (a has no update time), tie_break a wins"),
        (
            None,
            None,
            "conflict: newest cannot compare (neither side has an update time), tie_break a wins",
        ),
    ],
)
def test_the_newest_rule_says_when_it_could_not_compare(ta, tb, rule):
    """A side without update times (a CSV without updated_at) is no tie: it is said."""
    assert _decide("x", "x", "from-a", "from-b", ta=ta, tb=tb).rule == rule


def test_manual_holds_and_writes_nothing():
    v = _decide("x", "x", "from-a", "from-b", rule=ConflictRule.MANUAL)
    assert v.conflict == "held"
    assert (v.to_a, v.to_b) == ("from-a", "from-b")


def test_one_way_field_wins_conflicts_and_does_not_flow_back():
    v = _decide("x", "x", "from-a", "from-b", direction=Direction.A_TO_B, rule=ConflictRule.B)
    assert (v.to_a, v.to_b, v.conflict) == ("from-a", "from-a", "a")
    back = _decide("x", "x", "x", "from-b", direction=Direction.A_TO_B)
    assert (back.to_a, back.to_b) == ("x", "from-b")  # b's change stays on b


def test_a_field_with_direction_none_is_never_written_nor_a_conflict():
    rules = {
        "source": FieldRule(direction=Direction.NONE),
        "tags": FieldRule(direction=Direction.NONE),
        "custom_fields.internal": FieldRule(direction=Direction.NONE),
    }
    out = _pair(
        {"source": "x", "tags": ["t"], "custom_fields": {"internal": "1", "plan": "p"}},
        {"source": "x", "tags": ["t"], "custom_fields": {"internal": "1", "plan": "p"}},
        {"source": "from-a", "tags": ["a", "t"], "custom_fields": {"internal": "2", "plan": "q"}},
        {"source": "from-b", "custom_fields": {"internal": "3", "plan": "p"}},
        policy=Policy(conflicts=ConflictRule.MANUAL, fields=rules),
    )
    assert not out.conflicts
    assert out.changes_a == []  # nothing of b's reaches a
    # Only the synced custom field moves, and it carries b's own value of the other key.
    assert [(c.field, c.after) for c in out.changes_b] == [
        ("custom_fields", {"internal": "3", "plan": "q"})
    ]


def test_tags_merge_as_sets_both_sides_adds_and_removes_apply():
    v = merge_set(
        ["t1", "t2"], ["t1", "t2"], ["t1", "t2", "a-added"], ["t2", "b-added"], Direction.BOTH
    )
    assert v.to_a == v.to_b == ["a-added", "b-added", "t2"]


def test_tags_removed_everywhere_become_absent():
    v = merge_set(["t"], ["t"], None, ["t"], Direction.BOTH)
    assert v.to_a is None and v.to_b is None


def _pair(base_a, base_b, a, b, policy=None, caps_a=CAPS, caps_b=CAPS, resolutions=None):
    return merge_pair(
        entity="contact",
        a_id="a1",
        b_id="b1",
        base_a=base_a,
        base_b=base_b,
        a=Record("contact", "a1", a, T1),
        b=Record("contact", "b1", b, T2),
        policy=policy or Policy(),
        caps_a=caps_a,
        caps_b=caps_b,
        resolutions=resolutions,
    )


MANUAL = Policy(conflicts=ConflictRule.MANUAL)
BASE = {"city": "Oslo"}


@pytest.mark.parametrize(
    ("resolution", "a", "b", "held_again_by"),
    [
        (Resolution("a", None, "Rome", "Lima"), "Rome", "Lima", None),  # as the user saw it
        (Resolution("a", None, "Rome", "Lima"), "Bern", "Lima", None),  # the kept side moved on
        (Resolution("a", None, "Rome", "Lima"), "Rome", "Kyiv", "b"),  # the overruled side did
        (Resolution("b", None, "Rome", "Lima"), "Kyiv", "Lima", "a"),
        (Resolution("value", "Oslo!", "Rome", "Lima"), "Rome", "Kyiv", "b"),  # overrules both
        (Resolution("value", "Oslo!", "Rome", "Lima"), "Oslo!", "Lima", None),  # a agrees now
    ],
)
def test_a_resolution_holds_only_while_the_side_it_overrules_is_as_the_user_saw_it(
    resolution, a, b, held_again_by
):
    out = _pair(BASE, BASE, {"city": a}, {"city": b}, MANUAL, resolutions={"city": resolution})
    if held_again_by is None:
        assert not out.conflicts and out.user_decided == {"city"}
        want = {"a": a, "b": b}.get(resolution.keep, resolution.value)
        assert {c.after for c in out.changes_a + out.changes_b} <= {want}
    else:
        (conflict,) = out.conflicts
        assert conflict.resolution == "held" and not out.changes_a and not out.changes_b
        assert conflict.rule.startswith(f"held again: {held_again_by} changed it after")


def test_custom_fields_merge_key_by_key():
    base = {"custom_fields": {"plan": "gold", "score": 1}}
    out = _pair(
        base,
        base,
        {"custom_fields": {"plan": "silver", "score": 1}},
        {"custom_fields": {"plan": "gold", "score": 2}},
    )
    assert not out.conflicts
    (ca,) = out.changes_a
    (cb,) = out.changes_b
    assert ca.after == cb.after == {"plan": "silver", "score": 2}


def test_per_field_override_beats_default_policy():
    policy = Policy(
        conflicts=ConflictRule.NEWEST, fields={"email": FieldRule(conflicts=ConflictRule.A)}
    )
    base = {"email": "x@x.com", "city": "A"}
    out = _pair(
        base, base, {"email": "a@x.com", "city": "Ca"}, {"email": "b@x.com", "city": "Cb"}, policy
    )
    by_field = {c.field: c.resolution for c in out.conflicts}
    assert by_field == {"email": "a", "city": "b"}  # email by override, city by newest (b)


def test_read_only_field_is_never_written_there():
    caps_b = Capabilities(read_only_fields={"contact": frozenset({"source"})})
    out = _pair({"source": "x"}, {"source": "x"}, {"source": "y"}, {"source": "x"}, caps_b=caps_b)
    assert not out.changes_b
    assert any("b cannot write it" in d.rule for d in out.decisions)


def test_a_create_only_field_is_not_updated_there():
    caps_b = Capabilities(create_only_fields={"contact": frozenset({"company_name"})})
    out = _pair(
        {"company_name": "Old"},
        {"company_name": "Old"},
        {"company_name": "New"},
        {"company_name": "Old"},
        caps_b=caps_b,
    )
    assert not out.changes_b
    assert any("b cannot write it" in d.rule for d in out.decisions)
    assert "company_name" in caps_b.takes("contact", {"company_name": "New"})  # a create has it


def test_equivalent_emails_and_phones_are_no_conflict():
    out = _pair(
        {},
        {},
        {"email": "Bob@Example.com", "phone": "(415) 555-0123"},
        {"email": "bob@example.com", "phone": "+14155550123"},
    )
    assert not out.conflicts and not out.changes_a and not out.changes_b


def test_two_spellings_of_one_date_of_birth_are_no_conflict():
    same = _pair({}, {}, {"date_of_birth": "09/25/1990"}, {"date_of_birth": "1990-09-25"})
    assert not same.conflicts and not same.changes_a and not same.changes_b
    other = _pair({}, {}, {"date_of_birth": "09/26/1990"}, {"date_of_birth": "1990-09-25"})
    assert other.conflicts


def test_every_moved_field_is_explained():
    out = _pair({"city": "A"}, {"city": "A"}, {"city": "B"}, {"city": "A"})
    (d,) = out.decisions
    assert (d.field, d.base, d.a_value, d.b_value, d.winner, d.result) == (
        "city",
        "A",
        "B",
        "A",
        "a",
        "B",
    )
    assert d.rule == "changed on a only"


# -- a decision names both sides where they differ ------------------------------------------


def test_a_held_conflicts_result_names_what_each_side_keeps():
    out = _pair({}, {}, {"city": "A"}, {"city": "B"}, Policy(conflicts=ConflictRule.MANUAL))
    (d,) = out.decisions
    assert (d.winner, d.result) == ("none", {"a": "A", "b": "B"})


def test_a_field_a_side_cannot_write_names_both_results():
    caps_b = Capabilities(read_only_fields={"contact": frozenset({"city"})})
    out = _pair({"city": "A"}, {"city": "A"}, {"city": "B"}, {"city": "A"}, caps_b=caps_b)
    (d,) = out.decisions
    assert d.rule.endswith("b cannot write it") and d.result == {"a": "B", "b": "A"}


def test_a_decisions_base_names_both_bases_where_they_differ():
    out = _pair(
        {"email": "ann@x.com"},
        {"email": "Ann@X.com"},
        {"email": "bo@x.com"},
        {"email": "Ann@X.com"},
    )
    (d,) = out.decisions
    assert d.base == {"a": "ann@x.com", "b": "Ann@X.com"}
    assert d.result == "bo@x.com"  # the change flowed: both sides end the same


def test_a_decisions_base_is_one_value_where_the_bases_agree():
    out = _pair({"tags": ["vip"]}, {"tags": ["vip"]}, {"tags": ["vip", "new"]}, {"tags": ["vip"]})
    (d,) = out.decisions
    assert (d.base, d.result, d.winner) == (["vip"], ["new", "vip"], "merged")
