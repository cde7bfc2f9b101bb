"""A state table a run filled is analysed at the end of the run on PostgreSQL.

With autovacuum off (or not yet round), a table filled by a first sync kept the
statistics of an empty one, and the planner found each base row by the key index and a
filter over the whole entity: the second sync of 100,000 contacts took 191 s. The test
looks at the plan PostgreSQL would choose, which is what went wrong, not at a timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.memory import MemoryAdapter
from state.store import Store
from syncengine.engine import SyncEngine
from syncengine.models import Record

LOOKUP = (
    "EXPLAIN EXECUTE base_row('c', 'a', 'contact', 'a7')",
    "PREPARE base_row(text, text, text, text) AS DELETE FROM side_records "
    "WHERE connection = $1 AND side = $2 AND entity = $3 AND record_id = $4",
)


def generic_plan(store: Store) -> str:
    with store.engine.connect() as conn:
        conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        conn.execute(text(LOOKUP[1]))
        plan = "\n".join(str(r[0]) for r in conn.execute(text(LOOKUP[0])))
        conn.execute(text("DEALLOCATE base_row"))
        conn.rollback()
        return plan


@pytest.mark.postgres
def test_a_run_that_filled_the_base_leaves_it_analysed(pg_url: str) -> None:
    store = Store(pg_url)
    try:
        a, b = MemoryAdapter(id_prefix="a"), MemoryAdapter(id_prefix="b")
        for i in range(2_000):
            a.put(Record("contact", f"a{i}", {"email": f"p{i}@example.com"}))
        SyncEngine(store, "c", a, b).run()
        assert "side_records_pkey" in generic_plan(store)
        with store.engine.connect() as conn:
            believed = conn.execute(
                text(
                    "SELECT relname, reltuples FROM pg_class WHERE relname IN "
                    "('side_records', 'links') AND relnamespace = current_schema()::regnamespace"
                )
            ).all()
        assert dict(believed) == {"side_records": 4_000, "links": 2_000}
        assert store.refresh_statistics(written=100) == []  # small next to what is there
    finally:
        store.close()


def test_sqlite_has_no_statistics_to_refresh(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert store.refresh_statistics(written=10**6) == []
    finally:
        store.close()
