"""Symmetry of ``reconcile``: swapping sides a and b mirrors the plan, exactly.

``mirror`` swaps every side-named thing of a ``SyncInput`` (pairs, unlinked records,
linked keys, capabilities, contact links, a user's resolutions) and the policy
(``Policy.mirrored``: conflict rules, tie-break, field directions). The property is
``reconcile(mirror(input), mirror(policy)) == mirror(reconcile(input, policy))`` for the
whole plan: ops, conflicts, decisions, duplicate groups, link changes and notes, with
every rule and reason text mirrored too (they name sides).

The inputs are what the engine hands the core: linked pairs with a base per side and
random field edits, tag adds and removes, custom-field edits and deletes on either side;
linked notes under them (deleted with their contact); new contacts and notes on both
sides matched by email, phone or content; already-linked records holding match keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine.capabilities import Capabilities
from syncengine.models import (
    ACTION_ORDER,
    ENTITIES,
    Conflict,
    ConflictKind,
    Decision,
    Op,
    Plan,
    Record,
    Resolution,
)
from syncengine.normalize import canonical_fields, match_keys
from syncengine.plan import LinkedPair, SyncInput, reconcile
from syncengine.policy import ConflictRule, DeleteRule, Direction, FieldRule, Policy

# -- mirroring ------------------------------------------------------------------------------

_SIDE = {"a": "b", "b": "a"}
# Words "a" that are articles, not side a, in rule and reason texts.
_ARTICLES = ("a user", "a new value", "a matched pair", "a linked contact")


def mirror_text(text: str) -> str:
    """Swap the side names in a rule, reason or note ("a->b" too), leaving articles."""
    for i, phrase in enumerate(_ARTICLES):
        text = text.replace(phrase, f"\0{i}\0")
    text = text.replace("a->b", "\1").replace("b->a", "\2")
    text = re.sub(r"(?<![\w\0])([ab])(?![\w\0])", lambda m: _SIDE[m.group(1)], text)
    text = text.replace("\1", "b->a").replace("\2", "a->b")
    for i, phrase in enumerate(_ARTICLES):
        text = text.replace(f"\0{i}\0", phrase)
    return text


def mirror_pair(p: LinkedPair) -> LinkedPair:
    return LinkedPair(p.entity, p.b_id, p.a_id, p.base_b, p.base_a, p.b, p.a)


def _mirror_resolution_key(key: str) -> str:
    entity, a_id, b_id, name = key.split(":", 3)
    return f"{entity}:{b_id}:{a_id}:{name}"


def mirror_input(inp: SyncInput) -> SyncInput:
    return SyncInput(
        connection=inp.connection,
        caps_a=inp.caps_b,
        caps_b=inp.caps_a,
        pairs=[mirror_pair(p) for p in inp.pairs],
        unlinked_a=inp.unlinked_b,
        unlinked_b=inp.unlinked_a,
        linked_keys_a=inp.linked_keys_b,
        linked_keys_b=inp.linked_keys_a,
        contact_links={b: a for a, b in inp.contact_links.items()},
        notes=inp.notes,
        resolutions={
            _mirror_resolution_key(k): Resolution(
                "b" if r.keep == "a" else "a" if r.keep == "b" else "value",
                r.value,
                r.b_value,
                r.a_value,
            )
            for k, r in inp.resolutions.items()
        },
    )


def _op_key(op: Op) -> tuple[int, int, str, str, str]:
    return (
        ENTITIES.index(op.entity),
        ACTION_ORDER[op.action],
        op.side,
        op.a_id or "",
        op.b_id or "",
    )


def mirror_op(op: Op) -> Op:
    return replace(
        op,
        side=_SIDE.get(op.side, op.side),  # type: ignore[arg-type]
        a_id=op.b_id,
        b_id=op.a_id,
        parent_a_id=op.parent_b_id,
        parent_b_id=op.parent_a_id,
        reason=mirror_text(op.reason),
        replaces=(op.replaces[1], op.replaces[0]) if op.replaces else None,
    )


def mirror_per_side(value: Any) -> Any:
    """A value named per side (``{"a": ..., "b": ...}``, where the sides differ), swapped."""
    if isinstance(value, Mapping) and set(value) == {"a", "b"}:
        return {"a": value["b"], "b": value["a"]}
    return value


def mirror_conflict(c: Conflict) -> Conflict:
    return replace(
        c,
        a_id=c.b_id,
        b_id=c.a_id,
        base=mirror_per_side(c.base) if c.kind is ConflictKind.FIELD else c.base,
        a_value=c.b_value,
        b_value=c.a_value,
        a_updated_at=c.b_updated_at,
        b_updated_at=c.a_updated_at,
        resolution=_SIDE.get(c.resolution, c.resolution),  # type: ignore[arg-type]
        rule=mirror_text(c.rule),
    )


def mirror_decision(d: Decision) -> Decision:
    return replace(
        d,
        a_id=d.b_id,
        b_id=d.a_id,
        base=mirror_per_side(d.base),
        a_value=d.b_value,
        b_value=d.a_value,
        winner=_SIDE.get(d.winner, d.winner),  # type: ignore[arg-type]
        rule=mirror_text(d.rule),
        result=mirror_per_side(d.result),
    )


def mirror_plan(p: Plan) -> Plan:
    """The plan as the mirrored input should produce it, in the plan's own order."""
    return Plan(
        connection=p.connection,
        operations=tuple(sorted((mirror_op(o) for o in p.operations), key=_op_key)),
        conflicts=tuple(
            sorted(
                (mirror_conflict(c) for c in p.conflicts),
                key=lambda c: (ENTITIES.index(c.entity), c.a_id, c.b_id, c.field),
            )
        ),
        duplicates=tuple(
            sorted(
                (replace(g, side=_SIDE[g.side]) for g in p.duplicates),  # type: ignore[arg-type]
                key=lambda g: (g.side, ENTITIES.index(g.entity), g.key),
            )
        ),
        decisions=tuple(
            sorted(
                (mirror_decision(d) for d in p.decisions),
                key=lambda d: (ENTITIES.index(d.entity), d.a_id or "", d.b_id or "", d.field),
            )
        ),
        notes=tuple(sorted(mirror_text(n) for n in p.notes)),
        link_changes=tuple(
            sorted(
                (
                    replace(lc, a_id=lc.b_id, b_id=lc.a_id, reason=mirror_text(lc.reason))
                    for lc in p.link_changes
                ),
                key=lambda lc: (ENTITIES.index(lc.entity), lc.a_id, lc.b_id),
            )
        ),
        kept_apart=p.kept_apart,
    )


def _field_of(record: Record, name: str) -> Any:
    head, _, key = name.partition(".")
    value = record.fields.get(head)
    return (value or {}).get(key) if key else value


_BOTH = "; a cannot write it; b cannot write it"


def _both_unwritable(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """A rule naming both sides that cannot write a field names a first: cosmetic."""
    swapped = "; b cannot write it; a cannot write it"
    return tuple(replace(x, rule=x.rule.replace(swapped, _BOTH)) for x in items)


def assert_mirrored(got: Plan, want: Plan) -> None:
    """Field by field, so a failure names the part of the plan that is not symmetric.
    ``want`` is the mirror of the plan for an input; ``got`` the plan for its mirror."""
    for part in ("operations", "conflicts", "decisions", "duplicates", "link_changes"):
        g, w = getattr(got, part), getattr(want, part)
        if part in ("decisions", "conflicts"):
            g, w = _both_unwritable(g), _both_unwritable(w)
        extra = [x for x in g if x not in w]
        missing = [x for x in w if x not in g]
        assert g == w, f"{part} not mirrored:\n  only mirrored: {extra}\n  only forward: {missing}"
    assert tuple(sorted(got.notes)) == want.notes  # notes follow processing order


def check_symmetry(inp: SyncInput, policy: Policy) -> Plan:
    forward = reconcile(inp, policy)
    mirrored = reconcile(mirror_input(inp), policy.mirrored())
    assert_mirrored(mirrored, mirror_plan(forward))
    # Mirroring twice is the identity: the helpers themselves lose nothing.
    assert mirror_plan(mirror_plan(forward)) == replace(forward, notes=tuple(sorted(forward.notes)))
    return forward


# -- the mirror helpers, by example -------------------------------------------------------


def test_mirror_text_swaps_sides_not_articles():
    assert mirror_text("changed on a only; direction a->b keeps it on a") == (
        "changed on b only; direction b->a keeps it on b"
    )
    assert mirror_text("resolved by a user: keep b") == "resolved by a user: keep a"
    assert mirror_text("first sync of a matched pair") == "first sync of a matched pair"
    assert mirror_text("note na1 on a not created: side b cannot create notes") == (
        "note na1 on b not created: side a cannot create notes"
    )
    assert mirror_text("resolved by a user: a new value; b cannot write it") == (
        "resolved by a user: a new value; a cannot write it"
    )


# -- strategies: what the engine hands the core ---------------------------------------------

T = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(3)]
TIMES = st.sampled_from([None, *T])
EMAILS = ["ann@x.com", "bo@x.com", "cy@x.com", "di@x.com"]
PHONES = ["+14155550100", "+14155550101", "+14155550102"]
NAMES = st.sampled_from([None, "Ann", "Bo", "Cy"])
CITIES = st.sampled_from([None, "Oslo", "Rome", "Lima"])
TAG_POOL = ["vip", "lead", "cold", "new"]
PLANS = st.sampled_from([None, "gold", "free"])
BODIES = st.sampled_from(["call back", "sent quote", "paid"])


@st.composite
def contact_fields(draw: st.DrawFn, email: str | None) -> dict[str, Any]:
    return canonical_fields(
        {
            "email": email,
            "phone": draw(st.sampled_from([None, *PHONES])),
            "first_name": draw(NAMES),
            "city": draw(CITIES),
            "tags": draw(st.lists(st.sampled_from(TAG_POOL), max_size=3, unique=True)),
            "custom_fields": {"plan": draw(PLANS), "tier": draw(st.sampled_from([None, "1"]))},
        }
    )


@st.composite
def edited(draw: st.DrawFn, base: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with random user edits: fields set or cleared, tags added and removed,
    custom-field keys changed; often no edit at all."""
    fields = dict(base)
    for name, values in (
        ("first_name", NAMES),
        ("city", CITIES),
        ("email", st.sampled_from([None, *EMAILS, "Ann@X.com"])),
        ("phone", st.sampled_from([None, *PHONES, "(415) 555-0100"])),
    ):
        if draw(st.integers(0, 2)) == 0:
            fields[name] = draw(values)
    if draw(st.booleans()):
        tags = set(fields.get("tags") or ())
        tags |= set(draw(st.lists(st.sampled_from(TAG_POOL), max_size=2)))
        tags -= set(draw(st.lists(st.sampled_from(TAG_POOL), max_size=2)))
        fields["tags"] = sorted(tags)
    if draw(st.integers(0, 2)) == 0:
        custom = dict(fields.get("custom_fields") or {})
        custom[draw(st.sampled_from(["plan", "tier"]))] = draw(PLANS)
        fields["custom_fields"] = custom
    return canonical_fields(fields)


@st.composite
def current(draw: st.DrawFn, base: Record, deleted: bool) -> Record | None:
    if deleted:
        return None
    if base.entity == "contact":
        fields = draw(edited(base.fields))
    else:
        fields = dict(base.fields)
        if draw(st.booleans()):
            fields = canonical_fields({**fields, "body": draw(BODIES)})
    return replace(base, fields=fields, updated_at=draw(TIMES))


@st.composite
def sync_inputs(draw: st.DrawFn) -> SyncInput:
    pairs: list[LinkedPair] = []
    linked_keys: dict[str, dict[str, list[str]]] = {"a": {}, "b": {}}
    contact_links: dict[str, str] = {}
    unlinked: dict[str, list[Record]] = {"a": [], "b": []}
    for i in range(draw(st.integers(0, 4))):
        a_id, b_id = f"ca{i}", f"cb{i}"
        base_fields = draw(contact_fields(draw(st.sampled_from([None, *EMAILS]))))
        base_time = draw(TIMES)
        base_a = Record("contact", a_id, base_fields, base_time)
        base_b_fields = dict(base_fields)
        if base_fields.get("email") == "ann@x.com" and draw(st.booleans()):
            base_b_fields["email"] = "Ann@X.com"  # the same address, as b spells it
        base_b = Record("contact", b_id, base_b_fields, base_time)
        gone = {s: draw(st.integers(0, 4)) == 0 for s in ("a", "b")}
        # The engine passes an unchanged side as its base; often a side is unchanged.
        cur_a = draw(st.one_of(st.just(base_a), current(base_a, False))) if not gone["a"] else None
        cur_b = draw(st.one_of(st.just(base_b), current(base_b, False))) if not gone["b"] else None
        pairs.append(LinkedPair("contact", a_id, b_id, base_a, base_b, cur_a, cur_b))
        contact_links[a_id] = b_id
        for side, rec in (("a", base_a), ("b", base_b)):
            for key in match_keys(rec):
                linked_keys[side].setdefault(key, []).append(rec.id)
        for j in range(draw(st.integers(0, 2))):
            body = {"body": draw(BODIES)}
            note_a = Record("note", f"na{i}{j}", body, draw(TIMES), parent_id=a_id)
            note_b = Record("note", f"nb{i}{j}", body, note_a.updated_at, parent_id=b_id)
            # A contact deleted on a side takes its notes with it there.
            n_gone = {s: gone[s] or draw(st.integers(0, 4)) == 0 for s in ("a", "b")}
            pairs.append(
                LinkedPair(
                    "note",
                    note_a.id,
                    note_b.id,
                    note_a,
                    note_b,
                    draw(current(note_a, n_gone["a"])),
                    draw(current(note_b, n_gone["b"])),
                )
            )
        for side, parent in (("a", a_id), ("b", b_id)):
            if not gone[side] and draw(st.integers(0, 3)) == 0:
                unlinked[side].append(
                    Record("note", f"new{side}{i}", {"body": draw(BODIES)}, parent_id=parent)
                )
    for side in ("a", "b"):
        for k in range(draw(st.integers(0, 4))):
            # An email, a phone, both (which may lead to two different records), or
            # neither (matched by name).
            kind = draw(st.sampled_from(["email", "phone", "both", "name"]))
            fields = canonical_fields(
                {
                    "email": draw(st.sampled_from(EMAILS)) if kind in ("email", "both") else None,
                    "phone": draw(st.sampled_from(PHONES)) if kind in ("phone", "both") else None,
                    "first_name": draw(NAMES)
                    if kind != "name"
                    else draw(st.sampled_from(["Ann", "Bo"])),
                    "city": draw(CITIES),
                    "tags": draw(st.lists(st.sampled_from(TAG_POOL), max_size=2, unique=True)),
                }
            )
            rid = f"u{side}{k}"
            unlinked[side].append(Record("contact", rid, fields, draw(TIMES)))
            if draw(st.integers(0, 3)) == 0:
                unlinked[side].append(
                    Record("note", f"un{side}{k}", {"body": draw(BODIES)}, parent_id=rid)
                )
        for k in range(draw(st.integers(0, 2))):
            # Linked records not in play this run, holding keys (duplicate detection).
            key = draw(
                st.sampled_from([f"email:{e}" for e in EMAILS] + [f"phone:{p}" for p in PHONES])
            )
            linked_keys[side].setdefault(key, []).append(f"l{side}{k}")
    resolutions: dict[str, Resolution] = {}
    for p in pairs:
        if p.entity != "contact" or draw(st.booleans()):
            continue
        # A user's decision on what is in conflict (applied only where one is held).
        names = ["*"] if p.a is None or p.b is None else []
        for name in ("first_name", "city", "email", "phone", "custom_fields.plan"):
            if (
                p.a
                and p.b
                and _field_of(p.a, name) != _field_of(p.base_a, name)
                and _field_of(p.b, name) != _field_of(p.base_b, name)
            ):
                names.append(name)
        if names:
            name = draw(st.sampled_from(names))
            kind = draw(st.sampled_from(["a", "b", "value"]))
            value = draw(st.sampled_from(["Zed", None])) if kind == "value" else None
            # What the user saw: most often what the sides hold, else a side moved since.
            seen = [
                (None if r is None else dict(r.fields) if name == "*" else _field_of(r, name))
                if draw(st.integers(0, 3))
                else "Older"
                for r in (p.a, p.b)
            ]
            resolutions[f"contact:{p.a_id}:{p.b_id}:{name}"] = Resolution(
                kind, value, seen[0], seen[1]
            )
    return SyncInput(
        "t",
        draw(capabilities()),
        draw(capabilities()),
        pairs=draw(st.permutations(pairs)),
        unlinked_a=draw(st.permutations(unlinked["a"])),
        unlinked_b=draw(st.permutations(unlinked["b"])),
        linked_keys_a=linked_keys["a"],
        linked_keys_b=linked_keys["b"],
        contact_links=contact_links,
        resolutions=resolutions,
    )


@st.composite
def capabilities(draw: st.DrawFn) -> Capabilities:
    if draw(st.booleans()):
        return Capabilities()
    all_entities = frozenset(ENTITIES)
    return Capabilities(
        can_create=all_entities - frozenset(draw(st.sets(st.sampled_from(["contact", "note"])))),
        can_delete=all_entities - frozenset(draw(st.sets(st.sampled_from(["contact", "note"])))),
        read_only_fields={"contact": frozenset(draw(st.sets(st.sampled_from(["city", "tags"]))))},
        create_only_fields={
            "contact": frozenset(draw(st.sets(st.sampled_from(["company_name", "first_name"]))))
        },
    )


FIELD_RULES = st.dictionaries(
    st.sampled_from(["city", "first_name", "tags", "custom_fields.plan", "contact.email"]),
    st.builds(
        FieldRule,
        conflicts=st.sampled_from([None, *ConflictRule]),
        direction=st.sampled_from(list(Direction)),
    ),
    max_size=2,
)
POLICIES = st.builds(
    Policy,
    conflicts=st.sampled_from(list(ConflictRule)),
    tie_break=st.sampled_from(["a", "b"]),
    deletes=st.sampled_from(list(DeleteRule)),
    fields=FIELD_RULES,
)


# -- the property ---------------------------------------------------------------------------


@settings(max_examples=settings.default.max_examples * 2)
@given(sync_inputs(), POLICIES)
def test_swapping_sides_mirrors_the_plan(inp: SyncInput, policy: Policy) -> None:
    check_symmetry(inp, policy)


@given(sync_inputs(), POLICIES)
def test_plan_is_independent_of_input_order(inp: SyncInput, policy: Policy) -> None:
    shuffled = replace(
        inp,
        pairs=list(reversed(inp.pairs)),
        unlinked_a=list(reversed(inp.unlinked_a)),
        unlinked_b=list(reversed(inp.unlinked_b)),
    )
    assert reconcile(shuffled, policy) == reconcile(inp, policy)


# -- examples the property found or guards ------------------------------------------------


def _c(i: str, **fields: object) -> Record:
    return Record("contact", i, dict(fields), T[0])


def test_delete_vs_edit_mirrors_under_every_rule():
    base = {"email": "p@x.com", "city": "A"}
    for rule in ConflictRule:
        for deletes in (DeleteRule.PROPAGATE, DeleteRule.MANUAL):
            pair = LinkedPair(
                "contact",
                "ca",
                "cb",
                _c("ca", **base),
                _c("cb", **base),
                None,
                _c("cb", **base, first_name="E"),
            )
            plan = check_symmetry(
                SyncInput("t", Capabilities(), Capabilities(), pairs=[pair]),
                Policy(conflicts=rule, deletes=deletes),
            )
            assert plan.conflicts  # a delete against an edit is always a conflict


@pytest.mark.parametrize("keep", [("a", None), ("b", None), ("value", "Zed")])
def test_a_users_resolution_of_a_held_conflict_mirrors(keep):
    base = {"email": "p@x.com", "city": "A"}
    pair = LinkedPair(
        "contact",
        "ca",
        "cb",
        _c("ca", **base),
        _c("cb", **base),
        _c("ca", **base, first_name="Ann"),
        _c("cb", **base, first_name="Bo"),
    )
    inp = SyncInput(
        "t",
        Capabilities(),
        Capabilities(),
        pairs=[pair],
        resolutions={"contact:ca:cb:first_name": Resolution(keep[0], keep[1], "Ann", "Bo")},
    )
    plan = check_symmetry(inp, Policy(conflicts=ConflictRule.MANUAL))
    (decision,) = plan.decisions
    assert not plan.conflicts and decision.rule.startswith("resolved by a user")
    want = {"a": "Ann", "b": "Bo", "value": "Zed"}[keep[0]]
    assert {ch.after for op in plan.operations for ch in op.changes} == {want}
    # Each write says why it goes: the user's decision, not only "changed since last sync".
    assert plan.operations
    assert all(op.reason.endswith("first_name resolved by a user") for op in plan.operations)


def _decisions_mirror(inp: SyncInput, policy: Policy) -> None:
    forward = reconcile(inp, policy)
    mirrored = reconcile(mirror_input(inp), policy.mirrored())
    assert mirrored.decisions == mirror_plan(forward).decisions


def test_decision_result_of_a_held_conflict_is_symmetric():
    base = {"email": "p@x.com"}
    pair = LinkedPair(
        "contact",
        "ca",
        "cb",
        _c("ca", **base),
        _c("cb", **base),
        _c("ca", **base, first_name="Ann"),
        _c("cb", **base, first_name="Bo"),
    )
    inp = SyncInput("t", Capabilities(), Capabilities(), pairs=[pair])
    _decisions_mirror(inp, Policy(conflicts=ConflictRule.MANUAL))


def test_decision_base_is_symmetric_when_the_bases_differ():
    pair = LinkedPair(
        "contact",
        "ca",
        "cb",
        _c("ca", email="ann@x.com"),
        _c("cb", email="Ann@X.com"),
        _c("ca", email="bo@x.com"),
        _c("cb", email="Ann@X.com"),
    )
    inp = SyncInput("t", Capabilities(), Capabilities(), pairs=[pair])
    _decisions_mirror(inp, Policy())


def test_matching_is_symmetric_when_a_record_has_two_keys():
    both = [_c("a1", email="x@x.com", phone="+14155550100")]
    two = [_c("b0", phone="+14155550100"), _c("b1", email="x@x.com")]
    check_symmetry(
        SyncInput("t", Capabilities(), Capabilities(), unlinked_a=both, unlinked_b=two), Policy()
    )


@pytest.mark.parametrize("deletes", list(DeleteRule))
@pytest.mark.parametrize("edited", [False, True])
def test_a_survivor_linked_to_its_record_made_again_mirrors(deletes, edited):
    base = {"email": "p@x.com", "city": "A"}
    survivor = _c("ca", **base, first_name="E") if edited else _c("ca", **base)
    pair = LinkedPair("contact", "ca", "cb", _c("ca", **base), _c("cb", **base), survivor, None)
    kids = LinkedPair(
        "note",
        "na",
        "nb",
        Record("note", "na", {"body": "x"}, parent_id="ca"),
        Record("note", "nb", {"body": "x"}, parent_id="cb"),
        Record("note", "na", {"body": "x"}, parent_id="ca"),
        None,
    )
    inp = SyncInput(
        "t",
        Capabilities(),
        Capabilities(),
        pairs=[pair, kids],
        unlinked_a=[Record("note", "new", {"body": "y"}, parent_id="ca")],
        unlinked_b=[_c("cb2", email="P@x.com", city="B")],
        contact_links={"ca": "cb"},
    )
    for policy in (Policy(deletes=deletes), Policy(deletes=deletes, conflicts=ConflictRule.B)):
        plan = check_symmetry(inp, policy)
        assert ("ca", "cb2") in {
            (op.a_id, op.b_id) for op in plan.operations if op.entity == "contact"
        }


@pytest.mark.parametrize("deletes", list(DeleteRule))
def test_a_new_child_under_a_contact_deleted_on_the_other_side_mirrors(deletes):
    base = {"email": "p@x.com", "city": "A"}
    for survivor in (_c("ca", **base), _c("ca", **base, first_name="E")):
        pair = LinkedPair("contact", "ca", "cb", _c("ca", **base), _c("cb", **base), survivor, None)
        inp = SyncInput(
            "t",
            Capabilities(),
            Capabilities(),
            pairs=[pair],
            unlinked_a=[Record("note", "new", {"body": "y"}, parent_id="ca")],
            contact_links={"ca": "cb"},
        )
        check_symmetry(inp, Policy(deletes=deletes))
