"""The reference two-way sync benchmark (the workload vdirsyncer is measured on).

N contacts on side a; a first sync; then 1% edited on each side (disjoint records) and
0.5% deleted on each side; a second sync; then a third sync with no changes. In-memory
sides, the state in a SQLite file. Prints, per sync: wall time, the CPU time the process
spent in it (steadier than wall time on a shared machine), records read and the ingest
rate, plan time, apply time, operations, peak RSS; then checks both sides agree. The RSS
printed before the first sync is what side a's records cost before the engine starts;
side b costs about as much once the first sync has filled it. ``--trace-memory`` (slow:
Python allocations are traced) adds, per sync, the traced memory before it, at its peak
and after it: the peak less the memory after is what the engine held only while it ran.

    .venv/bin/python bench/bench_sync.py --n 100000
    .venv/bin/python bench/bench_sync.py --n 100000 --state-url postgresql://root@127.0.0.1:5432/bench

``--state-url`` puts the state in that database instead of a temporary SQLite file (it
must hold no state for the connection ``bench``: create an empty database for it).
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.models import Record
from syncengine.policy import Policy


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def contact(i: int) -> Record:
    return Record(
        "contact",
        f"c{i}",
        {
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "email": f"person{i}@example.com",
            "company_name": f"Company {i % 997}",
            "city": "Springfield",
            "tags": ["customer", f"segment-{i % 7}"],
        },
    )


def sync(engine: SyncEngine, label: str) -> None:
    tracing = tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
    start, cpu = time.perf_counter(), time.process_time()
    report = engine.run(force=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if tracing:
        traced_after, traced_peak = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    engine.store.wait_for_checkpoint()  # the WAL copy a run leaves to a background thread
    checkpoint = time.perf_counter() - t0
    t = engine.timings
    read = engine.records_read
    rate = read / t["read"] if t.get("read") and read else 0.0
    print(
        f"{label:<16} wall {wall:7.3f} s | cpu {cpu:7.3f} s | "
        f"read {read:>8} rec in {t.get('read', 0):6.3f} s "
        f"({rate:>10,.0f} rec/s) | plan {t.get('plan', 0):6.3f} s | apply {t.get('apply', 0):6.3f} s | "
        f"ops {len(report.plan.operations):>7} | peak RSS {peak_rss_mb():7.0f} MB | "
        f"then checkpoint {checkpoint:5.3f} s"
    )
    if tracing:
        print(
            f"{'':<16} traced MB: before {traced_before / 2**20:7.0f}, "
            f"peak {traced_peak / 2**20:7.0f}, after {traced_after / 2**20:7.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trace-memory", action="store_true")
    parser.add_argument("--state-url", help="a state database instead of a temporary SQLite file")
    args = parser.parse_args()
    if args.trace_memory:
        tracemalloc.start()
    rng = random.Random(args.seed)
    a, b = MemoryAdapter(id_prefix="a"), MemoryAdapter(id_prefix="b")
    for i in range(args.n):
        a.put(contact(i))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.state_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store(url)
        if store.runs("bench"):
            raise SystemExit(f"{url} already holds state for connection 'bench': give an empty one")
        engine = SyncEngine(store, "bench", a, b, Policy(), sleep=lambda s: None)
        kind = "PostgreSQL" if store.engine.dialect.name == "postgresql" else "SQLite"
        print(f"N = {args.n:,} contacts on side a; state in {kind} ({url})")
        print(f"side a built: peak RSS {peak_rss_mb():7.0f} MB")
        sync(engine, "1 first sync")
        ids_a = sorted(a.records("contact"))
        picks = rng.sample(range(len(ids_a)), int(args.n * 0.03))
        one, half = int(args.n * 0.01), int(args.n * 0.005)
        edit_a, edit_b = picks[:one], picks[one : 2 * one]
        del_a, del_b = picks[2 * one : 2 * one + half], picks[2 * one + half : 2 * one + 2 * half]
        by_email_b = {r.fields["email"]: r for r in b.records("contact").values()}
        records_a = a.records("contact")  # a copy: fetch it once, not per edit
        for i in edit_a:
            r = records_a[ids_a[i]]
            a.put(Record("contact", r.id, {**r.fields, "city": "Edited on a"}))
        for i in edit_b:
            r = by_email_b[records_a[ids_a[i]].fields["email"]]
            b.put(Record("contact", r.id, {**r.fields, "tags": ["customer", "edited-on-b"]}))
        for i in del_a:
            a.remove("contact", ids_a[i])
        for i in del_b:
            email = f"person{int(ids_a[i][1:])}@example.com"
            b.remove("contact", by_email_b[email].id)
        sync(engine, "2 changes")
        sync(engine, "3 no change")
        left = sorted(
            (r.fields["email"], tuple(sorted(r.fields.items(), key=str)))
            for r in a.records("contact").values()
        )
        right = sorted(
            (r.fields["email"], tuple(sorted(r.fields.items(), key=str)))
            for r in b.records("contact").values()
        )
        expected = args.n - 2 * half
        equal = left == right and len(left) == expected
        print(f"sides equal: {equal} ({len(left):,} contacts each side; expected {expected:,})")
        store.close()
        if not equal:
            raise SystemExit("the two sides disagree after the benchmark: a correctness bug")


if __name__ == "__main__":
    main()
