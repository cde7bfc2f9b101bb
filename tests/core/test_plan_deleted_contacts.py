"""reconcile() around a contact deleted on one side: what the contact's new children become."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncengine.capabilities import Capabilities
from syncengine.models import Plan, Record
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


EDITED = c("a1", email="p@x.com", first_name="Bo")


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
