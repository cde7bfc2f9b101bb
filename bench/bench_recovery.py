"""Recovery after a crash mid-apply: how long the next run takes to settle what the dead
run had in flight.

A first sync of N contacts from a JSONL file to an in-memory side is killed (a
simulated crash, as kill -9 would) half-way through a chunk of creates: the chunk's
journal rows are ``pending``, half of its creates landed on side b. The next run looks
each of them up by its match key on side b before it plans (``recovery``), and the
applier does the same for the ones that did not land. Prints the time of that lookup
pass, then of the whole rerun, and checks both sides hold N contacts once, so the
crash made no duplicate. Also prints what one key look-up costs on a JSONL file of N
rows, the first (which builds the side's key index) and the next ones.

    .venv/bin/python bench/bench_recovery.py --n 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from adapters.files.jsonl import JsonlAdapter
from adapters.memory import MemoryAdapter, SimulatedCrash
from state.store import Store
from syncengine import engine as engine_module
from syncengine.apply import CHUNK_UNITS
from syncengine.engine import SyncEngine
from syncengine.policy import Policy


def write_contacts(path: Path, n: int) -> None:
    with path.open("w") as out:
        for i in range(n):
            row = {"id": f"c{i}", "first_name": f"First{i}", "email": f"person{i}@example.com"}
            out.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.jsonl"
        write_contacts(path, args.n)
        a, b = JsonlAdapter(path), MemoryAdapter(id_prefix="b")
        store = Store(f"sqlite:///{Path(tmp) / 'state.db'}")
        engine = SyncEngine(store, "bench", a, b, Policy(), sleep=lambda s: None)
        landed = args.n - CHUNK_UNITS // 2
        b.faults.crash_after_writes = landed
        with suppress(SimulatedCrash):
            engine.run()
        pending = len(store.inflight_creates("bench"))
        print(
            f"N = {args.n:,}: crashed with {pending} creates in flight "
            f"({len(b.records('contact')):,} contacts on side b)"
        )
        timed = {"recovery": 0.0}
        recover = engine_module.recover_inflight_creates

        def timed_recovery(*args_: object, **kwargs: object) -> int:
            t0 = time.perf_counter()
            found = recover(*args_, **kwargs)  # type: ignore[arg-type]
            timed["recovery"] = time.perf_counter() - t0
            return found

        engine_module.recover_inflight_creates = timed_recovery  # type: ignore[assignment]
        t0 = time.perf_counter()
        report = engine.run()
        wall = time.perf_counter() - t0
        print(
            f"rerun: recovery {timed['recovery']:.3f} s, whole run {wall:.3f} s, "
            f"{len(report.plan.operations)} ops"
        )
        count_a, count_b = len(a.snapshot("contact").records), len(b.records("contact"))
        ok = count_a == count_b == args.n
        print(
            f"sides hold {count_a:,} and {count_b:,} contacts: {'no duplicate' if ok else 'WRONG'}"
        )
        store.close()
        fresh = JsonlAdapter(path)
        t0 = time.perf_counter()
        fresh.find_by_key("contact", "email:person1@example.com")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(CHUNK_UNITS):
            fresh.find_by_key("contact", f"email:person{i * 7}@example.com")
        rest = (time.perf_counter() - t0) / CHUNK_UNITS
        print(
            f"JSONL side of {args.n:,} rows: first key look-up {first:.3f} s "
            f"(reads the file, builds the index), then {rest * 1e6:.1f} us each"
        )
        if not ok:
            raise SystemExit("a crash made a duplicate or lost a record: a correctness bug")


if __name__ == "__main__":
    main()
