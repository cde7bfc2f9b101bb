"""Child routes of the fake: notes and tasks under a contact, appointments, custom fields.

Notes and tasks follow ``spec/contacts.json`` (note path parameter is literally ``id``;
creates are 201; deletes answer ``{succeded: true}``; tasks need ``title``, ``dueDate``
and ``completed``). Appointments are written through the calendars API
(``Version: 2021-04-15``, ISO times with an offset), but ``GET
/contacts/{id}/appointments`` shows times **without** an offset, in the location's
timezone, as the spec example does. Custom-field definitions come from the locations
API, the only place that maps a field id to its key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.ghl.fake.common import (
    authorize,
    check_strings,
    contact_in,
    forbid_unknown,
    json_body,
    parse_instant,
    require,
    same_location,
)
from adapters.ghl.fake.contacts import READ, WRITE
from adapters.ghl.fake.errors import ApiError, not_found, unprocessable
from adapters.ghl.fake.state import FakeGhlState, Location, iso_ms

NOTE_FIELDS = ("userId", "body", "title", "color", "pinned")
TASK_FIELDS = ("title", "body", "dueDate", "completed", "assignedTo")
CAL_READ, CAL_WRITE = "calendars/events.readonly", "calendars/events.write"
APPOINTMENT_CREATE = (
    "calendarId",
    "locationId",
    "contactId",
    "startTime",
    "endTime",
    "title",
    "appointmentStatus",
    "assignedUserId",
    "address",
    "ignoreDateRange",
    "toNotify",
)
APPOINTMENT_EDIT = (
    "calendarId",
    "startTime",
    "endTime",
    "title",
    "appointmentStatus",
    "address",
    "ignoreDateRange",
    "toNotify",
)
STATUSES = frozenset({"new", "confirmed", "cancelled", "showed", "noshow", "invalid"})


def _child(
    store: dict[str, dict[str, Any]], contact_id: str, rid: str, kind: str
) -> dict[str, Any]:
    item = store.get(rid)
    if item is None or item["contactId"] != contact_id:
        raise not_found(kind, rid)
    return item


def _visible(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None and not k.startswith("_")}


# -- notes --------------------------------------------------------------------------------
async def list_notes(request: Request) -> JSONResponse:
    _, loc = authorize(request, READ)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    notes = [_visible(n) for n in loc.notes.values() if n["contactId"] == cid]
    return JSONResponse({"notes": notes})


async def get_note(request: Request) -> JSONResponse:
    _, loc = authorize(request, READ)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    return JSONResponse(
        {"note": _visible(_child(loc.notes, cid, request.path_params["id"], "Note"))}
    )


async def create_note(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    body = await json_body(request)
    forbid_unknown(body, NOTE_FIELDS)
    require(body, "body")
    check_strings(body, ("userId", "body", "title", "color"))
    with st.lock:
        note = {"id": st.new_id(), "contactId": cid, "dateAdded": st.now_iso(), **body}
        loc.notes[note["id"]] = note
    return JSONResponse({"note": _visible(note)}, status_code=201)


async def update_note(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    note = _child(loc.notes, cid, request.path_params["id"], "Note")
    body = await json_body(request)
    forbid_unknown(body, NOTE_FIELDS)
    check_strings(body, ("userId", "body", "title", "color"))
    with st.lock:
        note.update(body)
    return JSONResponse({"note": _visible(note)})


async def delete_note(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    note = _child(loc.notes, cid, request.path_params["id"], "Note")
    with st.lock:
        del loc.notes[note["id"]]
    return JSONResponse({"succeded": True})


# -- tasks --------------------------------------------------------------------------------
def _task_fields(body: dict[str, Any]) -> dict[str, Any]:
    check_strings(body, ("title", "body", "assignedTo", "dueDate"))
    if "completed" in body and not isinstance(body["completed"], bool):
        raise unprocessable("completed must be a boolean value")
    out = dict(body)
    if "dueDate" in body:
        out["dueDate"] = iso_ms(parse_instant(body["dueDate"], "dueDate").timestamp())
    return out


async def list_tasks(request: Request) -> JSONResponse:
    _, loc = authorize(request, READ)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    return JSONResponse(
        {"tasks": [_visible(t) for t in loc.tasks.values() if t["contactId"] == cid]}
    )


async def get_task(request: Request) -> JSONResponse:
    _, loc = authorize(request, READ)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    return JSONResponse(
        {"task": _visible(_child(loc.tasks, cid, request.path_params["taskId"], "Task"))}
    )


async def create_task(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    body = await json_body(request)
    forbid_unknown(body, TASK_FIELDS)
    require(body, "title", "dueDate")
    if "completed" not in body:
        raise unprocessable("completed must be a boolean value")
    fields = _task_fields(body)
    with st.lock:
        task = {"id": st.new_id(), "contactId": cid, **fields}
        loc.tasks[task["id"]] = task
    return JSONResponse({"task": _visible(task)}, status_code=201)


async def update_task(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    task = _child(loc.tasks, cid, request.path_params["taskId"], "Task")
    body = await json_body(request)
    forbid_unknown(body, TASK_FIELDS)
    fields = _task_fields(body)
    with st.lock:
        task.update(fields)
    return JSONResponse({"task": _visible(task)})


async def complete_task(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    task = _child(loc.tasks, cid, request.path_params["taskId"], "Task")
    body = await json_body(request)
    forbid_unknown(body, ("completed",))
    if not isinstance(body.get("completed"), bool):
        raise unprocessable("completed must be a boolean value")
    with st.lock:
        task["completed"] = body["completed"]
    return JSONResponse({"task": _visible(task)})


async def delete_task(request: Request) -> JSONResponse:
    st, loc = authorize(request, WRITE)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    task = _child(loc.tasks, cid, request.path_params["taskId"], "Task")
    with st.lock:
        del loc.tasks[task["id"]]
    return JSONResponse({"succeded": True})


# -- appointments -------------------------------------------------------------------------
def _local(loc: Location, epoch: float, *, offset: bool) -> str:
    moment = datetime.fromtimestamp(epoch, ZoneInfo(loc.timezone))
    return moment.isoformat(timespec="seconds") if offset else moment.strftime("%Y-%m-%d %H:%M:%S")


def render_appointment(loc: Location, appt: dict[str, Any], *, offset: bool) -> dict[str, Any]:
    out = _visible(appt)
    out["startTime"] = _local(loc, appt["_start"], offset=offset)
    out["endTime"] = _local(loc, appt["_end"], offset=offset)
    out["status"] = appt.get("appointmentStatus")
    return out


async def contact_appointments(request: Request) -> JSONResponse:
    _, loc = authorize(request, READ)
    cid = contact_in(loc, request.path_params["contactId"])["id"]
    events = [
        render_appointment(loc, a, offset=False)
        for a in loc.appointments.values()
        if a["contactId"] == cid
    ]
    return JSONResponse({"events": events})


def _appointment_times(loc: Location, body: dict[str, Any], appt: dict[str, Any]) -> None:
    if "startTime" in body:
        appt["_start"] = parse_instant(body["startTime"], "startTime", loc.timezone).timestamp()
    if "endTime" in body:
        appt["_end"] = parse_instant(body["endTime"], "endTime", loc.timezone).timestamp()
    appt.setdefault("_end", appt["_start"] + 1800)
    if appt["_end"] < appt["_start"]:
        raise unprocessable("endTime must be after startTime")


def _appointment_fields(
    st: FakeGhlState, loc: Location, body: dict[str, Any], appt: dict[str, Any]
) -> None:
    check_strings(body, ("calendarId", "title", "appointmentStatus", "address", "assignedUserId"))
    if "calendarId" in body and body["calendarId"] not in loc.calendars:
        raise ApiError(400, f"Calendar with id {body['calendarId']} not found")
    if "appointmentStatus" in body and body["appointmentStatus"] not in STATUSES:
        raise unprocessable(f"appointmentStatus must be one of {', '.join(sorted(STATUSES))}")
    _appointment_times(loc, body, appt)
    for key in ("calendarId", "title", "appointmentStatus", "address", "assignedUserId"):
        if key in body:
            appt[key] = body[key] or None
    appt["dateUpdated"] = st.now_iso()


def _appointment(loc: Location, event_id: str) -> dict[str, Any]:
    appt = loc.appointments.get(event_id)
    if appt is None:
        raise ApiError(400, f"Appointment with id {event_id} not found")
    return appt


async def get_appointment(request: Request) -> JSONResponse:
    _, loc = authorize(request, CAL_READ)
    appt = _appointment(loc, request.path_params["eventId"])
    return JSONResponse({"event": render_appointment(loc, appt, offset=True)})


async def create_appointment(request: Request) -> JSONResponse:
    st, loc = authorize(request, CAL_WRITE)
    body = await json_body(request)
    forbid_unknown(body, APPOINTMENT_CREATE)
    require(body, "calendarId", "locationId", "contactId", "startTime")
    same_location(loc, body["locationId"])
    contact_in(loc, body["contactId"])
    with st.lock:
        appt: dict[str, Any] = {
            "id": st.new_id(),
            "locationId": loc.id,
            "contactId": body["contactId"],
            "appointmentStatus": "new",
            "dateAdded": st.now_iso(),
        }
        _appointment_fields(st, loc, body, appt)
        loc.appointments[appt["id"]] = appt
    out = render_appointment(loc, appt, offset=True)
    for gone in ("dateAdded", "dateUpdated", "status"):  # absent on writes (issue #246)
        out.pop(gone, None)
    return JSONResponse(out, status_code=201)


async def update_appointment(request: Request) -> JSONResponse:
    st, loc = authorize(request, CAL_WRITE)
    appt = _appointment(loc, request.path_params["eventId"])
    body = await json_body(request)
    forbid_unknown(body, APPOINTMENT_EDIT)
    with st.lock:
        draft = dict(appt)
        _appointment_fields(st, loc, body, draft)
        appt.update(draft)
    out = render_appointment(loc, appt, offset=True)
    for gone in ("dateAdded", "dateUpdated", "status"):
        out.pop(gone, None)
    return JSONResponse(out)


async def delete_event(request: Request) -> JSONResponse:
    st, loc = authorize(request, CAL_WRITE)
    appt = _appointment(loc, request.path_params["eventId"])
    with st.lock:
        del loc.appointments[appt["id"]]
    return JSONResponse({"succeded": True})


# -- custom field definitions -------------------------------------------------------------
async def custom_fields(request: Request) -> JSONResponse:
    _, loc = authorize(request, "locations/customFields.readonly")
    same_location(loc, request.path_params["locationId"])
    model = request.query_params.get("model", "all")
    fields = [f for f in loc.custom_fields.values() if model in ("all", f["model"])]
    return JSONResponse({"customFields": fields})


ROUTES = [
    Route("/contacts/{contactId}/notes", list_notes, methods=["GET"]),
    Route("/contacts/{contactId}/notes", create_note, methods=["POST"]),
    Route("/contacts/{contactId}/notes/{id}", get_note, methods=["GET"]),
    Route("/contacts/{contactId}/notes/{id}", update_note, methods=["PUT"]),
    Route("/contacts/{contactId}/notes/{id}", delete_note, methods=["DELETE"]),
    Route("/contacts/{contactId}/tasks", list_tasks, methods=["GET"]),
    Route("/contacts/{contactId}/tasks", create_task, methods=["POST"]),
    Route("/contacts/{contactId}/tasks/{taskId}", get_task, methods=["GET"]),
    Route("/contacts/{contactId}/tasks/{taskId}", update_task, methods=["PUT"]),
    Route("/contacts/{contactId}/tasks/{taskId}", delete_task, methods=["DELETE"]),
    Route("/contacts/{contactId}/tasks/{taskId}/completed", complete_task, methods=["PUT"]),
    Route("/contacts/{contactId}/appointments", contact_appointments, methods=["GET"]),
    Route("/calendars/events/appointments", create_appointment, methods=["POST"]),
    Route("/calendars/events/appointments/{eventId}", get_appointment, methods=["GET"]),
    Route("/calendars/events/appointments/{eventId}", update_appointment, methods=["PUT"]),
    Route("/calendars/events/{eventId}", delete_event, methods=["DELETE"]),
    Route("/locations/{locationId}/customFields", custom_fields, methods=["GET"]),
]
