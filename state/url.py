"""Which state database URLs syncengine can open, checked before any driver is loaded.

A URL naming another database (``mysql://``) would otherwise fail deep in SQLAlchemy
with a missing driver module, and a SQLite file in a missing or read-only directory
with "unable to open database file". Both are config mistakes: these checks name the
fix. Kept free of SQLAlchemy so the config layer can use them cheaply.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from syncengine.writable import can_create_files_in

__all__ = [
    "FROM_CONFIG",
    "SCHEMES",
    "driver_url",
    "scheme_problem",
    "sqlite_directory_problem",
    "sqlite_path",
]

SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
"""The schemes whose drivers syncengine ships (sqlite3 and psycopg 3); ``postgres://``
is the spelling hosting providers hand out, taken as ``postgresql://``."""

_FORM = "sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"

FROM_CONFIG = "[state] url"
"""Where a state URL came from, as messages name it: the config's ``[state] url``, or
the environment variable or keyring entry that setting refers to."""


def scheme_problem(url: str) -> str | None:
    """Why ``url`` is not a state URL syncengine supports, or None when it is. A
    PostgreSQL URL must name its database: without one, libpq quietly picks the
    database named after the user, and the state lands somewhere nobody looks."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        return f"state url must be {_FORM}; {url!r} is not a URL"
    if scheme not in SCHEMES:
        if scheme.startswith(("postgresql+", "postgres+")):
            return (
                f"state url: syncengine talks to PostgreSQL through psycopg 3, not "
                f"{scheme.partition('+')[2]}; write postgresql://... instead of {scheme}://..."
            )
        return (
            f"state url: syncengine keeps its state in SQLite or PostgreSQL, not {scheme}; "
            f"use {_FORM}"
        )
    if scheme == "sqlite":
        return None
    parts = urlsplit(f"postgresql://{rest}")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port when asked for it
    except ValueError:
        port = parts.netloc.rpartition(":")[2]
        return f"state url: the port {port!r} is not a number; write it as HOST:5432"
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        return (
            "state url names no database: add its name after the host, as in "
            "postgresql://USER@HOST:5432/syncengine (create it first with createdb)"
        )
    return None


def driver_url(url: str) -> str:
    """``url`` as SQLAlchemy opens it: PostgreSQL through psycopg 3."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other URLs and in-memory databases."""
    if not url.lower().startswith("sqlite:///"):
        return None
    raw = url[len("sqlite:///") :].split("?", 1)[0]
    if not raw or raw == ":memory:":
        return None
    return Path(raw)


def sqlite_directory_problem(url: str, source: str = FROM_CONFIG) -> str | None:
    """Why SQLite cannot make its files (database, -wal, -shm) where ``url`` says."""
    path = sqlite_path(url)
    if path is None:
        return None
    directory = path.parent
    if directory.is_dir() and can_create_files_in(directory):
        return None
    return directory_message(directory, source)


def directory_message(directory: Path, source: str = FROM_CONFIG) -> str:
    return (
        f"the directory {directory} for the state database does not exist (or is not "
        f"writable); create it or change {source}"
    )
