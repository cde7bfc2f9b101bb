"""Migrations: an empty database reaches head, matching the models; a newer one is refused."""

from __future__ import annotations

import gc
import socket
import warnings

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import state.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from state.db import alembic_config, make_engine
from state.store import Store
from state.url import driver_url, scheme_problem
from syncengine.apply import MERGE_NEXT
from syncengine.errors import StateConfigError, StateError

TABLES = {
    "alembic_version",
    "audit",
    "conflicts",
    "cursors",
    "duplicate_groups",
    "journal",
    "links",
    "locks",
    "quarantine",
    "revisits",
    "runs",
    "side_identities",
    "side_records",
    "vault",
}


def test_an_empty_database_is_migrated_to_head_matching_the_models(state_url: str) -> None:
    store = Store(state_url)
    try:
        head = ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert context.get_current_revision() == head
            assert set(inspect(conn).get_table_names()) == TABLES
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        store.close()


def test_reopening_a_migrated_database_keeps_its_rows(state_url: str) -> None:
    first = Store(state_url)
    run_id = first.start_run("c", "run")
    first.close()
    second = Store(state_url)
    try:
        assert [r["id"] for r in second.runs("c")] == [run_id]
    finally:
        second.close()


def _make_newer(state_url: str) -> None:
    store = Store(state_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    store.close()


def test_a_database_at_an_unknown_newer_revision_is_refused(state_url: str) -> None:
    _make_newer(state_url)
    with pytest.raises(StateError, match="newer than this syncengine knows"):
        Store(state_url)
    gc.collect()

    # The refusal touched nothing: the revision is still the unknown one.
    engine = make_engine(state_url)
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
        assert revision == "9999_from_the_future"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_refused_database_leaves_no_connection_open(pg_url: str) -> None:
    _make_newer(pg_url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(StateError):
            Store(pg_url)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


def test_a_journal_from_before_0003_keeps_its_pending_rows_and_uses_the_partial_index(
    state_url: str,
) -> None:
    engine = make_engine(state_url)
    try:
        command.upgrade(alembic_config(engine), "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO journal (run_id, connection, seq, side, action, entity, a_id, "
                    "payload, status, attempts, started_at) VALUES (7, 'c', 1, 'b', 'create', "
                    "'contact', 'a1', '{}', 'pending', 0, '2026-12-01 00:00:00')"
                )
            )
    finally:
        engine.dispose()
    store = Store(state_url)
    try:
        assert [r["a_id"] for r in store.inflight_creates("c")] == ["a1"]
        with store.engine.connect() as conn:
            indexes = {i["name"] for i in inspect(conn).get_indexes("journal")}
            assert indexes == {"ix_journal_pending", "ix_journal_run_seq"}
            if conn.dialect.name == "sqlite":
                plan = conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT * FROM journal WHERE connection = 'c' "
                        "AND status = 'pending' AND action = 'create'"
                    )
                ).all()
                assert "ix_journal_pending" in str(plan)
        command.downgrade(alembic_config(store.engine), "0002")
        with store.engine.connect() as conn:
            indexes = {i["name"] for i in inspect(conn).get_indexes("journal")}
        assert indexes == {"ix_journal_conn_status", "ix_journal_run_id", "ix_journal_run_seq"}
    finally:
        store.close()


def test_merge_next_quarantine_rows_from_before_0004_become_revisits(state_url: str) -> None:
    engine = make_engine(state_url)
    try:
        command.upgrade(alembic_config(engine), "0003")
        with engine.begin() as conn:
            for rid, reason in (("a1", MERGE_NEXT), ("a2", "HTTP 500 from side b")):
                conn.execute(
                    text(
                        "INSERT INTO quarantine (connection, side, entity, record_id, reason, "
                        "attempts, first_seen, last_seen) VALUES ('c', 'a', 'contact', :rid, "
                        ":reason, 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
                    ),
                    {"rid": rid, "reason": reason},
                )
    finally:
        engine.dispose()
    store = Store(state_url)
    try:
        assert [(r["record_id"], r["reason"]) for r in store.revisits("c")] == [("a1", MERGE_NEXT)]
        assert [q["record_id"] for q in store.quarantined("c")] == ["a2"]
        command.downgrade(alembic_config(store.engine), "0003")
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT record_id FROM quarantine ORDER BY 1")).all()
        assert [r for (r,) in rows] == ["a1", "a2"]
    finally:
        store.close()


# -- a PostgreSQL URL it cannot open ----------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize(
    ("user", "database", "said"),
    [
        (
            None,
            "syncengine_no_such_db",
            "has no database 'syncengine_no_such_db'; create it "
            "(createdb -h 127.0.0.1 -p 5432 syncengine_no_such_db) or name one that exists",
        ),
        ("syncengine_no_such_role", "test", "has no user (role) 'syncengine_no_such_role'"),
    ],
)
def test_a_login_the_server_refuses_is_a_config_error_naming_the_url(
    pg_user: str, user: str | None, database: str, said: str
) -> None:
    url = f"postgresql://{user or pg_user}@127.0.0.1:5432/{database}"
    with pytest.raises(StateConfigError) as caught:
        Store(url)
    message = str(caught.value)
    assert message.startswith(
        f"the PostgreSQL server at 127.0.0.1:5432 ([state] url = postgresql://***@127.0.0.1:5432/"
        f"{database}) {said}"
    )
    assert message.endswith("in [state] url")
    assert "sqlalche.me" not in message


def test_a_server_that_cannot_be_reached_is_named_with_the_fix_and_without_the_password() -> None:
    """Not a config error (the server may be down for a minute), but it says what to do."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StateError) as caught:
        Store(f"postgresql://nobody:secret@127.0.0.1:{port}/x")
    assert not isinstance(caught.value, StateConfigError)
    message = str(caught.value)
    assert message == (
        f"cannot reach the PostgreSQL server at 127.0.0.1:{port} ([state] url = "
        f"postgresql://***@127.0.0.1:{port}/x): Connection refused; start PostgreSQL there "
        "(or wait until it is up), or fix host and port in [state] url"
    )
    assert "secret" not in message


def test_state_urls_name_their_fix() -> None:
    """Found by a pass over PostgreSQL state: each of these ran or crashed before."""
    assert scheme_problem("postgres://u@h:5432/db") is None  # the providers' spelling
    assert driver_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert "not a number" in str(scheme_problem("postgresql://u@h:notaport/db"))
    assert "names no database" in str(scheme_problem("postgresql://u@h:5432/"))
    assert scheme_problem("postgresql:///db") is None  # the local socket
    assert "through psycopg 3" in str(scheme_problem("postgresql+psycopg2://u@h/db"))


def test_a_url_whose_ssl_settings_the_server_refuses_is_a_config_error() -> None:
    from state.store import _postgres_open_error

    url = "postgresql://u@127.0.0.1:5432/db?sslmode=require"
    bogus = _postgres_open_error(
        url, 'connection is bad: invalid sslmode value: "bogus"', "[state] url"
    )
    assert isinstance(bogus, StateConfigError) and "does not take sslmode 'bogus'" in str(bogus)
    said = "connection failed: server does not support SSL, but SSL was required"
    refused = _postgres_open_error(url, said, "[state] url")
    assert isinstance(refused, StateConfigError) and "set sslmode=prefer" in str(refused)


def test_a_current_schema_missing_a_table_is_refused_at_open_naming_it(state_url: str) -> None:
    Store(state_url).close()
    engine = make_engine(state_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE links"))
        conn.execute(text("DROP TABLE revisits"))
    engine.dispose()
    with pytest.raises(StateConfigError) as refused:
        Store(state_url)
    message = str(refused.value)
    assert "has no links, revisits tables, though its schema version is current" in message
    assert "Restore it from a backup, or point [state] url at a new database" in message
    assert refused.value.exit_code == 2


def test_a_table_dropped_under_an_open_store_is_a_state_error(state_url: str) -> None:
    """The hot reads go to the driver past SQLAlchemy: its own errors are StateErrors
    too (a message naming the database's complaint), not a driver traceback."""
    store = Store(state_url)
    try:
        engine = make_engine(state_url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE side_records"))
        engine.dispose()
        with pytest.raises(StateError, match=r"state database error: .*side_records"):
            store.fingerprints("c", "a", "contact", ["x1"])
    finally:
        store.close()
