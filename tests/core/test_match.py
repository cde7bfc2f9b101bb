"""match_contacts: pairs by the strongest key kind first, the same whichever side is a."""

from __future__ import annotations

import pytest

from syncengine.match import MatchResult, Survivor, match_contacts
from syncengine.models import Record


def c(i: str, **fields: object) -> Record:
    return Record("contact", i, dict(fields))


def match(a: list[Record], b: list[Record], survivors: tuple[Survivor, ...] = ()) -> MatchResult:
    return match_contacts(
        a,
        b,
        linked_keys_a={},
        linked_keys_b={},
        region="US",
        key_kinds=("email", "phone"),
        survivors=survivors,
    )


def links(result: MatchResult) -> list[tuple[str, str, str]]:
    return [(ra.id, rb.id, key) for ra, rb, key in result.pairs]


def swapped(result: MatchResult) -> MatchResult:
    return MatchResult(
        [(rb, ra, key) for ra, rb, key in result.pairs],
        result.only_b,
        result.only_a,
    )


def test_email_beats_phone_whichever_side_holds_both_keys():
    both = [c("x1", email="x@x.com", phone="+14155550100")]
    two = [c("y0", phone="+14155550100"), c("y1", email="x@x.com")]
    forward = match(both, two)
    assert links(forward) == [("x1", "y1", "email:x@x.com")]
    assert [r.id for r in forward.only_b] == ["y0"]
    backward = match(two, both)
    assert links(backward) == [("y1", "x1", "email:x@x.com")]
    assert [r.id for r in backward.only_a] == ["y0"]


def test_a_phone_links_a_record_whose_email_found_nothing():
    forward = match(
        [c("a1", email="a@x.com", phone="+14155550100")], [c("b1", phone="(415) 555-0100")]
    )
    assert links(forward) == [("a1", "b1", "phone:+14155550100")]


def test_a_chain_of_keys_is_matched_the_same_both_ways():
    """a1 -email- b1 -phone- a2 -email- b2: every link by email, none by the phone."""
    side_a = [c("a1", email="p@x.com"), c("a2", email="q@x.com", phone="+14155550100")]
    side_b = [c("b1", email="p@x.com", phone="+14155550100"), c("b2", email="q@x.com")]
    forward = match(side_a, side_b)
    assert links(forward) == [("a1", "b1", "email:p@x.com"), ("a2", "b2", "email:q@x.com")]
    backward = match(side_b, side_a)
    assert sorted(links(swapped(backward))) == sorted(links(forward))


def test_records_sharing_a_key_on_one_side_still_wait_in_a_group():
    result = match(
        [c("a1", email="d@x.com"), c("a2", email="D@x.com", phone="+14155550100")],
        [c("b1", phone="+14155550100")],
    )
    assert links(result) == [] and result.only_a == []
    assert {("a", "a1"), ("a", "a2")} <= result.held
    assert [r.id for r in result.only_b] == ["b1"]


@pytest.mark.parametrize(
    ("emails", "told_apart_by"),
    [
        (("p@x.com", "q@x.com", "r@x.com"), "email"),  # an office line: maybe 3 people
        (("p@x.com", "q@x.com", None), None),  # the one without an email may be either
    ],
)
def test_a_group_by_phone_says_whether_emails_tell_its_members_apart(
    emails: tuple[str | None, ...], told_apart_by: str | None
) -> None:
    side_a = [
        c(f"a{i}", phone="+14155550100", **({"email": e} if e else {}))
        for i, e in enumerate(emails)
    ]
    (group,) = match(side_a, []).groups
    assert (group.key, group.told_apart_by) == ("phone:+14155550100", told_apart_by)
    assert group.held_ids == ("a0", "a1", "a2")  # held all the same: only the user can say


def test_a_group_by_email_is_never_told_apart() -> None:
    (group,) = match([c("a1", email="p@x.com"), c("a2", email="P@x.com")], []).groups
    assert group.told_apart_by is None


def test_a_key_leading_into_a_group_on_the_other_side_holds_the_record():
    result = match(
        [c("a1", email="d@x.com", phone="+14155550100")],
        [c("b1", email="d@x.com"), c("b2", email="d@x.com"), c("b3", phone="+14155550100")],
    )
    assert links(result) == [] and ("a", "a1") in result.held


# -- survivors: linked records whose counterpart the other side just deleted ---------------


def relinks(result: MatchResult) -> list[tuple[str, str, str]]:
    return [(ra.id, rb.id, key) for ra, rb, key in result.relinks]


def test_a_new_record_with_a_survivors_key_is_linked_to_it() -> None:
    result = match(
        [], [c("b2", email="p@x.com")], (Survivor("a", c("a1", email="p@x.com"), False),)
    )
    assert relinks(result) == [("a1", "b2", "email:p@x.com")]
    assert links(result) == [] and result.only_b == []


def test_a_survivor_is_relinked_the_same_from_either_side() -> None:
    result = match([c("a2", email="p@x.com")], [], (Survivor("b", c("b1", email="p@x.com"), True),))
    assert relinks(result) == [("a2", "b1", "email:p@x.com")]


def test_a_survivor_never_takes_a_record_a_stronger_key_links_elsewhere() -> None:
    result = match(
        [c("a5", email="q@x.com")],
        [c("b2", email="q@x.com", phone="+14155550100")],
        (Survivor("a", c("a1", phone="+14155550100"), True),),
    )
    assert links(result) == [("a5", "b2", "email:q@x.com")] and relinks(result) == []


@pytest.mark.parametrize("stays", [True, False])
def test_a_new_record_beside_a_survivor_waits_if_the_survivor_stays(stays: bool) -> None:
    result = match(
        [c("a9", email="p@x.com")], [], (Survivor("a", c("a1", email="p@x.com"), stays),)
    )
    if stays:
        assert result.only_a == [] and ("a", "a9") in result.held
        assert [(g.side, g.ids, g.held_ids) for g in result.groups] == [
            ("a", ("a1", "a9"), ("a9",))
        ]
    else:
        assert [r.id for r in result.only_a] == ["a9"] and result.groups == []


def test_two_survivors_with_one_key_link_nothing() -> None:
    survivors = tuple(Survivor("a", c(i, email="p@x.com"), True) for i in ("a1", "a2"))
    result = match([], [c("b2", email="p@x.com")], survivors)
    assert relinks(result) == [] and result.only_b == [] and ("b", "b2") in result.held
    assert [(g.side, g.ids, g.held_ids) for g in result.groups] == [("a", ("a1", "a2"), ())]


def test_survivors_on_both_sides_with_one_key_link_nothing() -> None:
    result = match(
        [c("a9", email="p@x.com")],
        [c("b9", email="p@x.com")],
        (
            Survivor("a", c("a1", email="p@x.com"), False),
            Survivor("b", c("b1", email="p@x.com"), False),
        ),
    )
    assert links(result) == relinks(result) == []
    assert {("a", "a9"), ("b", "b9")} <= result.held
    assert sorted((g.side, g.ids, g.held_ids) for g in result.groups) == [
        ("a", ("a1", "a9"), ("a9",)),
        ("b", ("b1", "b9"), ("b9",)),
    ]
