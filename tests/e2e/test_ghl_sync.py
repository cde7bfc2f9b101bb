"""Two-way sync end to end: a JSONL app (side a) <-> the fake GHL under uvicorn (side b).

The real engine runs through ``syncengine.runtime.open_session`` (what the CLI calls),
the GHL adapter talks HTTP to the fake on 127.0.0.1, and the fake injects one kind of
fault per test. Both sides are seeded with overlapping people, notes, tasks and tags,
synced, edited on both sides (fields, tag adds and removes, a delete on each side, new
notes, a task completed) and synced again, re-running while a run ends with failed or
quarantined records, then once more with the faults off. After that both sides must
agree on every synced field of every linked pair, GHL holds each email once, every edit
is there, both deletes reached the other side, and a final plan has nothing to do.
Along the way: a plan (dry run) sends GHL no write, and neither the audit trail nor any
report or exception message holds the token.

Real sleeps happen on this path (the client's backoff, the rate window), so the fault
rates are chosen to make failures frequent while keeping each test to a few seconds.

Those runs read everything every time (``full_pass_every = "0s"``) on a location that
allows duplicates. The last test runs incremental reads (a full pass once a day)
against a lagging search on a location that refuses duplicates, as GHL does by
default: contacts GHL already has but search cannot show yet are created, refused with
400 and ``meta.contactId``, and linked (``DuplicateOnSide``); a GHL-side delete waits
for the full pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ghl_support import LOCATION, TOKEN, TOKEN_ENV, Project, Sides, email

from adapters.ghl.fake import Faults
from adapters.ghl.fake.state import is_write
from syncengine.fakeghl import prepare_state, start_in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def _faults(**knobs: float | int | tuple[int, float]) -> Callable[[Project], None]:
    def arm(project: Project) -> None:
        project.state.faults = Faults(**knobs)  # type: ignore[arg-type]

    return arm


def _bursts_of_429(project: Project) -> None:
    project.state.faults = Faults(burst_429=2)  # re-armed before every run


def _real_rate_limit(project: Project) -> None:
    project.state.faults = Faults()  # no injected faults: only the real 100 req / 10 s
    project.state.rate_max = 100


FAULT_KINDS: dict[str, Callable[[Project], None]] = {
    "5xx": _faults(error_share=0.08),
    "429-bursts": _bursts_of_429,
    "latency": _faults(latency=0.01, latency_next=(1, 0.8)),  # one read a run times out
    "dropped-connections": _faults(drop_share=0.08),
    # Each run's first write loses its response for certain (a create in the first
    # phase, an update in the second), the rest by chance: the evidence check below
    # once failed when the seeded draws, in a thread-timed order, spared every create.
    "write-applied-response-lost": _faults(lost_response_share=0.3, lost_response_next=1),
    "rate-limit": _real_rate_limit,
}


@pytest.fixture(params=sorted(FAULT_KINDS))
def project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.chdir(tmp_path)
    state, token = prepare_state(location_id=LOCATION, allow_duplicates=True, token=TOKEN)
    assert token == TOKEN
    if request.param == "429-bursts":
        state.rate_interval = 0.5  # the client learns the window from X-RateLimit-*
    if request.param != "rate-limit":
        state.rate_max = 1_000  # only the rate-limit test waits for GHL's real window
    running = start_in_thread(state, token, LOCATION)
    project = Project(tmp_path, running.base_url, state, timeout=0.5)
    project.write_config()
    yield project
    running.stop()


def seed(project: Project) -> None:
    """Overlapping people: p3 and p4 are on both sides (matched by email)."""
    project.write_a(
        [
            {"id": "a1", "email": email(1), "first_name": "Ann", "city": "London",
             "tags": ["vip", "old"]},
            {"id": "a2", "email": email(2), "first_name": "Bob", "tags": ["vip"]},
            {"id": "a3", "email": email(3), "first_name": "Cara", "last_name": "Cole"},
            {"id": "a4", "email": email(4), "first_name": "Dan"},
            {"id": "a5", "email": email(5), "first_name": "Eve", "tags": ["app"]},
            {"id": "n1", "entity": "note", "contact_id": "a1", "body": "first call"},
            {"id": "n2", "entity": "note", "contact_id": "a3", "body": "met at the fair"},
            {"id": "t1", "entity": "task", "contact_id": "a2", "title": "Send quote",
             "due_date": "2030-01-15T09:00:00+00:00", "completed": False},
        ]
    )  # fmt: skip
    ghl_people: list[dict[str, Any]] = [
        {"email": email(3), "city": "Oslo", "phone": "+14155550103", "tags": ["ghl"]},
        {"email": email(4), "lastName": "Dunn", "tags": ["lead"]},
        {"email": email(6), "firstName": "Fay", "tags": ["x"]},
        {"email": email(7), "firstName": "Gus"},
    ]
    for person in ghl_people:
        project.ghl_call("POST", "/contacts/", {"locationId": LOCATION, **person})
    project.ghl_call("POST", f"/contacts/{project.ghl_id(email(4))}/notes", {"body": "ghl note"})
    project.ghl_call(
        "POST",
        f"/contacts/{project.ghl_id(email(7))}/tasks",
        {"title": "Call Gus", "dueDate": "2030-02-01T10:00:00.000Z", "completed": False},
    )


def edit_both_sides(project: Project) -> None:
    # side a (the app): a field edit, a tag removed, a tag added, a delete, a new note
    project.edit_a(email(1), city="Paris", tags=["vip"])
    a2 = project.edit_a(email(2), tags=["vip", "gold"])
    project.delete_a(email(5))
    project.add_a({"id": "n3", "entity": "note", "contact_id": a2, "body": "follow-up (app)"})
    # side b (a GHL user): a field edit, a tag removed, a tag added, a delete, a new
    # note, a task completed
    p3, p4, p7 = (project.ghl_id(email(n)) for n in (3, 4, 7))
    project.ghl_call("PUT", f"/contacts/{p3}", {"firstName": "Caroline"})
    project.ghl_call("DELETE", f"/contacts/{p3}/tags", {"tags": ["ghl"]})
    project.ghl_call("POST", f"/contacts/{p4}/tags", {"tags": ["hot"]})
    project.ghl_call("DELETE", f"/contacts/{project.ghl_id(email(6))}")
    project.ghl_call("POST", f"/contacts/{p4}/notes", {"body": "second ghl note"})
    (task,) = project.ghl_call("GET", f"/contacts/{p7}/tasks")["tasks"]
    project.ghl_call("PUT", f"/contacts/{p7}/tasks/{task['id']}/completed", {"completed": True})


def assert_converged(a: Sides, b: Sides) -> None:
    assert sorted(b.emails_seen.elements()) == sorted(set(b.emails_seen)), "duplicate in GHL"
    assert sorted(a.emails_seen.elements()) == sorted(set(a.emails_seen)), "duplicate in app"
    assert set(a.contacts) == set(b.contacts)
    for person in a.contacts:
        assert a.synced(person) == b.synced(person), person
    assert a.notes == b.notes
    assert a.tasks == b.tasks


def test_two_way_sync_under_faults(project: Project, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.params["project"]
    arm = FAULT_KINDS[kind]
    started = time.monotonic()
    seed(project)

    project.sync_until_quiet(lambda: arm(project))
    a, b = project.read_both()
    assert_converged(a, b)
    assert set(a.contacts) == {email(n) for n in range(1, 8)}
    assert b.synced(email(3))["city"] == "Oslo" and a.synced(email(3))["first_name"] == "Cara"

    edit_both_sides(project)
    arm(project)
    requests_before = project.settled_log_length()
    preview = project.sync(dry_run=True)
    during_plan = project.state.requests[requests_before:]
    assert preview.plan.operations, "the edits should need writes"
    assert during_plan and not [r for r in during_plan if is_write(r.method, r.path)]

    project.sync_until_quiet(lambda: arm(project))
    a, b = project.read_both()
    assert_converged(a, b)
    # every edit made on either side is there, on both sides
    for side in (a, b):
        assert side.synced(email(1))["city"] == "Paris"
        assert side.synced(email(1))["tags"] == ["vip"]
        assert side.synced(email(2))["tags"] == ["gold", "vip"]
        assert side.synced(email(3))["first_name"] == "Caroline"
        assert "ghl" not in (side.synced(email(3))["tags"] or [])
        assert "hot" in (side.synced(email(4))["tags"] or [])
        assert email(5) not in side.contacts and email(6) not in side.contacts
        assert side.notes[email(2)]["follow-up (app)"] == 1
        assert side.notes[email(4)] == {"ghl note": 1, "second ghl note": 1}
        assert side.tasks[email(7)]["Call Gus"]["completed"] is True
        assert side.tasks[email(2)]["Send quote"]["completed"] is False

    stored = [str(c.get("email")) for c in project.state.locations[LOCATION].contacts.values()]
    assert sorted(stored) == sorted(set(stored)) == sorted(a.contacts)  # each email once
    final = project.sync(dry_run=True)
    assert list(final.plan.operations) == []
    assert_no_secret_anywhere(project)
    assert_the_faults_happened(kind, project, time.monotonic() - started)
    assert time.monotonic() - started < 45, f"{kind} took too long"


def assert_no_secret_anywhere(project: Project) -> None:
    rows = project.audit_rows()
    ghl_rows = [r for r in rows if r["side"] == "b"]
    assert ghl_rows and any(r["path"] == "/contacts/search" for r in ghl_rows)
    for row in rows:
        for column, value in row.items():
            assert TOKEN not in str(value), f"token in audit column {column}"
    assert project.texts
    for text in project.texts:
        assert TOKEN not in text
    database = project.dir / "syncengine.db"
    assert TOKEN.encode() not in database.read_bytes()


def assert_the_faults_happened(kind: str, project: Project, elapsed: float) -> None:
    """Evidence that the test met its fault, so a quiet fake cannot pass for a robust sync."""
    log = project.state.requests
    if kind == "5xx":
        assert any(r.status >= 500 for r in log)
    elif kind == "429-bursts":
        assert sum(r.status == 429 for r in log) >= 4
    elif kind == "latency":
        assert any(r["error"] == "timeout" for r in project.audit_rows())
    elif kind == "dropped-connections":
        assert any(r.status == 0 for r in log)
    elif kind == "write-applied-response-lost":
        lost = [r for r in log if r.lost]
        assert any(r.method == "POST" and r.status == 201 for r in lost), "no create lost"
        assert any(r.method != "POST" for r in lost), "no update or delete lost"
    else:
        # more requests than one window allows, spread out instead of refused: at most a
        # fresh session's first request meets a window the previous session filled
        assert len(log) > project.state.rate_max
        assert elapsed >= project.state.rate_interval
        assert sum(r.status == 429 for r in log) <= project.sessions


# -- incremental reads, search lag, a location that refuses duplicates ----------------------
LAG = 3600.0
"""GHL's search lags its writes by seconds; here it lags until the test says search has
caught up (``sync_after_search``), so what a run cannot see yet is decided, not timed."""


@pytest.fixture
def lagging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """Incremental reads (a full pass once a day) against a fake whose search lags and
    whose location refuses duplicate contacts, as GHL's default setting does."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.chdir(tmp_path)
    state, token = prepare_state(location_id=LOCATION, allow_duplicates=False, token=TOKEN)
    state.search_lag_seconds = LAG
    state.rate_max = 1_000
    running = start_in_thread(state, token, LOCATION)
    project = Project(tmp_path, running.base_url, state, timeout=0.5, full_pass_every="24h")
    project.write_config()
    yield project
    running.stop()


def refused_as_duplicates(project: Project) -> int:
    return sum(
        1
        for r in project.state.requests
        if (r.method, r.path, r.status) == ("POST", "/contacts/", 400)
    )


@pytest.mark.parametrize(
    "faults", [Faults(), Faults(lost_response_share=0.3)], ids=["calm", "lost"]
)
def test_incremental_sync_with_search_lag_links_duplicates_refused_by_ghl(
    lagging: Project, faults: Faults
) -> None:
    project = lagging

    def arm() -> None:
        project.state.faults = replace(faults)

    def calm() -> None:
        project.state.faults = Faults()

    seed(project)  # GHL's search will not show these people for LAG seconds
    arm()
    project.sync()
    # the run could not see p3 and p4 in GHL, so it created them; GHL refused both as
    # duplicates, and the refusals became links to the contacts GHL already had
    assert refused_as_duplicates(project) >= 2
    project.sync_after_search(runs=2)
    calm()
    project.sync_after_search(runs=2)
    a, b = project.read_both()
    assert_converged(a, b)
    assert set(a.contacts) == {email(n) for n in range(1, 8)}
    assert b.synced(email(3))["city"] == "Oslo" and a.synced(email(3))["first_name"] == "Cara"
    assert a.notes[email(4)] == {"ghl note": 1}  # a GHL contact's child, read incrementally

    edit_both_sides(project)
    # a create racing a GHL-side one: the app gains p8 while a GHL user adds p8 too
    project.add_a({"id": "a8", "email": email(8), "first_name": "Hal"})
    project.ghl_call(
        "POST", "/contacts/", {"locationId": LOCATION, "email": email(8), "phone": "+14155550108"}
    )
    refused = refused_as_duplicates(project)
    arm()
    project.sync()  # search cannot show GHL's p8 yet: the create is refused, then linked
    assert refused_as_duplicates(project) == refused + 1
    project.sync_after_search(runs=2)
    calm()
    final = project.sync_after_search(runs=2)
    assert not [o for o in final[-1].outcomes if o.error] and not final[-1].problems
    a, b = project.read_both()
    # GHL has no feed of deletes: p6, deleted there, stays in the app until a full pass
    assert email(6) in a.contacts and email(6) not in b.contacts
    assert set(a.contacts) - {email(6)} == set(b.contacts)
    for person in b.contacts:
        assert a.synced(person) == b.synced(person), person
    assert a.notes == b.notes and a.tasks == b.tasks
    for side in (a, b):
        assert side.synced(email(8))["first_name"] == "Hal"
        assert side.synced(email(8))["phone"] == "+14155550108"
        assert side.synced(email(1))["city"] == "Paris"
        assert side.synced(email(3))["first_name"] == "Caroline"
        assert "hot" in (side.synced(email(4))["tags"] or [])
        assert side.notes[email(4)] == {"ghl note": 1, "second ghl note": 1}
        assert side.tasks[email(7)]["Call Gus"]["completed"] is True
        assert email(5) not in side.contacts  # deleted in the app: files are read in full
    project.full_pass_every = "0s"
    project.write_config()
    project.sync_after_search()
    a, b = project.read_both()
    assert email(6) not in a.contacts
    assert_converged(a, b)
    stored = [str(c.get("email")) for c in project.state.locations[LOCATION].contacts.values()]
    assert sorted(stored) == sorted(set(stored)) == sorted(a.contacts)  # each email once
    project.state.settle_search()
    assert list(project.sync(dry_run=True).plan.operations) == []
    assert_no_secret_anywhere(project)
