"""The nested-diff helper: paths, kinds, ordering and value display."""

from __future__ import annotations

from syncengine.models import Action, FieldChange, Op
from syncengine.render.diff import (
    ValueChange,
    describe,
    diff_change,
    diff_values,
    format_value,
    op_change_lines,
    op_changes,
    truncate,
)


def test_changed_added_and_removed_keys() -> None:
    changes = diff_values(
        "custom_fields",
        {"plan": "gold", "seats": 3, "old": True},
        {"plan": "silver", "seats": 3, "region": "eu"},
    )
    assert changes == (
        ValueChange("custom_fields.old", "removed", before=True),
        ValueChange("custom_fields.plan", "changed", "gold", "silver"),
        ValueChange("custom_fields.region", "added", after="eu"),
    )


def test_nested_dict_path() -> None:
    changes = diff_values(
        "custom_fields", {"address": {"city": "Köln"}}, {"address": {"city": "Bonn"}}
    )
    assert [describe(c) for c in changes] == ['custom_fields.address.city: "Köln" → "Bonn"']


def test_tags_diff_as_sets() -> None:
    changes = diff_values("tags", ["lead", "vip"], ["customer", "vip"])
    assert [describe(c) for c in changes] == ['tags: - "lead"', 'tags: + "customer"']


def test_single_tag_swap_is_not_shown_as_a_positional_change() -> None:
    changes = diff_values("tags", ["lead"], ["customer"])
    assert [c.kind for c in changes] == ["removed", "added"]
    assert all(c.path == "tags" for c in changes)


def test_reordered_list_is_no_change() -> None:
    assert diff_values("tags", ["a", "b"], ["b", "a"]) == ()


def test_awkward_keys_are_quoted() -> None:
    (change,) = diff_values("custom_fields", {"a b.c": 1}, {"a b.c": 2})
    assert change.path == 'custom_fields["a b.c"]'


def test_scalars_and_type_changes_are_whole_value_changes() -> None:
    assert diff_values("email", "a@x", "b@x") == (ValueChange("email", "changed", "a@x", "b@x"),)
    assert diff_values("email", "a@x", "a@x") == ()
    assert diff_values("seats", 1, True) == (ValueChange("seats", "changed", 1, True),)
    whole = diff_values("custom_fields", {"plan": "gold"}, None)
    assert whole == (ValueChange("custom_fields", "changed", {"plan": "gold"}, None),)


def test_order_does_not_depend_on_dict_insertion_order() -> None:
    before = {"z": 1, "a": 1, "m": 1}
    after = {"m": 2, "z": 2, "a": 2}
    forward = diff_values("cf", before, after)
    backward = diff_values("cf", dict(reversed(before.items())), dict(reversed(after.items())))
    assert forward == backward
    assert [c.path for c in forward] == ["cf.a", "cf.m", "cf.z"]


def test_format_value_quotes_and_truncates() -> None:
    assert format_value("") == '""'
    assert format_value(None) == "null"
    assert format_value("Zoë") == '"Zoë"'
    assert format_value({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'
    long = format_value("x" * 500, limit=20)
    assert len(long) == 20
    assert long.endswith("…")
    assert truncate("short", 20) == "short"
    assert truncate("anything", 0) == "anything"


def test_create_lists_its_fields() -> None:
    op = Op("b", Action.CREATE, "contact", "a1", None, fields={"email": "z@x", "tags": ["vip"]})
    assert op_change_lines(op) == ['email = "z@x"', 'tags = ["vip"]']
    assert op_changes(op) == (FieldChange("email", None, "z@x"), FieldChange("tags", None, ["vip"]))


def test_update_lines_use_leaf_paths() -> None:
    op = Op(
        "a",
        Action.UPDATE,
        "contact",
        "a1",
        "b1",
        changes=(
            FieldChange("custom_fields", {"plan": "gold"}, {"plan": "silver"}),
            FieldChange("city", None, "Berlin"),
        ),
    )
    assert op_change_lines(op) == [
        'custom_fields.plan: "gold" → "silver"',
        'city: null → "Berlin"',
    ]


def test_a_listed_change_with_equal_values_is_still_shown() -> None:
    op = Op("a", Action.UPDATE, "contact", "a1", "b1", changes=(FieldChange("tags", ["x"], ["x"]),))
    assert diff_change(op.changes[0]) == ()
    assert op_change_lines(op) == ['tags: ["x"] → ["x"]']
