"""The base (side records), links and cursors, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.store import CHUNK, Store, StoredRecord, stored
from syncengine.fingerprint import fingerprint
from syncengine.models import Record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def contact(i: int, **fields: object) -> Record:
    return Record(
        entity="contact",
        id=f"c{i}",
        fields={"first_name": f"Ada {i}", "email": f"ada{i}@example.com", **fields},
        updated_at=T0 + timedelta(seconds=i),
    )


def put(store: Store, side: str, records: list[StoredRecord], connection: str = "c") -> None:
    with store.transaction() as conn:
        store.put_records(conn, connection, side, records)  # type: ignore[arg-type]


def test_records_round_trip_past_the_chunk_size(store: Store) -> None:
    n = CHUNK * 2 + 50
    records = [
        contact(
            i,
            tags=["vip", "lead"],
            custom_fields={"plan": "gold", "seats": "3"},
            last_name="Løvelace ✓",
        )
        for i in range(n)
    ]
    put(
        store,
        "a",
        [stored(r, (f"email:ada{r.id}",), linked=i % 2 == 0) for i, r in enumerate(records)],
    )

    fps = store.fingerprints("c", "a", "contact")
    assert len(fps) == n
    assert fps["c0"][:2] == (fingerprint(records[0].fields), True)
    assert fps["c1"][:2] == (fingerprint(records[1].fields), False)

    loaded = store.load_records("c", "a", "contact", [r.id for r in records] + ["missing"])
    assert set(loaded) == {r.id for r in records}
    for i in (0, 1, CHUNK, n - 1):
        got = loaded[f"c{i}"]
        assert got.record == records[i]  # fields, updated_at (aware UTC) and parent intact
        assert got.fingerprint == fingerprint(records[i].fields)
        assert got.linked is (i % 2 == 0)
        assert got.keys == (f"email:adac{i}",)
    assert store.count_linked("c", "a", "contact") == (n + 1) // 2
    assert {sr.record.id for sr in store.pending_records("c", "a", "contact")} == {
        f"c{i}" for i in range(1, n, 2)
    }


def test_records_are_kept_per_connection_side_and_entity(store: Store) -> None:
    put(store, "a", [stored(contact(1), ())])
    put(store, "b", [stored(contact(2), ())])
    put(store, "a", [stored(contact(3), ())], connection="other")
    assert set(store.fingerprints("c", "a", "contact")) == {"c1"}
    assert set(store.fingerprints("c", "b", "contact")) == {"c2"}
    assert set(store.fingerprints("other", "a", "contact")) == {"c3"}
    assert store.fingerprints("c", "a", "note") == {}


def test_put_records_replaces_a_record_and_delete_removes_it(store: Store) -> None:
    put(store, "a", [stored(contact(1), ("email:old",))])
    changed = contact(1, city="Paris")
    put(store, "a", [stored(changed, ("email:new", "phone:+1"), linked=False)])
    got = store.load_records("c", "a", "contact", ["c1"])["c1"]
    assert got.record.fields["city"] == "Paris"
    assert got.keys == ("email:new", "phone:+1")
    assert got.linked is False

    ids = [f"c{i}" for i in range(CHUNK + 10)]
    put(store, "a", [stored(contact(i), ()) for i in range(CHUNK + 10)])
    with store.transaction() as conn:
        store.delete_records(conn, "c", "a", "contact", ids[:-1])
    assert set(store.fingerprints("c", "a", "contact")) == {ids[-1]}


def test_fresh_bases_are_upserted_over_a_stored_row_too(store: Store) -> None:
    """``fresh`` skips reading what is stored, not replacing it: a pending row of a
    record that is then created on the other side becomes its linked base."""
    put(store, "a", [stored(contact(1), ("email:old",), linked=False)])
    with store.transaction() as conn:
        store.put_records(
            conn,
            "c",
            "a",
            [stored(contact(1, city="Paris"), ("email:new",)), stored(contact(2), ())],
            fresh=True,
        )
    got = store.load_records("c", "a", "contact", ["c1", "c2"])
    assert got["c1"].record.fields["city"] == "Paris"
    assert (got["c1"].keys, got["c1"].linked) == (("email:new",), True)
    assert got["c1"].fingerprint == fingerprint(contact(1, city="Paris").fields)
    assert got["c2"].record == contact(2)
    assert store.pending_ids("c", "a", "contact") == set()
    assert store.linked_ids_by_keys("c", "a", "contact", ["email:new", "email:old"]) == {
        "email:new": ["c1"]
    }


def test_linked_ids_by_keys_and_child_ids(store: Store) -> None:
    put(
        store,
        "a",
        [
            stored(contact(1), ("email:x@example.com", "phone:+15550001")),
            stored(contact(2), ("phone:+15550001",)),
            stored(contact(3), ("email:x@example.com",), linked=False),  # pending: not linked
        ],
    )
    found = store.linked_ids_by_keys(
        "c", "a", "contact", ["email:x@example.com", "phone:+15550001", "email:none"]
    )
    assert {k: sorted(v) for k, v in found.items()} == {
        "email:x@example.com": ["c1"],
        "phone:+15550001": ["c1", "c2"],
    }

    note = Record("note", "n1", {"title": "Call"}, parent_id="c1")
    other_note = Record("note", "n2", {"title": "Mail"}, parent_id="c2")
    put(store, "a", [stored(note, ()), stored(other_note, ())])
    assert store.child_ids("c", "a", "note", ["c1"]) == ["n1"]
    assert sorted(store.child_ids("c", "a", "note", ["c1", "c2"])) == ["n1", "n2"]
    assert store.child_ids("c", "a", "task", ["c1"]) == []


def test_links_from_both_sides_relink_and_tombstone(store: Store) -> None:
    with store.transaction() as conn:
        store.put_links(
            conn, "c", [("contact", "a1", "b1", "live"), ("contact", "a2", "b2", "live")]
        )
    by_a = store.links_by_ids("c", "contact", "a", ["a1", "a2", "nope"])
    by_b = store.links_by_ids("c", "contact", "b", ["b1"])
    assert set(by_a) == {"a1", "a2"}
    assert (by_a["a1"].a_id, by_a["a1"].b_id, by_a["a1"].state) == ("a1", "b1", "live")
    assert (by_b["b1"].a_id, by_b["b1"].b_id) == ("a1", "b1")
    assert store.count_links("c", "contact") == 2

    # Re-linking a1 to a new b id replaces its old link; b1 is then unlinked.
    with store.transaction() as conn:
        store.put_links(conn, "c", [("contact", "a1", "b9", "live")])
    assert store.links_by_ids("c", "contact", "a", ["a1"])["a1"].b_id == "b9"
    assert store.links_by_ids("c", "contact", "b", ["b1"]) == {}
    # Re-linking b2 to a new a id replaces the link a2 had.
    with store.transaction() as conn:
        store.put_links(conn, "c", [("contact", "a7", "b2", "live")])
    assert store.links_by_ids("c", "contact", "a", ["a2"]) == {}
    assert store.links_by_ids("c", "contact", "b", ["b2"])["b2"].a_id == "a7"
    assert store.count_links("c", "contact") == 2

    with store.transaction() as conn:
        store.set_link_state(conn, "c", "contact", "a1", "tombstone")
    assert store.links_by_ids("c", "contact", "a", ["a1"])["a1"].state == "tombstone"
    assert store.count_links("c", "contact") == 1  # only live links count

    with store.transaction() as conn:
        store.delete_links(conn, "c", "contact", ["a1", "a7"])
    assert store.links_by_ids("c", "contact", "a", ["a1", "a7"]) == {}
    assert store.count_links("c", "contact") == 0


def test_links_are_kept_per_connection_and_entity(store: Store) -> None:
    with store.transaction() as conn:
        store.put_links(conn, "c", [("contact", "x", "y", "live")])
        store.put_links(conn, "c", [("note", "x", "y", "live")])
        store.put_links(conn, "d", [("contact", "x", "y", "live")])
    with store.transaction() as conn:
        store.put_links(conn, "c", [("contact", "x", "z", "live")])
    assert store.links_by_ids("c", "note", "a", ["x"])["x"].b_id == "y"
    assert store.links_by_ids("d", "contact", "a", ["x"])["x"].b_id == "y"
    assert store.links_by_ids("c", "contact", "a", ["x"])["x"].b_id == "z"


def test_links_lookup_past_the_chunk_size(store: Store) -> None:
    n = CHUNK + 100
    with store.transaction() as conn:
        store.put_links(conn, "c", [("contact", f"a{i}", f"b{i}", "live") for i in range(n)])
    by_b = store.links_by_ids("c", "contact", "b", [f"b{i}" for i in range(n)])
    assert len(by_b) == n
    assert by_b[f"b{n - 1}"].a_id == f"a{n - 1}"


def test_a_large_lookup_with_no_links_of_the_entity_finds_none(store: Store) -> None:
    ids = [f"a{i}" for i in range(CHUNK + 100)]
    assert store.links_by_ids("c", "contact", "a", ids) == {}
    with store.transaction() as conn:
        store.put_links(conn, "c", [("note", "a1", "b1", "live")])
        store.put_links(conn, "d", [("contact", "a2", "b2", "live")])
    assert store.links_by_ids("c", "contact", "a", ids) == {}  # other entity, other connection
    with store.transaction() as conn:
        store.put_links(conn, "c", [("contact", "a3", "b3", "tombstone")])
    assert store.links_by_ids("c", "contact", "a", ids)["a3"].state == "tombstone"
    assert store.links_by_ids("c", "contact", "a", []) == {}


def test_has_linked_counts_only_linked_records_of_the_side_and_entity(store: Store) -> None:
    assert not store.has_linked("c", "a", "contact")
    put(store, "a", [stored(contact(1), (), linked=False)])
    assert not store.has_linked("c", "a", "contact")  # a pending record is not linked
    put(store, "a", [stored(contact(2), ())])
    put(store, "b", [stored(Record("note", "n1", {"title": "x"}, parent_id="c9"), ())])
    assert store.has_linked("c", "a", "contact")
    assert not store.has_linked("c", "b", "contact")
    assert not store.has_linked("c", "a", "note")
    assert not store.has_linked("other", "a", "contact")


def test_cursors_upsert_and_read_back_aware(store: Store) -> None:
    assert store.cursors("c") == {}
    with store.transaction() as conn:
        store.put_cursor(conn, "c", "a", "contact", "10", None)
        store.put_cursor(conn, "c", "b", "contact", None, T0)
    with store.transaction() as conn:
        store.put_cursor(conn, "c", "a", "contact", "42", T0 + timedelta(hours=1))
    cursors = store.cursors("c")
    assert cursors == {
        ("a", "contact"): ("42", T0 + timedelta(hours=1)),
        ("b", "contact"): (None, T0),
    }
    full_at = cursors[("a", "contact")][1]
    assert full_at is not None and full_at.tzinfo is not None
    assert store.cursors("other") == {}
