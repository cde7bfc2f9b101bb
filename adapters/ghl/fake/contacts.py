"""Contact routes of the fake: CRUD, upsert, duplicate lookup, tags, list and business.

Behaviour follows ``spec/contacts.json`` plus the observed facts in the research notes:
create is 201 ``{contact}``; update is ``{succeded, contact}`` and refuses
``locationId``/``companyName``/``gender``; ``tags`` on update or upsert replaces every
tag; a location that disallows duplicates answers a colliding create with 400 and
``meta.contactId``; unknown ids are 400, not 404. Every write bumps ``dateUpdated``
and queues the contact for the (lagging) search index.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.ghl.fake.common import (
    authorize,
    check_strings,
    contact_in,
    epoch_ms,
    forbid_unknown,
    json_body,
    normalize_dob,
    normalize_email,
    normalize_phone,
    same_location,
)
from adapters.ghl.fake.errors import ApiError, unprocessable
from adapters.ghl.fake.state import FakeGhlState, Location

READ, WRITE = "contacts.readonly", "contacts.write"
STRING_FIELDS = (
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "source",
    "country",
    "companyName",
    "assignedTo",
    "gender",
)
CREATE_FIELDS = frozenset(
    {
        *STRING_FIELDS,
        "locationId",
        "dnd",
        "dndSettings",
        "inboundDndSettings",
        "tags",
        "customFields",
        "dateOfBirth",
    }
)
UPDATE_FIELDS = CREATE_FIELDS - {"locationId", "companyName", "gender"}
UPSERT_FIELDS = CREATE_FIELDS | {"createNewIfDuplicateAllowed"}
DUPLICATE_MESSAGE = "This location does not allow duplicated contacts."


def render(contact: dict[str, Any]) -> dict[str, Any]:
    """A stored contact as GET returns it: absent fields left out, derived ones added."""
    out = {k: v for k, v in contact.items() if v is not None and not k.startswith("_")}
    first, last = contact.get("firstName"), contact.get("lastName")
    full = " ".join(p for p in (first, last) if p)
    if full:
        out["name"] = contact.get("name") or full
        out["fullNameLowerCase"] = full.lower()
    if first:
        out["firstNameLowerCase"] = first.lower()
    if last:
        out["lastNameLowerCase"] = last.lower()
    if contact.get("email"):
        out["emailLowerCase"] = contact["email"].lower()
    out.setdefault("tags", [])
    out.setdefault("customFields", [])
    return out


def _custom_fields(
    loc: Location, current: list[dict[str, Any]], writes: Any
) -> list[dict[str, Any]]:
    if not isinstance(writes, list):
        raise unprocessable("customFields must be an array")
    values = {c["id"]: c["value"] for c in current}
    by_key = {d["fieldKey"]: d["id"] for d in loc.custom_fields.values()}
    for i, item in enumerate(writes):
        if not isinstance(item, dict):
            raise unprocessable(f"customFields.{i} must be an object")
        forbid_unknown(item, ("id", "key", "field_value"))
        field_id = item.get("id")
        if field_id is None and isinstance(item.get("key"), str):
            key = item["key"]
            field_id = by_key.get(key if key.startswith("contact.") else f"contact.{key}")
        if field_id not in loc.custom_fields:
            raise unprocessable(f"customFields.{i}: no custom field {field_id!r} in location")
        value = item.get("field_value")
        if value in (None, "", []):
            values.pop(field_id, None)
        else:
            values[field_id] = value
    return [{"id": k, "value": v} for k, v in values.items()]


def _apply(
    st: FakeGhlState,
    loc: Location,
    contact: dict[str, Any],
    body: dict[str, Any],
    *,
    replace_tags: bool,
) -> None:
    check_strings(body, STRING_FIELDS)
    for name in STRING_FIELDS:
        if name in body:
            contact[name] = body[name] or None
    if "email" in body:
        contact["email"] = normalize_email(body["email"])
    if "phone" in body:
        contact["phone"] = normalize_phone(body["phone"])
    if "dateOfBirth" in body:
        contact["dateOfBirth"] = normalize_dob(body["dateOfBirth"])
    if "dnd" in body:
        contact["dnd"] = bool(body["dnd"])
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise unprocessable("each value in tags must be a string")
        cleaned = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        contact["tags"] = cleaned if replace_tags else _merge_tags(contact["tags"], cleaned)
    if "customFields" in body:
        contact["customFields"] = _custom_fields(loc, contact["customFields"], body["customFields"])
    contact["dateUpdated"] = st.now_iso()


def _merge_tags(current: list[str], added: list[str]) -> list[str]:
    return list(dict.fromkeys([*current, *added]))


def find_duplicate(
    loc: Location, email: str | None, phone: str | None, *, exclude: str | None = None
) -> tuple[dict[str, Any], str] | None:
    """The contact the location's dedupe rule matches: email first, then phone."""
    for field, value in (("email", email), ("phone", phone)):
        if not value:
            continue
        for c in loc.contacts.values():
            if c["id"] != exclude and c.get(field) and c[field].lower() == value.lower():
                return c, field
    return None


def _refuse_duplicate(loc: Location, contact: dict[str, Any], exclude: str | None) -> None:
    if loc.allow_duplicates:
        return
    hit = find_duplicate(loc, contact.get("email"), contact.get("phone"), exclude=exclude)
    if hit is not None:
        other, field = hit
        name = " ".join(p for p in (other.get("firstName"), other.get("lastName")) if p)
        raise ApiError(
            400,
            DUPLICATE_MESSAGE,
            meta={"contactId": other["id"], "contactName": name, "matchingField": field},
        )


def new_contact(st: FakeGhlState, loc: Location, body: dict[str, Any]) -> dict[str, Any]:
    """Create in the store (validated), as POST /contacts/ and upsert do."""
    now = st.now_iso()
    contact: dict[str, Any] = {
        "id": st.new_id(),
        "locationId": loc.id,
        "type": "lead",
        "dateAdded": now,
        "dateUpdated": now,
        "tags": [],
        "customFields": [],
        "dnd": False,
    }
    _apply(
        st, loc, contact, {k: v for k, v in body.items() if k != "locationId"}, replace_tags=True
    )
    _refuse_duplicate(loc, contact, None)
    loc.contacts[contact["id"]] = contact
    st.index_contact(loc, contact["id"])
    return contact


async def create_contact(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    body = await json_body(request)
    forbid_unknown(body, CREATE_FIELDS)
    if "locationId" not in body:
        raise unprocessable("locationId should not be empty")
    same_location(loc, body["locationId"])
    with st.lock:
        contact = new_contact(st, loc, body)
    created = render(contact)
    created.update({"deleted": False, "bounceEmail": False, "unsubscribeEmail": False})
    return JSONResponse({"contact": created}, status_code=201)


async def get_contact(request: Request) -> JSONResponse:
    _, loc = authorize(request, READ)
    return JSONResponse({"contact": render(contact_in(loc, request.path_params["contactId"]))})


async def update_contact(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    contact = contact_in(loc, request.path_params["contactId"])
    body = await json_body(request)
    forbid_unknown(body, UPDATE_FIELDS)
    with st.lock:
        draft = {
            **contact,
            "tags": list(contact["tags"]),
            "customFields": list(contact["customFields"]),
        }
        _apply(st, loc, draft, body, replace_tags=True)
        _refuse_duplicate(loc, draft, contact["id"])
        contact.clear()
        contact.update(draft)
        st.index_contact(loc, contact["id"])
    return JSONResponse({"succeded": True, "contact": render(contact)})


async def delete_contact(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    contact = contact_in(loc, request.path_params["contactId"])
    with st.lock:
        cid = contact["id"]
        del loc.contacts[cid]
        for store in (loc.notes, loc.tasks, loc.appointments):
            for rid in [r for r, v in store.items() if v.get("contactId") == cid]:
                del store[rid]
        st.index_contact(loc, cid)
    return JSONResponse({"succeded": True})


async def upsert_contact(request: Request) -> JSONResponse:
    """Update the contact the dedupe rule matches, else create; a second match is ignored."""
    st, loc = authorize(request, WRITE)
    body = await json_body(request)
    forbid_unknown(body, UPSERT_FIELDS)
    same_location(loc, body.get("locationId"))
    force_new = bool(body.pop("createNewIfDuplicateAllowed", False)) and loc.allow_duplicates
    with st.lock:
        hit = None
        if not force_new:
            hit = find_duplicate(
                loc, normalize_email(body.get("email")), normalize_phone(body.get("phone"))
            )
        if hit is None:
            contact = new_contact(st, loc, body)
            return JSONResponse({"new": True, "contact": render(contact), "traceId": st.new_id()})
        contact, field = hit
        fields = {k: v for k, v in body.items() if k not in ("locationId", "gender")}
        if field == "email":
            other = find_duplicate(
                loc, None, normalize_phone(body.get("phone")), exclude=contact["id"]
            )
            if other is not None:
                fields.pop("phone", None)  # the silently dropped second match (issue #37)
        _apply(st, loc, contact, fields, replace_tags=True)
        st.index_contact(loc, contact["id"])
    return JSONResponse({"new": False, "contact": render(contact), "traceId": st.new_id()})


async def duplicate_contact(request: Request) -> JSONResponse:
    st, loc = authorize(request, READ)
    q = request.query_params
    if "locationId" not in q:
        raise unprocessable("locationId should not be empty")
    same_location(loc, q["locationId"])
    email = q.get("email") or None
    phone = normalize_phone(q["number"]) if q.get("number") else None
    hit = find_duplicate(loc, email, phone)
    return JSONResponse({"contact": render(hit[0]) if hit else None, "traceId": st.new_id()})


async def add_tags(request: Request) -> JSONResponse:
    return await _tags(request, add=True)


async def remove_tags(request: Request) -> JSONResponse:
    return await _tags(request, add=False)


async def _tags(request: Request, *, add: bool) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    contact = contact_in(loc, request.path_params["contactId"])
    body = await json_body(request)
    forbid_unknown(body, ("tags",))
    tags = body.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise unprocessable("tags must be an array of strings")
    with st.lock:
        if add:
            contact["tags"] = _merge_tags(contact["tags"], [t.strip() for t in tags if t.strip()])
        else:
            gone = {t.strip() for t in tags}
            contact["tags"] = [t for t in contact["tags"] if t not in gone]
        contact["dateUpdated"] = st.now_iso()
        st.index_contact(loc, contact["id"])
    return JSONResponse({"tags": list(contact["tags"])}, status_code=201 if add else 200)


def _sorted_by_added(loc: Location) -> list[dict[str, Any]]:
    return sorted(loc.contacts.values(), key=lambda c: (epoch_ms(c["dateAdded"]), c["id"]))


async def list_contacts(request: Request) -> JSONResponse:
    """The deprecated ``GET /contacts/``: ``startAfter`` (ms) + ``startAfterId`` paging."""
    _, loc = authorize(request, READ)
    q = request.query_params
    if "locationId" not in q:
        raise unprocessable("locationId should not be empty")
    same_location(loc, q["locationId"])
    try:
        limit = int(q.get("limit", "20"))
    except ValueError as exc:
        raise unprocessable("limit must be a number") from exc
    if not 1 <= limit <= 100:
        raise unprocessable("limit must not be greater than 100")
    rows = _sorted_by_added(loc)
    if q.get("query"):
        needle = q["query"].lower()
        rows = [
            c
            for c in rows
            if needle
            in " ".join(
                str(c.get(k) or "") for k in ("firstName", "lastName", "email", "phone")
            ).lower()
        ]
    if q.get("startAfter") and q.get("startAfterId"):
        mark = (int(q["startAfter"]), q["startAfterId"])
        rows = [c for c in rows if (epoch_ms(c["dateAdded"]), c["id"]) > mark]
    page = rows[:limit]
    more = len(rows) > limit
    last = page[-1] if page else None
    meta: dict[str, Any] = {
        "total": len(loc.contacts),
        "currentPage": 1,
        "nextPage": 2 if more else None,
        "prevPage": None,
        "startAfterId": last["id"] if last and more else None,
        "startAfter": epoch_ms(last["dateAdded"]) if last and more else None,
        "nextPageUrl": None,
    }
    return JSONResponse(
        {"contacts": [render(c) for c in page], "count": len(loc.contacts), "meta": meta}
    )


async def business_contacts(request: Request) -> JSONResponse:
    _, loc = authorize(request, READ)
    q = request.query_params
    if "locationId" not in q:
        raise unprocessable("locationId should not be empty")
    same_location(loc, q["locationId"])
    try:
        limit, skip = int(q.get("limit", "25")), int(q.get("skip", "0"))
    except ValueError as exc:
        raise unprocessable("limit and skip must be numeric strings") from exc
    rows = [
        c for c in _sorted_by_added(loc) if c.get("businessId") == request.path_params["businessId"]
    ]
    return JSONResponse(
        {"contacts": [render(c) for c in rows[skip : skip + limit]], "count": len(rows)}
    )


ROUTES = [
    Route("/contacts/", create_contact, methods=["POST"]),
    Route("/contacts/", list_contacts, methods=["GET"]),
    Route("/contacts/upsert", upsert_contact, methods=["POST"]),
    Route("/contacts/search/duplicate", duplicate_contact, methods=["GET"]),
    Route("/contacts/business/{businessId}", business_contacts, methods=["GET"]),
    Route("/contacts/{contactId}/tags", add_tags, methods=["POST"]),
    Route("/contacts/{contactId}/tags", remove_tags, methods=["DELETE"]),
    Route("/contacts/{contactId}", get_contact, methods=["GET"]),
    Route("/contacts/{contactId}", update_contact, methods=["PUT"]),
    Route("/contacts/{contactId}", delete_contact, methods=["DELETE"]),
]
