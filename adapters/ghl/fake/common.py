"""Helpers every fake route uses: who is calling, for which location, with what body.

Validation imitates the real server's NestJS DTOs with ``forbidNonWhitelisted``: an
unknown property is a 422 ``property X should not exist``, which is how GHL refuses
``locationId``/``companyName``/``gender`` on a contact update (research notes §3a).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from starlette.requests import Request

from adapters.ghl.fake.errors import ApiError, not_found, unprocessable
from adapters.ghl.fake.state import FakeGhlState, Location, Token, iso_ms

SCOPE_MESSAGE = "The token is not authorized for this scope."
LOCATION_MESSAGE = "The token does not have access to this location."
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOB_FORMATS = (
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%m-%d-%Y",
    "%Y.%m.%d",
    "%m.%d.%Y",
    "%Y_%m_%d",
    "%m_%d_%Y",
)


def fake_state(request: Request) -> FakeGhlState:
    state: FakeGhlState = request.app.state.ghl
    return state


def authorize(request: Request, scope: str) -> tuple[FakeGhlState, Location]:
    """The caller's location, after the scope check (scope before location, as GHL does)."""
    st = fake_state(request)
    token: Token | None = request.scope.get("ghl.token")
    if token is None:  # pragma: no cover - the gate answers 401 first
        raise ApiError(401, "Invalid token: access token is invalid")
    if scope not in token.scopes:
        raise ApiError(401, SCOPE_MESSAGE)
    loc = st.locations.get(token.location_id)
    if loc is None:
        raise ApiError(403, LOCATION_MESSAGE)
    return st, loc


def same_location(loc: Location, location_id: object) -> None:
    if location_id != loc.id:
        raise ApiError(403, LOCATION_MESSAGE)


def contact_in(loc: Location, contact_id: str) -> dict[str, Any]:
    contact = loc.contacts.get(contact_id)
    if contact is None:
        raise not_found("Contact", contact_id)
    return contact


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Unexpected token in JSON at position {exc}") from exc
    if not isinstance(body, dict):
        raise unprocessable("body must be an object")
    return body


def forbid_unknown(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    extra = [f"property {k} should not exist" for k in body if k not in allowed_set]
    if extra:
        raise unprocessable(*extra)


def require(body: Mapping[str, Any], *names: str) -> None:
    missing = [f"{n} should not be empty" for n in names if body.get(n) in (None, "")]
    if missing:
        raise unprocessable(*missing)


def check_strings(body: Mapping[str, Any], names: Iterable[str]) -> None:
    bad = [
        f"{n} must be a string"
        for n in names
        if n in body and body[n] is not None and not isinstance(body[n], str)
    ]
    if bad:
        raise unprocessable(*bad)


def normalize_email(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise unprocessable("email must be an email")
    return value


def normalize_phone(value: Any) -> str | None:
    """GHL stores phones in E.164; a number it cannot read is a 422."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise unprocessable("phone must be a string")
    try:
        parsed = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException as exc:
        raise unprocessable("phone must be a valid phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise unprocessable("phone must be a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def normalize_dob(value: Any) -> str | None:
    """Accept the eight documented formats; store as GHL returns it (ISO, midnight UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        for fmt in _DOB_FORMATS:
            try:
                day = datetime.strptime(value, fmt).date()
            except ValueError:
                continue
            return iso_ms(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    raise unprocessable("dateOfBirth must be a valid date (e.g. YYYY-MM-DD)")


def parse_instant(value: Any, name: str, default_tz: str = "UTC") -> datetime:
    """An ISO-8601 instant; a naive one is read in ``default_tz``."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        raise unprocessable(f"{name} must be a valid ISO 8601 date string")
    text = value.strip().replace("Z", "+00:00").replace(" ", "T")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise unprocessable(f"{name} must be a valid ISO 8601 date string") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(default_tz))
    return parsed


def epoch_ms(value: str) -> int:
    return int(parse_instant(value, "date").timestamp() * 1000)
