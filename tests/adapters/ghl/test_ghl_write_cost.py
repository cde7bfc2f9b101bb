"""``GhlAdapter.write_requests``: the plan's estimate of write calls, checked against
the write calls the fake actually logs when the same op is applied."""

from __future__ import annotations

import pytest
from ghl_world import World

from adapters.base import WriteCost
from adapters.ghl.adapter import GhlAdapter
from syncengine.models import JSON, Action, Entity, FieldChange, Op, Record

pytestmark = pytest.mark.timeout(30)

BEFORE: dict[str, JSON] = {
    "email": "cost@example.com",
    "city": "Oslo",
    "company_name": "Old Co",
    "tags": ["a", "b"],
    "custom_fields": {"favourite_colour": "red"},
}


def update(*changes: FieldChange) -> Op:
    return Op("b", Action.UPDATE, "contact", "a1", "b1", changes=changes)


UPDATES: list[tuple[str, Op, int]] = [
    ("one field: the PUT", update(FieldChange("city", "Oslo", "Rome")), 1),
    ("tags added: one POST", update(FieldChange("tags", ["a", "b"], ["a", "b", "c"])), 1),
    ("tags removed: one DELETE", update(FieldChange("tags", ["a", "b"], ["a"])), 1),
    ("tags both ways: POST + DELETE", update(FieldChange("tags", ["a", "b"], ["b", "c"])), 2),
    (
        "field and tags both ways: PUT + POST + DELETE",
        update(FieldChange("city", "Oslo", None), FieldChange("tags", ["a", "b"], ["b", "c"])),
        3,
    ),
    (
        "several fields: still one PUT",
        update(FieldChange("city", "Oslo", "Rome"), FieldChange("first_name", None, "Ada")),
        1,
    ),
    (
        "custom field changed: the PUT",
        update(FieldChange("custom_fields", {"favourite_colour": "red"}, {})),
        1,
    ),
    (
        "create-only company_name: nothing to write",
        update(FieldChange("company_name", "Old Co", "New")),
        0,
    ),
    ("tags unchanged as a set: nothing", update(FieldChange("tags", ["a", "b"], ["b", "a"])), 0),
]


@pytest.mark.parametrize(("case", "op", "expected"), UPDATES, ids=[u[0] for u in UPDATES])
def test_contact_update_cost_matches_the_calls_made(
    world: World, adapter: GhlAdapter, case: str, op: Op, expected: int
) -> None:
    assert adapter.write_requests(op) == expected, case
    target = adapter.create(Record("contact", "", BEFORE))
    before = len(world.state.writes())
    adapter.update("contact", target.id, op.changes)
    assert len(world.state.writes()) - before == expected


def test_the_adapter_claims_write_cost(adapter: GhlAdapter) -> None:
    assert isinstance(adapter, WriteCost)


def test_create_with_tags_is_one_post_with_the_tags_in_the_body(
    world: World, adapter: GhlAdapter
) -> None:
    op = Op("b", Action.CREATE, "contact", "a1", None, fields=BEFORE)
    assert adapter.write_requests(op) == 1
    created = adapter.create(Record("contact", "", op.fields))
    assert created.fields["tags"] == ["a", "b"]
    assert [(r.method, r.path) for r in world.state.writes()] == [("POST", "/contacts/")]


OTHER_OPS: list[tuple[Entity, Action]] = [
    (entity, action)
    for entity in ("contact", "note", "task", "appointment")
    for action in (Action.CREATE, Action.UPDATE, Action.DELETE)
    if (entity, action) != ("contact", Action.UPDATE)  # costed by its changes, above
]


@pytest.mark.parametrize(("entity", "action"), OTHER_OPS)
def test_every_other_op_costs_one(adapter: GhlAdapter, entity: Entity, action: Action) -> None:
    changes = (FieldChange("title", "old", "new"),) if action is Action.UPDATE else ()
    op = Op("b", action, entity, "a1", "c1/x1", changes=changes, fields={"title": "t"})
    assert adapter.write_requests(op) == 1


def test_child_ops_cost_what_the_fake_logs(world: World, adapter: GhlAdapter) -> None:
    parent = adapter.create(Record("contact", "", {"email": "kid@example.com"}))
    before = len(world.state.writes())
    note = adapter.create(Record("note", "", {"body": "hi"}, parent_id=parent.id))
    adapter.update("note", note.id, [FieldChange("body", "hi", "hello")])
    adapter.delete("note", note.id)
    ops = [
        Op("b", Action.CREATE, "note", "n1", None, fields={"body": "hi"}),
        Op("b", Action.UPDATE, "note", "n1", note.id, changes=(FieldChange("body", "hi", "x"),)),
        Op("b", Action.DELETE, "note", "n1", note.id),
    ]
    assert sum(adapter.write_requests(op) for op in ops) == len(world.state.writes()) - before == 3


def test_a_link_writes_nothing(adapter: GhlAdapter) -> None:
    assert adapter.write_requests(Op("both", Action.LINK, "contact", "a1", "b1")) == 0
