"""match_contacts: pairs by the strongest key kind first, the same whichever side is a."""

from __future__ import annotations

from syncengine.match import MatchResult, match_contacts
from syncengine.models import Record


def c(i: str, **fields: object) -> Record:
    return Record("contact", i, dict(fields))


def match(a: list[Record], b: list[Record], **linked: dict[str, list[str]]) -> MatchResult:
    return match_contacts(
        a,
        b,
        linked_keys_a=linked.get("a", {}),
        linked_keys_b=linked.get("b", {}),
        region="US",
        key_kinds=("email", "phone"),
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


def test_a_key_leading_into_a_group_on_the_other_side_holds_the_record():
    result = match(
        [c("a1", email="d@x.com", phone="+14155550100")],
        [c("b1", email="d@x.com"), c("b2", email="d@x.com"), c("b3", phone="+14155550100")],
    )
    assert links(result) == [] and ("a", "a1") in result.held
