"""GHL JSON <-> canonical records, both ways, with no I/O.

Names: camelCase on GHL, the canonical names of ``syncengine.models`` here. Values:
``dateOfBirth`` comes back as an ISO instant and is kept as ``YYYY-MM-DD``; task and
appointment times become ISO-8601 UTC with an explicit ``+00:00`` (GHL's contact
appointment list shows local times without an offset, read in the location timezone);
phones are sent in E.164 when they parse, and dates of birth as ``YYYY-MM-DD`` (from any
form ``syncengine.values`` reads), which GHL would store anyway. Custom fields
are ``[{id, value}]`` on read and ``[{id, field_value}]`` on write (v2), and canonical
``custom_fields`` is keyed by the field key (``contact.foo`` -> ``foo``), mapped per
location through its definitions (GHL never returns keys, issue #177).

Updates never send ``tags`` (a PUT replaces every tag; the adapter uses the add/remove
endpoints with the delta of the ``FieldChange``) and never ``locationId``,
``companyName`` or ``gender`` (``UpdateContactDto`` refuses them). Note and task ids
are ``<contactId>/<id>`` because GHL addresses them only under their contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncengine.errors import MalformedRecord, RecordRejected
from syncengine.models import JSON, Entity, FieldChange, Record
from syncengine.normalize import DEFAULT_REGION, canonical_fields, e164_problem, phone_key
from syncengine.values import DATE_FIELDS, read_date, read_instant, value_problem

CONTACT_NAMES: Mapping[str, str] = {
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "email",
    "phone": "phone",
    "company_name": "companyName",
    "address1": "address1",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "country",
    "website": "website",
    "source": "source",
    "date_of_birth": "dateOfBirth",
    "timezone": "timezone",
}
CREATE_ONLY: frozenset[str] = frozenset({"company_name"})
"""Canonical contact fields GHL takes on create but refuses on update."""
NOT_NULLABLE_ON_UPDATE = frozenset({"postalCode", "country"})
TASK_NAMES: Mapping[str, str] = {
    "title": "title",
    "body": "body",
    "due_date": "dueDate",
    "completed": "completed",
    "assigned_to": "assignedTo",
}
APPOINTMENT_NAMES: Mapping[str, str] = {
    "title": "title",
    "start_time": "startTime",
    "end_time": "endTime",
    "status": "appointmentStatus",
    "calendar_id": "calendarId",
    "address": "address",
}
APPOINTMENT_READ_ONLY = frozenset({"notes"})
"""Shown by GET /contacts/{id}/appointments, absent from the calendars write schemas."""


@dataclass(frozen=True)
class CustomFieldDefs:
    """One location's custom fields: id <-> canonical key (``contact.`` prefix dropped)."""

    keys_by_id: Mapping[str, str] = field(default_factory=dict)
    ids_by_key: Mapping[str, str] = field(init=False, repr=False, compare=False)
    """The reverse map, built once: every custom-field write looks a key up."""

    def __post_init__(self) -> None:
        # the first id wins if GHL ever held two fields under one key, as the scan did
        reverse: dict[str, str] = {}
        for fid, key in self.keys_by_id.items():
            reverse.setdefault(key, fid)
        object.__setattr__(self, "ids_by_key", reverse)

    @classmethod
    def from_api(cls, items: Iterable[Mapping[str, Any]]) -> CustomFieldDefs:
        out: dict[str, str] = {}
        for item in items:
            fid, key = item.get("id"), item.get("fieldKey")
            if isinstance(fid, str) and isinstance(key, str):
                out[fid] = key.removeprefix("contact.")
        return cls(out)

    def key_of(self, field_id: str) -> str:
        """Unknown ids stay visible as ``id:<id>`` rather than being dropped."""
        return self.keys_by_id.get(field_id, f"id:{field_id}")

    def id_of(self, key: str) -> str:
        if key.startswith("id:"):
            return key[3:]
        found = self.ids_by_key.get(key)
        if found is not None:
            return found
        raise RecordRejected(
            f"custom field {key!r} does not exist in this GHL location; create it under "
            f"Settings > Custom Fields (key contact.{key}), or keep it out of the sync with "
            f'"custom_fields.{key}" = {{ direction = "none" }} in the connection\'s fields table'
        )


# -- time values ----------------------------------------------------------------------------
def parse_instant(value: str, *, naive_tz: str = "UTC") -> datetime:
    return read_instant(value, naive_tz=naive_tz).astimezone(UTC)


def checked(name: str, value: JSON) -> JSON:
    """A value to send, once it is known GHL can take it: a date or time that is none
    is refused here (``RecordRejected``, so the record is quarantined with the fix),
    not left to fail on parsing or to come back as a 422."""
    problem = value_problem(name, value)
    if problem is not None:
        raise RecordRejected(f"not sent to GHL: the record {problem}, on the side it comes from")
    return value


def checked_contact(name: str, value: JSON, region: str) -> JSON:
    """``checked``, and a phone is refused when GHL, which stores E.164 only, would not
    keep it as written: no number, an extension, a guess at its country that fails."""
    if name == "phone" and isinstance(value, str) and value.strip():
        problem = e164_problem(value, region)
        if problem is not None:
            raise RecordRejected(f"not sent to GHL: the record {problem}")
    return checked(name, value)


def iso_utc(moment: datetime) -> str:
    """Canonical instant: UTC, explicit ``+00:00``, milliseconds only when present."""
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec)


def canonical_instant(value: Any, *, naive_tz: str = "UTC") -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return iso_utc(parse_instant(value, naive_tz=naive_tz))


def ghl_instant(value: str) -> str:
    """What GHL writes expect: ISO-8601 UTC with milliseconds and ``Z``."""
    moment = parse_instant(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _dob(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    return value[:10]


def _updated_at(item: Mapping[str, Any], key: str = "dateUpdated") -> datetime | None:
    value = item.get(key)
    return parse_instant(value) if isinstance(value, str) and value else None


def _require_id(item: Mapping[str, Any], entity: str) -> str:
    rid = item.get("id")
    if not isinstance(rid, str) or not rid:
        raise MalformedRecord(f"GHL {entity}", f"record without an id: {dict(item)!r:.200}")
    return rid


# -- GHL -> canonical -------------------------------------------------------------------------
def contact_from_ghl(item: Mapping[str, Any], defs: CustomFieldDefs) -> Record:
    rid = _require_id(item, "contact")
    fields: dict[str, JSON] = {name: item.get(ghl) for name, ghl in CONTACT_NAMES.items()}
    fields["date_of_birth"] = _dob(item.get("dateOfBirth"))
    fields["tags"] = list(item.get("tags") or [])
    custom: dict[str, JSON] = {}
    for cf in item.get("customFields") or []:
        if isinstance(cf, Mapping) and isinstance(cf.get("id"), str):
            custom[defs.key_of(cf["id"])] = cf.get("value")
    fields["custom_fields"] = custom
    return Record("contact", rid, canonical_fields(fields), _updated_at(item))


def note_from_ghl(item: Mapping[str, Any], contact_id: str | None = None) -> Record:
    rid = _require_id(item, "note")
    parent = contact_id or item.get("contactId")
    fields = {"title": item.get("title"), "body": item.get("body")}
    return Record(
        "note",
        f"{parent}/{rid}",
        canonical_fields(fields),
        _updated_at(item, "dateAdded"),
        parent_id=parent,
    )


def task_from_ghl(item: Mapping[str, Any], contact_id: str | None = None) -> Record:
    rid = _require_id(item, "task")
    parent = contact_id or item.get("contactId")
    fields = {name: item.get(ghl) for name, ghl in TASK_NAMES.items()}
    fields["due_date"] = canonical_instant(item.get("dueDate"))
    fields["completed"] = bool(item.get("completed", False))
    return Record("task", f"{parent}/{rid}", canonical_fields(fields), parent_id=parent)


def appointment_from_ghl(
    item: Mapping[str, Any], *, naive_tz: str = "UTC", contact_id: str | None = None
) -> Record:
    rid = _require_id(item, "appointment")
    fields: dict[str, JSON] = {name: item.get(ghl) for name, ghl in APPOINTMENT_NAMES.items()}
    fields["status"] = item.get("appointmentStatus") or item.get("status")
    fields["start_time"] = canonical_instant(item.get("startTime"), naive_tz=naive_tz)
    fields["end_time"] = canonical_instant(item.get("endTime"), naive_tz=naive_tz)
    fields["notes"] = item.get("notes")
    return Record(
        "appointment",
        rid,
        canonical_fields(fields),
        _updated_at(item),
        parent_id=contact_id or item.get("contactId"),
    )


# -- canonical -> GHL -------------------------------------------------------------------------
def _contact_value(name: str, value: JSON, region: str) -> JSON:
    if name == "phone" and isinstance(value, str):
        return phone_key(value, region) or value
    if name in DATE_FIELDS and isinstance(value, str) and value_problem(name, value) is None:
        return read_date(value).isoformat()
    return value


def _custom_writes(custom: Mapping[str, JSON], defs: CustomFieldDefs) -> list[dict[str, JSON]]:
    return [{"id": defs.id_of(k), "field_value": v} for k, v in sorted(custom.items())]


def contact_create_body(
    fields: Mapping[str, JSON],
    defs: CustomFieldDefs,
    location_id: str,
    region: str,
) -> dict[str, JSON]:
    """``CreateContactDto``: every canonical field, tags included (no tags to overwrite).
    A phone is sent in E.164, read with the connection's ``region``."""
    body: dict[str, JSON] = {"locationId": location_id}
    for name, ghl in CONTACT_NAMES.items():
        if fields.get(name) is not None:
            body[ghl] = _contact_value(name, checked_contact(name, fields[name], region), region)
    if fields.get("tags"):
        body["tags"] = list(fields["tags"])
    if fields.get("custom_fields"):
        body["customFields"] = _custom_writes(fields["custom_fields"], defs)
    return body


@dataclass(frozen=True)
class ContactUpdate:
    """What one contact update sends: a PUT body and the tag delta for the tag endpoints."""

    body: dict[str, JSON]
    tags_added: tuple[str, ...]
    tags_removed: tuple[str, ...]


def contact_update(
    changes: Sequence[FieldChange], defs: CustomFieldDefs, region: str
) -> ContactUpdate:
    for change in changes:
        checked_contact(change.field, change.after, region)
    parts = _update_parts(changes, region)
    body = dict(parts.body)
    if parts.custom:
        body["customFields"] = _custom_writes(parts.custom, defs)
    return ContactUpdate(body, parts.tags_added, parts.tags_removed)


def contact_update_requests(changes: Sequence[FieldChange]) -> int:
    """Write calls one contact update makes: a PUT only if a non-tag field changes,
    one POST for added tags, one DELETE for removed tags (no custom-field ids needed)."""
    parts = _update_parts(changes)
    return (
        int(bool(parts.body or parts.custom))
        + int(bool(parts.tags_added))
        + int(bool(parts.tags_removed))
    )


@dataclass(frozen=True)
class _UpdateParts:
    body: dict[str, JSON]
    custom: dict[str, JSON]
    tags_added: tuple[str, ...]
    tags_removed: tuple[str, ...]


def _update_parts(changes: Sequence[FieldChange], region: str = DEFAULT_REGION) -> _UpdateParts:
    """The pieces of a contact update: PUT fields, custom-field writes by key, tag delta."""
    body: dict[str, JSON] = {}
    custom: dict[str, JSON] = {}
    added: set[str] = set()
    removed: set[str] = set()
    for change in changes:
        if change.field == "tags":
            before, after = set(change.before or ()), set(change.after or ())
            added |= after - before
            removed |= before - after
        elif change.field == "custom_fields":
            before_map: Mapping[str, JSON] = change.before or {}
            after_map: Mapping[str, JSON] = change.after or {}
            custom = {k: v for k, v in after_map.items() if before_map.get(k) != v}
            custom.update({k: "" for k in before_map if k not in after_map})
        elif change.field in CONTACT_NAMES and change.field not in CREATE_ONLY:
            ghl = CONTACT_NAMES[change.field]
            value = _contact_value(change.field, change.after, region)
            body[ghl] = "" if value is None and ghl in NOT_NULLABLE_ON_UPDATE else value
    return _UpdateParts(body, custom, tuple(sorted(added)), tuple(sorted(removed)))


def note_body(fields: Mapping[str, JSON]) -> dict[str, JSON]:
    return {k: fields[k] for k in ("title", "body") if k in fields}


def task_body(fields: Mapping[str, JSON]) -> dict[str, JSON]:
    body: dict[str, JSON] = {}
    for name, ghl in TASK_NAMES.items():
        if name in fields:
            value = fields[name]
            value = checked(name, value)
            body[ghl] = ghl_instant(value) if name == "due_date" and value else value
    return body


def appointment_body(fields: Mapping[str, JSON]) -> dict[str, JSON]:
    body: dict[str, JSON] = {}
    for name, ghl in APPOINTMENT_NAMES.items():
        if name in fields:
            value = fields[name]
            if name in ("start_time", "end_time") and isinstance(value, str):
                value = iso_utc(parse_instant(str(checked(name, value))))
            body[ghl] = value
    return body


def child_body(entity: Entity, fields: Mapping[str, JSON]) -> dict[str, JSON]:
    if entity == "note":
        return note_body(fields)
    if entity == "task":
        return task_body(fields)
    return appointment_body(fields)


def split_child_id(record_id: str) -> tuple[str, str]:
    """``<contactId>/<id>`` -> (contactId, id); refuses anything else by name."""
    contact_id, sep, child_id = record_id.partition("/")
    if not sep or not contact_id or not child_id:
        raise RecordRejected(
            f"GHL note/task id {record_id!r} is not <contactId>/<id>; ids come from this "
            "adapter's own snapshots",
            record_id=record_id,
        )
    return contact_id, child_id
