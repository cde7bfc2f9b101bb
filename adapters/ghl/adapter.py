"""``GhlAdapter``: one GHL location as a side (contacts, notes, tasks, appointments).

Reads go through ``POST /contacts/search`` sorted by ``dateUpdated`` and paged with
``searchAfter`` (``page`` paging stops at 10,000 records). Incremental reads ask for
``dateUpdated >= watermark - overlap``, because search lags writes by seconds, and drop
at the boundary what the previous read already delivered (same id, same
``dateUpdated`` and same content fingerprint); the cursor carries them, as opaque text. Search shows no deletions,
so an incremental contact read is never complete: the engine's periodic full pass sees
them (STYLE §13).

A full read can also go through the deprecated ``GET /contacts/`` (``reader = "list"``,
or by itself when search fails): 100 contacts a page in ``dateAdded`` order, paged with
``startAfter``/``startAfterId``, with no filter, so an incremental read through it lists
every contact and keeps those updated since the cursor.

Children cost one request per contact (no bulk endpoint, issue #173). A run reads the
children of the contacts that changed, plus a rolling window of the others within
``request_budget`` (``rolling``), and says which in ``covered_parents``. The changed
contacts are the engine's ``changed_parents`` when it passes them, else those the
adapter's own incremental contact read of this run returned (the engine reads contacts
first). The window's contacts come from this session's full contact read when there
was one, otherwise from one listing page per child entity, never a full contact search.

Writes never read back through search (it lags): the record returned is built from the
write's own response, or a ``GET`` by id. Contact creates are not blindly retried (a
lost response may have created the contact): the adapter looks the contact up by email
or phone first (pitfall 9). ``company_name`` is accepted only on create
(``UpdateContactDto`` lacks it), so it is a read-only field for updates; appointment
writes need ``calendar_id`` (otherwise appointments flow one way, out of GHL). A task
update that only completes (or reopens) it uses ``PUT .../tasks/{id}/completed``.

``POST /contacts/upsert`` is offered (``upsert_contact``) but never used for creates,
not even to recover a create whose response was lost: upsert matches by the location's
dedupe rule and then overwrites what it matched, so a create that did not land would
update somebody else's contact with the same email (and, per the research notes, drop a
phone matching a third contact silently, promote an additional email to primary, and
replace every tag). The look-up by email or phone before a repost only reads: what it
finds is claimed as the created record, and nothing in GHL is changed by looking.
"""

from __future__ import annotations

import base64
import bisect
import json
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from adapters.base import AdapterContext, Capabilities, SideNote, Snapshot
from adapters.ghl import mapping, rolling
from adapters.ghl.client import (
    CALENDARS_VERSION,
    DEFAULT_BASE_URL,
    GhlClient,
    StaticToken,
    TokenSource,
)
from adapters.ghl.mapping import CustomFieldDefs
from adapters.ghl.rolling import DEFAULT_REQUEST_BUDGET, Position
from syncengine.errors import (
    AdapterError,
    AuthError,
    ConfigError,
    DuplicateOnSide,
    MalformedRecord,
    PermanentAdapterError,
    ReadStopped,
    RecordNotFound,
    RecordRejected,
    SecretError,
    TransientAdapterError,
    Unreachable,
)
from syncengine.fingerprint import fingerprint
from syncengine.models import CHILD_ENTITIES, ENTITIES, Action, Entity, FieldChange, Op, Record
from syncengine.normalize import (
    DEFAULT_REGION,
    canonical_fields,
    email_key,
    match_keys,
    phone_key,
)

log = logging.getLogger("adapters.ghl")

Reader = Literal["search", "list"]
READERS: tuple[Reader, ...] = ("search", "list")
PAGE_LIMIT = 500
LIST_LIMIT = 100
"""The deprecated ``GET /contacts/`` gives at most 100 contacts a page."""
BUSINESS_LIMIT = 100
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


def _added_ms(item: Mapping[str, Any]) -> int:
    """A listed contact's ``dateAdded`` in ms: its place in the ``rolling`` order."""
    value = item.get("dateAdded")
    if not isinstance(value, str) or not value:
        return 0
    try:
        return int(mapping.parse_instant(value).timestamp() * 1000)
    except ValueError:
        return 0


def _holds(found: Record, fields: Mapping[str, Any], region: str) -> bool:
    """Whether ``found`` has every value of ``fields`` (emails and phones compared as
    match keys: GHL stores them in its own spelling)."""
    for name, value in canonical_fields(fields).items():
        have = found.fields.get(name)
        if name == "email" and isinstance(value, str) and isinstance(have, str):
            same = email_key(have) == email_key(value)
        elif name == "phone" and isinstance(value, str) and isinstance(have, str):
            same = phone_key(have, region) == phone_key(value, region)
        else:
            same = have == value
        if not same:
            return False
    return True


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


@dataclass(frozen=True)
class Upserted:
    """What ``POST /contacts/upsert`` did: the contact as GHL now holds it, whether it
    was created, and the fields we sent that GHL did not keep (pitfall 6: a phone that
    matches another contact is dropped without an error)."""

    record: Record
    created: bool
    ignored: tuple[str, ...] = ()


WRITE_CONCURRENCY = 8
"""Writes in flight at once. A call waits 150-400 ms on the network: one at a time
reaches a quarter to a half of the 100 requests / 10 s allowed; the rate limiter keeps
eight within it."""


class GhlAdapter:
    name = "ghl"
    SETTINGS = (
        "location_id",
        "auth",
        "token",
        "client_id",
        "client_secret",
        "calendar_id",
        "request_budget",
        "write_concurrency",
        "reader",
        "base_url",
        "timeout",
        "timezone",
        "overlap_seconds",
    )
    """What a ``ghl`` side's settings may name (README: Configuration)."""

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
        reader: Reader = "search",
        write_concurrency: int = WRITE_CONCURRENCY,
        wall_clock: Callable[[], float] = time.time,
        default_region: str = DEFAULT_REGION,
    ) -> None:
        self.client = client
        self.default_region = default_region
        """For phones written without a country code: the connection's, from the context."""
        self.location_id = location_id
        self.calendar_id = calendar_id
        self.request_budget = DEFAULT_REQUEST_BUDGET if request_budget is None else request_budget
        """Child reads per run, shared equally by notes, tasks and appointments."""
        self.timezone = timezone
        self.overlap_ms = int(overlap_seconds * 1000)
        self.page_limit = page_limit
        self.reader: Reader = reader
        self.write_concurrency = write_concurrency
        self._wall = wall_clock
        self._defs: CustomFieldDefs | None = None
        self._caps_cache: Capabilities | None = None
        self._added: dict[str, int] = {}
        """``dateAdded`` (ms) of every contact read this session: its place in ``rolling``."""
        self._order: list[Position] | None = None
        """Every contact of this session's full contact read, in ``rolling`` order."""
        self._changed_contacts: set[str] = set()
        """Contacts the latest incremental contact read returned: new or changed."""
        self._rolling: dict[Entity, Position | None] = {}
        self._uncertain: set[str] = set()
        """Creates that may have landed although no response said so (see ``_create_once``)."""
        self._stop_reading: Callable[[], bool] = _never
        """Looked at before each request of a paged read (``Interruptible``)."""

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def settings_problems(cls, settings: Mapping[str, Any]) -> list[str]:
        """What is wrong with the settings themselves (secrets are resolved only when
        the side is opened): the config reports these with the rest of the file."""
        problems: list[str] = []
        _read_settings(settings, problems)
        return problems

    @classmethod
    def from_settings(
        cls,
        settings: Mapping[str, Any],
        context: AdapterContext,
        *,
        clock: Callable[[], float] | None = None,
    ) -> GhlAdapter:
        """Build from a connection's settings; secrets only through ``context.secrets``.
        Every problem of the settings (values, missing ones, unresolvable secrets) is
        reported at once."""
        problems: list[str] = []
        read = _read_settings(settings, problems)
        location_id, auth, budget = read.location_id, read.auth, read.request_budget
        if context.secrets is None:
            problems.append("ghl: no secret resolver in the adapter context (engine bug)")
        secrets = _Secrets(context, problems)
        token = client_id = client_secret = ""
        if auth == "oauth":
            client_id = secrets.maybe(settings.get("client_id", ""), "client_id")
            client_secret = secrets(settings.get("client_secret", ""), "client_secret")
        elif auth == "token":
            token = secrets(settings.get("token", ""), "token")
        if problems:
            raise ConfigError(problems, source=f"connection {context.connection}")
        assert isinstance(location_id, str) and context.secrets is not None
        base_url = str(settings.get("base_url", DEFAULT_BASE_URL))
        tokens: TokenSource
        if auth == "oauth":
            from adapters.ghl.oauth import OAuthTokens

            tokens = OAuthTokens(
                name=f"ghl:{context.connection}:{context.side}:{location_id}",
                client_id=client_id,
                client_secret=client_secret,
                base_url=base_url,
                context=context,
                clock=clock or time.time,
            )
        else:
            tokens = StaticToken(token)
        client = GhlClient(
            base_url=base_url,
            location_id=location_id,
            tokens=tokens,
            context=context,
            clock=clock,
            timeout=read.timeout,
        )
        return cls(
            client=client,
            location_id=location_id,
            calendar_id=read.calendar_id,
            request_budget=budget,
            timezone=str(settings.get("timezone", "UTC")),
            overlap_seconds=read.overlap_seconds,
            reader=read.reader,
            write_concurrency=read.write_concurrency,
            wall_clock=clock or time.time,
            default_region=context.default_region,
        )

    # -- Protocol: facts ---------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        writable = (
            frozenset(ENTITIES)
            if self.calendar_id
            else frozenset(e for e in ENTITIES if e != "appointment")
        )
        notes = [
            SideNote(
                "GHL takes company_name only when it creates a contact; later changes to it "
                "are not written to GHL",
                frozenset({"contact"}),
            ),
            SideNote(
                "notes, tasks and appointments cost one GHL request per contact",
                frozenset(CHILD_ENTITIES),
            ),
        ]
        if not self.calendar_id:
            notes.append(
                SideNote(
                    "appointments flow one way (out of GHL): set calendar_id to write them",
                    frozenset({"appointment"}),
                )
            )
        return Capabilities(
            can_create=writable,
            can_update=writable,
            can_delete=writable,
            read_only_fields={"appointment": mapping.APPOINTMENT_READ_ONLY},
            create_only_fields={"contact": mapping.CREATE_ONLY},
            notes=tuple(notes),
            write_concurrency=self.write_concurrency,
        )

    # -- Protocol: reads ----------------------------------------------------------------------
    def stop_reading_when(self, should_stop: Callable[[], bool]) -> None:
        self._stop_reading = should_stop

    def _next_page(self) -> None:
        """Before another request of a paged read: stop here if the run was asked to."""
        if self._stop_reading():
            raise ReadStopped(f"GHL location {self.location_id}: read stopped between pages")

    def snapshot(
        self, entity: Entity, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        if entity == "contact":
            read_at = self._now_ms()
            records, problems = self._all_contacts()
            self._order = sorted((self._added.get(r.id, 0), r.id) for r in records)
            self._changed_contacts = set()  # the engine names the changed ones (vs its base)
            return Snapshot(
                "contact",
                records,
                complete=True,
                problems=problems,
                cursor=self._contact_cursor(records, 0, {}, read_at),
            )
        start = self._rolling[entity] if entity in self._rolling else self._clock_start()
        changed = {*(changed_parents or ()), *self._changed_contacts}
        return self._children(entity, changed, start)

    def changes_since(
        self, entity: Entity, cursor: str, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        """What changed since ``cursor``. For children, ``changed_parents`` (when the
        engine passes it: the contacts whose content differs from the base) replaces
        the contacts this adapter's own incremental read returned, which include the
        ones the previous run wrote to GHL itself."""
        state = _decode(cursor)
        if entity != "contact":
            # Not complete, though each covered contact's children are all here: the
            # engine compares an incremental read with the base of the ids it returns
            # only (so it could not see a child deleted anyway), and stamps a complete
            # read as the full pass, which would put off the real one for ever.
            position = rolling.as_position(state.get("pos"))
            if changed_parents is None:
                read = self._children(entity, self._changed_contacts, position)
            else:
                read = self._children(entity, changed_parents, position)
            return replace(read, complete=False)
        read_at = self._now_ms()
        seen: dict[str, Any] = dict(state.get("seen", {}))
        since = self._since(int(state.get("w", 0)), int(state.get("r", 0)))
        self._order = None  # a new run: the last full read no longer lists every contact
        found, problems = self._contacts_since(since)
        fresh = [r for r in found if not _already_seen(r, seen.get(r.id))]
        self._changed_contacts = {r.id for r in fresh}
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
        return [record] if key in match_keys(record, self.default_region) else []

    def contacts_of_business(self, business_id: str) -> list[Record]:
        """The contacts GHL attaches to a business (``GET /contacts/business/{id}``).

        Not part of a sync: canonical contacts carry ``company_name``, not GHL's business
        objects, so nothing in a record names a business to look up. Offered for callers
        that map businesses themselves (a report, a one-off import)."""
        defs = self._custom_defs()
        out: list[Record] = []
        skip = 0
        while True:
            reply = self.client.call(
                "GET",
                f"/contacts/business/{business_id}",
                params={
                    "locationId": self.location_id,
                    "limit": str(BUSINESS_LIMIT),
                    "skip": str(skip),
                },
            )
            page = reply.get("contacts", []) if isinstance(reply, dict) else []
            out += [mapping.contact_from_ghl(item, defs) for item in page]
            skip += len(page)
            total = reply.get("count") if isinstance(reply, dict) else None
            if len(page) < BUSINESS_LIMIT or (isinstance(total, int) and skip >= total):
                return out

    # -- Protocol: writes ---------------------------------------------------------------------
    def create(self, record: Record) -> Record:
        self._writable(record.entity)
        if record.entity == "contact":
            defs = self._custom_defs()
            body = mapping.contact_create_body(
                record.fields, defs, self.location_id, self.default_region
            )
            return self._create_once(
                _create_key(record, body),
                lambda: self.client.call("POST", "/contacts/", json=body, idempotent=False),
                lambda reply: self._created_contact(reply["contact"], defs),
                lambda: self._lookup_contact(record),
            )
        parent = record.parent_id
        if not parent:
            raise RecordRejected(f"a GHL {record.entity} needs its contact (parent_id)")
        fields = self._caps().takes(record.entity, record.fields)
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
        changes = self._caps().takes_changes(entity, changes)
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
        path = f"/contacts/{contact_id}/{kind}/{child_id}"
        if entity == "task" and set(fields) == {"completed"}:
            # GHL's own endpoint for ticking a task off: it takes nothing else, so no
            # other field of the task can be overwritten by a stale value.
            path += "/completed"
            body = {"completed": bool(fields["completed"])}
        else:
            body = mapping.child_body(entity, fields)
        reply = self.client.call("PUT", path, json=body, record_id=record_id)
        return self._child_record(entity, reply[entity], contact_id)

    def upsert_contact(self, fields: Mapping[str, Any]) -> Upserted:
        """``POST /contacts/upsert``: update the contact GHL's dedupe rule matches, or create.

        Never used by the sync (see the module docstring for why). Tags are not sent
        with the upsert, which would replace every tag of a matched contact (pitfall 11);
        they are added afterwards through the tags endpoint, as updates do."""
        defs = self._custom_defs()
        body = mapping.contact_create_body(
            {k: v for k, v in fields.items() if k != "tags"},
            defs,
            self.location_id,
            self.default_region,
        )
        if "email" not in body and "phone" not in body:
            raise RecordRejected("a GHL upsert needs an email or a phone to match on")
        reply = self.client.call("POST", "/contacts/upsert", json=body)
        record = mapping.contact_from_ghl(reply["contact"], defs)
        tags = [t for t in fields.get("tags") or [] if t not in (record.fields.get("tags") or [])]
        if tags:
            added = self.client.call(
                "POST", f"/contacts/{record.id}/tags", json={"tags": tags}, record_id=record.id
            )
            merged = {**record.fields, "tags": list(added.get("tags", []))}
            record = replace(record, fields=canonical_fields(merged))
        sent = canonical_fields({k: v for k, v in fields.items() if k in mapping.CONTACT_NAMES})
        ignored = tuple(sorted(k for k, v in sent.items() if record.fields.get(k) != v))
        return Upserted(record, bool(reply.get("new")), ignored)

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
        return mapping.contact_update_requests(self._caps().takes_changes("contact", op.changes))

    # -- Checkable --------------------------------------------------------------------------------
    def identity(self) -> str:
        """The location alone: the same location reached at another address (a proxy,
        the fake in tests) holds the same records."""
        return f"ghl location {self.location_id}"

    def location(self) -> str:
        return f"location {self.location_id} at {self.client.base_url}"

    def check(self) -> list[str]:
        """Test requests that change nothing; each problem names the scope or setting to fix.

        Write scopes are probed with an update of an id that cannot exist: GHL checks the
        scope before the record, so "not found" proves the scope and changes nothing.
        Each probe is tried once: a user waiting on ``check`` wants the answer, not minutes
        of backoff, and a GHL that cannot be reached fails every probe the same way.
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
                self.client.call(
                    method, path, json=body, params=params, version=version, attempts=1
                )
            except RecordNotFound:
                continue  # the probe id does not exist: the scope is there
            except AuthError as exc:
                if "scope" in str(exc):
                    needs = (
                        " (`plan` works without it; `run` needs it to write)"
                        if scope.endswith(".write")
                        else ""
                    )
                    problems.append(
                        f"GHL token lacks the scope {scope}{needs}: add it to the "
                        "Private Integration (or app) and update the token"
                    )
                else:
                    problems.append(str(exc))
                    break
            except (TransientAdapterError, Unreachable) as exc:
                problems.append(str(exc))
                break  # unreachable or failing: the other probes would say the same
            except AdapterError as exc:
                problems.append(f"GHL {method} {path}: {exc}")
        return problems

    # -- internals: reads ---------------------------------------------------------------------------
    def _caps(self) -> Capabilities:
        """``capabilities()`` once per adapter: it depends only on settings fixed at birth."""
        if self._caps_cache is None:
            self._caps_cache = self.capabilities()
        return self._caps_cache

    def _custom_defs(self) -> CustomFieldDefs:
        if self._defs is None:
            body = self.client.call(
                "GET", f"/locations/{self.location_id}/customFields", params={"model": "contact"}
            )
            self._defs = CustomFieldDefs.from_api(body.get("customFields", []))
        return self._defs

    def _all_contacts(self) -> tuple[list[Record], list[MalformedRecord]]:
        """Every contact, through search or, when it is off or failing, the deprecated list."""
        if self.reader == "search":
            try:
                return self._records(self._search_pages([]))
            except (TransientAdapterError, PermanentAdapterError) as exc:
                log.warning("GHL search failed (%s); reading through GET /contacts/ instead", exc)
        return self._records(self._list_pages())

    def _contacts_since(self, since: int) -> tuple[list[Record], list[MalformedRecord]]:
        """Contacts updated at or after ``since`` (ms). Search filters on the server; the
        list cannot filter, so it lists every contact and keeps the recent ones."""
        if self.reader == "search":
            window = [{"field": "dateUpdated", "operator": "range", "value": {"gte": since}}]
            try:
                return self._records(self._search_pages(window))
            except (TransientAdapterError, PermanentAdapterError) as exc:
                log.warning("GHL search failed (%s); reading through GET /contacts/ instead", exc)
        records, problems = self._records(self._list_pages())
        self._order = sorted((self._added.get(r.id, 0), r.id) for r in records)
        return [r for r in records if _ms(r) >= since], problems

    def _records(
        self, items: Iterator[dict[str, Any]]
    ) -> tuple[list[Record], list[MalformedRecord]]:
        """Contacts from a listing, by ``dateUpdated``; unreadable ones become problems."""
        defs = self._custom_defs()
        by_id: dict[str, Record] = {}
        problems: list[MalformedRecord] = []
        for item in items:
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
            self._added[record.id] = _added_ms(item)
        return sorted(by_id.values(), key=lambda r: (_ms(r), r.id)), problems

    def _search_pages(self, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        after: list[Any] | None = None
        while True:
            self._next_page()
            page = self._search_page(filters, "dateUpdated", after, self.page_limit)
            yield from page
            if len(page) < self.page_limit or not page[-1].get("searchAfter"):
                return
            after = page[-1]["searchAfter"]

    def _search_page(
        self, filters: list[dict[str, Any]], sort: str, after: list[Any] | None, limit: int
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "locationId": self.location_id,
            "pageLimit": limit,
            "sort": [{"field": sort, "direction": "asc"}],
        }
        if filters:
            body["filters"] = filters
        if after is not None:
            body["searchAfter"] = after
        reply = self.client.call("POST", "/contacts/search", json=body)
        page = reply.get("contacts", []) if isinstance(reply, dict) else []
        return [item for item in page if isinstance(item, dict)]

    def _list_pages(self, after: Position | None = None) -> Iterator[dict[str, Any]]:
        """The deprecated ``GET /contacts/``, in ``dateAdded`` order, after ``after``."""
        while True:
            self._next_page()
            page, after = self._list_page(after, LIST_LIMIT)
            yield from page
            if after is None:
                return

    def _list_page(
        self, after: Position | None, limit: int
    ) -> tuple[list[dict[str, Any]], Position | None]:
        """One page of the list and where the next starts (None: this was the last).

        The next request is built from ``meta.startAfter``/``meta.startAfterId``, never
        from ``meta.nextPageUrl`` (the spec's example of it points at localhost)."""
        params = {"locationId": self.location_id, "limit": str(limit)}
        if after is not None:
            params.update({"startAfter": str(after[0]), "startAfterId": after[1]})
        reply = self.client.call("GET", "/contacts/", params=params)
        page = [c for c in reply.get("contacts", []) if isinstance(c, dict)]
        meta = reply.get("meta") or {}
        more_ms, more_id = meta.get("startAfter"), meta.get("startAfterId")
        if not page or meta.get("nextPage") is None or more_ms is None or not more_id:
            return page, None
        return page, (int(more_ms), str(more_id))

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

    def _child_share(self) -> int:
        return rolling.child_share(self.request_budget, len(CHILD_ENTITIES))

    def _clock_start(self) -> Position | None:
        """Without a cursor, start the window at an hour-dependent place, so that many
        fresh starts (a new connection, lost cursors) do not all read the same contacts."""
        if not self._order:
            return None
        hour = int(self._wall() // 3600)
        return self._order[(hour * max(1, self._child_share())) % len(self._order)]

    def _children(
        self, entity: Entity, changed: Collection[str], start: Position | None
    ) -> Snapshot:
        """The children of the changed contacts, and of a window of the others."""
        must = sorted(set(changed))
        spare = max(0, self._child_share() - len(must))
        window, last = rolling.take_window(
            self._window_fetch(), start, spare, exclude=set(must), page_max=self._window_max()
        )
        records: list[Record] = []
        problems: list[MalformedRecord] = []
        covered: set[str] = set()
        for contact_id in [*must, *window]:
            self._next_page()
            try:
                records.extend(self._read_children(entity, contact_id, problems))
            except RecordNotFound:
                continue  # deleted since the contact read; its children went with it
            covered.add(contact_id)
        self._rolling[entity] = last
        everything = self._order is not None and covered >= {cid for _, cid in self._order}
        return Snapshot(
            entity,
            records,
            complete=True,
            problems=problems,
            cursor=_encode({"pos": list(last) if last else None}),
            covered_parents=None if everything else frozenset(covered),
        )

    def _window_max(self) -> int:
        """Positions asked for at once: a listing page (the list pages itself in 100s)."""
        return max(1, len(self._order)) if self._order is not None else self.page_limit

    def _window_fetch(self) -> rolling.Fetch:
        """Where the window's contacts come from: this session's full read if there was
        one (no request), else one page of a listing in ``dateAdded`` order."""
        if self._order is not None:
            return rolling.from_order(self._order)

        def fetch(after: Position | None, limit: int) -> list[Position]:
            if self.reader == "search":
                try:
                    items = self._search_page(
                        [], "dateAdded", list(after) if after else None, limit
                    )
                except (TransientAdapterError, PermanentAdapterError) as exc:
                    log.warning("GHL search failed (%s); listing through GET /contacts/", exc)
                else:
                    return [(_added_ms(i), str(i["id"])) for i in items if i.get("id")]
            return self._list_positions(after, limit)

        return fetch

    def _list_positions(self, after: Position | None, limit: int) -> list[Position]:
        """Up to ``limit`` positions from the list (100 a page) after ``after``."""
        out: list[Position] = []
        while len(out) < limit:
            self._next_page()
            page, after = self._list_page(after, min(LIST_LIMIT, limit - len(out)))
            out += [(_added_ms(i), str(i["id"])) for i in page if i.get("id")]
            if after is None:
                return out
        return out

    def _read_children(
        self, entity: Entity, contact_id: str, problems: list[MalformedRecord]
    ) -> list[Record]:
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

    def _created_contact(self, item: Mapping[str, Any], defs: CustomFieldDefs) -> Record:
        record = mapping.contact_from_ghl(item, defs)
        self._added[record.id] = _added_ms(item) or self._now_ms()
        if self._order is not None:  # so "every contact covered" stays true to its word
            bisect.insort(self._order, (self._added[record.id], record.id))
        return record

    def _lookup_contact(self, record: Record) -> Record | None:
        """The contact a create whose outcome is unknown may have made.

        GHL's duplicate look-up finds a contact by email or phone, but cannot say who
        made it. One that holds what we sent is taken as ours; one that differs was
        there before (or was edited since), so it is reported as the duplicate it is,
        and the engine links and merges it instead of taking GHL's values for ours."""
        for key in match_keys(record, self.default_region):
            if key.startswith(("email:", "phone:")):
                found = self.find_by_key("contact", key)
                if found:
                    if _holds(found[0], record.fields, self.default_region):
                        return found[0]
                    raise DuplicateOnSide(
                        f"GHL already has contact {found[0].id} with {key.partition(':')[0]} "
                        "of this record, with other values: linked, not created",
                        existing_id=found[0].id,
                        record_id=record.id or None,
                    )
        return None

    def _lookup_child(self, record: Record, contact_id: str) -> Record | None:
        wanted = self._caps().takes(record.entity, record.fields)
        for existing in self._read_children(record.entity, contact_id, []):
            if all(existing.fields.get(k) == v for k, v in wanted.items()):
                return existing
        return None

    def _update_contact(self, record_id: str, changes: Sequence[FieldChange]) -> Record:
        defs = self._custom_defs()
        plan = mapping.contact_update(changes, defs, self.default_region)
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


__all__ = ["GhlAdapter", "Upserted"]


@dataclass(frozen=True)
class _ReadSettings:
    """A side's settings as values, once read (the secrets are read apart)."""

    location_id: str
    auth: str
    request_budget: int | None
    write_concurrency: int
    reader: Reader
    timeout: float
    overlap_seconds: float
    calendar_id: str | None


def _read_settings(settings: Mapping[str, Any], problems: list[str]) -> _ReadSettings:
    """The settings as values; each one that is wrong adds a problem (and reads as its
    default), so every problem is named in one pass."""
    location_id = settings.get("location_id")
    if not isinstance(location_id, str) or not location_id:
        problems.append("ghl: set location_id to the sub-account (location) id")
    auth = settings.get("auth", "token")
    if auth not in ("token", "oauth"):
        problems.append(f"ghl: auth must be 'token' or 'oauth', not {auth!r}")
    budget = settings.get("request_budget")
    if budget is not None and (
        not isinstance(budget, int) or isinstance(budget, bool) or budget < 0
    ):
        problems.append("ghl: request_budget must be a whole number >= 0")
    concurrency = settings.get("write_concurrency", WRITE_CONCURRENCY)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        problems.append(
            f"ghl: write_concurrency must be a whole number >= 1 (default "
            f"{WRITE_CONCURRENCY}), not {concurrency!r}"
        )
    reader = settings.get("reader", "search")
    if reader not in READERS:
        problems.append(
            f"ghl: reader must be 'search' or 'list' (the deprecated GET /contacts/), "
            f"not {reader!r}"
        )
    timeout = _seconds(problems, settings, "timeout", 30.0, zero=False)
    overlap = _seconds(problems, settings, "overlap_seconds", OVERLAP_SECONDS, zero=True)
    calendar_id = settings.get("calendar_id")
    if calendar_id is not None and not isinstance(calendar_id, str):
        problems.append("ghl: calendar_id must be a string (the GHL calendar's id)")
    return _ReadSettings(
        location_id if isinstance(location_id, str) else "",
        str(auth),
        budget if isinstance(budget, int) and not isinstance(budget, bool) else None,
        concurrency if isinstance(concurrency, int) and not isinstance(concurrency, bool) else 1,
        reader if reader in READERS else "search",
        timeout,
        overlap,
        calendar_id if isinstance(calendar_id, str) else None,
    )


def _seconds(
    problems: list[str], settings: Mapping[str, Any], name: str, default: float, *, zero: bool
) -> float:
    """A duration setting in seconds (0 allowed only where ``zero``), else a problem."""
    value = settings.get(name, default)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and (value > 0 or (zero and value == 0)):
        return float(value)
    least = ">= 0" if zero else "> 0"
    problems.append(f"ghl: {name} must be a number of seconds {least} (default {default:g})")
    return default


class _Secrets:
    """Resolves secret settings, collecting each failure as a problem instead of raising
    the first, so a config with two broken secrets is fixed in one pass."""

    def __init__(self, context: AdapterContext, problems: list[str]) -> None:
        self._resolve = context.secrets
        self._problems = problems

    def __call__(self, reference: object, setting: str) -> str:
        if self._resolve is None:
            return ""
        try:
            return self._resolve(str(reference or ""), setting=setting)
        except SecretError as exc:
            self._problems.append(str(exc))
            return ""

    def maybe(self, value: object, setting: str) -> str:
        """A client id is no secret: take it as written, or resolve it if it is a reference."""
        text = str(value or "")
        if text.startswith(("env:", "keyring:")):
            return self(text, setting)
        if not text:
            self._problems.append(f'ghl: set {setting} for auth = "oauth"')
        return text


def _never() -> bool:
    return False
