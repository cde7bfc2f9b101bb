"""Which state database URLs syncengine can open, checked before any driver is loaded.

A URL naming another database (``mysql://``) would otherwise fail deep in SQLAlchemy
with a missing driver module, and a SQLite file in a missing or read-only directory
with "unable to open database file". Both are config mistakes: these checks name the
fix. Kept free of SQLAlchemy so the config layer can use them cheaply.
"""

from __future__ import annotations

from pathlib import Path

from syncengine.writable import can_create_files_in

__all__ = ["SCHEMES", "scheme_problem", "sqlite_directory_problem", "sqlite_path"]

SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
"""The schemes whose drivers syncengine ships (sqlite3 and psycopg 3)."""


def scheme_problem(url: str) -> str | None:
    """Why ``url`` is not a state URL syncengine supports, or None when it is."""
    scheme, sep, _ = url.partition("://")
    if sep and scheme.lower() in SCHEMES:
        return None
    what = f"{scheme.lower()} is not supported" if sep else f"{url!r} is not a URL"
    return f"state url must be sqlite:///PATH or postgresql://...; {what}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other URLs and in-memory databases."""
    if not url.lower().startswith("sqlite:///"):
        return None
    raw = url[len("sqlite:///") :].split("?", 1)[0]
    if not raw or raw == ":memory:":
        return None
    return Path(raw)


def sqlite_directory_problem(url: str) -> str | None:
    """Why SQLite cannot make its files (database, -wal, -shm) where ``url`` says."""
    path = sqlite_path(url)
    if path is None:
        return None
    directory = path.parent
    if directory.is_dir() and can_create_files_in(directory):
        return None
    return directory_message(directory)


def directory_message(directory: Path) -> str:
    return (
        f"the directory {directory} for the state database does not exist (or is not "
        "writable); create it or change [state] url"
    )
