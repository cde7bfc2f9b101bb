"""Bench the GHL side of real sync runs against the fake GHL, at GHL's real limits.

Both parts run the real engine (``SyncEngine``: a memory side a, the GHL adapter as
side b, the state in SQLite) against the fake in-process, with its real limits (100
requests per 10 s and 200,000 a day per location) and a per-request latency of
``--latency`` seconds (150 ms by default) injected in the fake.

1. Write-heavy: ``--n`` contacts (2,000) on both sides are linked by a first run; then
   every one is edited on side a and a second run writes the updates to GHL. Printed:
   the sustained request rate of that run's writes as a share of the 10 req/s GHL
   allows (measured after the first 10-second window), the 429 answers seen and how
   many were left unhandled (ops that failed on one), and the minutes 2,000 take.
2. No-change incremental runs over ``--contacts`` (10,000) linked contacts: a first
   (full) run, then a run with nothing changed, for contacts only; then the same with
   notes and tasks enabled. Printed: the requests each run used, by kind.

Time is virtual, so the bench takes a few minutes instead of the hour the limits add
up to; the fake, its latency, its rate window and the client's waits share one clock.
Part 1 runs on a ``ScaledClock``: virtual time passes ``--speed`` (10) times faster than
real time and every sleep really sleeps a tenth as long, so the applier's concurrent
writers overlap their waits as they would against GHL (the fake's ``VirtualClock`` adds
every sleep to one timeline, which would hide what concurrency gains). CPU time is not
scaled: each request's few milliseconds of real work count ten times over, which makes
the rate a little pessimistic. Part 2 only counts requests; it runs on the
``VirtualClock``.

Usage: ``.venv/bin/python bench/bench_ghl.py [--n 2000] [--contacts 10000]``
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx

from adapters.base import AdapterContext
from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.fake import AsgiBridgeTransport, FakeGhlState, VirtualClock, create_app
from adapters.ghl.fake.state import iso_ms
from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.models import Entity, OpStatus, Record, RunReport
from syncengine.policy import Policy

ALLOWED_RATE = 10.0
"""GHL's burst limit, 100 requests per 10 s, as a sustained rate."""
WINDOW = 10.0
TOKEN = "pit-bench-token"


class Clock(Protocol):
    def __call__(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class ScaledClock:
    """Virtual seconds that pass ``speed`` times faster than real ones: ``sleep(s)``
    really sleeps ``s / speed``, so concurrent sleepers overlap as they would in real
    time. Starts at 2026-01-01T00:00:00Z, as ``VirtualClock`` does."""

    def __init__(self, speed: float, start: float = 1_767_225_600.0) -> None:
        self.speed = speed
        self.start = start
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)


class Timeline(httpx.BaseTransport):
    """Passes requests to the fake and notes each one's virtual send time and status."""

    def __init__(self, inner: httpx.BaseTransport, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock
        self.sent: list[tuple[float, str, str, int]] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        at = self.clock()
        response = self.inner.handle_request(request)
        with self._lock:
            self.sent.append((at, request.method, _kind(request), response.status_code))
        return response


def _kind(request: httpx.Request) -> str:
    path = request.url.path
    if path == "/contacts/search":
        body = request.content.decode()
        return "search by dateUpdated" if "dateUpdated" in body else "search by dateAdded"
    if path.endswith(("/notes", "/tasks")):
        return f"{request.method} /contacts/{{id}}/{path.rsplit('/', 1)[1]}"
    if path.startswith("/contacts/") and request.method == "PUT":
        return "PUT /contacts/{id}"
    if path.endswith("/customFields"):
        return "GET customFields"
    return f"{request.method} {path}"


class World:
    """One fake GHL location on a virtual clock, and what a run needs around it."""

    def __init__(self, latency: float, location: str, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or VirtualClock()
        self.state = FakeGhlState(clock=self.clock, sleep=self.clock.sleep)
        self.location = location
        self.state.add_location(location)
        self.state.issue_token(location, token=TOKEN)
        self.state.faults.latency = latency
        self.transport = Timeline(AsgiBridgeTransport(create_app(self.state)), self.clock)

    def seed(self, count: int, *, notes_every: int = 0) -> MemoryAdapter:
        """``count`` people in GHL and the same people on a memory side a."""
        loc = self.state.locations[self.location]
        side_a = MemoryAdapter(id_prefix="a")
        for i in range(count):
            cid = f"G{i:06d}"
            when = iso_ms(self.clock() - 86_400 + i)
            email = f"u{i}@bench.example"
            loc.contacts[cid] = {
                "id": cid,
                "locationId": self.location,
                "email": email,
                "firstName": f"User{i}",
                "dateAdded": when,
                "dateUpdated": when,
                "tags": [],
                "customFields": [],
            }
            self.state.index_contact(loc, cid)
            side_a.put(Record("contact", f"a{i}", {"email": email, "first_name": f"User{i}"}))
            if notes_every and i % notes_every == 0:
                nid = f"N{i:06d}"
                loc.notes[nid] = {
                    "id": nid,
                    "contactId": cid,
                    "body": f"note {i}",
                    "dateAdded": when,
                }
        return side_a

    def engine(
        self, store: Store, side_a: MemoryAdapter, entities: tuple[Entity, ...]
    ) -> SyncEngine:
        """An engine with a fresh GHL adapter, as each session of the CLI has."""
        context = AdapterContext(
            connection="bench",
            side="b",
            secrets=lambda reference, *, setting: TOKEN,
            http_transport=self.transport,
            sleep=self.clock.sleep,
        )
        side_b = GhlAdapter.from_settings(
            {"location_id": self.location, "token": "env:BENCH", "base_url": "http://fake"},
            context,
            clock=self.clock,
        )
        return SyncEngine(
            store,
            "bench",
            side_a,
            side_b,
            Policy(entities=entities, match_keys=("email",)),
            full_pass_every=timedelta(days=7),
            clock=lambda: datetime.fromtimestamp(self.clock(), UTC),
            sleep=self.clock.sleep,
        )

    def run(self, store: Store, side_a: MemoryAdapter, entities: tuple[Entity, ...]) -> RunReport:
        engine = self.engine(store, side_a, entities)
        try:
            return engine.run()
        finally:
            engine.b.close()


def unhandled_429s(report: RunReport) -> int:
    bad = (OpStatus.FAILED, OpStatus.QUARANTINED)
    return sum(1 for o in report.outcomes if o.status in bad and "429" in (o.error or ""))


def write_heavy(n: int, latency: float, speed: float, tmp: Path) -> None:
    world = World(latency, "WRITE", ScaledClock(speed))
    side_a = world.seed(n)
    store = Store(f"sqlite:///{tmp / 'write.db'}")
    world.run(store, side_a, ("contact",))  # links everyone: no writes to GHL
    for record in list(side_a.records("contact").values()):
        side_a.put(replace(record, fields={**record.fields, "city": "Springfield"}))
    start = len(world.transport.sent)
    started, wall = world.clock(), time.perf_counter()
    report = world.run(store, side_a, ("contact",))
    elapsed, wall = world.clock() - started, time.perf_counter() - wall
    sent = world.transport.sent[start:]
    writes = sorted(t for t, method, _, _ in sent if method == "PUT")
    steady = [t for t in writes if t >= writes[0] + WINDOW] if writes else []
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
    seen_429 = sum(1 for *_, status in sent if status == 429)
    done = sum(1 for o in report.outcomes if o.status is OpStatus.DONE)
    concurrency = world.engine(store, side_a, ("contact",)).b.capabilities().write_concurrency
    print(
        f"1. write-heavy: {n:,} contact updates through SyncEngine, {latency * 1000:.0f} ms "
        f"a request, {concurrency} GHL write(s) at a time"
    )
    print(
        f"   {len(sent):,} requests ({len(writes):,} PUT) in {elapsed:,.1f} virtual s "
        f"({wall:.1f} s real); updates done: {done:,}/{n:,}"
    )
    print(
        f"   sustained write rate after the first {WINDOW:.0f} s: {rate:.2f} req/s = "
        f"{rate / ALLOWED_RATE:.1%} of the {ALLOWED_RATE:.0f} req/s GHL allows"
    )
    print(f"   429 answers seen: {seen_429}; left unhandled: {unhandled_429s(report)}")
    per_2000 = 2000 / rate / 60 if rate == rate and rate > 0 else float("nan")
    print(f"   at this rate 2,000 updates take {per_2000:.1f} min (the limit allows 3.3 min)")
    store.close()


def no_change_incremental(count: int, latency: float, tmp: Path) -> None:
    """A linked connection's quiet runs: contacts only, then with notes and tasks.

    Notes and tasks are enabled on the connection after its contacts are linked, so their
    first read is a window as well. A new connection's first run would read the children
    of every contact (20,000 requests at 10,000 contacts, half an hour at GHL's limit),
    which says nothing about incremental runs and would take minutes of CPU here."""
    print(f"2. no-change incremental runs over {count:,} linked contacts")
    world = World(latency, "READ")
    side_a = world.seed(count, notes_every=10)
    store = Store(f"sqlite:///{tmp / 'read.db'}")
    contacts: tuple[Entity, ...] = ("contact",)
    children: tuple[Entity, ...] = ("contact", "note", "task")
    steps: list[tuple[str, tuple[Entity, ...], bool]] = [
        ("first run (full), contacts only", contacts, False),
        ("no change, contacts only", contacts, True),
        ("notes and tasks enabled (their first read)", children, False),
        ("no change, contacts, notes, tasks (the window meets unread notes)", children, True),
    ]
    for label, entities, detail in steps:
        mark, started = len(world.transport.sent), world.clock()
        report = world.run(store, side_a, entities)
        kinds = Counter(kind for _, _, kind, _ in world.transport.sent[mark:])
        print(
            f"   {label}: {sum(kinds.values()):,} requests in {world.clock() - started:,.1f} "
            f"virtual s; {len(report.plan.operations):,} ops planned"
        )
        if detail:
            print("     by kind: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(kinds.items())))
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000, help="contact updates to write")
    parser.add_argument("--contacts", type=int, default=10_000, help="contacts to read")
    parser.add_argument("--latency", type=float, default=0.150, help="seconds per request")
    parser.add_argument("--speed", type=float, default=10.0, help="virtual s per real s")
    args = parser.parse_args()
    print(
        f"fake GHL in-process on a virtual clock; limits 100 req / 10 s and 200,000 / day "
        f"per location; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_heavy(args.n, args.latency, args.speed, Path(tmp))
        no_change_incremental(args.contacts, args.latency, Path(tmp))
    print(f"bench took {time.perf_counter() - started:.0f} s of real time")


if __name__ == "__main__":
    main()
