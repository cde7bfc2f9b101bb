"""The JSON contract: exact keys and values, ISO datetimes, deterministic bytes."""

from __future__ import annotations

import json

from syncengine.models import (
    Action,
    Conflict,
    ConflictKind,
    DuplicateGroup,
    FieldChange,
    LinkChange,
    Op,
    Plan,
    RunReport,
)
from syncengine.render import dumps, plan_to_dict, render, report_to_dict


def test_small_plan_matches_the_contract_exactly() -> None:
    conflict = Conflict(
        "contact",
        "a1",
        "b1",
        "email",
        ConflictKind.FIELD,
        base="o@x",
        a_value="a@x",
        b_value="b@x",
        a_updated_at=None,
        b_updated_at=None,
        resolution="held",
        rule="hold",
    )
    plan = Plan(
        connection="c",
        operations=(
            Op(
                "b",
                Action.UPDATE,
                "contact",
                "a1",
                "b1",
                changes=(FieldChange("city", "Köln", "Bonn"),),
                reason="changed on a",
            ),
        ),
        conflicts=(conflict,),
        duplicates=(DuplicateGroup("a", "contact", "email:d@x", ("a2", "a3"), ("a3",)),),
        notes=("n",),
    )
    assert plan_to_dict(plan) == {
        "connection": "c",
        "operations": [
            {
                "side": "b",
                "action": "update",
                "entity": "contact",
                "id": "b1",
                "counterpart_id": "a1",
                "changes": {"city": {"from": "Köln", "to": "Bonn"}},
                "reason": "changed on a",
            }
        ],
        "conflicts": [
            {
                "key": "contact:a1:b1:email",
                "entity": "contact",
                "a_id": "a1",
                "b_id": "b1",
                "field": "email",
                "kind": "field",
                "base": "o@x",
                "a": "a@x",
                "b": "b@x",
                "a_updated_at": None,
                "b_updated_at": None,
                "resolution": "held",
                "rule": "hold",
            }
        ],
        "duplicates": [
            {
                "side": "a",
                "entity": "contact",
                "key": "email:d@x",
                "ids": ["a2", "a3"],
                "held_ids": ["a3"],
                "told_apart_by": None,
            }
        ],
        "decisions": [],
        "notes": ["n"],
        "summary": {
            "conflicts": 1,
            "conflicts_held": 1,
            "duplicate_groups": 1,
            "kept_apart": 0,
            "operations": 1,
            "update_b": 1,
        },
        "link_changes": [],
    }


def test_top_level_and_op_keys_keep_contract_order(plan: Plan) -> None:
    data = plan_to_dict(plan)
    assert list(data) == [
        "connection",
        "operations",
        "conflicts",
        "duplicates",
        "decisions",
        "notes",
        "summary",
        "link_changes",
    ]
    assert [list(op) for op in data["operations"]] == [
        ["side", "action", "entity", "id", "counterpart_id", "changes", "reason"]
    ] * len(plan.operations)
    assert data["summary"] == plan.summary()


def test_id_is_target_and_counterpart_is_source(plan: Plan) -> None:
    ops = plan_to_dict(plan)["operations"]
    pairs = [(op["side"], op["action"], op["id"], op["counterpart_id"]) for op in ops]
    assert pairs == [
        ("both", "link", "a1", "b1"),
        ("b", "create", None, "a2"),
        ("b", "update", "b3", "a3"),
        ("a", "update", "n1", "nb1"),
        ("a", "delete", "t1", "tb1"),
        ("a", "create", None, "ap1"),
    ]


def test_create_without_changes_lists_fields_and_nested_values_are_whole(plan: Plan) -> None:
    ops = plan_to_dict(plan)["operations"]
    assert ops[1]["changes"]["first_name"] == {"from": None, "to": "Zoë"}
    assert ops[1]["changes"]["tags"] == {"from": None, "to": ["lead", "vip"]}
    assert ops[2]["changes"]["custom_fields"] == {
        "from": {"address": {"city": "Köln"}, "plan": "gold", "seats": 3},
        "to": {"address": {"city": "Bonn"}, "plan": "silver", "region": "eu", "seats": 3},
    }
    assert ops[0]["changes"] == {}
    assert ops[4]["changes"] == {}


def test_conflicts_keep_plan_order_and_iso_datetimes(plan: Plan) -> None:
    conflicts = plan_to_dict(plan)["conflicts"]
    assert [c["key"] for c in conflicts] == [c.key for c in plan.conflicts]
    assert conflicts[0]["a_updated_at"] == "2025-03-01T12:00:00+00:00"
    assert conflicts[0]["b_updated_at"] == "2025-03-01T12:00:07.250000+00:00"
    delete = conflicts[2]
    assert (delete["kind"], delete["a"], delete["b"]) == ("delete_vs_edit", None, "Call back")


def test_decisions_shape(plan: Plan) -> None:
    assert plan_to_dict(plan)["decisions"] == [
        {
            "entity": "contact",
            "a_id": "a5",
            "b_id": "b5",
            "field": "phone",
            "base": "+4930111",
            "a": "+4930222",
            "b": "+4930333",
            "rule": "newest_wins",
            "winner": "b",
            "result": "+4930333",
        }
    ]


def test_link_changes_follow_the_contract_keys() -> None:
    plan = Plan(
        "c", link_changes=(LinkChange("contact", "a1", "b1", "tombstone", "delete ignored"),)
    )
    assert plan_to_dict(plan)["link_changes"] == [
        {
            "entity": "contact",
            "a_id": "a1",
            "b_id": "b1",
            "change": "tombstone",
            "reason": "delete ignored",
        }
    ]


def test_dumps_is_deterministic_and_independent_of_value_key_order() -> None:
    def make(custom: dict[str, object]) -> Plan:
        change = FieldChange("custom_fields", {}, custom)
        return Plan(
            "c", operations=(Op("a", Action.UPDATE, "contact", "a", "b", changes=(change,)),)
        )

    first = dumps(make({"z": 1, "a": {"y": 2, "b": 3}}))
    second = dumps(make({"a": {"b": 3, "y": 2}, "z": 1}))
    assert first == second
    assert first.index('"a"') < first.index('"z"')


def test_dumps_round_trips_and_keeps_unicode(plan: Plan, report: RunReport) -> None:
    text = dumps(plan)
    assert json.loads(text) == plan_to_dict(plan)
    assert "Zoë" in text
    assert "crm→ghl" in text
    assert dumps(plan) == text
    assert json.loads(dumps(report)) == report_to_dict(report)
    assert dumps(plan, indent=None).count("\n") == 0


def test_report_dict(report: RunReport) -> None:
    data = report_to_dict(report)
    assert list(data) == [
        "run_id",
        "connection",
        "dry_run",
        "started_at",
        "finished_at",
        "duration_seconds",
        "counts",
        "calls",
        "problems",
        "outcomes",
        "plan",
        "refusal",  # added last: earlier keys keep their positions
    ]
    assert data["refusal"] is None
    assert data["run_id"] == 42
    assert data["dry_run"] is False
    assert data["started_at"] == "2025-03-01T12:00:00+00:00"
    assert data["duration_seconds"] == 7.25
    assert data["counts"] == {"done": 3, "failed": 1, "quarantined": 1}
    assert list(data["calls"].items()) == [("a", 12), ("b", 40)]
    assert data["outcomes"][2] == {
        "op": data["plan"]["operations"][2],
        "status": "failed",
        "result_id": None,
        "error": "HTTP 503 from side b",
        "attempts": 3,
    }
    assert data["outcomes"][1]["result_id"] == "b2"
    assert data["plan"] == plan_to_dict(report.plan)


def test_render_json_ends_with_newline(plan: Plan) -> None:
    out = render(plan, "json")
    assert out.endswith("}\n")
    assert json.loads(out)["connection"] == "crm→ghl"


def test_a_relink_names_the_pair_it_replaces() -> None:
    relink = Op(
        "both",
        Action.LINK,
        "contact",
        "a1",
        "b2",
        reason="matched by email: made again on b after its delete there",
        replaces=("a1", "b1"),
    )
    plain = Op("both", Action.LINK, "contact", "a2", "b3", reason="matched by email")
    ops = plan_to_dict(Plan(connection="c", operations=(relink, plain)))["operations"]
    assert ops[0]["replaces"] == {"a_id": "a1", "b_id": "b1"}
    assert ops[0]["id"] == "a1" and ops[0]["counterpart_id"] == "b2"
    assert "replaces" not in ops[1]
