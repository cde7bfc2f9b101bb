"""What the file adapters share: a cached document of rows, atomic rewrites, batches.

A file adapter reads its file once into a ``Document`` (rows in file order, each keeping
its verbatim text), answers reads from it and applies writes to it. Writes become
durable when the outermost batch ends; a single op outside a batch is a batch of one.
Durable means: render the document, write it to a temporary file in the same directory,
fsync it, ``os.replace`` it over the file and fsync the directory, so a reader (or a
crash) sees the old file or the new one, never a mix.

The cache is keyed by the file's (inode, size, mtime): an edit by another process makes
the next read re-parse. If the file changed while a batch was open, the batch's writes
are replayed on the fresh content before writing, so neither side's edit is lost (a
write to a record the other process deleted is dropped, as the deletion came later).

Rows are kept in a dict keyed by insertion number, so updates stay in place, creates
append and deletes are O(1): a batch of 10k writes costs one parse and one render.

**Change feed.** A file has no change log of its own, but its content has a digest:
a snapshot's cursor is the digest of the file it read. ``changes_since`` a cursor the
file still has is nothing at all, without a parse (a scheduled run over a file nobody
touched costs a hash of it, not a read of every row). Since a cursor followed only by
this adapter's own writes (the history is kept per content digest, in this process), it
is those records, so the engine can move its cursor past its own writes at the end of a
run. Since any other cursor (someone edited the file) it is the whole file again, as a
complete snapshot, from which deletions are inferred as always. A file with unreadable
rows is always read whole, so every run reports them. File sides are ``KeyLookup``
(``KeyIndex``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypeVar

from adapters.base import AdapterContext, Capabilities, Snapshot
from adapters.keyindex import KeyIndex
from syncengine.errors import (
    AdapterError,
    ConfigError,
    MalformedRecord,
    PermanentAdapterError,
    RecordNotFound,
    RecordRejected,
    TransientAdapterError,
)
from syncengine.models import CHILD_ENTITIES, JSON, Entity, FieldChange, Record
from syncengine.normalize import canonical_fields

Replace: TypeAlias = Callable[[str, str], None]
"""How a finished temporary file is moved over the target (``os.replace``); injectable
so tests can make the last step of a write fail."""

BOM = "\ufeff"


class BadRow(Exception):
    """A row that cannot be read (internal): becomes a ``MalformedRecord`` with its place."""

    def __init__(self, problem: str, record_id: str | None = None) -> None:
        self.problem = problem
        self.record_id = record_id
        super().__init__(problem)


@dataclass(frozen=True)
class FileSignature:
    """Enough of ``stat`` to notice that someone else rewrote or edited the file."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileSignature | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class Row:
    """One row in file order.

    ``text`` is the row exactly as the file holds it, line ending included; it is written
    back as is until the sync writes to the row, then it is None and the format renders
    ``data`` (the parsed object, or the list of cells) at the next write, keeping the
    text it wrote (a first sync's batches rewrite the file a dozen times: each new row is
    rendered once, not at every rewrite). A blank row has neither record nor problem; a
    malformed row has a problem and is always written back verbatim.
    """

    text: str | None
    data: Any = None
    record: Record | None = None
    problem: MalformedRecord | None = None
    line: int = 0
    claims: Entity | None = None
    """The entity a malformed row says it is, so its problem shows in that snapshot."""


@dataclass
class Document:
    """A parsed file: its rows, valid records by id, and the ids of malformed rows."""

    rows: dict[int, Row] = field(default_factory=dict)
    by_id: dict[str, int] = field(default_factory=dict)
    bad_ids: dict[str, MalformedRecord] = field(default_factory=dict)
    newline: str = "\n"
    separators: tuple[str, str] = (", ", ": ")
    """How the file's JSON lines space their items and keys (JSONL: as its first line
    does), so a line the sync rewrites or adds looks like the lines around it."""
    notes: tuple[str, ...] = ()
    """What a read of the file should tell the user (``Snapshot.notes``)."""
    bom: bool = False
    keys: KeyIndex = field(default_factory=KeyIndex)
    """Records by match key, for ``find_by_key``: it goes with the parsed document."""
    kids: dict[str, list[str]] = field(default_factory=dict)
    """Contact id -> ids of the children appended under it (some may be gone since):
    a contact's delete takes its children without a scan of every row (500 deletes
    from a 100k-row file scanned 50M rows)."""
    _next_key: int = 0

    def append(self, row: Row) -> int:
        key = self._next_key
        self._next_key += 1
        self.rows[key] = row
        if row.record is not None:
            self.by_id[row.record.id] = key
            self.keys.add(row.record)
            if row.record.parent_id is not None:
                self.kids.setdefault(row.record.parent_id, []).append(row.record.id)
        return key

    def children_of(self, contact_id: str) -> list[Record]:
        """The records under a contact now, in the order they were appended."""
        out = []
        for rid in self.kids.get(contact_id, ()):
            row = self.row_of(rid)
            if row is not None and row.record is not None and row.record.parent_id == contact_id:
                out.append(row.record)
        return out

    def row_of(self, record_id: str) -> Row | None:
        key = self.by_id.get(record_id)
        return None if key is None else self.rows[key]

    def records(self, entity: Entity) -> list[Record]:
        return [
            row.record
            for row in self.rows.values()
            if row.record is not None and row.record.entity == entity
        ]

    def problems(self, entity: Entity) -> list[MalformedRecord]:
        """Malformed rows of ``entity``; rows whose entity is unknown count as contacts."""
        return [
            row.problem
            for row in self.rows.values()
            if row.problem is not None and (row.claims or "contact") == entity
        ]

    def remove(self, record_id: str) -> None:
        key = self.by_id.pop(record_id)
        del self.rows[key]

    def mark_duplicates(self, where: Callable[[int], str]) -> None:
        """Every row of an id used twice becomes malformed: which one is right is the
        user's call, and syncing either could overwrite the other's counterpart."""
        seen: dict[str, list[Row]] = {}
        for row in self.rows.values():
            rid = row.record.id if row.record else (row.problem.record_id if row.problem else None)
            if rid is not None:
                seen.setdefault(rid, []).append(row)
        for rid, rows in seen.items():
            if len(rows) < 2:
                continue
            lines = ", ".join(str(r.line) for r in rows)
            for row in rows:
                if row.record is not None:
                    self.by_id.pop(rid, None)
                    row.claims = row.record.entity
                    row.record = None
                    row.problem = MalformedRecord(
                        where(row.line),
                        f"id {rid!r} is used on lines {lines}; give each record its own id",
                        record_id=rid,
                    )
        for row in self.rows.values():
            if row.problem is not None and row.problem.record_id is not None:
                self.bad_ids.setdefault(row.problem.record_id, row.problem)

    def new_id(self) -> str:
        while True:
            candidate = uuid.uuid4().hex
            if candidate not in self.by_id and candidate not in self.bad_ids:
                return candidate


def atomic_write(path: Path, data: bytes, *, replace: Replace = os.replace) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one.

    A symlinked ``path`` is written through: the file it points at is replaced, and
    the link stays (renaming over the link would cut it, and the real file would no
    longer be synced). The temporary file lives beside that file (``os.replace`` is
    atomic only within one file system) and takes over its permission bits and, where
    the process may, its owner; a new file gets what the umask allows, as any tool's
    output does (``mkstemp`` alone would make it 0600). If any step fails, the
    temporary file is removed and the original is untouched.
    """
    target = Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            old = target.stat()
        except FileNotFoundError:
            os.chmod(tmp, 0o666 & ~_umask())
        else:
            os.chmod(tmp, old.st_mode & 0o7777)
            if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                with suppress(OSError):  # only root may give a file away
                    os.chown(tmp, old.st_uid, old.st_gid)
        replace(tmp, str(target))
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (setting it
    to read it back would race with other threads creating files)."""
    with suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def path_problems(settings: Mapping[str, Any], *, adapter: str, example: str) -> list[str]:
    """What is wrong with the ``path`` setting itself (where it points is looked at when
    the side is opened)."""
    raw = settings.get("path")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return [f"{adapter} adapter: setting 'path' is missing; set path = {example!r}"]
    if not isinstance(raw, str | os.PathLike):
        return [
            f"{adapter} adapter: setting 'path' must be a string, got "
            f"{type(raw).__name__}; set path = {example!r}"
        ]
    return []


def resolve_path(
    settings: Mapping[str, Any], context: AdapterContext, *, adapter: str, example: str
) -> Path:
    """The ``path`` setting as an absolute path; relative paths hang off ``base_dir``."""
    source = f"connection {context.connection!r}, side {context.side}"
    problems = path_problems(settings, adapter=adapter, example=example)
    if problems:
        raise ConfigError(problems, source)
    path = Path(settings["path"]).expanduser()
    if not path.is_absolute():
        path = context.base_dir / path
    if path.is_dir():
        raise ConfigError(
            [f"{adapter} adapter: path {str(path)!r} is a directory; point it at a file"],
            source,
        )
    if not path.parent.is_dir():
        raise ConfigError(
            [
                f"{adapter} adapter: directory {str(path.parent)!r} of path does not exist; "
                "create it or fix the path"
            ],
            source,
        )
    return path


def in_written_order(tags: Sequence[str], written: Iterable[object]) -> list[str]:
    """``tags`` (canonical: sorted) in the order the file had them, new ones after: a
    tag added on the other side should not re-sort the user's cell."""
    wanted = set(tags)
    kept = [t for t in dict.fromkeys(str(w).strip() for w in written) if t in wanted]
    have = set(kept)
    return kept + [t for t in tags if t not in have]


def split_lines(text: str) -> Iterator[str]:
    """Lines with their endings kept; only ``\\n`` ends a line (not U+2028 and friends,
    which JSON strings may hold raw). A last line without an ending gets the file's own
    (that of its first line), so a row appended after it leaves no mixed endings."""
    first = text.find("\n")
    ending = "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:] + ending
            return
        yield text[start : end + 1]
        start = end + 1


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def has_surrogates(text: str) -> bool:
    """Whether bytes that are not UTF-8 were carried in (``surrogateescape``). Asked of
    every line a file side reads: a scan in C, not a loop per character (that cost a
    100k-line file 2 s per read)."""
    return not text.isascii() and _ESCAPED_BYTE.search(text) is not None


@dataclass(frozen=True)
class _Create:
    record: Record


@dataclass(frozen=True)
class _Update:
    entity: Entity
    record_id: str
    changes: tuple[FieldChange, ...]
    stamp: datetime


@dataclass(frozen=True)
class _Delete:
    entity: Entity
    record_id: str


_Op: TypeAlias = _Create | _Update | _Delete
D = TypeVar("D", bound=Document)


KEPT_HISTORIES = 4
"""How many cursors a file side keeps the history of its own writes for."""


def content_digest(data: bytes) -> str:
    """The cursor of a file's content (``FileAdapter.changes_since``)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class FileAdapter(ABC, Generic[D]):
    """A side stored in one file. Subclasses say how rows are parsed and rendered.

    Not thread-safe: one adapter instance per run, as the engine uses it.
    """

    name: str = "file"
    file_kind: str = "file"
    immediate_changes = True
    """Its change feed is its own writes, known the moment they are written."""
    state_dir: Path | None = None
    """``AdapterContext.state_dir`` (``from_settings`` sets it): the identity of a file
    under it is its path relative to it."""

    def __init__(
        self,
        path: Path | str,
        *,
        capabilities: Capabilities,
        clock: Callable[[], datetime] | None = None,
        replace: Replace = os.replace,
    ) -> None:
        self.path = Path(path)
        self._caps = capabilities
        self._clock = clock or (lambda: datetime.now(UTC))
        self._replace = replace
        self._doc: D | None = None
        self._sig: FileSignature | None = None
        self._pending: list[_Op] = []
        self._depth = 0
        self._digest: str | None = None
        """The digest of the file as last read, hashed or written."""
        self._digest_sig: FileSignature | None = None
        """The file's signature when ``_digest`` was taken: while the file still has it,
        the digest is known without reading a byte."""
        self._since: dict[str, set[tuple[Entity, str]]] = {}
        """Per content digest this process knows the file had, the records written since
        then: only this adapter's writes came after it. Reset by an outside edit."""
        self._touched: set[tuple[Entity, str]] = set()
        """The records the writes not yet flushed change."""
        self.rewrites = 0
        """How many times the file was rewritten (tests and the bench read it)."""

    # -- what a format supplies ----------------------------------------------------------
    @abstractmethod
    def _parse(self, text: str) -> D:
        """The document of ``text`` (the whole file; "" for a missing file)."""

    @abstractmethod
    def _render(self, doc: D) -> str:
        """The whole file for ``doc``, verbatim rows included."""

    @abstractmethod
    def _insert(self, doc: D, record: Record) -> Record:
        """Append ``record`` (id and stamp set) as a new row; return it as read back.
        Raises ``BadRow`` if the side could not hold it, before changing anything."""

    @abstractmethod
    def _rewrite(self, doc: D, row: Row, fields: Mapping[str, JSON], stamp: datetime) -> Record:
        """Set ``fields`` (canonical; None clears) on ``row``; return it as read back.
        Raises ``BadRow`` if the side could not hold it, before changing anything."""

    # -- batches ---------------------------------------------------------------------------
    def begin_batch(self) -> None:
        """Hold writes in memory until the matching ``end_batch``; batches nest."""
        self._depth += 1

    def end_batch(self) -> None:
        """End a batch; the outermost end writes the file once. If that write raises,
        none of the batch's writes reached the file and the cache is dropped."""
        if self._depth == 0:
            raise RuntimeError("end_batch() without begin_batch()")
        self._depth -= 1
        if self._depth == 0 and self._pending:
            self._flush()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes into one atomic rewrite. Writes that returned are kept even if
        the block raises an ordinary exception; a crash-like ``BaseException``
        (KeyboardInterrupt, a simulated kill) discards them, as a real crash would."""
        self.begin_batch()
        try:
            yield
        except Exception:
            self.end_batch()
            raise
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._discard()
            raise
        self.end_batch()

    # -- the Protocol ----------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return self._caps

    def snapshot(
        self, entity: Entity, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        """Every record of ``entity`` in file order; malformed rows as problems.

        The read is whole even when a row is unreadable: the engine never takes a
        problem for a delete, and holds back every inferred delete (saying so) while a
        problem has no id that says which record it is.
        """
        if entity not in self._caps.entities:
            return Snapshot(entity=entity, records=[], complete=True)
        doc = self._load()
        problems = doc.problems(entity)
        return Snapshot(
            entity=entity,
            records=doc.records(entity),
            problems=problems,
            notes=doc.notes if entity == "contact" else (),
            # A file with unreadable rows gets no cursor: every run reads it whole and
            # reports them again.
            cursor=None if problems else self._issue(),
        )

    def changes_since(
        self, entity: Entity, cursor: str, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        """Nothing if the file is as ``cursor`` says (found without a parse); this
        adapter's own writes if only they came after it; else the whole file, as a
        complete snapshot."""
        if entity not in self._caps.entities:
            return Snapshot(entity=entity, records=[], complete=True)
        if self._current_digest() == cursor:
            return Snapshot(entity=entity, records=[], complete=False, cursor=self._issue())
        doc = self._load()
        written = self._since.get(cursor)
        if written is None or doc.problems(entity):
            return self.snapshot(entity)
        changed: list[Record] = []
        deleted: list[str] = []
        for kind, rid in sorted(written):
            if kind != entity:
                continue
            row = doc.row_of(rid)
            if row is not None and row.record is not None and row.record.entity == entity:
                changed.append(row.record)
            else:
                deleted.append(rid)
        return Snapshot(
            entity=entity,
            records=changed,
            complete=False,
            deleted_ids=tuple(deleted),
            cursor=self._issue(),
        )

    def get(self, entity: Entity, record_id: str) -> Record | None:
        doc = self._load()
        row = doc.row_of(record_id)
        if row is None or row.record is None:
            self._refuse_if_malformed(doc, record_id)
            return None
        return row.record if row.record.entity == entity else None

    def identity(self) -> str:
        path = self.path.resolve()
        if self.state_dir is not None and path.is_relative_to(self.state_dir):
            return f"{self.name} file {path.relative_to(self.state_dir)} in the state's folder"
        return f"{self.name} file {path}"

    def location(self) -> str:
        if self.path.exists():
            return str(self.path)
        return f"{self.path}, which does not exist yet: the first run that writes here makes it"

    def find_by_key(self, entity: Entity, key: str) -> list[Record]:
        """Records of ``entity`` with match key ``key``, by id (from the document's index)."""
        doc = self._load()

        def current(record_id: str) -> Record | None:
            row = doc.row_of(record_id)
            return None if row is None else row.record

        return doc.keys.find(entity, key, lambda: doc.records(entity), current)

    def create(self, record: Record) -> Record:
        self._require(record.entity, self._caps.can_create, "create")
        doc = self._load()
        if record.entity in CHILD_ENTITIES:
            parent = doc.row_of(record.parent_id) if record.parent_id else None
            if parent is None or parent.record is None or parent.record.entity != "contact":
                raise RecordRejected(
                    f"{self.path}: {record.entity} needs an existing contact, got "
                    f"parent_id {record.parent_id!r}; create or link the contact first",
                    record_id=record.id or None,
                )
        fields = canonical_fields(self._caps.takes(record.entity, record.fields))
        new = Record(
            entity=record.entity,
            id=doc.new_id(),
            fields=fields,
            updated_at=self._clock(),
            parent_id=record.parent_id if record.entity in CHILD_ENTITIES else None,
        )
        result = self._guard(lambda: self._insert(doc, new), record.id or None)
        self._commit(_Create(result))
        return result

    def update(self, entity: Entity, record_id: str, changes: Sequence[FieldChange]) -> Record:
        self._require(entity, self._caps.can_update, "update")
        doc = self._load()
        row = self._existing(doc, entity, record_id)
        op = _Update(entity, record_id, tuple(changes), self._clock())
        result = self._guard(lambda: self._apply_update(doc, row, op), record_id)
        self._commit(op)
        return result

    def delete(self, entity: Entity, record_id: str) -> None:
        """Delete; a contact takes its children with it, as it would in a CRM."""
        self._require(entity, self._caps.can_delete, "delete")
        doc = self._load()
        self._existing(doc, entity, record_id)
        self._apply_delete(doc, record_id)
        self._commit(_Delete(entity, record_id))

    def close(self) -> None:
        """Write anything a forgotten batch still holds, then drop the cache."""
        if self._pending:
            self._depth = 0
            self._flush()
        self._doc = None
        self._sig = None

    # -- internals -------------------------------------------------------------------------
    def _load(self) -> D:
        """The document, re-read if another process changed the file. Inside a batch the
        in-memory view (with the batch's writes) is authoritative until the flush."""
        if self._doc is not None and self._depth > 0:
            return self._doc
        sig = FileSignature.of(self.path)
        if self._doc is None or sig != self._sig:
            data = self._read_bytes()
            if data.startswith((b"\xff\xfe", b"\xfe\xff")):
                # Excel's "Unicode text": every other byte is NUL to a UTF-8 reader.
                raise PermanentAdapterError(
                    f"{self.path} is UTF-16 (it starts with a UTF-16 byte order mark); "
                    "save it as UTF-8 (in Excel: CSV UTF-8) and run again"
                )
            self._doc = self._parse(data.decode("utf-8", errors="surrogateescape"))
            self._sig = sig
            self._known(content_digest(data), sig)
        return self._doc

    def _current_digest(self) -> str:
        """The digest of the file as it is now: known if the file is unchanged since it
        was last read, hashed or written (each entity's feed asks), else hashed from its
        bytes (no parse)."""
        sig = FileSignature.of(self.path)
        if self._digest is not None and sig is not None and sig == self._digest_sig:
            return self._digest
        digest = content_digest(self._read_bytes())
        self._known(digest, sig)
        return digest

    def _known(self, digest: str, sig: FileSignature | None) -> None:
        """The file, with this signature, holds content with this digest now: content
        other than this adapter's last (an outside edit) ends every history of its own
        writes."""
        if digest != self._digest:
            self._since.clear()
        self._digest, self._digest_sig = digest, sig

    def _issue(self) -> str | None:
        """The current content's digest as a cursor, its history of writes begun. Only
        the last few cursors keep one (a run asks about the cursor it read at): an
        older one is answered with the whole file, which is always right."""
        if self._digest is not None and self._digest not in self._since:
            self._since[self._digest] = set()
            while len(self._since) > KEPT_HISTORIES:
                del self._since[next(iter(self._since))]
        return self._digest

    def _read(self) -> str:
        return self._read_bytes().decode("utf-8", errors="surrogateescape")

    def _read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except PermissionError as exc:
            raise PermanentAdapterError(
                f"cannot read {self.path}: permission denied; make the file readable"
            ) from exc
        except OSError as exc:
            raise TransientAdapterError(f"reading {self.path} failed: {exc}") from exc

    def _commit(self, op: _Op) -> None:
        if isinstance(op, _Create):
            self._touched.add((op.record.entity, op.record.id))
        elif isinstance(op, _Update):
            self._touched.add((op.entity, op.record_id))
        self._pending.append(op)
        if self._depth == 0:
            self._flush()

    def _flush(self) -> None:
        doc = self._doc
        pending, self._pending = self._pending, []
        touched, self._touched = self._touched, set()
        try:
            sig = FileSignature.of(self.path)
            if doc is None or sig != self._sig:
                # Someone else wrote the file meanwhile: replay ours on top of theirs.
                doc = self._parse(self._read())
                for op in pending:
                    self._replay(doc, op)
                self._since.clear()  # their edits are in no history of ours
                self._touched = set()
            text = self._render(doc)
            if doc.bom and not text.startswith(BOM):
                text = BOM + text
            data = text.encode("utf-8", errors="surrogateescape")
            atomic_write(self.path, data, replace=self._replace)
        except PermissionError as exc:
            self._discard()
            raise PermanentAdapterError(
                f"cannot write {self.path}: permission denied; make the file and its "
                "directory writable. Nothing was written."
            ) from exc
        except OSError as exc:
            self._discard()
            raise TransientAdapterError(
                f"writing {self.path} failed ({exc}); the file is unchanged and the "
                "write can be retried"
            ) from exc
        except AdapterError:
            self._discard()
            raise
        self._doc = doc
        self._sig = FileSignature.of(self.path)
        for written in self._since.values():
            written |= touched
        self._digest, self._digest_sig = content_digest(data), self._sig
        self.rewrites += 1
        if any(row.problem is not None for row in doc.rows.values()):
            # Malformed rows keep the line numbers they were read at, which shift when
            # rows above them change: re-read so problems point at the right lines.
            self._doc = None

    def _discard(self) -> None:
        self._pending = []
        self._touched = set()
        self._doc = None
        self._sig = None

    def _replay(self, doc: D, op: _Op) -> None:
        """Apply a held write to a freshly read document, dropping what no longer fits."""
        if isinstance(op, _Create):
            if op.record.id not in doc.by_id and op.record.id not in doc.bad_ids:
                with suppress(BadRow):
                    self._insert(doc, op.record)
        elif isinstance(op, _Update):
            row = doc.row_of(op.record_id)
            if row is not None:
                with suppress(BadRow):
                    self._apply_update(doc, row, op)
        elif op.record_id in doc.by_id:
            self._apply_delete(doc, op.record_id)

    def _apply_update(self, doc: D, row: Row, op: _Update) -> Record:
        assert row.record is not None
        fields: dict[str, JSON] = {}
        for change in self._caps.takes_changes(op.entity, op.changes):
            fields[change.field] = canonical_fields({change.field: change.after}).get(change.field)
        result = self._rewrite(doc, row, fields, op.stamp)
        doc.keys.add(result)
        return result

    def _apply_delete(self, doc: D, record_id: str) -> None:
        row = doc.row_of(record_id)
        doc.remove(record_id)
        if row is not None and row.record is not None:
            self._touched.add((row.record.entity, record_id))
        if row is not None and row.record is not None and row.record.entity == "contact":
            for child in doc.children_of(record_id):
                doc.remove(child.id)
                self._touched.add((child.entity, child.id))

    def _existing(self, doc: D, entity: Entity, record_id: str) -> Row:
        row = doc.row_of(record_id)
        if row is None or row.record is None or row.record.entity != entity:
            self._refuse_if_malformed(doc, record_id)
            raise RecordNotFound(
                f"{self.path}: no {entity} with id {record_id!r}", record_id=record_id
            )
        return row

    def _refuse_if_malformed(self, doc: D, record_id: str) -> None:
        problem = doc.bad_ids.get(record_id)
        if problem is not None:
            raise RecordRejected(
                f"{problem.where}: {problem.problem} (fix the line; until then this "
                "record is not read or written)",
                record_id=record_id,
            )

    def _guard(self, write: Callable[[], Record], record_id: str | None) -> Record:
        try:
            return write()
        except BadRow as exc:
            raise RecordRejected(f"{self.path}: {exc.problem}", record_id=record_id) from exc

    def _require(self, entity: Entity, allowed: frozenset[Entity], op: str) -> None:
        if entity not in allowed:
            raise PermanentAdapterError(
                f"the {self.file_kind} side at {self.path} cannot {op} {entity} records; "
                f"it can {op}: {', '.join(sorted(allowed)) or 'nothing'}"
            )


def stamp_text(stamp: datetime) -> str:
    """``updated_at`` as the files hold it: ISO 8601, UTC."""
    return stamp.astimezone(UTC).isoformat()


def parse_stamp(value: object) -> datetime:
    """``updated_at`` from a file; naive times are taken as UTC."""
    if not isinstance(value, str):
        raise BadRow(f"updated_at must be an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRow(
            f"updated_at {value!r} is not an ISO 8601 time; write it like "
            "2024-05-01T12:00:00+00:00 or remove it"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
