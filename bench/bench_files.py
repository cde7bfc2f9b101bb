"""The reference workload on file sides: a CSV file of N contacts against a JSONL file.

The same steps as ``bench_sync.py`` (a first sync into an empty JSONL file; then 1% of
the contacts edited in each file, disjoint, and 0.5% deleted from each; a second sync;
a third with no changes), but the sides are real files a user keeps, edited the way a
user would (the file rewritten), so every sync parses both files in full. Prints, per
sync: wall time, CPU time, records read and the ingest rate, plan time, apply time,
operations, JSONL file rewrites and peak RSS; then checks that both files agree.

    .venv/bin/python bench/bench_files.py --n 100000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from adapters.files.csvfile import CsvAdapter
from adapters.files.jsonl import JsonlAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.policy import Policy

COLUMNS = ["id", "First Name", "Last Name", "Email", "Company Name", "City", "Tags"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[1:]


def sync(store: Store, crm: Path, app: Path, label: str) -> None:
    """One sync as one ``syncengine run`` does it: the sides opened afresh, so both
    files are parsed in full (a file side caches its parse only within a process)."""
    a, b = CsvAdapter(crm), JsonlAdapter(app)
    engine = SyncEngine(store, "bench", a, b, Policy(), sleep=lambda s: None)
    start, cpu = time.perf_counter(), time.process_time()
    report = engine.run(force=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.store.wait_for_checkpoint()
    t = engine.timings
    read = engine.records_read
    rate = read / t["read"] if t.get("read") and read else 0.0
    print(
        f"{label:<16} wall {wall:7.3f} s | cpu {cpu:7.3f} s | "
        f"read {read:>8} rec in {t.get('read', 0):6.3f} s ({rate:>9,.0f} rec/s) | "
        f"plan {t.get('plan', 0):6.3f} s | apply {t.get('apply', 0):6.3f} s | "
        f"ops {len(report.plan.operations):>7} | JSONL rewrites {b.rewrites:>3} | "
        f"peak RSS {peak_rss_mb():6.0f} MB"
    )
    if report.outcomes.any_failed():
        raise SystemExit(f"{label}: some writes failed: {report.outcomes.counts()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        crm, app = Path(tmp) / "crm.csv", Path(tmp) / "app.jsonl"
        write_csv(
            crm,
            [
                [
                    f"c{i}",
                    f"First{i}",
                    f"Last{i}",
                    f"person{i}@example.com",
                    f"Company {i % 997}",
                    "Springfield",
                    f"customer;segment-{i % 7}",
                ]
                for i in range(args.n)
            ],
        )
        app.write_text("", encoding="utf-8")
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        print(f"N = {args.n:,} contacts in {crm.name}, none in {app.name}; state in SQLite")
        sync(store, crm, app, "1 first sync")

        one, half = int(args.n * 0.01), int(args.n * 0.005)
        picks = rng.sample(range(args.n), 2 * one + 2 * half)
        edit_a, edit_b = set(picks[:one]), set(picks[one : 2 * one])
        del_a = set(picks[2 * one : 2 * one + half])
        del_b = set(picks[2 * one + half :])
        rows = read_csv(crm)
        for row in rows:
            if int(row[0][1:]) in edit_a:
                row[5] = "Edited in the CSV"
        write_csv(crm, [r for r in rows if int(r[0][1:]) not in del_a])
        lines = []
        for line in app.read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            i = int(obj["email"].removeprefix("person").partition("@")[0])
            if i in del_b:
                continue
            if i in edit_b:
                obj["tags"] = ["customer", "edited-in-jsonl"]
            lines.append(json.dumps(obj) + "\n")
        app.write_text("".join(lines), encoding="utf-8")
        sync(store, crm, app, "2 changes")
        sync(store, crm, app, "3 no change")

        left = {r.fields["email"]: r.fields for r in CsvAdapter(crm).snapshot("contact").records}
        right = {r.fields["email"]: r.fields for r in JsonlAdapter(app).snapshot("contact").records}
        expected = args.n - 2 * half
        equal = left == right and len(left) == expected
        print(f"files equal: {equal} ({len(left):,} contacts each; expected {expected:,})")
        store.close()
        if not equal:
            raise SystemExit("the two files disagree after the benchmark: a correctness bug")


if __name__ == "__main__":
    main()
