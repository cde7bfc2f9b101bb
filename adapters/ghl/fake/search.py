"""``POST /contacts/search``: filters, sort, ``page`` paging and ``searchAfter`` cursors.

The spec leaves the body empty; this follows HighLevel's search doc as summarised in
the research notes §3b: ``locationId`` and ``pageLimit`` are required (422 otherwise),
``pageLimit`` <= 500, ``page`` paging stops at 10,000 records, every returned contact
carries its own ``searchAfter`` ([sort value, id]) and the next page is asked for with
the last one's. Results come from the lagging index (``FakeGhlState.searchable``), and
omit ``dndSettings`` as the real search does (issue #43).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.ghl.fake.common import (
    authorize,
    epoch_ms,
    forbid_unknown,
    json_body,
    same_location,
)
from adapters.ghl.fake.contacts import READ, render
from adapters.ghl.fake.errors import ApiError, unprocessable

MAX_PAGE_LIMIT = 500
MAX_PAGED_RECORDS = 10_000
DATE_FIELDS = frozenset({"dateUpdated", "dateAdded"})
TEXT_FIELDS = frozenset(
    {
        "id",
        "email",
        "phone",
        "firstNameLowerCase",
        "lastNameLowerCase",
        "fullNameLowerCase",
        "companyName",
        "source",
        "country",
        "city",
        "state",
        "postalCode",
        "businessId",
        "assignedTo",
        "type",
        "timezone",
        "website",
        "address1",
    }
)
SORT_FIELDS = DATE_FIELDS | {"firstNameLowerCase", "lastNameLowerCase", "email"}
OPERATORS = frozenset({"eq", "not_eq", "contains", "not_contains", "exists", "not_exists", "range"})


def _value(contact: dict[str, Any], field: str) -> Any:
    if field in DATE_FIELDS:
        return epoch_ms(contact[field])
    if field == "tags":
        return contact.get("tags", [])
    return contact.get(field)


def _range(value: Any, bounds: Any, field: str) -> bool:
    if not isinstance(bounds, dict) or not bounds:
        raise unprocessable(f"range filter on {field} needs gte, gt, lte or lt")
    for op, raw in bounds.items():
        limit = raw
        if field in DATE_FIELDS:
            limit = epoch_ms(raw) if isinstance(raw, str) else int(raw)
        if value is None:
            return False
        if op == "gte" and not value >= limit:
            return False
        if op == "gt" and not value > limit:
            return False
        if op == "lte" and not value <= limit:
            return False
        if op == "lt" and not value < limit:
            return False
        if op not in ("gte", "gt", "lte", "lt"):
            raise unprocessable(f"unknown range operator {op}")
    return True


def _matches(contact: dict[str, Any], flt: Any) -> bool:
    if not isinstance(flt, dict):
        raise unprocessable("each filter must be an object")
    if "group" in flt:
        results = [_matches(contact, f) for f in flt.get("filters", [])]
        return any(results) if flt["group"] == "OR" else all(results)
    field, op, expected = flt.get("field"), flt.get("operator"), flt.get("value")
    if field not in DATE_FIELDS | TEXT_FIELDS | {"tags"}:
        raise ApiError(400, f"Invalid field {field}")
    if op not in OPERATORS:
        raise unprocessable(f"operator must be one of {', '.join(sorted(OPERATORS))}")
    value = _value(contact, str(field))
    if op == "exists":
        return value not in (None, "", [])
    if op == "not_exists":
        return value in (None, "", [])
    if op == "range":
        return _range(value, expected, str(field))
    if isinstance(expected, str) and len(expected) > 75:
        raise unprocessable("filter values must be shorter than or equal to 75 characters")
    if field == "tags":
        hit = (
            expected in value
            if op in ("eq", "not_eq")
            else any(str(expected).lower() in t.lower() for t in value)
        )
    elif op in ("eq", "not_eq"):
        hit = isinstance(value, str) and value.lower() == str(expected).lower()
    else:
        hit = isinstance(value, str) and str(expected).lower() in value.lower()
    return hit if op in ("eq", "contains") else not hit


def _sort_key(field: str, contact: dict[str, Any]) -> tuple[Any, str]:
    value = _value(contact, field)
    return (value if value is not None else "", contact["id"])


async def search_contacts(request: Request) -> JSONResponse:
    st, loc = authorize(request, READ)
    body = await json_body(request)
    forbid_unknown(
        body, ("locationId", "pageLimit", "page", "searchAfter", "filters", "sort", "query")
    )
    problems = []
    if not body.get("locationId"):
        problems.append("locationId should not be empty")
    limit = body.get("pageLimit")
    if not isinstance(limit, int) or isinstance(limit, bool):
        problems.append("pageLimit must be a number conforming to the specified constraints")
    elif not 1 <= limit <= MAX_PAGE_LIMIT:
        problems.append(f"pageLimit must not be greater than {MAX_PAGE_LIMIT}")
    if "page" in body and "searchAfter" in body:
        problems.append("page and searchAfter cannot be used together")
    if problems:
        raise unprocessable(*problems)
    assert isinstance(limit, int)
    same_location(loc, body["locationId"])
    sort = body.get("sort") or [{"field": "dateAdded", "direction": "desc"}]
    if not isinstance(sort, list) or len(sort) != 1 or sort[0].get("field") not in SORT_FIELDS:
        raise unprocessable(f"sort must be one entry on one of {', '.join(sorted(SORT_FIELDS))}")
    sort_field, descending = sort[0]["field"], sort[0].get("direction") == "desc"
    with st.lock:
        rows = st.searchable(loc)
    filters = body.get("filters") or []
    rows = [c for c in rows if all(_matches(c, f) for f in filters)]
    if body.get("query"):
        needle = str(body["query"]).lower()
        rows = [
            c
            for c in rows
            if needle
            in " ".join(
                str(c.get(k) or "")
                for k in ("firstName", "lastName", "email", "phone", "companyName")
            ).lower()
        ]
    rows.sort(key=lambda c: _sort_key(sort_field, c), reverse=descending)
    total = len(rows)
    if "searchAfter" in body:
        after = body["searchAfter"]
        if not isinstance(after, list) or len(after) != 2:
            raise unprocessable("searchAfter must be the [sort value, id] of a returned contact")
        mark = (after[0] if after[0] is not None else "", after[1])
        rows = [
            c
            for c in rows
            if (_sort_key(sort_field, c) < mark if descending else _sort_key(sort_field, c) > mark)
        ]
        page_rows = rows[:limit]
    else:
        page = body.get("page", 1)
        if not isinstance(page, int) or page < 1:
            raise unprocessable("page must be a positive number")
        if page * limit > MAX_PAGED_RECORDS:
            raise ApiError(
                400, f"page paging is limited to {MAX_PAGED_RECORDS} records; use searchAfter"
            )
        page_rows = rows[(page - 1) * limit : page * limit]
    out = []
    for c in page_rows:
        item = render(c)
        item.pop("dndSettings", None)
        item["searchAfter"] = list(_sort_key(sort_field, c))
        out.append(item)
    return JSONResponse({"contacts": out, "total": total, "traceId": st.new_id()})


ROUTES = [Route("/contacts/search", search_contacts, methods=["POST"])]
