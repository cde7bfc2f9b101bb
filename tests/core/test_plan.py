"""reconcile(): matching, duplicate groups, deletes, children, capabilities, determinism."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncengine.capabilities import Capabilities, SideNote
from syncengine.models import ConflictKind, Record
from syncengine.plan import LinkedPair, SyncInput, reconcile
from syncengine.policy import ConflictRule, DeleteRule, Direction, FieldRule, Policy

CAPS = Capabilities()
T1 = datetime(2026, 1, 1, tzinfo=UTC)


def c(i: str, **fields: object) -> Record:
    return Record("contact", i, dict(fields), T1)


def plan(policy: Policy | None = None, **kw: object):
    return reconcile(
        SyncInput("t", kw.pop("caps_a", CAPS), kw.pop("caps_b", CAPS), **kw), policy or Policy()
    )  # type: ignore[arg-type]


def actions(p):
    return [(op.side, op.action.value, op.entity, op.a_id, op.b_id) for op in p.operations]


def test_new_records_are_linked_by_email_not_duplicated():
    p = plan(unlinked_a=[c("a1", email="Ann@X.com")], unlinked_b=[c("b1", email="ann@x.com")])
    assert actions(p) == [("both", "link", "contact", "a1", "b1")]


def test_phone_matches_in_e164_when_email_is_absent():
    p = plan(
        unlinked_a=[c("a1", phone="(415) 555-0100")], unlinked_b=[c("b1", phone="+1 415 555 0100")]
    )
    assert ("both", "link", "contact", "a1", "b1") in actions(p)


def test_unmatched_records_are_created_on_the_other_side():
    p = plan(unlinked_a=[c("a1", email="a@x.com")], unlinked_b=[c("b1", email="b@x.com")])
    assert sorted(actions(p)) == [
        ("a", "create", "contact", None, "b1"),
        ("b", "create", "contact", "a1", None),
    ]


def test_records_sharing_a_key_on_one_side_form_a_held_duplicate_group():
    p = plan(
        unlinked_a=[c("a1", email="d@x.com"), c("a2", email="D@x.com")],
        unlinked_b=[c("b1", email="d@x.com")],
    )
    assert actions(p) == []  # nothing linked, nothing created: never multiplied
    (g,) = p.duplicates
    assert (g.side, g.ids, g.held_ids) == ("a", ("a1", "a2"), ("a1", "a2"))


def test_new_record_duplicating_a_linked_one_is_held():
    p = plan(unlinked_a=[c("a9", email="x@x.com")], linked_keys_a={"email:x@x.com": ["a1"]})
    assert actions(p) == []
    assert p.duplicates[0].ids == ("a1", "a9")


def pair(a: Record | None, b: Record | None, base=None) -> LinkedPair:
    base = base or {"email": "p@x.com", "city": "A"}
    return LinkedPair("contact", "a1", "b1", c("a1", **base), c("b1", **base), a, b)


def test_delete_propagates_when_the_other_side_is_untouched():
    p = plan(pairs=[pair(None, c("b1", email="p@x.com", city="A"))])
    assert actions(p) == [("b", "delete", "contact", "a1", "b1")]


def test_delete_against_an_edit_is_a_conflict_and_newest_keeps_the_edit():
    p = plan(pairs=[pair(None, c("b1", email="p@x.com", city="B"))])
    (conflict,) = p.conflicts
    assert conflict.kind is ConflictKind.DELETE_VS_EDIT and conflict.resolution == "b"
    assert actions(p) == [("a", "create", "contact", None, "b1")]
    assert p.link_changes == ()  # the create replaces the link once it succeeds


@pytest.mark.parametrize(
    ("rule", "expected"), [(ConflictRule.A, "b delete"), (ConflictRule.MANUAL, "nothing")]
)
def test_delete_vs_edit_by_policy(rule, expected):
    p = plan(Policy(conflicts=rule), pairs=[pair(None, c("b1", email="p@x.com", city="B"))])
    got = " ".join(f"{op.side} {op.action.value}" for op in p.operations) or "nothing"
    assert got == expected


def test_deletes_ignore_tombstones_instead_of_deleting():
    p = plan(
        Policy(deletes=DeleteRule.IGNORE), pairs=[pair(None, c("b1", email="p@x.com", city="A"))]
    )
    assert actions(p) == [] and p.link_changes[0].change == "tombstone"


def test_deletes_manual_holds_the_delete_for_review():
    p = plan(
        Policy(deletes=DeleteRule.MANUAL), pairs=[pair(None, c("b1", email="p@x.com", city="A"))]
    )
    assert (
        actions(p) == []
        and p.conflicts[0].kind is ConflictKind.DELETE
        and p.conflicts[0].resolution == "held"
    )


def test_deleted_on_both_sides_forgets_the_link():
    p = plan(pairs=[pair(None, None)])
    assert actions(p) == [] and p.link_changes[0].change == "forget"


def test_children_follow_a_contact_created_in_the_same_run():
    note = Record("note", "n1", {"body": "hi"}, parent_id="a1")
    p = plan(unlinked_a=[c("a1", email="n@x.com"), note])
    create_note = next(op for op in p.operations if op.entity == "note")
    assert (create_note.side, create_note.parent_a_id, create_note.parent_b_id) == ("b", "a1", None)


def test_identical_children_under_a_linked_contact_link_one_to_one():
    notes_a = [Record("note", f"na{i}", {"body": "same"}, parent_id="a1") for i in range(2)]
    notes_b = [Record("note", "nb0", {"body": "same"}, parent_id="b1")]
    p = plan(unlinked_a=notes_a, unlinked_b=notes_b, contact_links={"a1": "b1"})
    assert sorted(actions(p)) == [
        ("b", "create", "note", "na1", None),
        ("both", "link", "note", "na0", "nb0"),
    ]


def test_a_create_does_not_copy_fields_whose_direction_is_none():
    rules = {
        "source": FieldRule(direction=Direction.NONE),
        "custom_fields.internal": FieldRule(direction=Direction.NONE),
    }
    p = plan(
        Policy(fields=rules),
        unlinked_a=[
            c("a1", email="a@x.com", source="web", custom_fields={"internal": "1", "plan": "p"})
        ],
    )
    (op,) = p.operations
    assert dict(op.fields) == {"email": "a@x.com", "custom_fields": {"plan": "p"}}
    only_internal = plan(
        Policy(fields=rules), unlinked_a=[c("a2", email="b@x.com", custom_fields={"internal": "1"})]
    )
    assert dict(only_internal.operations[0].fields) == {"email": "b@x.com"}


def test_changes_a_one_way_field_keeps_where_they_were_made_are_noted():
    """No row shows them (nothing is written), so the note says why the edit stays."""
    rules = {"city": FieldRule(direction=Direction.B_TO_A)}
    edited = pair(c("a1", email="p@x.com", city="Paris"), c("b1", email="p@x.com", city="A"))
    p = plan(Policy(fields=rules), pairs=[edited])
    assert p.operations == ()
    assert p.notes == (
        "1 contact change(s) to city on a stay on a: the field flows b->a only "
        "(its direction in the connection's fields table)",
    )
    assert p.kept_apart == 1 and p.summary()["kept_apart"] == 1  # an empty plan, no agreement
    flowing = pair(c("a1", email="p@x.com", city="A"), c("b1", email="p@x.com", city="Rome"))
    flows = plan(Policy(fields=rules), pairs=[flowing])
    assert flows.notes == () and flows.kept_apart == 0  # b's change flows: no note


def test_children_whose_contact_is_not_linked_wait_and_the_note_names_them():
    notes = [Record("note", f"n{i}", {"body": str(i)}, parent_id="404") for i in range(5)]
    p = plan(unlinked_a=notes)
    assert actions(p) == []
    (note,) = [n for n in p.notes if "wait for their contact" in n]
    assert note.startswith("5 note(s) on a wait for their contact to be linked (n0 under 404,")
    assert "and 2 more" in note and "not there at all" in note


def test_side_that_cannot_create_gets_no_creates_and_a_note():
    caps_b = Capabilities(can_create=frozenset({"contact"}))
    p = plan(
        caps_b=caps_b,
        unlinked_a=[Record("appointment", "ap1", {"title": "x"}, parent_id="a1")],
        contact_links={"a1": "b1"},
    )
    assert actions(p) == [] and any("cannot create appointments" in n for n in p.notes)
    assert p.kept_apart == 1


def test_entity_a_side_does_not_hold_is_not_synced():
    caps_b = Capabilities(entities=frozenset({"contact"}))
    p = plan(
        caps_b=caps_b,
        unlinked_a=[Record("note", "n1", {"body": "x"}, parent_id="a1")],
        contact_links={"a1": "b1"},
    )
    assert actions(p) == [] and any("notes are not synced" in n for n in p.notes)


def test_a_side_note_shows_only_where_its_entities_are_synced():
    caps_b = Capabilities(
        notes=(
            SideNote("about every entity"),
            SideNote("about appointments", frozenset({"appointment"})),
        )
    )
    everything = plan(caps_b=caps_b)
    assert {"about every entity", "about appointments"} <= set(everything.notes)
    contacts_only = plan(Policy(entities=("contact",)), caps_b=caps_b)
    assert "about every entity" in contacts_only.notes
    assert "about appointments" not in contacts_only.notes
    a_holds_no_appointments = plan(
        caps_a=Capabilities(entities=frozenset({"contact", "note"})), caps_b=caps_b
    )
    assert "about appointments" not in a_holds_no_appointments.notes


emails = st.sampled_from(["a@x.com", "b@x.com", "c@x.com", "d@x.com"])
contacts = st.builds(
    lambda i, e, n: c(i, email=e, first_name=n),
    st.text("ab12", min_size=1, max_size=3),
    emails,
    st.sampled_from(["Ann", "Bo", None]),
)


def _mirror(p):
    return sorted(
        (
            ("a" if op.side == "b" else "b" if op.side == "a" else "both"),
            op.action.value,
            op.b_id,
            op.a_id,
            tuple((ch.field, repr(ch.before), repr(ch.after)) for ch in op.changes),
        )
        for op in p.operations
    )


def _plain(p):
    return sorted(
        (
            op.side,
            op.action.value,
            op.a_id,
            op.b_id,
            tuple((ch.field, repr(ch.before), repr(ch.after)) for ch in op.changes),
        )
        for op in p.operations
    )


@given(
    st.lists(contacts, max_size=6, unique_by=lambda r: r.id),
    st.lists(contacts, max_size=6, unique_by=lambda r: r.id),
)
def test_plans_are_deterministic_and_symmetric(side_a, side_b):
    forward = plan(unlinked_a=side_a, unlinked_b=side_b)
    assert forward == plan(unlinked_a=list(reversed(side_a)), unlinked_b=list(reversed(side_b)))
    mirrored = reconcile(
        SyncInput("t", CAPS, CAPS, unlinked_a=side_b, unlinked_b=side_a), Policy().mirrored()
    )
    # One key per contact (email), so matching does not depend on which side is a (a
    # contact with two keys can: see test_plan_symmetry.py, which also mirrors links,
    # deletes, conflicts and policies).
    assert _plain(mirrored) == _mirror(forward)
