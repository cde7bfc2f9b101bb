"""Fixtures for the state store's suite: every test runs on SQLite and on PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (trust auth, database ``test``). If it is
down it is started with ``pg_ctlcluster``; if it still cannot be reached the PostgreSQL
half of the suite is skipped with the reason, except in CI (``CI=true``), where it
fails: a CI run must never pass by skipping the backend it is meant to cover.

Each PostgreSQL test gets a fresh schema (``search_path`` set in the URL), dropped
afterwards, so tests never see each other's rows and can run in any order.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from state.store import Store

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_DB = "test"
START_WAIT_S = 20.0


def _connect(user: str, dbname: str = PG_DB) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=user, dbname=dbname, connect_timeout=3, autocommit=True
    )


def _find_user() -> tuple[str | None, str]:
    """A user that can reach the ``test`` database (creating it if missing), or why not."""
    reasons = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        try:
            with _connect(user):
                return user, ""
        except psycopg.OperationalError as exc:
            reasons.append(f"{user}: {str(exc).strip()}")
            if f'database "{PG_DB}" does not exist' in str(exc):
                try:
                    with _connect(user, "postgres") as conn:
                        conn.execute(f"CREATE DATABASE {PG_DB}")
                    return user, ""
                except psycopg.Error as create_exc:
                    reasons.append(f"{user}: cannot create {PG_DB}: {create_exc}")
    return None, "; ".join(reasons)


def _start_server() -> str:
    """Start the local cluster (as the task's environment sets it up); say what happened."""
    versions = (
        sorted(p.name for p in Path("/etc/postgresql").glob("*"))
        if Path("/etc/postgresql").is_dir()
        else []
    )
    if not versions:
        return "no cluster under /etc/postgresql to start"
    try:
        proc = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pg_ctlcluster failed: {exc}"
    return f"pg_ctlcluster exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()}"


@pytest.fixture(scope="session")
def pg_user() -> str:
    """The user to reach PostgreSQL as; skips (or fails in CI) when there is no server."""
    user, why = _find_user()
    if user is None:
        started = _start_server()
        deadline = time.monotonic() + START_WAIT_S
        while user is None and time.monotonic() < deadline:
            time.sleep(0.5)
            user, why = _find_user()
        why = f"{why} (after start attempt: {started})"
    if user is None:
        message = f"PostgreSQL on {PG_HOST}:{PG_PORT}/{PG_DB} is not reachable: {why}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the PostgreSQL suite, not skip it")
        pytest.skip(message)
    return user


@pytest.fixture
def pg_url(pg_user: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _connect(pg_user) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql://{pg_user}@{PG_HOST}:{PG_PORT}/{PG_DB}?options=-csearch_path%3D{schema}"
    finally:
        with _connect(pg_user) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty state database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(state_url: str) -> Iterator[Store]:
    s = Store(state_url)
    try:
        yield s
    finally:
        s.close()
