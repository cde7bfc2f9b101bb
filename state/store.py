"""The state store: the only code that issues SQL.

Reads are bulk (one query per side and entity for fingerprints, chunked ``IN`` lists
for the records in play), so an unchanged record costs one row read and no Python-level
diff. Writes happen inside ``transaction()`` blocks the engine opens per chunk of ops,
so the journal and the base move together. The same statements run on SQLite and
PostgreSQL; only the upsert is dialect-specific.
"""

from __future__ import annotations

import json
import operator
import os
import re
import socket
import threading
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from state import models as m
from state.db import make_engine, upgrade
from state.url import FROM_CONFIG, directory_message, sqlite_path
from syncengine.errors import LockedError, NotFoundError, StateConfigError, StateError
from syncengine.fingerprint import encode, fingerprint_of_text
from syncengine.models import JSON, Entity, Record, Side

CHUNK = 900
PG_CHUNK = 50_000
"""Ids a PostgreSQL look-up sends as one array (SQLite: ``CHUNK`` parameters)."""
LOCK_TTL = timedelta(minutes=5)
"""A run's lease on its connection; renewed after every chunk of ops."""


def _t(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


SIDE_RECORDS = _t(m.SideRecord)
LINKS = _t(m.Link)
CURSORS = _t(m.Cursor)
RUNS = _t(m.Run)
JOURNAL = _t(m.JournalEntry)
CONFLICTS = _t(m.ConflictRow)
DUPLICATES = _t(m.DuplicateGroupRow)
QUARANTINE = _t(m.Quarantine)
REVISITS = _t(m.Revisit)
AUDIT = _t(m.AuditCall)
LOCKS = _t(m.LockRow)
VAULT = _t(m.VaultEntry)
IDENTITIES = _t(m.SideIdentity)


_UNAPPLIED = ("open", "resolving")
"""Conflict states a run has yet to act on: held for review, or resolved by a user."""

_PENDING = JOURNAL.c.status == literal_column("'pending'")
"""``status = 'pending'`` as a literal: what lets the partial index ix_journal_pending
serve the query (a bound parameter would not)."""


def _now_bound(conn: Connection, column: Any) -> Any:
    """Now, as the driver takes it for ``column``: for rows sent past SQLAlchemy."""
    bind = column.type._cached_bind_processor(conn.dialect)
    return bind(now()) if bind else now()


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def now() -> datetime:
    return datetime.now(UTC)


class StoredRecord(NamedTuple):
    """A side's base version of a record, as the store keeps it.

    A named tuple, not a frozen dataclass: a run builds two for every record it writes,
    and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` a field) cost 1.5 us
    against 0.6 us."""

    record: Record
    fingerprint: str
    linked: bool
    keys: tuple[str, ...] = ()
    data: str = ""
    """The fields as stored JSON text (the fingerprint is the hash of this text)."""


@dataclass(frozen=True, slots=True)
class LinkRow:
    entity: Entity
    a_id: str
    b_id: str
    state: str


def stored(record: Record, keys: tuple[str, ...], linked: bool = True) -> StoredRecord:
    data = encode(record.fields)
    return StoredRecord(record, fingerprint_of_text(data), linked, keys, data)


_RECORD_COLUMNS = (
    "connection",
    "side",
    "entity",
    "record_id",
    "fingerprint",
    "data",
    "updated_at",
    "parent_id",
    "key1",
    "key2",
    "linked",
    "version",
)


_LINK_COLUMNS = ("connection", "entity", "a_id", "b_id", "state", "linked_at")


def _from_ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Store:
    def __init__(self, url: str, *, source: str = FROM_CONFIG) -> None:
        """``source`` is where ``url`` came from, for the messages of a failed open."""
        self.url = url
        try:
            self.engine: Engine = make_engine(url, source)
        except SQLAlchemyError as exc:
            raise _open_error(url, exc, source) from exc
        try:
            upgrade(self.engine, source)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise _open_error(url, exc, source) from exc
        except BaseException:
            self.engine.dispose()
            raise
        self._dialect = self.engine.dialect.name
        dbapi = self.engine.dialect.dbapi
        self._driver_error: type[Exception] = dbapi.Error if dbapi is not None else SQLAlchemyError
        """What the driver raises itself, past SQLAlchemy (the hot reads go straight to
        it): a ``StateError`` like the rest, not a traceback."""
        self._mark = "?" if self._dialect == "sqlite" else "%s"
        """The driver's parameter mark, for the hot statements sent to it directly."""
        self._checkpointer: threading.Thread | None = None

    def close(self) -> None:
        self.wait_for_checkpoint()
        self.engine.dispose()

    def wait_for_checkpoint(self) -> None:
        """Wait for a background checkpoint, if one runs."""
        if self._checkpointer is not None:
            self._checkpointer.join()
            self._checkpointer = None

    def checkpoint_in_background(self) -> None:
        """``checkpoint`` on a thread of its own: a run is durable once its commits are in
        the WAL, so it need not wait for the copy into the database (``close`` does)."""
        if self._dialect != "sqlite":
            return
        self.wait_for_checkpoint()
        self._checkpointer = threading.Thread(
            target=self.checkpoint, name="sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def after_run(self, written: int) -> None:
        """What keeps the next run as fast as this one, after a run that wrote
        ``written`` records: SQLite folds its log into the database (on a thread),
        PostgreSQL refreshes the statistics of the tables it grew (``refresh_statistics``)."""
        if self._dialect == "sqlite":
            self.checkpoint_in_background()
        else:
            self.refresh_statistics(written)

    def refresh_statistics(self, written: int) -> list[str]:
        """ANALYZE the base, link and journal tables where ``written`` rows are more than
        a tenth of what the planner thinks they hold; returns their names.

        Without it, a table filled by a first sync keeps an empty table's statistics
        until autovacuum gets to it (never, where it is off): the planner then finds a
        base row by the key index and a filter over the whole entity instead of by its
        primary key, and the second sync of 100,000 contacts took 191 s instead of 0.9 s.
        The planner's own estimate (``reltuples``) is read, not the statistics views,
        whose counts lag the writes of the last second."""
        if self._dialect != "postgresql":
            return []
        names = [SIDE_RECORDS.name, LINKS.name, JOURNAL.name]
        try:
            with self.engine.connect() as conn:
                believed: dict[str, float] = {
                    str(name): float(tuples)
                    for name, tuples in conn.exec_driver_sql(
                        "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s) "
                        "AND relnamespace = current_schema()::regnamespace",
                        (names,),
                    )
                }
                stale = sorted(
                    n for n in names if written > 500 + max(believed.get(n, 0.0), 0.0) / 10
                )
                for name in stale:
                    conn.exec_driver_sql(f'ANALYZE "{name}"')
                conn.commit()
        except SQLAlchemyError:
            return []  # only an optimisation: autovacuum analyses the tables as well
        return stale

    def checkpoint(self) -> None:
        """Fold SQLite's write-ahead log into the database after a run, so the next run's
        small commits do not pay for this run's large ones."""
        if self._dialect != "sqlite":
            return
        try:
            with self.engine.connect() as conn:
                # PASSIVE never waits for readers; what it cannot copy now waits for later.
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except SQLAlchemyError:
            pass  # only an optimisation: SQLite checkpoints on its own as well

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, self._driver_error) as exc:
            raise StateError(f"state database error: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except (SQLAlchemyError, self._driver_error) as exc:
            raise StateError(f"state database error: {exc}") from exc

    def _upsert(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        if not rows:
            return
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        for chunk in _chunks(rows, 500):
            stmt = dialect_insert(table)
            cols = {c: stmt.excluded[c] for c in chunk[0] if c not in keys}
            conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=cols), list(chunk))

    def _bulk_tuples(
        self,
        conn: Connection,
        table: Table,
        cols: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        replace: bool = False,
    ) -> None:
        """executemany of ready tuples straight through the driver (the hot writes)."""
        if not rows:
            return
        names = ", ".join(cols)
        marks = ", ".join(self._mark for _ in cols)
        tail = ""
        if replace:
            # An upsert updates the row in place: far fewer pages than delete + insert.
            keys = [c.name for c in table.primary_key.columns]
            sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
            tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks}){tail}", list(rows)
        )

    def _bulk(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        replace: bool = False,
    ) -> None:
        """executemany through the driver: the hot bulk writes skip SQLAlchemy's per-value
        processing (values are bound with each column's own processor once here)."""
        if not rows:
            return
        cols = list(rows[0])
        procs = [table.c[c].type._cached_bind_processor(conn.dialect) for c in cols]
        get = operator.itemgetter(*cols)
        processed = [(i, p) for i, p in enumerate(procs) if p is not None]
        seen: dict[int, tuple[Any, Any]] = {}
        """Per processed column, the last value and its bound form: rows written together
        often share one (a chunk's timestamp), and binding a datetime is not free."""
        data: list[tuple[Any, ...]] = []
        for r in rows:
            values = get(r) if len(cols) > 1 else (get(r),)
            if processed:
                values = list(values)
                for i, p in processed:
                    raw = values[i]
                    last = seen.get(i)
                    if last is not None and last[0] is raw:
                        values[i] = last[1]
                    else:
                        values[i] = p(raw)
                        seen[i] = (raw, values[i])
            data.append(tuple(values))
        self._bulk_tuples(conn, table, cols, data, replace=replace)

    # -- the base: side records ------------------------------------------------------------
    def fingerprints(
        self, connection: str, side: Side, entity: Entity, ids: Collection[str] | None = None
    ) -> dict[str, tuple[str, bool, str | None]]:
        """id -> (fingerprint, linked, version) for every stored record, or for ``ids``.

        Both are the hot reads of a run, sent straight through the driver (no Row
        objects): a full pass scans the side's base once, an incremental read probes the
        primary key for each id it returned."""
        sql = (
            "SELECT record_id, fingerprint, linked, version FROM side_records "
            "WHERE connection = {p} AND side = {p} AND entity = {p}"
        )
        with self._read() as conn:
            if ids is None:
                rows = self._driver_rows(conn, sql, (connection, side, entity))
                return {rid: (fp, bool(linked), ver) for rid, fp, linked, ver in rows}
            out: dict[str, tuple[str, bool, str | None]] = {}
            for chunk in self._id_chunks(sorted(ids)):
                cond, params = self._member_of("record_id", chunk)
                for rid, fp, linked, ver in self._driver_rows(
                    conn, f"{sql} AND {cond}", (connection, side, entity, *params)
                ):
                    out[rid] = (fp, bool(linked), ver)
        return out

    def _id_chunks(self, values: Sequence[Any]) -> Iterator[Sequence[Any]]:
        """``values`` in chunks a look-up by ``_member_of`` takes at once: SQLite caps the
        parameters of a statement, PostgreSQL takes a whole array as one."""
        return _chunks(values, PG_CHUNK if self._dialect == "postgresql" else CHUNK)

    def _member_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """``column`` among ``values``: SQL marked ``{p}`` and its parameters.

        PostgreSQL gets one array parameter (``= ANY``), an index condition on the
        primary key whatever the statistics say. A list of 900 marks was planned as a
        filter over every row of the entity while the statistics were a fresh table's:
        0.17 s a query, 7.6 s of a 20,000-contact first sync spent reading its own
        writes back."""
        if self._dialect == "postgresql":
            return f"{column} = ANY({{p}})", (list(values),)
        return f"{column} IN ({', '.join('{p}' for _ in values)})", tuple(values)

    def _driver_rows(self, conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
        """Rows straight from the driver (no Row objects, no type processing) for the
        hot reads of the base; ``sql`` marks each parameter ``{p}``."""
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql.replace("{p}", self._mark), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _driver_many(self, conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """executemany straight through the driver; ``sql`` marks each parameter ``{p}``."""
        if rows:
            conn.exec_driver_sql(sql.replace("{p}", self._mark), list(rows))

    def _records_where(
        self,
        conn: Connection,
        connection: str,
        side: Side,
        entity: Entity,
        cond: str = "",
        params: Sequence[Any] = (),
    ) -> list[StoredRecord]:
        sql = (
            "SELECT record_id, data, updated_at, parent_id, version, fingerprint, linked, "
            "key1, key2 FROM side_records "
            "WHERE connection = {p} AND side = {p} AND entity = {p}" + cond
        )
        out = []
        loads = json.loads
        for rid, data, updated_at, parent_id, version, fp, linked, key1, key2 in self._driver_rows(
            conn, sql, (connection, side, entity, *params)
        ):
            rec = Record(
                entity,
                rid,
                loads(data),
                updated_at=_from_ts(updated_at),
                parent_id=parent_id,
                version=version,
            )
            keys = (key1, key2) if key1 and key2 else (key1,) if key1 else (key2,) if key2 else ()
            out.append(StoredRecord(rec, fp, bool(linked), keys))
        return out

    def load_records(
        self, connection: str, side: Side, entity: Entity, ids: Collection[str]
    ) -> dict[str, StoredRecord]:
        out: dict[str, StoredRecord] = {}
        with self._read() as conn:
            for chunk in self._id_chunks(sorted(ids)):
                cond, params = self._member_of("record_id", chunk)
                for sr in self._records_where(
                    conn, connection, side, entity, f" AND {cond}", params
                ):
                    out[sr.record.id] = sr
        return out

    def parent_ids(self, connection: str, side: Side, entity: Entity) -> dict[str, str | None]:
        """id -> parent id of every stored child record (no record bodies decoded)."""
        with self._read() as conn:
            rows = self._driver_rows(
                conn,
                "SELECT record_id, parent_id FROM side_records "
                "WHERE connection = {p} AND side = {p} AND entity = {p}",
                (connection, side, entity),
            )
        return dict(rows)

    def pending_ids(self, connection: str, side: Side, entity: Entity) -> set[str]:
        # ``NOT linked`` as a literal: what lets the partial index ix_side_records_unlinked
        # serve it (a bound parameter would not).
        with self._read() as conn:
            rows = self._driver_rows(
                conn,
                "SELECT record_id FROM side_records "
                "WHERE connection = {p} AND side = {p} AND entity = {p} AND NOT linked",
                (connection, side, entity),
            )
        return {rid for (rid,) in rows}

    def pending_records(self, connection: str, side: Side, entity: Entity) -> list[StoredRecord]:
        with self._read() as conn:
            return self._records_where(conn, connection, side, entity, " AND NOT linked")

    def count_linked(self, connection: str, side: Side, entity: Entity) -> int:
        """All records less those waiting for a link: two index-only counts."""
        where = "WHERE connection = {p} AND side = {p} AND entity = {p}"
        with self._read() as conn:
            ((total,),) = self._driver_rows(
                conn, f"SELECT count(*) FROM side_records {where}", (connection, side, entity)
            )
            ((waiting,),) = self._driver_rows(
                conn,
                f"SELECT count(*) FROM side_records {where} AND NOT linked",
                (connection, side, entity),
            )
        return int(total) - int(waiting)

    def has_linked(self, connection: str, side: Side, entity: Entity) -> bool:
        """Whether any record of this side and entity is linked (none before a first sync)."""
        with self._read() as conn:
            return bool(
                self._driver_rows(
                    conn,
                    "SELECT 1 FROM side_records WHERE connection = {p} AND side = {p} "
                    "AND entity = {p} AND linked LIMIT 1",
                    (connection, side, entity),
                )
            )

    def linked_ids_by_keys(
        self, connection: str, side: Side, entity: Entity, keys: Collection[str]
    ) -> dict[str, list[str]]:
        """Linked records holding any of ``keys`` as key1 or key2: one indexed look-up
        per column (an ``OR`` of the two would scan the entity's whole index)."""
        out: dict[str, set[str]] = {}
        with self._read() as conn:
            for column in ("key1", "key2"):
                for chunk in self._id_chunks(sorted(keys)):
                    cond, params = self._member_of(column, chunk)
                    for rid, key in self._driver_rows(
                        conn,
                        f"SELECT record_id, {column} FROM side_records WHERE connection = {{p}} "
                        f"AND side = {{p}} AND entity = {{p}} AND {cond} AND linked",
                        (connection, side, entity, *params),
                    ):
                        out.setdefault(key, set()).add(rid)
        return {k: sorted(ids) for k, ids in out.items()}

    def put_records(
        self,
        conn: Connection,
        connection: str,
        side: Side,
        records: Iterable[StoredRecord],
        *,
        fresh: bool = False,
    ) -> None:
        """Store these bases. ``fresh`` says most of them have no row yet (the bases of
        just-created records): they are upserted without first reading what is stored."""
        rows = [
            (
                connection,
                side,
                sr.record.entity,
                sr.record.id,
                sr.fingerprint,
                sr.data or encode(sr.record.fields),
                sr.record.updated_at.timestamp() if sr.record.updated_at else None,
                sr.record.parent_id,
                sr.keys[0] if sr.keys else None,
                sr.keys[1] if len(sr.keys) > 1 else None,
                sr.linked,
                sr.record.version,
            )
            for sr in records
        ]
        if not rows:
            return
        if fresh:
            self._bulk_tuples(conn, SIDE_RECORDS, _RECORD_COLUMNS, rows, replace=True)
            return
        # Rewriting an indexed column rewrites its index entries even when the value is
        # the same: most base updates change only the content, so those rows get an
        # UPDATE of the content columns alone (measured: 2.5x less WAL per row).
        current = self._indexed_columns(conn, connection, side, [(r[2], r[3]) for r in rows])
        content_only = []
        other = []
        for r in rows:
            if current.get((r[2], r[3])) == (r[7], r[8], r[9], bool(r[10])):
                content_only.append((r[4], r[5], r[6], r[11], connection, side, r[2], r[3]))
            else:
                other.append(r)
        if content_only:
            self._driver_many(
                conn,
                "UPDATE side_records SET fingerprint = {p}, data = {p}, updated_at = {p}, "
                "version = {p} WHERE connection = {p} AND side = {p} AND entity = {p} "
                "AND record_id = {p}",
                content_only,
            )
        self._bulk_tuples(conn, SIDE_RECORDS, _RECORD_COLUMNS, other, replace=True)

    def _indexed_columns(
        self, conn: Connection, connection: str, side: Side, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str | None, str | None, str | None, bool]]:
        """(entity, id) -> (parent_id, key1, key2, linked) of the stored rows among ``keys``."""
        by_entity: dict[str, list[str]] = {}
        for entity, rid in keys:
            by_entity.setdefault(entity, []).append(rid)
        out = {}
        for entity, ids in by_entity.items():
            for chunk in self._id_chunks(ids):
                cond, params = self._member_of("record_id", chunk)
                sql = (
                    "SELECT record_id, parent_id, key1, key2, linked FROM side_records "
                    f"WHERE connection = {{p}} AND side = {{p}} AND entity = {{p}} AND {cond}"
                )
                for rid, parent, key1, key2, linked in self._driver_rows(
                    conn, sql, (connection, side, entity, *params)
                ):
                    out[(entity, rid)] = (parent, key1, key2, bool(linked))
        return out

    def delete_records(
        self, conn: Connection, connection: str, side: Side, entity: Entity, ids: Collection[str]
    ) -> None:
        self._driver_many(
            conn,
            "DELETE FROM side_records WHERE connection = {p} AND side = {p} AND entity = {p} "
            "AND record_id = {p}",
            [(connection, side, entity, rid) for rid in sorted(ids)],
        )

    def child_ids(
        self,
        connection: str,
        side: Side,
        entity: Entity,
        parent_ids: Collection[str],
        conn: Connection | None = None,
    ) -> list[str]:
        """Ids of the children of these contacts (inside ``conn``'s transaction if given)."""
        out: list[str] = []
        with nullcontext(conn) if conn is not None else self._read() as c:
            for chunk in self._id_chunks(sorted(parent_ids)):
                cond, params = self._member_of("parent_id", chunk)
                out += [
                    rid
                    for (rid,) in self._driver_rows(
                        c,
                        "SELECT record_id FROM side_records WHERE connection = {p} "
                        f"AND side = {{p}} AND entity = {{p}} AND {cond}",
                        (connection, side, entity, *params),
                    )
                ]
        return out

    # -- links ---------------------------------------------------------------------------
    def links_by_ids(
        self, connection: str, entity: Entity, side: Side, ids: Collection[str]
    ) -> dict[str, LinkRow]:
        col = "a_id" if side == "a" else "b_id"
        out: dict[str, LinkRow] = {}
        if not ids:
            return out
        with self._read() as conn:
            if len(ids) > CHUNK and not self._driver_rows(
                conn,
                "SELECT 1 FROM links WHERE connection = {p} AND entity = {p} LIMIT 1",
                (connection, entity),
            ):
                return out  # no links yet (a first sync): nothing to look up id by id
            for chunk in self._id_chunks(sorted(ids)):
                cond, params = self._member_of(col, chunk)
                for a_id, b_id, state in self._driver_rows(
                    conn,
                    "SELECT a_id, b_id, state FROM links WHERE connection = {p} "
                    f"AND entity = {{p}} AND {cond}",
                    (connection, entity, *params),
                ):
                    out[a_id if side == "a" else b_id] = LinkRow(entity, a_id, b_id, state)
        return out

    def count_links(self, connection: str, entity: Entity) -> int:
        q = select(func.count()).where(
            LINKS.c.connection == connection, LINKS.c.entity == entity, LINKS.c.state == "live"
        )
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    def put_links(
        self, conn: Connection, connection: str, links: Iterable[tuple[Entity, str, str, str]]
    ) -> None:
        rows = list(links)
        if not rows:
            return
        # A pair may be re-linked (a record re-created): clear any old link of either id,
        # one executemany per column: a statement per link through SQLAlchemy cost 580 µs
        # a link against 17 µs now (5,000 links), minutes for a first sync that matches
        # a million pairs.
        for column, ids in (
            ("a_id", [(e, a) for e, a, _, _ in rows]),
            ("b_id", [(e, b) for e, _, b, _ in rows]),
        ):
            self._driver_many(
                conn,
                f"DELETE FROM links WHERE connection = {{p}} AND entity = {{p}} AND {column} = {{p}}",
                [(connection, e, rid) for e, rid in ids],
            )
        at = _now_bound(conn, LINKS.c.linked_at)
        self._bulk_tuples(
            conn,
            LINKS,
            _LINK_COLUMNS,
            [(connection, e, a, b, s, at) for e, a, b, s in rows],
        )

    def bulk_new_links(
        self, conn: Connection, connection: str, links: Sequence[tuple[Entity, str, str]]
    ) -> None:
        """Insert links known to be new (fresh ids from creates): no per-row cleanup."""
        if not links:
            return
        at = _now_bound(conn, LINKS.c.linked_at)
        self._bulk_tuples(
            conn, LINKS, _LINK_COLUMNS, [(connection, e, a, b, "live", at) for e, a, b in links]
        )

    def delete_link_pairs(
        self, conn: Connection, connection: str, entity: Entity, pairs: Sequence[tuple[str, str]]
    ) -> None:
        """Delete exactly these links (a re-linked id keeps its new link)."""
        self._driver_many(
            conn,
            "DELETE FROM links WHERE connection = {p} AND entity = {p} AND a_id = {p} AND b_id = {p}",
            [(connection, entity, a, b) for a, b in pairs],
        )

    def delete_links(
        self, conn: Connection, connection: str, entity: Entity, a_ids: Collection[str]
    ) -> None:
        self._driver_many(
            conn,
            "DELETE FROM links WHERE connection = {p} AND entity = {p} AND a_id = {p}",
            [(connection, entity, a) for a in sorted(a_ids)],
        )

    def set_link_state(
        self, conn: Connection, connection: str, entity: Entity, a_id: str, state: str
    ) -> None:
        conn.execute(
            update(LINKS)
            .where(LINKS.c.connection == connection, LINKS.c.entity == entity, LINKS.c.a_id == a_id)
            .values(state=state)
        )

    # -- cursors -------------------------------------------------------------------------
    def cursors(self, connection: str) -> dict[tuple[str, str], tuple[str | None, datetime | None]]:
        q = select(CURSORS).where(CURSORS.c.connection == connection)
        with self._read() as conn:
            return {(r.side, r.entity): (r.cursor, _aware(r.full_pass_at)) for r in conn.execute(q)}

    def put_cursor(
        self,
        conn: Connection,
        connection: str,
        side: Side,
        entity: Entity,
        cursor: str | None,
        full_pass_at: datetime | None,
    ) -> None:
        row = {
            "connection": connection,
            "side": side,
            "entity": entity,
            "cursor": cursor,
            "full_pass_at": full_pass_at,
        }
        self._upsert(conn, CURSORS, [row], ["connection", "side", "entity"])

    # -- runs and the journal ---------------------------------------------------------------
    def start_run(self, connection: str, kind: str) -> int:
        with self.transaction() as conn:
            res = conn.execute(
                insert(RUNS).values(
                    connection=connection,
                    kind=kind,
                    status="running",
                    started_at=now(),
                    summary="{}",
                )
            )
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(
        self, run_id: int, status: str, summary: Mapping[str, Any], error: str | None = None
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(
                    status=status,
                    finished_at=now(),
                    summary=json.dumps(summary, sort_keys=True),
                    error=error,
                )
            )

    def prune_history(self, connection: str, before: datetime) -> dict[str, int]:
        """Delete the history of a connection older than ``before``: runs that finished
        then, with their journal rows and external calls; conflicts a policy or a user
        settled then; duplicate groups gone since then. What a run still acts on stays:
        open and resolving conflicts, open duplicate groups, quarantine, revisits, links,
        bases and cursors. Returns the rows deleted per table.

        A scheduled connection writes a run row and a journal row per op every few
        minutes, and an audit row per GHL call: without this the state database grows
        for as long as the schedule runs."""
        old_runs = select(RUNS.c.id).where(
            RUNS.c.connection == connection,
            RUNS.c.status != "running",
            RUNS.c.finished_at < before,
        )
        deleted: dict[str, int] = {}
        with self.transaction() as conn:
            ids = [row.id for row in conn.execute(old_runs)]
            for name, table in (("journal", JOURNAL), ("audit", AUDIT)):
                deleted[name] = 0
                for chunk in _chunks(ids):
                    deleted[name] += conn.execute(
                        delete(table).where(table.c.run_id.in_(chunk))
                    ).rowcount
            deleted["audit"] += conn.execute(
                delete(AUDIT).where(
                    AUDIT.c.connection == connection, AUDIT.c.run_id.is_(None), AUDIT.c.at < before
                )
            ).rowcount
            deleted["conflicts"] = conn.execute(
                delete(CONFLICTS).where(
                    CONFLICTS.c.connection == connection,
                    CONFLICTS.c.status.not_in(_UNAPPLIED),
                    func.coalesce(CONFLICTS.c.resolved_at, CONFLICTS.c.created_at) < before,
                )
            ).rowcount
            deleted["duplicate_groups"] = conn.execute(
                delete(DUPLICATES).where(
                    DUPLICATES.c.connection == connection,
                    DUPLICATES.c.status != "open",
                    DUPLICATES.c.last_seen < before,
                )
            ).rowcount
            deleted["runs"] = 0
            for chunk in _chunks(ids):
                deleted["runs"] += conn.execute(delete(RUNS).where(RUNS.c.id.in_(chunk))).rowcount
        return deleted

    def runs(self, connection: str | None, limit: int = 20) -> list[dict[str, Any]]:
        q = select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
        if connection:
            q = q.where(RUNS.c.connection == connection)
        with self._read() as conn:
            return [dict(r._mapping) | {"summary": json.loads(r.summary)} for r in conn.execute(q)]

    def journal_begin(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Write ops before their remote calls; a row is named by (run_id, seq)."""
        self._bulk(conn, JOURNAL, rows)

    def journal_finish(
        self,
        conn: Connection,
        run_id: int,
        rows: Sequence[tuple[int, str, str | None, str | None, int]],
    ) -> None:
        """Settle journal rows: (seq, status, result_id, error, attempts) of one run."""
        if not rows:
            return
        at = _now_bound(conn, JOURNAL.c.finished_at)
        self._driver_many(
            conn,
            "UPDATE journal SET status = {p}, result_id = {p}, error = {p}, attempts = {p}, "
            "finished_at = {p} WHERE run_id = {p} AND seq = {p}",
            [(st, rid, err, att, at, run_id, seq) for seq, st, rid, err, att in rows],
        )

    def inflight_creates(self, connection: str) -> list[dict[str, Any]]:
        """Creates journaled by a run that stopped before it knew their outcome."""
        q = select(JOURNAL).where(
            JOURNAL.c.connection == connection, _PENDING, JOURNAL.c.action == "create"
        )
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def settle_interrupted(self, conn: Connection, connection: str, current_run: int) -> None:
        """Close what runs that died left open: their ``pending`` journal rows and their
        ``running`` run rows. Called by a run that holds the lock, so no other run of the
        connection is alive; what those ops did is read again from the sides."""
        conn.execute(
            update(JOURNAL)
            .where(JOURNAL.c.connection == connection, _PENDING, JOURNAL.c.run_id != current_run)
            .values(status="interrupted", finished_at=now())
        )
        conn.execute(
            update(RUNS)
            .where(
                RUNS.c.connection == connection,
                RUNS.c.status == "running",
                RUNS.c.id != current_run,
            )
            .values(status="interrupted", finished_at=now(), error="the run's process died")
        )

    def journal(self, run_id: int, limit: int | None = None) -> list[dict[str, Any]]:
        """A run's journal rows in the order they were sent (the first ``limit``)."""
        q = select(JOURNAL).where(JOURNAL.c.run_id == run_id).order_by(JOURNAL.c.seq)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def journal_of_record(
        self, connection: str | None, record_id: str, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The journal rows that wrote a record (on either side, or that made it), newest
        first. A lookup for a person asking about one record, not a run's hot path: it
        scans the journal rather than cost every op's insert another index."""
        j = JOURNAL.c
        q = select(JOURNAL).where(
            (j.a_id == record_id) | (j.b_id == record_id) | (j.result_id == record_id)
        )
        if connection is not None:
            q = q.where(j.connection == connection)
        q = q.order_by(j.id.desc()).limit(limit)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def journal_size(self, run_id: int) -> int:
        q = select(func.count()).select_from(JOURNAL).where(JOURNAL.c.run_id == run_id)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    def run(self, run_id: int) -> dict[str, Any]:
        """One run's row, its summary decoded; ``NotFoundError`` if there is none (never
        made, or pruned with the history)."""
        with self._read() as conn:
            row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(
                f"no run {run_id} in the history (past runs are kept for [state] "
                "keep_history); list them with `syncengine history`"
            )
        return dict(row._mapping) | {"summary": json.loads(row.summary)}

    # -- conflicts -------------------------------------------------------------------------
    def open_conflicts(self, connection: str | None = None) -> list[dict[str, Any]]:
        q = select(CONFLICTS).where(CONFLICTS.c.status == "open").order_by(CONFLICTS.c.id)
        if connection:
            q = q.where(CONFLICTS.c.connection == connection)
        with self._read() as conn:
            return [_conflict_dict(dict(r._mapping)) for r in conn.execute(q)]

    def open_conflict_ids(self, connection: str) -> dict[str, int]:
        """Open conflicts' ids by key: the ids ``syncengine resolve`` takes now, for the
        commands a plan or report prints."""
        q = select(CONFLICTS.c.key, CONFLICTS.c.id).where(
            CONFLICTS.c.connection == connection, CONFLICTS.c.status == "open"
        )
        with self._read() as conn:
            return {str(r.key): int(r.id) for r in conn.execute(q)}

    def conflicts(self, connection: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        q = select(CONFLICTS).order_by(CONFLICTS.c.id.desc()).limit(limit)
        if connection:
            q = q.where(CONFLICTS.c.connection == connection)
        with self._read() as conn:
            return [_conflict_dict(dict(r._mapping)) for r in conn.execute(q)]

    def conflict(self, conflict_id: int) -> dict[str, Any]:
        with self._read() as conn:
            row = conn.execute(select(CONFLICTS).where(CONFLICTS.c.id == conflict_id)).first()
        if row is None:
            raise NotFoundError(
                f"no conflict with id {conflict_id}; list them with `syncengine conflicts`"
            )
        return _conflict_dict(dict(row._mapping))

    def record_conflicts(
        self, conn: Connection, connection: str, run_id: int, rows: Sequence[dict[str, Any]]
    ) -> dict[str, int]:
        """Store this run's conflicts: held ones stay open (one row per key), the
        resolved ones are history. Open conflicts this run no longer sees are superseded.
        A held conflict seen again with the same values keeps the rule it was held under:
        why it waits ("held again: b changed it after it was resolved") has not changed."""
        t = CONFLICTS
        compared = ("base", "a_value", "b_value")
        existing = {
            r.key: r
            for r in conn.execute(
                select(t.c.key, t.c.id, t.c.rule, *(t.c[k] for k in compared)).where(
                    t.c.connection == connection, t.c.status == "open"
                )
            )
        }
        ids: dict[str, int] = {}
        for r in rows:
            values = {
                k: (
                    json.dumps(v, sort_keys=True, default=str)
                    if k in ("base", "a_value", "b_value")
                    else v
                )
                for k, v in r.items()
            }
            if r["status"] == "open" and r["key"] in existing:
                held = existing.pop(r["key"])
                same = all(values[k] == held._mapping[k] for k in compared)
                conn.execute(
                    update(t)
                    .where(t.c.id == held.id)
                    .values(
                        run_id=run_id,
                        rule=held.rule if same else values["rule"],
                        **{k: values[k] for k in compared},
                    )
                )
                ids[r["key"]] = int(held.id)
            else:
                res = conn.execute(
                    insert(t).values(
                        connection=connection,
                        run_id=run_id,
                        created_at=now(),
                        resolved_at=None if r["status"] == "open" else now(),
                        **values,
                    )
                )
                ids[r["key"]] = int(res.inserted_primary_key[0])  # type: ignore[index]
        return ids

    def supersede_conflicts(
        self,
        conn: Connection,
        connection: str,
        keep_keys: Collection[str],
        in_play: Collection[str],
    ) -> None:
        """Open conflicts of pairs this run looked at and found no longer in conflict."""
        t = CONFLICTS
        for row in conn.execute(
            select(t.c.id, t.c.key, t.c.entity, t.c.a_id, t.c.b_id).where(
                t.c.connection == connection, t.c.status == "open"
            )
        ).all():
            if row.key not in keep_keys and f"{row.entity}:{row.a_id}:{row.b_id}" in in_play:
                conn.execute(
                    update(t).where(t.c.id == row.id).values(status="superseded", resolved_at=now())
                )

    def conflict_id(self, id_or_key: str) -> int:
        """A conflict's id from its id or its key. A key names a conflict still waiting
        for a run: open, or resolved by a user but not applied yet."""
        if id_or_key.isdigit():
            return int(id_or_key)
        waiting = select(CONFLICTS.c.id).where(
            CONFLICTS.c.key == id_or_key, CONFLICTS.c.status.in_(_UNAPPLIED)
        )
        with self._read() as conn:
            found = conn.execute(waiting.order_by(CONFLICTS.c.id.desc())).first()
        if found is not None:
            return int(found.id)
        raise NotFoundError(
            f"no open conflict {id_or_key!r}; list them with `syncengine conflicts`"
        )

    def resolve_conflict(
        self, conflict_id: int, resolution: str, value: JSON = None
    ) -> dict[str, Any]:
        """Record how a conflict is to be resolved; the next run applies it. Until then
        it may be resolved again (a user who picked the wrong side changes their mind)."""
        return self.resolve_conflicts([conflict_id], resolution, value)[0]

    def resolve_conflicts(
        self, conflict_ids: Sequence[int], resolution: str, value: JSON = None
    ) -> list[dict[str, Any]]:
        """``resolve_conflict`` for many at once, all or none: an unknown id, or one a run
        has applied already, refuses the lot before anything is recorded."""
        ids = list(dict.fromkeys(conflict_ids))
        found: dict[int, dict[str, Any]] = {}
        with self._read() as conn:
            for chunk in _chunks(ids):
                for r in conn.execute(select(CONFLICTS).where(CONFLICTS.c.id.in_(chunk))):
                    found[int(r.id)] = _conflict_dict(dict(r._mapping))
        for cid in ids:
            row = found.get(cid)
            if row is None:
                raise NotFoundError(
                    f"no conflict with id {cid}; list them with `syncengine conflicts`"
                )
            if row["status"] == "reopened":
                raise NotFoundError(
                    f"conflict {cid} was reopened: a side changed the field after it was "
                    "resolved, and a new conflict holds it with the new value; resolve that "
                    "one (`syncengine conflicts` lists it)"
                )
            if row["status"] not in _UNAPPLIED:
                raise NotFoundError(
                    f"conflict {cid} is {row['status']} (applied by a run); nothing to "
                    "resolve. If the records disagree again, the next run reports a new conflict"
                )
        with self.transaction() as conn:
            done = 0
            for chunk in _chunks(ids):
                done += conn.execute(
                    update(CONFLICTS)
                    .where(CONFLICTS.c.id.in_(chunk), CONFLICTS.c.status.in_(_UNAPPLIED))
                    .values(
                        status="resolving", resolution=resolution, resolved_value=json.dumps(value)
                    )
                ).rowcount
            if done != len(ids):
                raise NotFoundError(
                    "a run applied some of these conflicts meanwhile: nothing was recorded; "
                    "list the open ones with `syncengine conflicts` and resolve again"
                )
        changed = {"status": "resolving", "resolution": resolution, "resolved_value": value}
        return [{**found[cid], **changed} for cid in ids]

    def pending_resolutions(self, connection: str) -> list[dict[str, Any]]:
        q = select(CONFLICTS).where(
            CONFLICTS.c.connection == connection, CONFLICTS.c.status == "resolving"
        )
        with self._read() as conn:
            return [_conflict_dict(dict(r._mapping)) for r in conn.execute(q)]

    def close_resolutions(
        self, conn: Connection, applied: Collection[tuple[int, str | None, JSON]]
    ) -> None:
        """Close the resolutions a run applied: (id, resolution, value) as the run read
        them. One a user changed while the run went on stays for the next run."""
        for cid, resolution, value in sorted(applied, key=lambda r: r[0]):
            conn.execute(
                update(CONFLICTS)
                .where(
                    CONFLICTS.c.id == cid,
                    CONFLICTS.c.status == "resolving",
                    CONFLICTS.c.resolution == resolution,
                    CONFLICTS.c.resolved_value == json.dumps(value),
                )
                .values(status="resolved", resolved_at=now())
            )

    def set_aside_resolutions(self, conn: Connection, conflict_ids: Collection[int]) -> None:
        """Resolutions a run did not carry out because the side they overrule changed
        since: ``reopened``, and the conflict the run held again takes their place."""
        for chunk in _chunks(sorted(conflict_ids)):
            conn.execute(
                update(CONFLICTS)
                .where(CONFLICTS.c.id.in_(chunk), CONFLICTS.c.status == "resolving")
                .values(status="reopened", resolved_at=now())
            )

    # -- duplicate groups, quarantine ------------------------------------------------------
    def record_duplicates(
        self, conn: Connection, connection: str, groups: Sequence[dict[str, Any]]
    ) -> None:
        t = DUPLICATES
        existing = {
            r.group_key: r.id
            for r in conn.execute(
                select(t.c.group_key, t.c.id).where(
                    t.c.connection == connection, t.c.status == "open"
                )
            )
        }
        seen = set()
        for g in groups:
            seen.add(g["group_key"])
            if g["group_key"] in existing:
                conn.execute(
                    update(t)
                    .where(t.c.id == existing[g["group_key"]])
                    .values(ids=json.dumps(g["ids"]), last_seen=now())
                )
            else:
                conn.execute(
                    insert(t).values(
                        connection=connection,
                        status="open",
                        first_seen=now(),
                        last_seen=now(),
                        **{**g, "ids": json.dumps(g["ids"])},
                    )
                )

    def open_duplicates(self, connection: str | None = None) -> list[dict[str, Any]]:
        q = select(DUPLICATES).where(DUPLICATES.c.status == "open").order_by(DUPLICATES.c.id)
        if connection:
            q = q.where(DUPLICATES.c.connection == connection)
        with self._read() as conn:
            return [dict(r._mapping) | {"ids": json.loads(r.ids)} for r in conn.execute(q)]

    def close_duplicates(self, conn: Connection, connection: str, keep: Collection[str]) -> None:
        t = DUPLICATES
        conn.execute(
            update(t)
            .where(
                t.c.connection == connection,
                t.c.status == "open",
                t.c.group_key.not_in(list(keep) or [""]),
            )
            .values(status="closed")
        )

    def quarantined(self, connection: str) -> list[dict[str, Any]]:
        return self._record_rows(QUARANTINE, connection)

    def _record_rows(self, table: Table, connection: str) -> list[dict[str, Any]]:
        """A table keyed by (connection, side, entity, record_id): one connection's rows."""
        q = (
            select(table)
            .where(table.c.connection == connection)
            .order_by(table.c.side, table.c.entity, table.c.record_id)
        )
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def quarantine(
        self,
        conn: Connection,
        connection: str,
        side: Side,
        entity: Entity,
        record_id: str,
        reason: str,
    ) -> None:
        t = QUARANTINE
        key = and_(
            t.c.connection == connection,
            t.c.side == side,
            t.c.entity == entity,
            t.c.record_id == record_id,
        )
        row = conn.execute(select(t.c.attempts).where(key)).first()
        if row is None:
            conn.execute(
                insert(t).values(
                    connection=connection,
                    side=side,
                    entity=entity,
                    record_id=record_id,
                    reason=reason,
                    attempts=1,
                    first_seen=now(),
                    last_seen=now(),
                )
            )
        else:
            conn.execute(
                update(t)
                .where(key)
                .values(reason=reason, attempts=row.attempts + 1, last_seen=now())
            )

    def release(
        self, conn: Connection, connection: str, side: Side, entity: Entity, ids: Collection[str]
    ) -> None:
        t = QUARANTINE
        for chunk in _chunks(sorted(ids)):
            conn.execute(
                delete(t).where(
                    t.c.connection == connection,
                    t.c.side == side,
                    t.c.entity == entity,
                    t.c.record_id.in_(chunk),
                )
            )

    # -- revisits -------------------------------------------------------------------------
    def revisits(self, connection: str) -> list[dict[str, Any]]:
        return self._record_rows(REVISITS, connection)

    def revisit(
        self,
        conn: Connection,
        connection: str,
        keys: Collection[tuple[Side, Entity, str]],
        reason: str,
    ) -> None:
        """Have the next run look at these records again (a row already there stays)."""
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        rows = [
            {
                "connection": connection,
                "side": side,
                "entity": entity,
                "record_id": rid,
                "reason": reason,
                "since": now(),
            }
            for side, entity, rid in sorted(keys)
        ]
        for chunk in _chunks(rows, 500):
            conn.execute(dialect_insert(REVISITS).on_conflict_do_nothing(), list(chunk))

    def done_revisiting(
        self, conn: Connection, connection: str, keys: Collection[tuple[Side, Entity, str]]
    ) -> None:
        self._driver_many(
            conn,
            "DELETE FROM revisits WHERE connection = {p} AND side = {p} AND entity = {p} "
            "AND record_id = {p}",
            [(connection, side, entity, rid) for side, entity, rid in sorted(keys)],
        )

    # -- audit ---------------------------------------------------------------------------
    def add_audit(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self.transaction() as conn:
                conn.execute(insert(AUDIT), list(rows))

    def audit(
        self, connection: str | None = None, run_id: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        q = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
        if connection:
            q = q.where(AUDIT.c.connection == connection)
        if run_id is not None:
            q = q.where(AUDIT.c.run_id == run_id)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # -- the per-connection lock ------------------------------------------------------------
    def acquire_lock(self, connection: str, ttl: timedelta = LOCK_TTL) -> str:
        """Take the connection's lock, or raise LockedError naming the holder.

        A lease row: held until released or expired. A live run renews it all along
        (``syncengine.locking.Lease``), so the lease can be short; a holder that died
        (kill -9) frees it when the lease runs out, or at once when it ran on this host."""
        holder = uuid.uuid4().hex
        t = LOCKS
        with self.transaction() as conn:
            conn.execute(delete(t).where(t.c.connection == connection, t.c.expires_at < now()))
            row = conn.execute(select(t).where(t.c.connection == connection)).first()
            if row is not None and row.host == socket.gethostname() and not _alive(row.pid):
                conn.execute(
                    delete(t).where(t.c.connection == connection, t.c.holder == row.holder)
                )
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t).values(
                            connection=connection,
                            holder=holder,
                            pid=os.getpid(),
                            host=socket.gethostname(),
                            acquired_at=now(),
                            expires_at=now() + ttl,
                        )
                    )
            except IntegrityError:
                row = conn.execute(select(t).where(t.c.connection == connection)).first()
                who = (
                    f"pid {row.pid} on {row.host} since {row.acquired_at:%Y-%m-%d %H:%M:%S}"
                    if row
                    else "another run"
                )
                raise LockedError(
                    f"connection {connection!r} is being synced by {who}; wait for it to finish"
                ) from None
        return holder

    def renew_lock(self, connection: str, holder: str, ttl: timedelta = LOCK_TTL) -> bool:
        """Extend ``holder``'s lease; False if it no longer holds the lock (taken over)."""
        with self.transaction() as conn:
            res = conn.execute(
                update(LOCKS)
                .where(LOCKS.c.connection == connection, LOCKS.c.holder == holder)
                .values(expires_at=now() + ttl)
            )
            return bool(res.rowcount)

    def release_lock(self, connection: str, holder: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                delete(LOCKS).where(LOCKS.c.connection == connection, LOCKS.c.holder == holder)
            )

    # -- which records each side is ------------------------------------------------------------
    def side_identities(self, connection: str) -> dict[Side, str]:
        """The identity each side had when this connection's state was last built on it."""
        q = select(IDENTITIES.c.side, IDENTITIES.c.identity).where(
            IDENTITIES.c.connection == connection
        )
        with self._read() as conn:
            return {row.side: row.identity for row in conn.execute(q)}

    def adopt_side_identities(self, connection: str, identities: Mapping[Side, str]) -> None:
        with self.transaction() as conn:
            self._upsert(
                conn,
                IDENTITIES,
                [
                    {"connection": connection, "side": side, "identity": ident, "since": now()}
                    for side, ident in sorted(identities.items())
                ],
                ["connection", "side"],
            )

    # -- the vault (encrypted by the caller) --------------------------------------------------
    def vault_get(self, connection: str, name: str) -> str | None:
        q = select(VAULT.c.ciphertext).where(VAULT.c.connection == connection, VAULT.c.name == name)
        with self._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else str(row[0])

    def vault_put(self, connection: str, name: str, ciphertext: str) -> None:
        with self.transaction() as conn:
            self._upsert(
                conn,
                VAULT,
                [
                    {
                        "connection": connection,
                        "name": name,
                        "ciphertext": ciphertext,
                        "updated_at": now(),
                    }
                ],
                ["connection", "name"],
            )


def _alive(pid: int) -> bool:
    """Whether a process of this host still runs (a lock of a dead one can be taken)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _conflict_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in ("base", "a_value", "b_value", "resolved_value"):
        if out.get(k) is not None:
            out[k] = json.loads(out[k])
    return out


def _open_error(url: str, exc: SQLAlchemyError, source: str) -> StateError:
    """A failed open as the user should see it: SQLite refusing its file (a directory
    made read-only, a file it may not write) is a config error naming the fix."""
    path = sqlite_path(url)
    if path is not None and "unable to open database file" in str(exc):
        return StateConfigError(directory_message(path.parent, source))
    orig = getattr(exc, "orig", None)
    if sqlite_path(url) is None and orig is not None:
        return _postgres_open_error(url, str(orig), source)
    return StateError(f"cannot open the state database {_safe_url(url)}: {exc}")


_PG_REFUSALS = (
    # (what the server said, why, the fix): a login the server turned down is the URL's
    # mistake; psycopg gives no SQLSTATE for these, only the server's text.
    (
        re.compile(r'database "([^"]*)" does not exist'),
        "has no database {0!r}",
        "create it (createdb -h {host} -p {port} {0}) or name one that exists",
    ),
    (
        re.compile(r'role "([^"]*)" does not exist'),
        "has no user (role) {0!r}",
        "name a user it has",
    ),
    (
        re.compile(r"password authentication failed"),
        "refused the password",
        'fix the password (by reference: url = "env:SYNCENGINE_STATE_URL")',
    ),
    (
        re.compile(r"no password supplied"),
        "asks for a password",
        'give one (by reference: url = "env:SYNCENGINE_STATE_URL")',
    ),
    (
        re.compile(r'invalid sslmode value: "([^"]*)"'),
        "does not take sslmode {0!r}",
        "use one of disable, allow, prefer, require, verify-ca, verify-full",
    ),
    (
        re.compile(r"server does not support SSL, but SSL was required"),
        "does not offer SSL, which sslmode asks for",
        "set sslmode=prefer (or turn SSL on at the server)",
    ),
)


def _postgres_open_error(url: str, said: str, source: str) -> StateError:
    """A PostgreSQL open that failed, in the words of the URL's ``source``: a login the server
    refused is a config error (exit 2); a server that cannot be reached is not the
    config's fault as such (it may be down for a minute), so it stays a ``StateError``."""
    parsed = make_url(url)
    host, port = parsed.host or "localhost", parsed.port or 5432
    where = f"the PostgreSQL server at {host}:{port} ({source} = {_safe_url(url)})"
    for pattern, why, fix in _PG_REFUSALS:
        found = pattern.search(said)
        if found:
            args = found.groups()
            return StateConfigError(
                f"{where} {why.format(*args)}; {fix.format(*args, host=host, port=port)}, "
                f"in {source}"
            )
    reason = said.rpartition("failed: ")[2].split("\n", 1)[0].strip() or said
    return StateError(
        f"cannot reach {where}: {reason}; start PostgreSQL there (or wait until it is "
        f"up), or fix host and port in {source}"
    )


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
