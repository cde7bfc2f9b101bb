"""How many units a chunk holds: sized by the sides' pace (``apply.next_chunk_size``)."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.files.jsonl import JsonlAdapter
from state.store import Store
from syncengine.apply import CHUNK_UNITS, MAX_CHUNK_UNITS, next_chunk_size
from syncengine.engine import SyncEngine


def test_fast_chunks_grow_at_most_fourfold_up_to_the_cap() -> None:
    assert next_chunk_size(CHUNK_UNITS, 0.001) == 4 * CHUNK_UNITS
    assert next_chunk_size(4000, 1.0) == 8000  # about two seconds of work
    assert next_chunk_size(MAX_CHUNK_UNITS, 0.01) == MAX_CHUNK_UNITS
    assert next_chunk_size(CHUNK_UNITS, 0.0) == 4 * CHUNK_UNITS


def test_a_slow_side_keeps_the_smallest_chunks() -> None:
    """A remote side (GHL: a chunk of 500 takes about a minute) settles its journal
    often, so a crash leaves few creates to look up."""
    assert next_chunk_size(CHUNK_UNITS, 60.0) == CHUNK_UNITS
    assert next_chunk_size(8000, 60.0) == CHUNK_UNITS


def test_a_first_sync_into_a_file_rewrites_it_a_few_times_not_once_per_500(
    store: Store, tmp_path: Path
) -> None:
    n = CHUNK_UNITS * 6
    source = tmp_path / "a.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"c{i}", "email": f"p{i}@example.com", "first_name": "P"}) + "\n"
            for i in range(n)
        ),
        encoding="utf-8",
    )
    a, b = JsonlAdapter(source), JsonlAdapter(tmp_path / "b.jsonl")
    SyncEngine(store, "conn", a, b).run()
    assert len(b.snapshot("contact").records) == n
    assert b.rewrites <= 3  # 500, then up to 2000, then the rest
