"""Runs, the journal, conflicts, duplicate groups, quarantine and audit, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from state.store import Store
from syncengine.errors import NotFoundError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# -- runs ----------------------------------------------------------------------------------
def test_runs_start_finish_and_list_newest_first(store: Store) -> None:
    first = store.start_run("c", "run")
    second = store.start_run("c", "run")
    other = store.start_run("d", "run")
    running = store.runs("c")
    assert [r["id"] for r in running] == [second, first]
    assert running[0]["status"] == "running" and running[0]["finished_at"] is None
    assert running[0]["summary"] == {}

    store.finish_run(first, "ok", {"create_b": 3, "update_a": 1})
    store.finish_run(second, "failed", {}, error="boom")
    rows = {r["id"]: r for r in store.runs(None)}
    assert set(rows) == {first, second, other}
    assert rows[first]["status"] == "ok"
    assert rows[first]["summary"] == {"create_b": 3, "update_a": 1}
    assert rows[first]["finished_at"] is not None
    assert rows[second]["status"] == "failed" and rows[second]["error"] == "boom"
    assert [r["id"] for r in store.runs("c", limit=1)] == [second]
    assert [r["id"] for r in store.runs("d")] == [other]


# -- the journal ---------------------------------------------------------------------------
def journal_row(run_id: int, seq: int, action: str = "update", **more: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "connection": "c",
        "seq": seq,
        "side": "b",
        "action": action,
        "entity": "contact",
        "a_id": f"a{seq}",
        "b_id": None if action == "create" else f"b{seq}",
        "payload": "{}",
        "status": "pending",
        "attempts": 0,
        "started_at": T0,
        **more,
    }


def test_journal_begin_and_finish(store: Store) -> None:
    run_id = store.start_run("c", "run")
    with store.transaction() as conn:
        store.journal_begin(conn, [journal_row(run_id, s) for s in (1, 2, 3)])
        store.journal_begin(conn, [])
    assert [(r["seq"], r["status"]) for r in store.journal(run_id)] == [
        (1, "pending"),
        (2, "pending"),
        (3, "pending"),
    ]

    with store.transaction() as conn:
        store.journal_finish(
            conn,
            run_id,
            [(1, "done", "b1", None, 2), (2, "failed", None, "refused: no", 1)],
        )
        store.journal_finish(conn, run_id, [])
    rows = store.journal(run_id)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert (rows[0]["status"], rows[0]["result_id"], rows[0]["attempts"]) == ("done", "b1", 2)
    assert (rows[1]["status"], rows[1]["error"]) == ("failed", "refused: no")
    assert rows[0]["finished_at"] is not None and rows[1]["finished_at"] is not None
    assert (rows[2]["status"], rows[2]["finished_at"]) == ("pending", None)
    # What `history show` reads: the first rows in order, and how many there are.
    assert [r["seq"] for r in store.journal(run_id, limit=2)] == [1, 2]
    assert store.journal_size(run_id) == 3
    assert store.journal_size(run_id + 1) == 0


def test_the_journal_of_one_record_is_found_by_either_id_newest_first(store: Store) -> None:
    first, second = store.start_run("c", "run"), store.start_run("c", "run")
    with store.transaction() as conn:
        store.journal_begin(conn, [journal_row(first, 1, "create"), journal_row(first, 2)])
        store.journal_finish(conn, first, [(1, "done", "b9", None, 1)])
        store.journal_begin(conn, [{**journal_row(second, 1), "a_id": "a1", "b_id": "b9"}])
    by_source = store.journal_of_record("c", "a1")
    assert [(r["run_id"], r["seq"]) for r in by_source] == [(second, 1), (first, 1)]
    assert [r["run_id"] for r in store.journal_of_record(None, "b9")] == [second, first]
    assert store.journal_of_record("d", "a1") == []
    assert len(store.journal_of_record("c", "a1", limit=1)) == 1


def test_one_run_by_id_and_an_unknown_one(store: Store) -> None:
    run_id = store.start_run("c", "run")
    store.finish_run(run_id, "ok", {"create_b": 2})
    run = store.run(run_id)
    assert (run["id"], run["status"], run["summary"]) == (run_id, "ok", {"create_b": 2})
    with pytest.raises(NotFoundError, match=f"no run {run_id + 1} in the history"):
        store.run(run_id + 1)


def test_journal_finish_touches_only_its_run(store: Store) -> None:
    first, second = store.start_run("c", "run"), store.start_run("c", "run")
    with store.transaction() as conn:
        store.journal_begin(conn, [journal_row(first, 1), journal_row(second, 1)])
        store.journal_finish(conn, second, [(1, "done", "b1", None, 1)])
    assert [r["status"] for r in store.journal(first)] == ["pending"]
    assert [r["status"] for r in store.journal(second)] == ["done"]


def test_inflight_creates_are_pending_creates_until_settled(store: Store) -> None:
    crashed = store.start_run("c", "run")
    with store.transaction() as conn:
        store.journal_begin(
            conn,
            [
                journal_row(crashed, 1, "create"),
                journal_row(crashed, 2, "update"),
                journal_row(crashed, 3, "create"),
                {**journal_row(crashed, 4, "create"), "connection": "other"},
            ],
        )
        store.journal_finish(conn, crashed, [(3, "done", "b3", None, 1)])
    assert [r["a_id"] for r in store.inflight_creates("c")] == ["a1"]

    current = store.start_run("c", "run")
    with store.transaction() as conn:
        store.journal_begin(conn, [journal_row(current, 1, "create")])
        store.settle_interrupted(conn, "c", current)
    assert [r["run_id"] for r in store.inflight_creates("c")] == [current]
    statuses = [r["status"] for r in store.journal(crashed)]
    # Both pending rows of the dead run are settled; the other connection's row and the
    # current run's own row are untouched.
    assert statuses == ["interrupted", "interrupted", "done", "pending"]
    runs = {r["id"]: r["status"] for r in store.runs("c")}
    assert runs == {crashed: "interrupted", current: "running"}


# -- conflicts -----------------------------------------------------------------------------
def conflict(field: str = "company_name", status: str = "open", **more: Any) -> dict[str, Any]:
    return {
        "key": f"contact:a1:b1:{field}",
        "entity": "contact",
        "a_id": "a1",
        "b_id": "b1",
        "field": field,
        "kind": "field",
        "base": "Old",
        "a_value": "A value",
        "b_value": {"nested": ["B", 1]},
        "status": status,
        "resolution": None if status == "open" else "a",
        "rule": "manual",
        **more,
    }


def test_an_open_conflict_is_recorded_once_and_updated_in_place(store: Store) -> None:
    run1 = store.start_run("c", "run")
    with store.transaction() as conn:
        ids = store.record_conflicts(conn, "c", run1, [conflict()])
    (cid,) = ids.values()
    (row,) = store.open_conflicts("c")
    assert row["id"] == cid and row["status"] == "open" and row["run_id"] == run1
    assert (row["base"], row["a_value"], row["b_value"]) == ("Old", "A value", {"nested": ["B", 1]})

    run2 = store.start_run("c", "run")
    with store.transaction() as conn:
        again = store.record_conflicts(conn, "c", run2, [conflict(a_value="A newer")])
    assert again == ids
    (row,) = store.open_conflicts("c")
    assert (row["id"], row["run_id"], row["a_value"]) == (cid, run2, "A newer")
    assert store.conflict(cid)["a_value"] == "A newer"
    assert store.open_conflicts("other") == []


def test_a_held_conflict_keeps_its_reason_while_its_values_stay(store: Store) -> None:
    """Held again after a resolution: a later run that sees the same values must not
    turn the reason into the plain policy's; new values bring the new rule."""
    reason = "held again: b changed it after it was resolved (keep a)"
    with store.transaction() as conn:
        (cid,) = store.record_conflicts(conn, "c", 1, [conflict(rule=reason)]).values()
        store.record_conflicts(conn, "c", 2, [conflict(rule="manual")])
    assert store.conflict(cid)["rule"] == reason
    with store.transaction() as conn:
        store.record_conflicts(conn, "c", 3, [conflict(rule="manual", b_value="B newer")])
    assert (store.conflict(cid)["rule"], store.conflict(cid)["b_value"]) == ("manual", "B newer")


def test_conflicts_resolved_by_policy_are_history(store: Store) -> None:
    run_id = store.start_run("c", "run")
    with store.transaction() as conn:
        store.record_conflicts(conn, "c", run_id, [conflict(status="resolved")])
    assert store.open_conflicts() == []
    (row,) = store.conflicts("c")
    assert row["status"] == "resolved" and row["resolution"] == "a"
    assert row["resolved_at"] is not None


def test_supersede_only_touches_pairs_in_play_that_are_no_longer_held(store: Store) -> None:
    run_id = store.start_run("c", "run")
    rows = [
        conflict("city"),
        conflict("phone"),
        {**conflict("city"), "key": "contact:a2:b2:city", "a_id": "a2", "b_id": "b2"},
    ]
    with store.transaction() as conn:
        ids = store.record_conflicts(conn, "c", run_id, rows)
        store.supersede_conflicts(
            conn, "c", keep_keys={"contact:a1:b1:phone"}, in_play={"contact:a1:b1"}
        )
    status = {r["key"]: r["status"] for r in store.conflicts("c")}
    assert status == {
        "contact:a1:b1:city": "superseded",  # its pair was looked at: no longer in conflict
        "contact:a1:b1:phone": "open",  # still held
        "contact:a2:b2:city": "open",  # its pair was not in play this run
    }
    assert store.conflict(ids["contact:a1:b1:city"])["resolved_at"] is not None


def test_resolve_by_id_and_by_key_then_close(store: Store) -> None:
    run_id = store.start_run("c", "run")
    with store.transaction() as conn:
        ids = store.record_conflicts(conn, "c", run_id, [conflict("city"), conflict("phone")])
    city, phone = ids["contact:a1:b1:city"], ids["contact:a1:b1:phone"]
    assert store.open_conflict_ids("c") == ids
    assert store.open_conflict_ids("other") == {}

    row = store.resolve_conflict(store.conflict_id(str(city)), "b")
    assert (row["status"], row["resolution"], row["resolved_value"]) == ("resolving", "b", None)
    assert store.conflict_id("contact:a1:b1:phone") == phone
    row = store.resolve_conflict(phone, "value", {"x": [1, "two"]})
    assert row["resolved_value"] == {"x": [1, "two"]}

    assert {r["id"] for r in store.pending_resolutions("c")} == {city, phone}
    assert store.open_conflicts("c") == []
    with store.transaction() as conn:
        store.close_resolutions(conn, [(city, "b", None), (phone, "value", {"x": [1, "two"]})])
    assert store.pending_resolutions("c") == []
    assert {store.conflict(i)["status"] for i in (city, phone)} == {"resolved"}


def test_a_resolution_can_be_changed_until_a_run_applies_it(store: Store) -> None:
    """A user who kept the wrong side resolves again, by id or by key; a run that read
    the first choice closes only that one, so a change made while it ran waits for the
    next run instead of being marked applied."""
    run_id = store.start_run("c", "run")
    with store.transaction() as conn:
        (cid,) = store.record_conflicts(conn, "c", run_id, [conflict("city")]).values()
    store.resolve_conflict(cid, "a")
    assert store.conflict_id("contact:a1:b1:city") == cid  # still found by its key
    row = store.resolve_conflict(store.conflict_id("contact:a1:b1:city"), "value", "Paris")
    assert (row["status"], row["resolution"], row["resolved_value"]) == (
        "resolving",
        "value",
        "Paris",
    )
    with store.transaction() as conn:
        store.close_resolutions(conn, [(cid, "a", None)])  # what a run read before the change
    assert store.conflict(cid)["status"] == "resolving"
    with store.transaction() as conn:
        store.close_resolutions(conn, [(cid, "value", "Paris")])
    assert store.conflict(cid)["status"] == "resolved"
    with pytest.raises(NotFoundError, match="applied by a run"):
        store.resolve_conflict(cid, "b")


def test_many_conflicts_are_resolved_at_once_or_not_at_all(store: Store) -> None:
    """``resolve --all`` after a first sync may name thousands: more ids than one query
    takes. An unknown id, or one a run applied, refuses the lot before anything is set."""
    run_id = store.start_run("c", "run")
    rows = [
        {**conflict(), "key": f"contact:a{i}:b{i}:company_name", "a_id": f"a{i}", "b_id": f"b{i}"}
        for i in range(2_000)
    ]
    with store.transaction() as conn:
        ids = list(store.record_conflicts(conn, "c", run_id, rows).values())
    with pytest.raises(NotFoundError, match="no conflict with id 999999"):
        store.resolve_conflicts([*ids, 999_999], "b")
    assert len(store.open_conflicts("c")) == 2_000
    resolved = store.resolve_conflicts(ids + ids[:5], "b")  # a repeated id counts once
    assert [r["id"] for r in resolved] == ids
    assert {(r["status"], r["resolution"]) for r in resolved} == {("resolving", "b")}
    assert store.open_conflicts("c") == []
    assert len(store.pending_resolutions("c")) == 2_000
    with store.transaction() as conn:
        store.close_resolutions(conn, [(ids[0], "b", None)])
    with pytest.raises(NotFoundError, match=f"conflict {ids[0]} is resolved"):
        store.resolve_conflicts(ids[:2], "a")
    assert store.conflict(ids[1])["resolution"] == "b"  # the refused call set nothing


def test_conflict_lookups_that_find_nothing_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no conflict with id 404"):
        store.conflict(404)
    with pytest.raises(NotFoundError, match="no conflict with id 404"):
        store.resolve_conflict(404, "a")
    with pytest.raises(NotFoundError, match="no open conflict 'contact:x:y:city'"):
        store.conflict_id("contact:x:y:city")

    run_id = store.start_run("c", "run")
    with store.transaction() as conn:
        (cid,) = store.record_conflicts(conn, "c", run_id, [conflict()]).values()
    store.resolve_conflict(cid, "a")
    with store.transaction() as conn:
        store.close_resolutions(conn, [(cid, "a", None)])
    with pytest.raises(NotFoundError):  # a key names a conflict waiting for a run only
        store.conflict_id("contact:a1:b1:company_name")


# -- duplicate groups, quarantine, audit -----------------------------------------------------
def group(key: str, ids: list[str]) -> dict[str, Any]:
    return {
        "group_key": f"b:contact:{key}",
        "side": "b",
        "entity": "contact",
        "key": key,
        "ids": ids,
    }


def test_duplicate_groups_open_update_and_close(store: Store) -> None:
    with store.transaction() as conn:
        store.record_duplicates(
            conn, "c", [group("email:x", ["1", "2"]), group("email:y", ["3", "4"])]
        )
    assert {g["key"]: g["ids"] for g in store.open_duplicates("c")} == {
        "email:x": ["1", "2"],
        "email:y": ["3", "4"],
    }
    with store.transaction() as conn:
        store.record_duplicates(conn, "c", [group("email:x", ["1", "2", "5"])])
        store.close_duplicates(conn, "c", keep=["b:contact:email:x"])
    (left,) = store.open_duplicates("c")
    assert (left["key"], left["ids"]) == ("email:x", ["1", "2", "5"])

    with store.transaction() as conn:
        store.close_duplicates(conn, "c", keep=[])
    assert store.open_duplicates() == []


def test_quarantine_counts_attempts_and_release_clears(store: Store) -> None:
    with store.transaction() as conn:
        store.quarantine(conn, "c", "b", "contact", "r1", "refused: bad phone")
        store.quarantine(conn, "c", "a", "contact", "r2", "first")
    with store.transaction() as conn:
        store.quarantine(conn, "c", "b", "contact", "r1", "refused: still bad")
    rows = store.quarantined("c")
    assert [(r["side"], r["record_id"], r["attempts"]) for r in rows] == [
        ("a", "r2", 1),
        ("b", "r1", 2),
    ]
    assert rows[1]["reason"] == "refused: still bad"

    with store.transaction() as conn:
        store.release(conn, "c", "b", "contact", ["r1", "never-there"])
    assert [r["record_id"] for r in store.quarantined("c")] == ["r2"]
    assert store.quarantined("other") == []


def test_audit_rows_filter_and_order(store: Store) -> None:
    def call(run_id: int | None, path: str, connection: str = "c") -> dict[str, Any]:
        return {
            "connection": connection,
            "run_id": run_id,
            "side": "b",
            "at": T0,
            "method": "GET",
            "path": path,
            "status": 200,
            "latency_ms": 12.5,
            "retries": 0,
            "trace_id": None,
            "error": None,
        }

    store.add_audit([])
    store.add_audit([call(1, "/one"), call(1, "/two"), call(2, "/three"), call(1, "/x", "d")])
    assert [r["path"] for r in store.audit("c")] == ["/three", "/two", "/one"]
    assert [r["path"] for r in store.audit("c", run_id=1)] == ["/two", "/one"]
    assert [r["path"] for r in store.audit(limit=1)] == ["/x"]
    (row,) = store.audit("c", run_id=2)
    assert (row["status"], row["latency_ms"], row["at"]) == (200, 12.5, T0)
