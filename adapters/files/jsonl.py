"""A side kept in a JSON Lines file: one record per line, left as the user wrote it.

Each line is an object with ``id``, ``entity`` (contact, note, task or appointment;
contact when absent), the canonical field names of ``syncengine.models.FIELDS``, an
optional ``updated_at`` (ISO 8601) and, on children, ``contact_id`` (the record's
``parent_id``). For example::

    {"id": "c1", "email": "ada@example.com", "tags": ["vip"], "crm_score": 7}
    {"id": "n1", "entity": "note", "contact_id": "c1", "title": "Call", "body": "..."}

Reading canonicalises values (``normalize.canonical_fields``); numbers in text fields
are read as text. Keys the sync does not know (``crm_score``) are never dropped: a
written line keeps its other keys and their order, and untouched lines are written back
byte for byte. A line that cannot be read (bad JSON, not an object, missing or repeated
id, unknown entity, invalid email, a date or time that is none (``syncengine.values``),
a value of the wrong type, a child without
``contact_id``) is reported as a ``MalformedRecord`` at ``path:line`` in the snapshot's
``problems``, skipped, and kept verbatim. Writes stamp ``updated_at`` with the time of
the write, give created records a fresh uuid4 hex id, append creates, update in place,
remove deletes (a contact's children go with it) and replace the file atomically; see
``adapters.files._store`` for caching, batches and concurrent edits.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.base import AdapterContext, Capabilities
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
from syncengine.errors import MalformedRecord
from syncengine.models import CHILD_ENTITIES, ENTITIES, FIELDS, JSON, Entity, Record
from syncengine.normalize import canonical_fields, is_valid_email
from syncengine.values import fields_problem

__all__ = ["JsonlAdapter", "read_object"]

_BOOL_FIELDS = frozenset({"completed"})


class JsonlAdapter(FileAdapter[Document]):
    """A JSON Lines file as a side holding every entity.

    Each write outside ``batch()`` rewrites the whole file, which is simple and safe;
    wrap many writes in ``with adapter.batch():`` to pay for one rewrite.
    """

    name = "jsonl"
    SETTINGS = ("path",)
    file_kind = "JSONL"

    def __init__(
        self,
        path: Path | str,
        *,
        capabilities: Capabilities | None = None,
        clock: Callable[[], datetime] | None = None,
        replace: Replace = os.replace,
    ) -> None:
        super().__init__(
            path, capabilities=capabilities or Capabilities(), clock=clock, replace=replace
        )

    @classmethod
    def settings_problems(cls, settings: Mapping[str, Any]) -> list[str]:
        return path_problems(settings, adapter="jsonl", example=EXAMPLE)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], context: AdapterContext) -> JsonlAdapter:
        """Settings: ``path`` (required; relative to the config's directory)."""
        adapter = cls(resolve_path(settings, context, adapter="jsonl", example=EXAMPLE))
        adapter.state_dir = context.state_dir
        return adapter

    def _parse(self, text: str) -> Document:
        doc = Document()
        if text.startswith(BOM):
            doc.bom, text = True, text[len(BOM) :]
        styled = False
        for lineno, line in enumerate(split_lines(text), start=1):
            if lineno == 1 and line.endswith("\r\n"):
                doc.newline = "\r\n"
            row = Row(text=line, line=lineno)
            if line.strip():
                self._read_line(row)
                if not styled and row.data:
                    doc.separators, styled = _separators(line), True
            doc.append(row)
        doc.mark_duplicates(self._where)
        return doc

    def _read_line(self, row: Row) -> None:
        assert row.text is not None
        obj: object = None
        try:
            if has_surrogates(row.text):
                raise BadRow("is not valid UTF-8; save the file as UTF-8")
            try:
                # Without its line ending: an error at the end of the line would be
                # placed on the next line otherwise, at column 1.
                obj = json.loads(row.text.rstrip("\r\n"), object_pairs_hook=_one_of_each)
            except json.JSONDecodeError as exc:
                raise BadRow(
                    f"is not valid JSON ({exc.msg} at column {exc.colno}); fix or remove the line"
                ) from None
            row.record = read_object(obj)
            row.data = obj
        except BadRow as exc:
            rid = exc.record_id
            if rid is None and obj is None:
                rid = _guess_id(row.text)
            row.problem = MalformedRecord(self._where(row.line), exc.problem, record_id=rid)
            if isinstance(obj, dict) and obj.get("entity", "contact") in ENTITIES:
                row.claims = obj.get("entity", "contact")

    def _where(self, line: int) -> str:
        return f"{self.path}:{line}"

    def _render(self, doc: Document) -> str:
        for row in doc.rows.values():
            if row.text is None:
                text = json.dumps(row.data, ensure_ascii=False, separators=doc.separators)
                row.text = text + doc.newline
        return "".join(row.text or "" for row in doc.rows.values())

    def _insert(self, doc: Document, record: Record) -> Record:
        obj: dict[str, JSON] = {"id": record.id, "entity": record.entity}
        if record.entity in CHILD_ENTITIES:
            obj["contact_id"] = record.parent_id
        obj.update((k, record.fields[k]) for k in FIELDS[record.entity] if k in record.fields)
        if record.updated_at is not None:
            obj["updated_at"] = stamp_text(record.updated_at)
        back = read_object(obj)
        _store_read_back(obj, back, FIELDS[record.entity])
        doc.append(Row(text=None, data=obj, record=back))
        return back

    def _rewrite(
        self, doc: Document, row: Row, fields: Mapping[str, JSON], stamp: datetime
    ) -> Record:
        obj = dict(row.data)
        written = obj.get("tags")
        for name, value in fields.items():
            if value is None:
                obj.pop(name, None)
            else:
                obj[name] = value
        obj["updated_at"] = stamp_text(stamp)
        back = read_object(obj)
        _store_read_back(obj, back, fields)
        tags = fields.get("tags")
        if isinstance(tags, list) and isinstance(written, list):
            # Written in the line's own order; ``back`` (the record) stays canonical.
            obj["tags"] = in_written_order(tags, written)
        row.text, row.data, row.record = None, obj, back
        return back


EXAMPLE = "contacts.jsonl"
"""The ``path`` a message suggests."""

_ID_PATTERN = re.compile(r'"id"\s*:\s*(?:"((?:[^"\\]|\\.)+)"|(-?\d+))')


def _separators(line: str) -> tuple[str, str]:
    """The separators a JSON object line was written with: compact (``{"id":"p1"}``,
    as most tools write JSON Lines) or ``json.dumps``'s default (``{"id": "p1"}``)."""
    return (",", ":") if '":' in line and '": ' not in line else (", ", ": ")


def _guess_id(text: str) -> str | None:
    """The id of a line that is not valid JSON, if one can be made out, so the problem
    names the record (and the engine knows it is unreadable rather than deleted)."""
    match = _ID_PATTERN.search(text)
    if match is None:
        return None
    if match.group(2) is not None:
        return match.group(2)
    try:
        value = json.loads(f'"{match.group(1)}"')
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, str) and value.strip() else None


def _store_read_back(obj: dict[str, JSON], back: Record, names: Any) -> None:
    """Write values as they read back (e.g. numbers as text) so a re-read is identical."""
    for name in names:
        if name in back.fields:
            obj[name] = back.fields[name]


def read_object(obj: object) -> Record:
    """The record one JSONL object describes, or ``BadRow`` saying what to fix."""
    if not isinstance(obj, dict):
        raise BadRow(f"is a JSON {_kind(obj)}, not an object; write one {{...}} per line")
    raw_id = obj.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or not str(raw_id).strip():
        raise BadRow('has no id; add an "id" key with a value unique in the file')
    rid = str(raw_id)
    entity = obj.get("entity", "contact")
    if entity not in ENTITIES:
        raise BadRow(
            f"has unknown entity {entity!r}; use one of {', '.join(ENTITIES)}", record_id=rid
        )
    ent: Entity = entity
    try:
        fields = canonical_fields(
            {name: _coerce(name, obj[name]) for name in FIELDS[ent] if name in obj}
        )
        parent_id: str | None = None
        if ent in CHILD_ENTITIES:
            raw_parent = obj.get("contact_id")
            if (
                isinstance(raw_parent, bool)
                or not isinstance(raw_parent, str | int)
                or not str(raw_parent).strip()
            ):
                raise BadRow(f'is a {ent} without "contact_id"; set it to its contact\'s id')
            parent_id = str(raw_parent)
        stamp = obj.get("updated_at")
        updated_at = parse_stamp(stamp) if stamp not in (None, "") else None
        email = fields.get("email")
        if email is not None and not is_valid_email(email):
            raise BadRow(f"has email {email!r}, which is not a valid address; correct or remove it")
        if problem := fields_problem(fields):
            raise BadRow(problem)
    except BadRow as exc:
        raise BadRow(exc.problem, record_id=rid) from None
    return Record(entity=ent, id=rid, fields=fields, updated_at=updated_at, parent_id=parent_id)


def _coerce(name: str, value: JSON) -> JSON:
    """Check a field's JSON type; numbers in text fields are read as their text."""
    if value is None:
        return None
    if name == "tags":
        if isinstance(value, str):
            return [value]  # one tag; canonical_fields would keep a bare string as is
        if not isinstance(value, list):
            raise BadRow(f"has tags of type {_kind(value)}; write a list of strings")
        bad = next((i for i, t in enumerate(value) if not _is_text_like(t)), None)
        if bad is not None:
            raise BadRow(f"has tags[{bad}] of type {_kind(value[bad])}; write a list of strings")
        return [str(t) for t in value]
    if name == "custom_fields":
        if isinstance(value, dict):
            return value
        raise BadRow(f"has custom_fields of type {_kind(value)}; write an object")
    if name in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        raise BadRow(f"has {name} of type {_kind(value)}; write true or false")
    if _is_text_like(value):
        return str(value)
    raise BadRow(f"has {name} of type {_kind(value)}; write a string")


def _one_of_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, refused when it names a key twice: JSON parsers keep the last, which
    silently drops the other value (a line merged by hand, most often)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadRow(f"has the key {key!r} twice; keep the one that is right")
            seen.add(key)
    return obj


def _is_text_like(value: JSON) -> bool:
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


def _kind(value: object) -> str:
    """The JSON name of a parsed value's type (what the user wrote, not Python's name)."""
    names = {dict: "object", list: "array", bool: "boolean", str: "string", float: "number"}
    if value is None:
        return "null"
    return names.get(type(value), "number" if isinstance(value, int) else type(value).__name__)
