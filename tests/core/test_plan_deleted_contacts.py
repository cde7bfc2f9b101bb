"""reconcile() around a contact deleted on one side: what its survivor, a record made again
on the deleting side, and the contact's children become."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncengine.capabilities import Capabilities
from syncengine.models import Action, ConflictKind, Plan, Record, Resolution
from syncengine.plan import LinkedPair, SyncInput, reconcile
from syncengine.policy import ConflictRule, DeleteRule, Policy

CAPS = Capabilities()
T1 = datetime(2026, 1, 1, tzinfo=UTC)
BASE = {"email": "p@x.com", "first_name": "Ann"}


def c(i: str, **fields: object) -> Record:
    return Record("contact", i, dict(fields), T1)


def note(i: str, parent: str, body: str = "call back") -> Record:
    return Record("note", i, {"body": body}, T1, parent_id=parent)


def gone_b(a: Record | None = None) -> LinkedPair:
    """a1-b1 linked; b1 deleted on b since (a1 as given, else untouched)."""
    return LinkedPair(
        "contact", "a1", "b1", c("a1", **BASE), c("b1", **BASE), a or c("a1", **BASE), None
    )


def plan(policy: Policy | None = None, **kw: object) -> Plan:
    return reconcile(SyncInput("t", CAPS, CAPS, **kw), policy or Policy())  # type: ignore[arg-type]


def actions(p: Plan) -> list[tuple[str, str, str, str | None, str | None]]:
    return [(op.side, op.action.value, op.entity, op.a_id, op.b_id) for op in p.operations]


# -- a record made again on the side that deleted its counterpart -----------------------------

EDITED = c("a1", email="p@x.com", first_name="Bo")
CASES = {
    "propagated": (Policy(), None),
    "ignored": (Policy(deletes=DeleteRule.IGNORE), None),
    "held": (Policy(deletes=DeleteRule.MANUAL), None),
    "edit wins": (Policy(), EDITED),
    "delete wins": (Policy(conflicts=ConflictRule.B), EDITED),
    "delete vs edit held": (Policy(conflicts=ConflictRule.MANUAL), EDITED),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_survivor_is_linked_to_the_record_made_again(case: str) -> None:
    """Whatever the delete rule would do with a1 alone, b2 (b1's email, new on b) is the
    person made again on b: a1 is linked to it, not deleted, held, or copied beside."""
    policy, edited = CASES[case]
    p = plan(policy, pairs=[gone_b(edited)], unlinked_b=[c("b2", email="P@x.com", first_name="Cy")])
    (link, *updates) = p.operations
    assert (link.action, link.a_id, link.b_id) == (Action.LINK, "a1", "b2")
    assert link.reason == "matched by email: made again on b after its delete there"
    assert all(op.action is Action.UPDATE and (op.a_id, op.b_id) == ("a1", "b2") for op in updates)
    assert p.link_changes == ()
    # No delete conflict for the old pair: b1's delete only made way for b2. The fields
    # merge as a fresh match, under the conflict rule.
    assert all(x.kind is ConflictKind.FIELD for x in p.conflicts)
    assert {(x.a_id, x.b_id) for x in p.conflicts} <= {("a1", "b2")}
    assert {(d.a_id, d.b_id, d.field) for d in p.decisions} <= {
        ("a1", "b2", "email"),
        ("a1", "b2", "first_name"),
    }


def test_the_relinked_pair_merges_from_an_empty_base() -> None:
    p = plan(pairs=[gone_b()], unlinked_b=[c("b2", email="p@x.com", city="Rome")])
    changes = {
        (op.side, ch.field): (ch.before, ch.after) for op in p.operations for ch in op.changes
    }
    # Each side's own fields join the other's; first_name only a1 held.
    assert changes == {("a", "city"): (None, "Rome"), ("b", "first_name"): (None, "Ann")}


def test_a_new_record_beside_the_relinked_survivor_waits_with_it() -> None:
    """a9, new on a with the same email, is a duplicate of a1 once a1 is b2's again."""
    p = plan(
        pairs=[gone_b()],
        unlinked_a=[c("a9", email="p@x.com")],
        unlinked_b=[c("b2", email="p@x.com")],
    )
    assert actions(p)[0] == ("both", "link", "contact", "a1", "b2")
    assert [(g.side, g.ids, g.held_ids) for g in p.duplicates] == [("a", ("a1", "a9"), ("a9",))]


@pytest.mark.parametrize("case", ["held", "ignored", "edit wins"])
def test_a_new_record_beside_a_survivor_that_stays_waits_with_it(case: str) -> None:
    """Held, ignored or re-created, a1 still holds p@x.com: a9 would be its duplicate."""
    policy, edited = CASES[case]
    p = plan(policy, pairs=[gone_b(edited)], unlinked_a=[c("a9", email="p@x.com")])
    assert all(op.a_id != "a9" for op in p.operations)
    assert [(g.side, g.ids, g.held_ids) for g in p.duplicates] == [("a", ("a1", "a9"), ("a9",))]


@pytest.mark.parametrize("case", ["propagated", "delete wins"])
def test_a_new_record_beside_a_survivor_the_plan_deletes_is_created(case: str) -> None:
    policy, edited = CASES[case]
    p = plan(policy, pairs=[gone_b(edited)], unlinked_a=[c("a9", email="p@x.com")])
    assert actions(p) == [
        ("b", "create", "contact", "a9", None),
        ("a", "delete", "contact", "a1", "b1"),
    ]
    assert p.duplicates == ()


def test_a_stronger_key_elsewhere_wins_over_a_survivors_weaker_one() -> None:
    pair = LinkedPair(
        "contact",
        "a1",
        "b1",
        c("a1", phone="+14155550100"),
        c("b1", phone="+14155550100"),
        c("a1", phone="+14155550100"),
        None,
    )
    p = plan(
        pairs=[pair],
        unlinked_a=[c("a5", email="q@x.com")],
        unlinked_b=[c("b2", email="q@x.com", phone="+14155550100")],
    )
    assert ("both", "link", "contact", "a5", "b2") in actions(p)
    assert ("a", "delete", "contact", "a1", "b1") in actions(p)


def test_a_key_leading_to_two_survivors_holds_the_new_record() -> None:
    pairs = [
        LinkedPair("contact", i, j, c(i, **BASE), c(j, **BASE), c(i, **BASE), None)
        for i, j in (("a1", "b1"), ("a2", "b3"))
    ]
    p = plan(Policy(deletes=DeleteRule.MANUAL), pairs=pairs, unlinked_b=[c("b2", **BASE)])
    assert actions(p) == []  # b2 waits; both deletes are held
    (group,) = p.duplicates
    assert (group.side, group.key, group.ids, group.held_ids) == (
        "a",
        "email:p@x.com",
        ("a1", "a2"),
        (),
    )


def test_a_survivor_is_not_re_created_beside_duplicates_waiting_there() -> None:
    """The edit wins, but two records with a1's email wait on b as duplicates: a copy of
    a1 would be a third. The delete-vs-edit conflict is held instead."""
    p = plan(
        pairs=[gone_b(EDITED)],
        unlinked_b=[c("b2", email="p@x.com"), c("b3", email="P@x.com")],
    )
    assert actions(p) == []
    (conflict,) = p.conflicts
    assert (conflict.kind, conflict.resolution) == (ConflictKind.DELETE_VS_EDIT, "held")
    assert conflict.rule == "delete vs edit: held, records with its key wait on b"
    assert [(g.side, g.ids) for g in p.duplicates] == [("b", ("b2", "b3"))]


def test_a_users_keep_re_creates_even_beside_duplicates() -> None:
    p = plan(
        pairs=[gone_b(EDITED)],
        unlinked_b=[c("b2", email="p@x.com"), c("b3", email="P@x.com")],
        resolutions={"contact:a1:b1:*": Resolution("a")},
    )
    assert actions(p) == [("b", "create", "contact", "a1", None)]


def test_a_pair_gone_on_both_sides_has_no_survivor() -> None:
    pair = LinkedPair("contact", "a1", "b1", c("a1", **BASE), c("b1", **BASE), None, None)
    p = plan(pairs=[pair], unlinked_b=[c("b2", **BASE)])
    assert actions(p) == [("a", "create", "contact", None, "b2")]
    assert [lc.change for lc in p.link_changes] == ["forget"]


def test_a_survivor_is_not_relinked_where_contacts_are_not_synced() -> None:
    p = plan(Policy(entities=("note",)), pairs=[gone_b()], unlinked_b=[c("b2", **BASE)])
    assert actions(p) == [("a", "delete", "contact", "a1", "b1")]


def test_the_survivors_children_follow_it_to_the_record_made_again() -> None:
    """a1's notes lost their counterparts with b1: one matches b2's own note by content,
    the other is created under b2; a note new on a under a1 goes to b2 too."""
    kept = [
        LinkedPair(
            "note",
            f"na{i}",
            f"nb{i}",
            note(f"na{i}", "a1", body),
            note(f"nb{i}", "b1", body),
            note(f"na{i}", "a1", body),
            None,
        )
        for i, body in ((1, "call back"), (2, "sent quote"))
    ]
    p = plan(
        pairs=[gone_b(), *kept],
        unlinked_a=[note("na3", "a1", "paid")],
        unlinked_b=[c("b2", **BASE), note("nb9", "b2", "call back")],
    )
    notes = [op for op in p.operations if op.entity == "note"]
    assert [(op.side, op.action.value, op.a_id, op.b_id, op.parent_b_id) for op in notes] == [
        ("both", "link", "na1", "nb9", None),
        ("b", "create", "na2", None, "b2"),
        ("b", "create", "na3", None, "b2"),
    ]
    assert [op.reason for op in notes[1:]] == ["re-created with its contact", "new on a"]


# -- a child new under a contact deleted on the other side ------------------------------------


def _new_note_under_gone_contact(policy: Policy, a: Record | None = None) -> Plan:
    return plan(
        policy, pairs=[gone_b(a)], unlinked_a=[note("n1", "a1")], contact_links={"a1": "b1"}
    )


def test_a_new_child_goes_with_its_contact_when_the_delete_propagates() -> None:
    p = _new_note_under_gone_contact(Policy())
    assert actions(p) == [("a", "delete", "contact", "a1", "b1")]
    assert "1 note(s) new on a not created: their contact is deleted on a in this run" in p.notes


@pytest.mark.parametrize("deletes", [DeleteRule.MANUAL, DeleteRule.IGNORE])
def test_a_new_child_waits_while_its_contact_is_deleted_on_the_other_side(
    deletes: DeleteRule,
) -> None:
    p = _new_note_under_gone_contact(Policy(deletes=deletes))
    assert [op for op in p.operations if op.entity == "note"] == []
    assert "1 note(s) new on a wait: their contact was deleted on b" in p.notes


def test_a_new_child_goes_with_its_contact_when_the_delete_wins_an_edit() -> None:
    p = _new_note_under_gone_contact(Policy(conflicts=ConflictRule.B), EDITED)
    assert actions(p) == [("a", "delete", "contact", "a1", "b1")]


def test_a_new_child_follows_its_contact_re_created_in_the_same_run() -> None:
    """Delete vs edit, the edit wins: the contact is re-created on b and the note with it,
    under the id the applier gets for the new contact (so no parent on b yet)."""
    p = _new_note_under_gone_contact(Policy(), EDITED)
    assert actions(p) == [
        ("b", "create", "contact", "a1", None),
        ("b", "create", "note", "n1", None),
    ]
    create = p.operations[1]
    assert (create.parent_a_id, create.parent_b_id) == ("a1", None)
    assert create.reason == "new on a, with its new contact"
