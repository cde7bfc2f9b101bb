"""The state tables (SQLModel). Every change here needs a migration in ``migrations/``.

``side_records`` is the base: for each side, the version of every record agreed at the
last sync (``linked``), or last seen while it waits for a link (not ``linked``: held
duplicates, children waiting for their contact). ``links`` pairs the ids of the two
sides. The rest is the history a user reviews: runs, the op journal, conflicts,
duplicate groups, quarantine and the audit trail of external calls.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class SideRecord(SQLModel, table=True):
    __tablename__ = "side_records"
    __table_args__ = (
        Index("ix_side_records_key1", "connection", "side", "entity", "key1"),
        # Partial indexes (migration 0002): only rows with a value are indexed.
        Index(
            "ix_side_records_key2",
            "connection",
            "side",
            "entity",
            "key2",
            sqlite_where=text("key2 IS NOT NULL"),
            postgresql_where=text("key2 IS NOT NULL"),
        ),
        Index(
            "ix_side_records_parent",
            "connection",
            "side",
            "entity",
            "parent_id",
            sqlite_where=text("parent_id IS NOT NULL"),
            postgresql_where=text("parent_id IS NOT NULL"),
        ),
        Index(
            "ix_side_records_unlinked",
            "connection",
            "side",
            "entity",
            "record_id",
            sqlite_where=text("NOT linked"),
            postgresql_where=text("NOT linked"),
        ),
    )

    connection: str = Field(primary_key=True)
    side: str = Field(primary_key=True, max_length=1)
    entity: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)
    fingerprint: str
    data: str
    updated_at: float | None = None
    """The side's own update time, as a UTC epoch (cheap to write in bulk)."""
    parent_id: str | None = None
    key1: str | None = None
    key2: str | None = None
    linked: bool = True
    version: str | None = None


class Link(SQLModel, table=True):
    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("connection", "entity", "b_id", name="uq_links_b"),)

    connection: str = Field(primary_key=True)
    entity: str = Field(primary_key=True)
    a_id: str = Field(primary_key=True)
    b_id: str
    state: str = "live"
    linked_at: datetime


class Cursor(SQLModel, table=True):
    __tablename__ = "cursors"

    connection: str = Field(primary_key=True)
    side: str = Field(primary_key=True, max_length=1)
    entity: str = Field(primary_key=True)
    cursor: str | None = None
    full_pass_at: datetime | None = None


class Run(SQLModel, table=True):
    __tablename__ = "runs"

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(index=True)
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    summary: str = "{}"
    error: str | None = None


class JournalEntry(SQLModel, table=True):
    __tablename__ = "journal"
    __table_args__ = (
        # Partial (migration 0003): only pending rows are looked up by status, and the
        # journal keeps every run's rows.
        Index(
            "ix_journal_pending",
            "connection",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_journal_run_seq", "run_id", "seq", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int
    connection: str
    seq: int
    side: str
    action: str
    entity: str
    a_id: str | None = None
    b_id: str | None = None
    payload: str = "{}"
    status: str = "pending"
    result_id: str | None = None
    error: str | None = None
    attempts: int = 0
    started_at: datetime
    finished_at: datetime | None = None


class ConflictRow(SQLModel, table=True):
    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_conn_status", "connection", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    connection: str
    key: str = Field(index=True)
    run_id: int
    entity: str
    a_id: str
    b_id: str
    field: str
    kind: str
    base: str
    a_value: str
    b_value: str
    status: str
    """open (held for review), resolving (a user decided; the next run applies it),
    resolved (by policy or by a user), superseded (the sides agree now), or reopened (a
    user's decision the side it overrules edited past: a new open row holds it)."""
    resolution: str | None = None
    resolved_value: str | None = None
    rule: str = ""
    created_at: datetime
    resolved_at: datetime | None = None


class DuplicateGroupRow(SQLModel, table=True):
    __tablename__ = "duplicate_groups"

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(index=True)
    group_key: str
    side: str
    entity: str
    key: str
    ids: str
    status: str = "open"
    first_seen: datetime
    last_seen: datetime


class Quarantine(SQLModel, table=True):
    __tablename__ = "quarantine"

    connection: str = Field(primary_key=True)
    side: str = Field(primary_key=True, max_length=1)
    entity: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)
    reason: str
    attempts: int = 1
    first_seen: datetime
    last_seen: datetime


class Revisit(SQLModel, table=True):
    """A record to look at again next run though it did not change (migration 0004).

    A create the side refused as a duplicate of a record it already had links the two
    with no base: their fields merge as a fresh match at the next run, which an
    incremental read would not otherwise bring into play. Not a failure, so not
    quarantine: the next run that gets through its plan takes the row away.
    """

    __tablename__ = "revisits"

    connection: str = Field(primary_key=True)
    side: str = Field(primary_key=True, max_length=1)
    entity: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)
    reason: str
    since: datetime


class AuditCall(SQLModel, table=True):
    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(index=True)
    run_id: int | None = None
    side: str
    at: datetime
    method: str
    path: str
    status: int | None = None
    latency_ms: float
    retries: int = 0
    trace_id: str | None = None
    error: str | None = None


class LockRow(SQLModel, table=True):
    __tablename__ = "locks"

    connection: str = Field(primary_key=True)
    holder: str
    pid: int
    host: str
    acquired_at: datetime
    expires_at: datetime


class VaultEntry(SQLModel, table=True):
    __tablename__ = "vault"

    connection: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    ciphertext: str
    updated_at: datetime


class SideIdentity(SQLModel, table=True):
    """Which records each side of a connection is (migration 0005): a file's absolute
    path, a GHL location id. Links and bases hold only ids, so two pairings that share
    a database and a connection name would read each other's as their own; a run whose
    side is not the one the state was built with is refused instead (``--force``
    adopts it, for a file that moved)."""

    __tablename__ = "side_identities"

    connection: str = Field(primary_key=True)
    side: str = Field(primary_key=True, max_length=1)
    identity: str
    since: datetime
