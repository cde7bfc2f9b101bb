"""``GhlAdapter``: one GHL location as a side (contacts, notes, tasks, appointments).

Reads go through ``POST /contacts/search`` sorted by ``dateUpdated`` and paged with
``searchAfter`` (``page`` paging stops at 10,000 records). Incremental reads ask for
``dateUpdated >= watermark - overlap``, because search lags writes by seconds, and drop
at the boundary what the previous read already delivered (same id, same
``dateUpdated`` and same content fingerprint); the cursor carries them, as opaque text. Search shows no deletions,
so an incremental contact read is never complete: the engine's periodic full pass sees
them (STYLE §13).

Children cost one request per contact (no bulk endpoint, issue #173).
``snapshot(child, changed_parents=...)`` reads the contacts that changed plus a rolling
share of the others within ``request_budget``, and says which in ``covered_parents``.

Writes never read back through search (it lags): the record returned is built from the
write's own response, or a ``GET`` by id. Contact creates are not blindly retried (a
lost response may have created the contact): the adapter looks the contact up by email
or phone first (pitfall 9). ``company_name`` is accepted only on create
(``UpdateContactDto`` lacks it), so it is a read-only field for updates; appointment
writes need ``calendar_id`` (otherwise appointments flow one way, out of GHL).
"""

from __future__ import annotations

import base64
import bisect
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from adapters.base import AdapterContext, Capabilities, Snapshot
from adapters.ghl import mapping
from adapters.ghl.client import (
    CALENDARS_VERSION,
    DEFAULT_BASE_URL,
    GhlClient,
    StaticToken,
    TokenSource,
)
from adapters.ghl.mapping import CustomFieldDefs
from syncengine.errors import (
    AdapterError,
    AuthError,
    ConfigError,
    MalformedRecord,
    PermanentAdapterError,
    RecordNotFound,
    RecordRejected,
    TransientAdapterError,
)
from syncengine.fingerprint import fingerprint
from syncengine.models import ENTITIES, Action, Entity, FieldChange, Op, Record
from syncengine.normalize import canonical_fields, match_keys

PAGE_LIMIT = 500
OVERLAP_SECONDS = 300.0
CREATE_ROUNDS = 3
PROBE_ID = "syncengine-scope-probe"
CURSOR_PREFIX = "ghl1:"


def _encode(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str) -> dict[str, Any]:
    if not cursor.startswith(CURSOR_PREFIX):
        raise PermanentAdapterError(
            f"GHL cursor {cursor[:20]!r} was not made by this adapter; "
            "run a full sync (drop the stored cursor)"
        )
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor[len(CURSOR_PREFIX) :]))
    except ValueError as exc:
        raise PermanentAdapterError("GHL cursor is corrupt; run a full sync") from exc
    if not isinstance(value, dict):
        raise PermanentAdapterError("GHL cursor is corrupt; run a full sync")
    return value


def _split_child_id(record_id: str) -> tuple[str, str]:
    """A note or task id this adapter could have made; any other id names no record."""
    try:
        return mapping.split_child_id(record_id)
    except RecordRejected as exc:
        raise RecordNotFound(str(exc), record_id=record_id) from exc


def _ms(record: Record) -> int:
    return int(record.updated_at.timestamp() * 1000) if record.updated_at else 0


def _create_key(record: Record, body: Mapping[str, Any]) -> str:
    return json.dumps([record.entity, record.parent_id, body], sort_keys=True, default=str)


def _mark(record: Record) -> list[Any]:
    """What the cursor remembers of a delivered version: its ``dateUpdated`` and a short
    fingerprint, so a second edit within the same millisecond is not taken for the
    version already delivered (STYLE §2: a change is a content change, never a time)."""
    return [_ms(record), fingerprint(record.fields)[:12]]


def _already_seen(record: Record, mark: Any) -> bool:
    if isinstance(mark, int):  # a cursor from before fingerprints were kept
        return mark == _ms(record)
    return isinstance(mark, list) and mark == _mark(record)


def _mark_ms(mark: Any) -> int:
    return mark if isinstance(mark, int) else int(mark[0]) if isinstance(mark, list) else 0


class GhlAdapter:
    name = "ghl"

    def __init__(
        self,
        *,
        client: GhlClient,
        location_id: str,
        calendar_id: str | None = None,
        request_budget: int | None = None,
        timezone: str = "UTC",
        overlap_seconds: float = OVERLAP_SECONDS,
        page_limit: int = PAGE_LIMIT,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.location_id = location_id
        self.calendar_id = calendar_id
        self.request_budget = request_budget
        self.timezone = timezone
        self.overlap_ms = int(overlap_seconds * 1000)
        self.page_limit = page_limit
        self._wall = wall_clock
        self._defs: CustomFieldDefs | None = None
        self._contact_ids: list[str] | None = None
        self._child_reads = 0
        self._rolling: dict[Entity, str] = {}
        self._uncertain: set[str] = set()
        """Creates that may have landed although no response said so (see ``_create_once``)."""

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        context: AdapterContext,
        *,
        clock: Callable[[], float] | None = None,
    ) -> GhlAdapter:
        """Build from a connection's settings; secrets only through ``context.secrets``."""
        problems: list[str] = []
        location_id = settings.get("location_id")
        if not isinstance(location_id, str) or not location_id:
            problems.append("ghl: set location_id to the sub-account (location) id")
        if context.secrets is None:
            problems.append("ghl: no secret resolver in the adapter context (engine bug)")
        auth = settings.get("auth", "token")
        if auth not in ("token", "oauth"):
            problems.append(f"ghl: auth must be 'token' or 'oauth', not {auth!r}")
        budget = settings.get("request_budget")
        if budget is not None and (not isinstance(budget, int) or budget < 0):
            problems.append("ghl: request_budget must be a whole number >= 0")
        if problems:
            raise ConfigError(problems, source=f"connection {context.connection}")
        assert isinstance(location_id, str) and context.secrets is not None
        base_url = str(settings.get("base_url", DEFAULT_BASE_URL))
        tokens: TokenSource
        if auth == "oauth":
            from adapters.ghl.oauth import OAuthTokens

            tokens = OAuthTokens(
                name=f"ghl:{context.connection}:{context.side}:{location_id}",
                client_id=_maybe_secret(context, settings.get("client_id", ""), "client_id"),
                client_secret=context.secrets(
                    str(settings.get("client_secret", "")), setting="client_secret"
                ),
                base_url=base_url,
                context=context,
            )
        else:
            tokens = StaticToken(context.secrets(str(settings.get("token", "")), setting="token"))
        client = GhlClient(
            base_url=base_url,
            location_id=location_id,
            tokens=tokens,
            context=context,
            clock=clock,
            timeout=float(settings.get("timeout", 30.0)),
        )
        return cls(
            client=client,
            location_id=location_id,
            calendar_id=settings.get("calendar_id"),
            request_budget=budget,
            timezone=str(settings.get("timezone", "UTC")),
            overlap_seconds=float(settings.get("overlap_seconds", OVERLAP_SECONDS)),
            wall_clock=clock or time.time,
        )

    # -- Protocol: facts ---------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        writable = (
            frozenset(ENTITIES)
            if self.calendar_id
            else frozenset(e for e in ENTITIES if e != "appointment")
        )
        notes = [
            "GHL takes company_name only when it creates a contact; later changes to it "
            "are not written to GHL",
            "notes, tasks and appointments cost one GHL request per contact",
        ]
        if not self.calendar_id:
            notes.append("appointments flow one way (out of GHL): set calendar_id to write them")
        return Capabilities(
            can_create=writable,
            can_update=writable,
            can_delete=writable,
            read_only_fields={
                "contact": mapping.CREATE_ONLY,
                "appointment": mapping.APPOINTMENT_READ_ONLY,
            },
            notes=tuple(notes),
        )

    # -- Protocol: reads ----------------------------------------------------------------------
    def snapshot(
        self, entity: Entity, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        if entity == "contact":
            read_at = self._now_ms()
            records, problems = self._search([])
            self._contact_ids = sorted(r.id for r in records)
            return Snapshot(
                "contact",
                records,
                complete=True,
                problems=problems,
                cursor=self._contact_cursor(records, 0, {}, read_at),
            )
        start = self._rolling.get(entity) or self._clock_start()
        return self._children(entity, changed_parents or (), start)

    def changes_since(self, entity: Entity, cursor: str) -> Snapshot:
        state = _decode(cursor)
        if entity != "contact":
            return self._children(entity, (), str(state.get("pos", "")))
        read_at = self._now_ms()
        seen: dict[str, Any] = dict(state.get("seen", {}))
        since = self._since(int(state.get("w", 0)), int(state.get("r", 0)))
        found, problems = self._search(
            [{"field": "dateUpdated", "operator": "range", "value": {"gte": since}}]
        )
        fresh = [r for r in found if not _already_seen(r, seen.get(r.id))]
        return Snapshot(
            "contact",
            fresh,
            complete=False,
            problems=problems,
            cursor=self._contact_cursor(found, int(state.get("w", 0)), seen, read_at),
        )

    def get(self, entity: Entity, record_id: str) -> Record | None:
        try:
            if entity == "contact":
                body = self.client.call("GET", f"/contacts/{record_id}", record_id=record_id)
                return mapping.contact_from_ghl(body["contact"], self._custom_defs())
            if entity == "appointment":
                body = self.client.call(
                    "GET",
                    f"/calendars/events/appointments/{record_id}",
                    version=CALENDARS_VERSION,
                    record_id=record_id,
                )
                return mapping.appointment_from_ghl(body["event"], naive_tz=self.timezone)
            contact_id, child_id = _split_child_id(record_id)
            kind = "notes" if entity == "note" else "tasks"
            body = self.client.call(
                "GET", f"/contacts/{contact_id}/{kind}/{child_id}", record_id=record_id
            )
            return self._child_record(entity, body[entity], contact_id)
        except RecordNotFound:
            return None

    def find_by_key(self, entity: Entity, key: str) -> list[Record]:
        """GHL's own duplicate rule (``GET /contacts/search/duplicate``): email or phone."""
        if entity != "contact":
            return []
        kind, _, value = key.partition(":")
        params = {"locationId": self.location_id}
        if kind == "email":
            params["email"] = value
        elif kind == "phone":
            params["number"] = value
        else:
            return []
        body = self.client.call("GET", "/contacts/search/duplicate", params=params)
        found = body.get("contact") if isinstance(body, dict) else None
        if not isinstance(found, dict):
            return []
        record = mapping.contact_from_ghl(found, self._custom_defs())
        return [record] if key in match_keys(record) else []

    # -- Protocol: writes ---------------------------------------------------------------------
    def create(self, record: Record) -> Record:
        self._writable(record.entity)
        if record.entity == "contact":
            body = mapping.contact_create_body(record.fields, self._custom_defs(), self.location_id)
            return self._create_once(
                _create_key(record, body),
                lambda: self.client.call("POST", "/contacts/", json=body, idempotent=False),
                lambda reply: mapping.contact_from_ghl(reply["contact"], self._custom_defs()),
                lambda: self._lookup_contact(record),
            )
        parent = record.parent_id
        if not parent:
            raise RecordRejected(f"a GHL {record.entity} needs its contact (parent_id)")
        fields = {
            k: v
            for k, v in record.fields.items()
            if k in self.capabilities().writable_fields(record.entity)
        }
        if record.entity == "appointment":
            body = mapping.appointment_body(fields)
            body.update(
                {
                    "calendarId": body.get("calendarId") or self.calendar_id,
                    "locationId": self.location_id,
                    "contactId": parent,
                }
            )
            return self._create_once(
                _create_key(record, body),
                lambda: self.client.call(
                    "POST",
                    "/calendars/events/appointments",
                    json=body,
                    version=CALENDARS_VERSION,
                    idempotent=False,
                ),
                lambda reply: mapping.appointment_from_ghl(
                    reply, naive_tz=self.timezone, contact_id=parent
                ),
                lambda: self._lookup_child(record, parent),
            )
        body = mapping.child_body(record.entity, fields)
        if record.entity == "task":
            body.setdefault("completed", False)
            if not body.get("dueDate"):
                raise RecordRejected(
                    "GHL tasks need a due_date; set one on the other side", record_id=record.id
                )
        kind = "notes" if record.entity == "note" else "tasks"
        return self._create_once(
            _create_key(record, body),
            lambda: self.client.call(
                "POST", f"/contacts/{parent}/{kind}", json=body, idempotent=False
            ),
            lambda reply: self._child_record(record.entity, reply[record.entity], parent),
            lambda: self._lookup_child(record, parent),
        )

    def update(self, entity: Entity, record_id: str, changes: Sequence[FieldChange]) -> Record:
        self._writable(entity)
        writable = self.capabilities().writable_fields(entity)
        changes = [c for c in changes if c.field in writable]
        if entity == "contact":
            return self._update_contact(record_id, changes)
        fields = {c.field: c.after for c in changes}
        if entity == "appointment":
            body = mapping.appointment_body(fields)
            reply = self.client.call(
                "PUT",
                f"/calendars/events/appointments/{record_id}",
                json=body,
                version=CALENDARS_VERSION,
                record_id=record_id,
            )
            return mapping.appointment_from_ghl(reply, naive_tz=self.timezone)
        contact_id, child_id = _split_child_id(record_id)
        kind = "notes" if entity == "note" else "tasks"
        reply = self.client.call(
            "PUT",
            f"/contacts/{contact_id}/{kind}/{child_id}",
            json=mapping.child_body(entity, fields),
            record_id=record_id,
        )
        return self._child_record(entity, reply[entity], contact_id)

    def delete(self, entity: Entity, record_id: str) -> None:
        self._writable(entity)
        if entity == "contact":
            path = f"/contacts/{record_id}"
        elif entity == "appointment":
            path = f"/calendars/events/{record_id}"
        else:
            contact_id, child_id = _split_child_id(record_id)
            path = f"/contacts/{contact_id}/{'notes' if entity == 'note' else 'tasks'}/{child_id}"
        version = CALENDARS_VERSION if entity == "appointment" else "2021-07-28"
        self.client.call("DELETE", path, version=version, record_id=record_id)

    def close(self) -> None:
        self.client.close()

    # -- WriteCost ---------------------------------------------------------------------------------
    def write_requests(self, op: Op) -> int:
        """Write calls (POST/PUT/DELETE) applying ``op`` will make, for the plan's estimate.

        A create is one POST, tags included (nothing to overwrite yet); a delete is one
        DELETE; a child update is one PUT. A contact update is a PUT only if a writable
        non-tag field changes, plus one POST for added tags and one DELETE for removed
        ones (a PUT with ``tags`` would replace GHL's own tags). Reads are not counted:
        the GET that completes a tags-only update, the look-ups before a create is sent
        again after a lost response, and retries of transient failures.
        """
        if op.action is Action.LINK:
            return 0
        if op.action is not Action.UPDATE or op.entity != "contact":
            return 1
        writable = self.capabilities().writable_fields("contact")
        return mapping.contact_update_requests([c for c in op.changes if c.field in writable])

    # -- Checkable --------------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Test requests that change nothing; each problem names the scope or setting to fix.

        Write scopes are probed with an update of an id that cannot exist: GHL checks the
        scope before the record, so "not found" proves the scope and changes nothing.
        """
        probes: list[tuple[str, str, str, str]] = [
            (
                "locations/customFields.readonly",
                "GET",
                f"/locations/{self.location_id}/customFields",
                "2021-07-28",
            ),
            ("contacts.readonly", "POST", "/contacts/search", "2021-07-28"),
            ("contacts.write", "PUT", f"/contacts/{PROBE_ID}", "2021-07-28"),
        ]
        if self.calendar_id:
            probes += [
                (
                    "calendars/events.readonly",
                    "GET",
                    f"/calendars/events/appointments/{PROBE_ID}",
                    CALENDARS_VERSION,
                ),
                (
                    "calendars/events.write",
                    "PUT",
                    f"/calendars/events/appointments/{PROBE_ID}",
                    CALENDARS_VERSION,
                ),
            ]
        problems: list[str] = []
        for scope, method, path, version in probes:
            body: Any = (
                {"locationId": self.location_id, "pageLimit": 1}
                if path == "/contacts/search"
                else {}
                if method == "PUT"
                else None
            )
            params = {"model": "contact"} if path.endswith("customFields") else None
            try:
                self.client.call(method, path, json=body, params=params, version=version)
            except RecordNotFound:
                continue  # the probe id does not exist: the scope is there
            except AuthError as exc:
                if "scope" in str(exc):
                    problems.append(
                        f"GHL token lacks the scope {scope}: add it to the "
                        "Private Integration (or app) and update the token"
                    )
                else:
                    problems.append(str(exc))
                    break
            except AdapterError as exc:
                problems.append(f"GHL {method} {path}: {exc}")
        return problems

    # -- internals: reads ---------------------------------------------------------------------------
    def _custom_defs(self) -> CustomFieldDefs:
        if self._defs is None:
            body = self.client.call(
                "GET", f"/locations/{self.location_id}/customFields", params={"model": "contact"}
            )
            self._defs = CustomFieldDefs.from_api(body.get("customFields", []))
        return self._defs

    def _search(self, filters: list[dict[str, Any]]) -> tuple[list[Record], list[MalformedRecord]]:
        defs = self._custom_defs()
        by_id: dict[str, Record] = {}
        problems: list[MalformedRecord] = []
        for item in self._search_pages(filters):
            try:
                record = mapping.contact_from_ghl(item, defs)
            except (MalformedRecord, ValueError) as exc:
                problems.append(
                    exc
                    if isinstance(exc, MalformedRecord)
                    else MalformedRecord(
                        f"GHL contact {item.get('id')}", str(exc), record_id=item.get("id")
                    )
                )
                continue
            by_id[record.id] = record  # a contact updated mid-paging shows up twice
        return sorted(by_id.values(), key=lambda r: (_ms(r), r.id)), problems

    def _search_pages(self, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "locationId": self.location_id,
                "pageLimit": self.page_limit,
                "sort": [{"field": "dateUpdated", "direction": "asc"}],
            }
            if filters:
                body["filters"] = filters
            if after is not None:
                body["searchAfter"] = after
            reply = self.client.call("POST", "/contacts/search", json=body)
            page = reply.get("contacts", []) if isinstance(reply, dict) else []
            yield from page
            if len(page) < self.page_limit or not page[-1].get("searchAfter"):
                return
            after = page[-1]["searchAfter"]

    def _since(self, watermark: int, read_at: int) -> int:
        """Where the next read starts: anything older was visible to the last read.

        A contact the last read could not see yet (search lag) was updated after
        ``read_at - overlap``, and one it could see but was older than the previous
        start is older than the watermark's overlap; so the later of the two bounds is
        safe, and after a quiet spell it costs a single search page. The overlap also
        absorbs clock skew between this host and GHL.
        """
        return max(0, watermark - self.overlap_ms, read_at - self.overlap_ms)

    def _contact_cursor(
        self, records: Sequence[Record], watermark: int, seen: Mapping[str, Any], read_at: int
    ) -> str:
        top = max([watermark, *(_ms(r) for r in records)])
        floor = self._since(top, read_at)
        keep = {rid: mark for rid, mark in seen.items() if _mark_ms(mark) >= floor}
        keep.update({r.id: _mark(r) for r in records if _ms(r) >= floor})
        return _encode({"w": top, "r": read_at, "seen": keep})

    def _now_ms(self) -> int:
        return int(self._wall() * 1000)

    def _known_contacts(self) -> list[str]:
        if self._contact_ids is None:
            records, _ = self._search([])
            self._contact_ids = sorted(r.id for r in records)
        return self._contact_ids

    def _clock_start(self) -> str:
        """Without a cursor, start the rolling share at an hour-dependent place."""
        ids = self._known_contacts()
        if not ids or self.request_budget is None:
            return ""
        return ids[(int(self._wall() // 3600) * max(1, self.request_budget)) % len(ids)]

    def _children(self, entity: Entity, changed: Collection[str], start: str) -> Snapshot:
        ids = self._known_contacts()
        must = sorted(set(changed))
        spare = (
            None
            if self.request_budget is None
            else max(0, self.request_budget - self._child_reads - len(must))
        )
        rest = [i for i in ids if i not in set(must)]
        if spare is None or spare >= len(rest):
            chosen = rest
        else:
            at = bisect.bisect_right(rest, start) if start else 0
            chosen = [rest[(at + k) % len(rest)] for k in range(spare)]
        records: list[Record] = []
        problems: list[MalformedRecord] = []
        covered: set[str] = set()
        for contact_id in [*must, *chosen]:
            try:
                records.extend(self._read_children(entity, contact_id, problems))
            except RecordNotFound:
                continue  # deleted since the contact read; its children went with it
            covered.add(contact_id)
        last = chosen[-1] if chosen else start
        self._rolling[entity] = last
        everything = covered >= set(ids)
        return Snapshot(
            entity,
            records,
            complete=True,
            problems=problems,
            cursor=_encode({"pos": last}),
            covered_parents=None if everything else frozenset(covered),
        )

    def _read_children(
        self, entity: Entity, contact_id: str, problems: list[MalformedRecord]
    ) -> list[Record]:
        self._child_reads += 1
        kind = {"note": "notes", "task": "tasks", "appointment": "appointments"}[entity]
        body = self.client.call("GET", f"/contacts/{contact_id}/{kind}", record_id=contact_id)
        items = body.get("events" if entity == "appointment" else kind, [])
        out: list[Record] = []
        for item in items:
            try:
                out.append(self._child_record(entity, item, contact_id))
            except (MalformedRecord, ValueError) as exc:
                problems.append(
                    exc
                    if isinstance(exc, MalformedRecord)
                    else MalformedRecord(f"GHL {entity} of contact {contact_id}", str(exc))
                )
        return out

    def _child_record(self, entity: Entity, item: Mapping[str, Any], contact_id: str) -> Record:
        if entity == "note":
            return mapping.note_from_ghl(item, contact_id)
        if entity == "task":
            return mapping.task_from_ghl(item, contact_id)
        return mapping.appointment_from_ghl(item, naive_tz=self.timezone, contact_id=contact_id)

    # -- internals: writes --------------------------------------------------------------------------
    def _writable(self, entity: Entity) -> None:
        if entity == "appointment" and not self.calendar_id:
            raise PermanentAdapterError(
                "GHL appointments are read-only for this connection; set calendar_id to the "
                "calendar new appointments should go to"
            )

    def _create_once(
        self,
        key: str,
        post: Callable[[], Any],
        read: Callable[[Any], Record],
        lookup: Callable[[], Record | None],
    ) -> Record:
        """Create, and after a failure that may have landed, look before creating again.

        A create whose outcome is unknown is remembered by its body (``key``), so when
        this create gives up and the engine calls ``create`` again for the same record,
        the new call also looks before it posts: the lost response's contact or note is
        found instead of made a second time.
        """
        last: TransientAdapterError | None = None
        for _ in range(CREATE_ROUNDS):
            if last is not None or key in self._uncertain:
                found = lookup()
                if found is not None:
                    self._uncertain.discard(key)
                    return found
            try:
                created = read(post())
            except TransientAdapterError as exc:
                self._uncertain.add(key)
                last = exc
            else:
                self._uncertain.discard(key)
                return created
        assert last is not None
        raise last

    def _lookup_contact(self, record: Record) -> Record | None:
        for key in match_keys(record):
            if key.startswith(("email:", "phone:")):
                found = self.find_by_key("contact", key)
                if found:
                    return found[0]
        return None

    def _lookup_child(self, record: Record, contact_id: str) -> Record | None:
        wanted = {
            k: v
            for k, v in record.fields.items()
            if k in self.capabilities().writable_fields(record.entity)
        }
        for existing in self._read_children(record.entity, contact_id, []):
            if all(existing.fields.get(k) == v for k, v in wanted.items()):
                return existing
        return None

    def _update_contact(self, record_id: str, changes: Sequence[FieldChange]) -> Record:
        plan = mapping.contact_update(changes, self._custom_defs())
        defs = self._custom_defs()
        record: Record | None = None
        if plan.body:
            reply = self.client.call(
                "PUT", f"/contacts/{record_id}", json=plan.body, record_id=record_id
            )
            record = mapping.contact_from_ghl(reply["contact"], defs)
        tags: list[str] | None = None
        if plan.tags_added:
            reply = self.client.call(
                "POST",
                f"/contacts/{record_id}/tags",
                json={"tags": list(plan.tags_added)},
                record_id=record_id,
            )
            tags = list(reply.get("tags", []))
        if plan.tags_removed:
            reply = self.client.call(
                "DELETE",
                f"/contacts/{record_id}/tags",
                json={"tags": list(plan.tags_removed)},
                record_id=record_id,
            )
            tags = list(reply.get("tags", []))
        if record is None:
            fetched = self.get("contact", record_id)
            if fetched is None:
                raise RecordNotFound(f"GHL contact {record_id} does not exist", record_id=record_id)
            return fetched
        if tags is not None:
            record = replace(record, fields=canonical_fields({**record.fields, "tags": tags}))
        return record


__all__ = ["GhlAdapter"]


def _maybe_secret(context: AdapterContext, value: object, setting: str) -> str:
    """A client id is no secret: take it as written, or resolve it if it is a reference."""
    text = str(value or "")
    if text.startswith(("env:", "keyring:")) and context.secrets is not None:
        return context.secrets(text, setting=setting)
    if not text:
        raise ConfigError(
            [f'ghl: set {setting} for auth = "oauth"'], source=f"connection {context.connection}"
        )
    return text
