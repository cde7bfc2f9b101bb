"""A side kept in a CSV file of contacts, left as the user wrote it.

The first row is the header. Columns named like the canonical contact fields
(``syncengine.models.CONTACT_FIELDS``; case and surrounding spaces ignored, a space or
hyphen read as an underscore: ``First Name`` is ``first_name``) are synced; ``id`` is
required, ``updated_at`` (ISO 8601) is optional. ``tags`` holds the tags
separated by ``;`` (a tag cannot contain ``;``). Custom fields are columns named
``cf.<key>``, one per key; empty cells are absent values; a list or object value (a
GHL multi-select's options) is a JSON cell, ``["red", "blue"]``, read back as that
value (a cell that is no JSON list or object stays text). Every other column is the
user's: kept where it is, its cells carried through every rewrite. For example::

    id,first_name,email,tags,cf.plan,crm_owner
    c1,Ada,ada@example.com,vip;beta,gold,Grace

Only contacts live here (``Capabilities.entities == {"contact"}``).
A field or custom-field key the header lacks gets a new column at the end when a record
needs it, and every row is padded with an empty cell so rows stay aligned. A new file is
written with every canonical column plus ``updated_at``; writes stamp ``updated_at``
only if the file has that column. A row that cannot be read (wrong number of cells,
broken quoting, missing or repeated id, invalid email, bad ``updated_at``, not UTF-8) is
reported as a ``MalformedRecord`` at ``path:line`` (its first physical line), skipped,
and kept verbatim. A UTF-8 byte order mark (as Excel writes) is read and kept. Writes
give created records a fresh uuid4 hex id and replace the file atomically; see
``adapters.files._store`` for caching, batches and concurrent edits.

A column with another name (an export's ``Contact Id`` or ``Email Address``) is mapped
by the ``columns`` setting, field -> header text (``columns = { id = "Contact Id" }``);
a file the sync creates uses those names too.

Cells are separated by commas, semicolons (what Excel writes where the decimal mark is
a comma), tabs or pipes. The header says which: the separator is the one that makes an
``id`` column of it (commas first), unless the ``delimiter`` setting names one; the file
is written back with the separator it was read with, and a new file with commas (or
the setting's).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.base import AdapterContext, Capabilities, SideNote
from adapters.files._store import (
    BOM,
    BadRow,
    Document,
    FileAdapter,
    Replace,
    Row,
    has_surrogates,
    in_written_order,
    parse_stamp,
    path_problems,
    resolve_path,
    split_lines,
    stamp_text,
)
from syncengine.errors import AdapterError, ConfigError, MalformedRecord, PermanentAdapterError
from syncengine.models import CONTACT_FIELDS, JSON, Entity, Record
from syncengine.normalize import canonical_fields, is_valid_email
from syncengine.values import fields_problem

__all__ = ["CUSTOM_PREFIX", "DEFAULT_COLUMNS", "DELIMITERS", "CsvAdapter"]

CUSTOM_PREFIX = "cf."
TAG_SEPARATOR = ";"
_TEXT_FIELDS = tuple(f for f in CONTACT_FIELDS if f not in ("tags", "custom_fields"))
DEFAULT_COLUMNS: tuple[str, ...] = ("id", *_TEXT_FIELDS, "tags", "updated_at")
"""The header of a file the adapter creates."""
_KNOWN = frozenset(DEFAULT_COLUMNS)
_COLUMN_ORDER = {name: i for i, name in enumerate(DEFAULT_COLUMNS)}
_CONTACT: frozenset[Entity] = frozenset({"contact"})
_WORD_BREAKS = re.compile(r"[\s-]+")
DELIMITERS: Mapping[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
"""The cell separators a CSV side reads and writes, in the order a header is tried with."""
_SEP_LINE = re.compile(r"sep=([,;\t|])\r?\n", re.IGNORECASE)
"""The first line Excel writes (and reads) to name a CSV's separator."""
_DELIMITER_SETTING = {
    **{c: c for c in DELIMITERS},
    **{name: c for c, name in DELIMITERS.items()},
}
"""What the ``delimiter`` setting takes: the character, or its name (``"tab"``)."""


@dataclass
class CsvDocument(Document):
    """A CSV file: the header's column names and its verbatim text, then the rows."""

    columns: list[str] = field(default_factory=list)
    header_text: str | None = None
    index: dict[str, int] = field(default_factory=dict)
    """Position of each synced column (canonical names and ``cf.<key>``)."""
    delimiter: str = ","
    """The cell separator the file was read with, and is written with."""
    preamble: str = ""
    """What comes before the header, kept as it is: blank lines, Excel's ``sep=;``."""
    header_line: int = 1


EXAMPLE = "contacts.csv"
"""The ``path`` a message suggests."""


class CsvAdapter(FileAdapter[CsvDocument]):
    """A CSV file of contacts as a side.

    Each write outside ``batch()`` rewrites the whole file, which is simple and safe;
    wrap many writes in ``with adapter.batch():`` to pay for one rewrite.
    """

    name = "csv"
    SETTINGS = ("path", "delimiter", "columns")
    """``delimiter``: ``","``, ``";"``, ``"\\t"`` or ``"|"`` (or ``"comma"``, ``"semicolon"``,
    ``"tab"``, ``"pipe"``); without it the header decides. ``columns``: field -> the
    header text of its column, for columns not named like the field."""
    file_kind = "CSV"

    def __init__(
        self,
        path: Path | str,
        *,
        delimiter: str | None = None,
        columns: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        replace: Replace = os.replace,
    ) -> None:
        if delimiter is not None and delimiter not in DELIMITERS:
            raise ValueError(f"delimiter must be one of {sorted(DELIMITERS)}, got {delimiter!r}")
        self.delimiter = delimiter
        """The configured separator; None: the header's (commas for a new file)."""
        self.columns: Mapping[str, str] = dict(columns or {})
        """Field -> the header text of its column (``columns`` setting)."""
        self._renamed = {header.strip().casefold(): name for name, header in self.columns.items()}
        caps = Capabilities(
            entities=_CONTACT,
            can_create=_CONTACT,
            can_update=_CONTACT,
            can_delete=_CONTACT,
            fields={"contact": frozenset(CONTACT_FIELDS)},
            notes=(SideNote("the CSV side holds contacts only, every value as text"),),
        )
        super().__init__(path, capabilities=caps, clock=clock, replace=replace)

    @classmethod
    def settings_problems(cls, settings: Mapping[str, Any]) -> list[str]:
        problems: list[str] = []
        _read_settings(settings, problems)
        return problems

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], context: AdapterContext) -> CsvAdapter:
        """Settings: ``path`` (required; relative to the config's directory),
        ``delimiter`` and ``columns`` (optional; their problems are reported together)."""
        problems: list[str] = []
        delimiter, columns = _read_settings(settings, problems)
        if problems:
            raise ConfigError(problems, f"connection {context.connection!r}, side {context.side}")
        path = resolve_path(settings, context, adapter="csv", example=EXAMPLE)
        adapter = cls(path, delimiter=delimiter, columns=columns)
        adapter.state_dir = context.state_dir
        return adapter

    # -- reading ---------------------------------------------------------------------------
    def _parse(self, text: str) -> CsvDocument:
        doc = CsvDocument()
        if text.startswith(BOM):
            doc.bom, text = True, text[len(BOM) :]
        hint = _SEP_LINE.match(text)
        if hint is not None:
            # Excel's separator line: it names the delimiter and comes before the header.
            doc.preamble, text = hint.group(0), text[hint.end() :]
        doc.delimiter = (
            self.delimiter
            or (hint.group(1) if hint is not None else None)
            or _header_delimiter(text, self._renamed)
        )
        rows = _physical_rows(text, doc.delimiter, first_line=2 if hint is not None else 1)
        for line, raw, cells, error in rows:
            if doc.header_text is None:
                if not raw.strip():
                    doc.preamble += raw
                    continue
                doc.header_line = line
                self._read_header(doc, raw, cells, error)
                continue
            row = Row(text=raw, line=line, data=cells)
            # A row of empty cells (",,,": what spreadsheets save for formatted but
            # empty rows) is a blank line, kept as it is.
            if cells and any(cell.strip() for cell in cells):
                self._read_row(doc, row)
            else:
                row.data = None
                if error is not None:
                    row.problem = MalformedRecord(
                        self._where(line),
                        f"cannot be read as CSV ({error}); fix the quoting",
                        record_id=_guess_id(raw, doc.index["id"], doc.delimiter),
                    )
            doc.append(row)
        doc.mark_duplicates(self._where)
        return doc

    def _read_header(
        self, doc: CsvDocument, raw: str, cells: list[str] | None, error: str | None
    ) -> None:
        where = self._where(doc.header_line)
        if cells is None or error is not None:
            raise PermanentAdapterError(
                f"{where}: the header row cannot be read as CSV ({error}); fix its quoting"
            )
        doc.newline = "\r\n" if raw.endswith("\r\n") else "\n"
        doc.header_text = raw
        for position, name in enumerate(cells):
            synced = _column_name(name, self._renamed)
            if synced is None:
                doc.columns.append(name)
                continue
            if synced in doc.index:
                raise PermanentAdapterError(
                    f"{where}: column {synced!r} appears twice in the header; remove or rename one"
                )
            doc.index[synced] = position
            doc.columns.append(name)
        if "id" not in doc.index:
            found = _header_delimiter(raw, self._renamed)
            id_column = repr(self.columns.get("id", "id"))
            if self.delimiter is not None and _has_id(raw, found, self._renamed):
                raise PermanentAdapterError(
                    f"{where}: the header has no {id_column} column when its cells "
                    f"are separated by {DELIMITERS[doc.delimiter]}s (the delimiter setting), "
                    f"but has one separated by {DELIMITERS[found]}s; set delimiter = "
                    f'"{DELIMITERS[found]}" or remove the setting'
                )
            if "id" in self.columns:
                raise PermanentAdapterError(
                    f"{where}: the header has no column {id_column} "
                    "(the columns setting's id); fix the name there or in the file"
                )
            raise PermanentAdapterError(
                f"{where}: the header has no 'id' column; add one holding a "
                "unique id per contact (cells separated by commas, semicolons, tabs or pipes), "
                'or name the column that holds them: columns = { id = "..." }'
            )
        doc.notes = tuple(
            f"{self.path}: column {name!r} is not synced (it is kept as it is); if it "
            f"holds {meant}, map it: columns = {{ {meant} = {json.dumps(name)} }}"
            for name in doc.columns
            if _column_name(name, self._renamed) is None
            and (meant := _meant_field(name)) is not None
            and meant not in doc.index
        )
        missing = [h for n, h in self.columns.items() if n not in doc.index]
        if missing:
            raise PermanentAdapterError(
                f"{where}: the header has no column {missing[0]!r} (named in the "
                "columns setting); fix the name there or in the file"
            )

    def _read_row(self, doc: CsvDocument, row: Row) -> None:
        cells: list[str] = row.data
        rid: str | None = None
        if doc.index["id"] < len(cells):
            rid = cells[doc.index["id"]].strip() or None
        try:
            if has_surrogates(row.text or ""):
                raise BadRow("is not valid UTF-8; save the file as UTF-8")
            if len(cells) != len(doc.columns):
                raise BadRow(
                    f"has {len(cells)} cells but the header has {len(doc.columns)}; "
                    f"fix the {DELIMITERS[doc.delimiter]}s or quoting"
                )
            row.record = _record_from({name: cells[pos] for name, pos in doc.index.items()}, rid)
        except BadRow as exc:
            row.problem = MalformedRecord(self._where(row.line), exc.problem, record_id=rid)

    def location(self) -> str:
        """The path, and the separator when it is not a comma (what ``check`` shows, so a
        user sees the header was read the way they meant)."""
        where = super().location()
        if not self.path.exists():
            return where
        try:
            doc = self._load()
        except AdapterError:
            return where  # the read that follows reports it
        if doc.delimiter == ",":
            return where
        return f"{where}, {DELIMITERS[doc.delimiter]}-separated"

    def _header_of(self, name: str) -> str:
        """The header text of a synced column the sync adds: its ``columns`` name."""
        return self.columns.get(name, name)

    def _where(self, line: int) -> str:
        return f"{self.path}:{line}"

    # -- writing ---------------------------------------------------------------------------
    def _render(self, doc: CsvDocument) -> str:
        if doc.header_text is None:
            if not doc.columns:
                return ""
            doc.header_text = _csv_line(doc.columns, doc.newline, doc.delimiter)
        for row in doc.rows.values():
            if row.text is None:
                row.text = _csv_line(row.data, doc.newline, doc.delimiter)
        rows = "".join(row.text or "" for row in doc.rows.values())
        return doc.preamble + doc.header_text + rows

    def _insert(self, doc: CsvDocument, record: Record) -> Record:
        if doc.header_text is None and not doc.columns:
            doc.columns = [self._header_of(name) for name in DEFAULT_COLUMNS]
            doc.index = {name: i for i, name in enumerate(DEFAULT_COLUMNS)}
        cells = _cells_of(
            record.fields, stamp=record.updated_at, has_stamp="updated_at" in doc.index
        )
        cells["id"] = record.id
        back = _record_from(cells, record.id)
        self._add_columns(doc, cells)
        cells = {name: value for name, value in cells.items() if name in doc.index}
        data = [""] * len(doc.columns)
        for name, value in cells.items():
            data[doc.index[name]] = value
        doc.append(Row(text=None, data=data, record=back))
        return back

    def _rewrite(
        self, doc: CsvDocument, row: Row, fields: Mapping[str, JSON], stamp: datetime
    ) -> Record:
        current = {name: row.data[pos] for name, pos in doc.index.items()}
        changes = _cells_of(fields, stamp=stamp, has_stamp="updated_at" in doc.index)
        if "custom_fields" in fields:
            # The change carries the whole map: keys it lacks are cleared.
            for name in current:
                if name.startswith(CUSTOM_PREFIX) and name not in changes:
                    changes[name] = ""
        back = _record_from({**current, **changes}, row.record.id if row.record else None)
        tags = fields.get("tags")
        if isinstance(tags, list) and current.get("tags"):
            # Written in the cell's own order; ``back`` (the record) stays canonical.
            written = current["tags"].split(TAG_SEPARATOR)
            changes["tags"] = TAG_SEPARATOR.join(in_written_order(tags, written))
        self._add_columns(doc, changes)
        changes = {name: value for name, value in changes.items() if name in doc.index}
        data = list(row.data)
        for name, value in changes.items():
            data[doc.index[name]] = value
        row.text, row.data, row.record = None, data, back
        return back

    def _add_columns(self, doc: CsvDocument, cells: Mapping[str, str]) -> None:
        """Add a column at the end for each synced name the header lacks (only for a
        non-empty value) and pad every readable row, so rows stay aligned."""
        missing = sorted(
            (n for n, v in cells.items() if n not in doc.index and v != ""),
            key=lambda n: (_COLUMN_ORDER.get(n, len(_COLUMN_ORDER)), n),
        )
        if not missing:
            return
        headers = [self._header_of(name) for name in missing]
        for name, header in zip(missing, headers, strict=True):
            doc.index[name] = len(doc.columns)
            doc.columns.append(header)
        sep = doc.delimiter
        if doc.header_text is not None:
            header_tail = _csv_line(headers, doc.newline, sep)
            doc.header_text = _extend_line(doc.header_text, header_tail, sep)
        pad = sep * (len(missing) - 1)
        for row in doc.rows.values():
            if row.data is None:
                continue
            row.data = [*row.data, *([""] * len(missing))]
            if row.text is not None:
                row.text = _extend_line(row.text, pad, sep)


def _read_settings(
    settings: Mapping[str, Any], problems: list[str]
) -> tuple[str | None, dict[str, str]]:
    """The ``delimiter`` and ``columns`` settings as values; every setting that is wrong
    (``path`` too) adds its problem, so all are named in one pass."""
    problems += path_problems(settings, adapter="csv", example=EXAMPLE)
    delimiter = _delimiter_setting(settings.get("delimiter"), problems)
    return delimiter, _columns_setting(settings.get("columns"), problems)


def _delimiter_setting(raw: object, problems: list[str]) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw in _DELIMITER_SETTING:
        return _DELIMITER_SETTING[raw]
    choices = ", ".join(f'"{name}"' for name in DELIMITERS.values())
    problems.append(
        f"csv adapter: setting 'delimiter' is {json.dumps(raw)}; set it to one of {choices} "
        "(or the character itself), or remove it to let the header decide"
    )
    return None


def _columns_setting(raw: object, problems: list[str]) -> dict[str, str]:
    """``columns``: field -> header text; every name a field, every header text once."""
    if raw is None:
        return {}
    example = 'columns = { id = "Contact Id", email = "Email Address" }'
    if not isinstance(raw, Mapping):
        problems.append(f"csv adapter: setting 'columns' must be a table, like {example}")
        return {}
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, header in raw.items():
        where = f"csv adapter: columns.{name}"
        if name not in _KNOWN and not (name.startswith(CUSTOM_PREFIX) and len(name) > 3):
            close = difflib.get_close_matches(name, sorted(_KNOWN), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "custom fields are 'cf.<key>'"
            problems.append(f"{where}: no such field; {hint}")
        elif not isinstance(header, str) or not header.strip():
            problems.append(f"{where}: must be the header text of its column, like {example}")
        elif header.strip().casefold() in seen:
            first = seen[header.strip().casefold()]
            problems.append(f"{where}: column {header!r} is already columns.{first}'s")
        else:
            seen[header.strip().casefold()] = name
            out[name] = header.strip()
    return out


def _has_id(header: str, delimiter: str, renamed: Mapping[str, str]) -> bool:
    try:
        cells = next(csv.reader(io.StringIO(header, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return False
    return any(_column_name(cell, renamed) == "id" for cell in cells)


def _header_delimiter(text: str, renamed: Mapping[str, str]) -> str:
    """The separator that makes an ``id`` column of the first non-blank line (commas
    when none does, or the file is empty)."""
    header = next((line for line in split_lines(text) if line.strip()), "")
    return next((c for c in DELIMITERS if _has_id(header, c, renamed)), ",")


def _physical_rows(
    text: str, delimiter: str, *, first_line: int = 1
) -> Iterator[tuple[int, str, list[str] | None, str | None]]:
    """(first line number, verbatim text, cells or None, CSV error) per row.

    The csv reader pulls lines one at a time, so the lines it consumed for a row are
    that row's exact text, quoted newlines included.
    """
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in split_lines(text):
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), strict=True, delimiter=delimiter)
    line = first_line
    while True:
        consumed.clear()
        cells: list[str] | None
        error: str | None = None
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells, error = None, str(exc)
        if not consumed:
            return
        yield line, "".join(consumed), cells, error
        line += len(consumed)


def _guess_id(raw: str, position: int, delimiter: str) -> str | None:
    """The id of a row strict parsing refused, read leniently, so the problem can name
    the record (and the engine knows it is unreadable rather than deleted)."""
    try:
        cells = next(csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return None
    return cells[position].strip() or None if position < len(cells) else None


_SAID_OTHERWISE: Mapping[str, str] = {
    "mobile": "phone",
    "cell": "phone",
    "telephone": "phone",
    "tel": "phone",
    "zip": "postal_code",
    "zipcode": "postal_code",
    "postcode": "postal_code",
    "company": "company_name",
    "organization": "company_name",
    "organisation": "company_name",
    "birthday": "date_of_birth",
    "birthdate": "date_of_birth",
    "dob": "date_of_birth",
    "url": "website",
    "web": "website",
    "first": "first_name",
    "givenname": "first_name",
    "last": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "street": "address1",
    "address": "address1",
    "province": "state",
    "mail": "email",
}
"""Column titles exports use for a field under another name (or a short one)."""
_FILLERS = ("address", "number", "no", "1")
"""What exports append to a field's name: ``Email Address``, ``Phone Number``."""


def _meant_field(header_cell: str) -> str | None:
    """The field an unmapped column most likely holds, for a hint; None when it looks
    like none. The column is never mapped on a guess: a hint names the setting."""
    squashed = re.sub(r"[^a-z0-9]", "", header_cell.lower())
    if not squashed:
        return None
    names = {f.replace("_", ""): f for f in DEFAULT_COLUMNS if f not in ("id", "updated_at")}
    names.update(_SAID_OTHERWISE)
    for filler in _FILLERS:
        stem = squashed.removesuffix(filler)
        if stem != squashed and stem in names:
            return names[stem]
    close = difflib.get_close_matches(squashed, list(names), n=1, cutoff=0.8)
    return names[close[0]] if close else None


def _column_name(header_cell: str, renamed: Mapping[str, str]) -> str | None:
    """The synced name of a header cell, or None for a column that is the user's.
    Spreadsheets title their columns: ``First Name`` and ``first-name`` are
    ``first_name``; ``renamed`` (casefolded header text -> field) comes first."""
    name = header_cell.strip()
    if name.casefold() in renamed:
        return renamed[name.casefold()]
    plain = _WORD_BREAKS.sub("_", name.lower())
    if plain in _KNOWN:
        return plain
    if name.lower().startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return CUSTOM_PREFIX + name[len(CUSTOM_PREFIX) :]
    return None


def _record_from(cells: Mapping[str, str], rid: str | None) -> Record:
    """The contact a row's synced cells describe, or ``BadRow`` saying what to fix."""
    if not rid:
        raise BadRow("has no id; fill in the id column with a value unique in the file")
    fields: dict[str, JSON] = {name: cells[name] for name in _TEXT_FIELDS if name in cells}
    if cells.get("tags"):
        fields["tags"] = cells["tags"].split(TAG_SEPARATOR)
    fields["custom_fields"] = {
        name[len(CUSTOM_PREFIX) :]: _custom_value(value)
        for name, value in cells.items()
        if name.startswith(CUSTOM_PREFIX)
    }
    fields = canonical_fields(fields)
    email = fields.get("email")
    if email is not None and not is_valid_email(email):
        raise BadRow(
            f"has email {email!r}, which is not a valid address; correct or remove it", rid
        )
    if problem := fields_problem(fields):
        raise BadRow(problem, rid)
    stamp = cells.get("updated_at", "").strip()
    try:
        updated_at = parse_stamp(stamp) if stamp else None
    except BadRow as exc:
        raise BadRow(exc.problem, rid) from None
    return Record(entity="contact", id=rid, fields=fields, updated_at=updated_at)


def _cells_of(
    fields: Mapping[str, JSON], *, stamp: datetime | None, has_stamp: bool
) -> dict[str, str]:
    """Cells for canonical field values (None clears); ``BadRow`` for what text cannot hold."""
    cells: dict[str, str] = {}
    for name, value in fields.items():
        if name == "tags":
            tags = [_text(name, t) for t in (value or [])]
            bad = [t for t in tags if TAG_SEPARATOR in t]
            if bad:
                raise BadRow(
                    f"has tag {bad[0]!r} containing ';', which the CSV side cannot hold (its "
                    "tags cell separates tags with ';'); rename the tag on the side it comes from"
                )
            cells[name] = TAG_SEPARATOR.join(tags)
        elif name == "custom_fields":
            for key, item in (value or {}).items():
                cells[CUSTOM_PREFIX + key] = (
                    json.dumps(item, ensure_ascii=False)
                    if isinstance(item, list | dict)
                    else _text(f"custom field {key!r}", item)
                )
        elif name in _KNOWN:
            cells[name] = _text(name, value)
    if has_stamp and stamp is not None:
        cells["updated_at"] = stamp_text(stamp)
    return cells


def _custom_value(cell: str) -> JSON:
    """A custom field's cell: a JSON list or object (a GHL multi-select's options, as
    the sync writes them: ``["red", "blue"]``) is read as that value; anything else is
    the text it is."""
    text = cell.strip()
    if text[:1] in ("[", "{") and text[-1:] in ("]", "}"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return cell
        if isinstance(value, list | dict):
            return value
    return cell


def _text(what: str, value: JSON) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadRow(f"has {what} of type {type(value).__name__}; the CSV side holds text only")


def _csv_line(cells: list[str], newline: str, delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline, delimiter=delimiter).writerow(cells)
    return out.getvalue()


def _extend_line(text: str, tail: str, delimiter: str) -> str:
    """``text`` (one row with its line ending) with the cells of ``tail`` (a row's text,
    its line ending optional) added at the end, after one more ``delimiter``."""
    ending = "\r\n" if text.endswith("\r\n") else "\n" if text.endswith("\n") else ""
    body = text[: len(text) - len(ending)]
    return body + delimiter + tail.rstrip("\r\n") + ending
