"""Bench the GHL adapter against the fake GHL under uvicorn, in real time, at real limits.

1. Write-heavy: N contact updates through ``GhlAdapter.update`` (one PUT each). The
   server allows 100 requests per 10 s per location (10 req/s). The first 100 go out
   as one burst, so the sustained rate is measured after the first window; target >=
   90% of 10 req/s, with no 429 left unhandled.
2. No-change incremental over 10,000 contacts: after a full read, ``changes_since``
   should cost search pages only (target: 1 request).

Usage: ``python bench/bench_ghl.py [N]`` (default 2000, ~3.5 minutes; 300 takes ~30 s).
Time is real: no virtual clock.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from datetime import UTC, datetime

import uvicorn

from adapters.base import AdapterContext, CallRecord
from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.fake import FakeGhlState, create_app
from adapters.ghl.fake.state import iso_ms
from syncengine.models import FieldChange

WINDOW = 10.0
ALLOWED_RATE = 10.0


def start_server(state: FakeGhlState) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def seed(state: FakeGhlState, location: str, count: int, stamp: float) -> list[str]:
    loc = state.locations[location]
    ids = []
    for i in range(count):
        cid = f"{location}-{i:06d}"
        when = iso_ms(stamp)
        loc.contacts[cid] = {
            "id": cid,
            "locationId": location,
            "email": f"u{i}@bench.example",
            "firstName": f"User{i}",
            "dateAdded": when,
            "dateUpdated": when,
            "tags": [],
            "customFields": [],
        }
        state.index_contact(loc, cid)
        ids.append(cid)
    return ids


def adapter_for(url: str, location: str, token: str, audit: list[CallRecord]) -> GhlAdapter:
    def sink(call: CallRecord) -> None:
        audit.append(call)

    ctx = AdapterContext(connection="bench", audit=sink, secrets=lambda ref, setting: token)
    return GhlAdapter.from_settings(
        {"location_id": location, "token": "env:BENCH", "base_url": url}, ctx
    )


def write_heavy(url: str, state: FakeGhlState, n: int) -> None:
    state.add_location("WRITE")
    token = state.issue_token("WRITE")
    ids = seed(state, "WRITE", n, time.time() - 3600)
    audit: list[CallRecord] = []
    adapter = adapter_for(url, "WRITE", token, audit)
    adapter.get("contact", ids[0])  # loads custom-field definitions, warms the connection
    audit.clear()
    started = time.monotonic()
    for i, cid in enumerate(ids):
        adapter.update("contact", cid, [FieldChange("city", None, f"City {i}")])
    elapsed = time.monotonic() - started
    stamps = sorted(row.at.timestamp() for row in audit)
    steady = [t for t in stamps if t >= stamps[0] + WINDOW]
    rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
    throttled = sum(1 for r in state.requests if r.location_id == "WRITE" and r.status == 429)
    ok = sum(1 for row in audit if row.status == 200)
    print(f"write-heavy: {n} updates, {len(audit)} requests in {elapsed:.1f} s")
    print(
        f"  sustained after the first {WINDOW:.0f} s window: {rate:.2f} req/s = "
        f"{rate / ALLOWED_RATE:.1%} of the {ALLOWED_RATE:.0f} req/s allowed (target >= 90%)"
    )
    print(
        f"  429 answers seen: {throttled} (all retried); successful updates: {ok}/{n}; "
        f"client waited {adapter.client.limiter.waited:.1f} s for the window"
    )
    minutes_2000 = (100 + (2000 - 100) / max(rate, 0.001)) / 60
    print(f"  extrapolated: 2000 updates take about {minutes_2000:.1f} min at this rate")
    adapter.close()


def no_change_incremental(url: str, state: FakeGhlState, count: int = 10_000) -> None:
    state.add_location("READ")
    token = state.issue_token("READ")
    seed(state, "READ", count, time.time() - 3600)
    audit: list[CallRecord] = []
    adapter = adapter_for(url, "READ", token, audit)
    full = adapter.snapshot("contact")
    full_calls = len(audit)
    audit.clear()
    again = adapter.changes_since("contact", full.cursor or "")
    searches = sum(1 for row in audit if row.path == "/contacts/search")
    print(
        f"no-change incremental over {count:,} contacts: {len(audit)} request(s) "
        f"({searches} search page(s)), {len(again.records)} records returned "
        f"(full snapshot took {full_calls} requests: 1 custom-field read + search pages)"
    )
    adapter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=2000, help="updates to make")
    args = parser.parse_args()
    state = FakeGhlState()
    url, server, thread = start_server(state)
    print(
        f"fake GHL at {url}; real time, limits {state.rate_max} req / "
        f"{state.rate_interval:.0f} s per location; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    try:
        no_change_incremental(url, state)
        write_heavy(url, state, args.n)
    finally:
        server.should_exit = True
        thread.join(5)


if __name__ == "__main__":
    main()
