"""The fake GHL server's in-memory world: locations, records, tokens, limits and faults.

Everything a test may want to change at runtime is a plain attribute here (the
duplicate rule, search lag, rate limits, fault shares), so a test flips a knob between
two requests instead of restarting the server. The clock is injectable: tests that
must not wait pass a ``VirtualClock`` shared with the client, so a 10-second rate
window passes in no real time. Search results lag writes: each contact keeps the
versions the search index will show and from when (``search_lag_seconds``).
"""

from __future__ import annotations

import random
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ALL_SCOPES: frozenset[str] = frozenset(
    {
        "contacts.readonly",
        "contacts.write",
        "locations/customFields.readonly",
        "calendars/events.readonly",
        "calendars/events.write",
    }
)


class VirtualClock:
    """A clock that only moves when slept on: share it between fake and client in tests."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)


def iso_ms(epoch: float) -> str:
    """GHL's timestamp form: ISO-8601 UTC with milliseconds and ``Z``."""
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Faults:
    """Failures to inject, switchable at runtime. Shares are drawn from a seeded RNG."""

    error_share: float = 0.0
    """Share of requests answered 500/502/503 before they are handled."""
    error_next: int = 0
    """The next N requests are answered 503."""
    burst_429: int = 0
    """The next N requests are answered 429 regardless of the real budget."""
    latency: float = 0.0
    """Seconds added to every response."""
    latency_next: tuple[int, float] = (0, 0.0)
    """(N, seconds): the next N requests are delayed by that many seconds."""
    drop_share: float = 0.0
    """Share of requests whose connection drops mid-response (nothing is handled)."""
    drop_next: int = 0
    lost_response_share: float = 0.0
    """Share of writes (POST/PUT/DELETE but search) that are applied, and whose
    connection then drops before the response: the client cannot tell it landed."""
    lost_response_next: int = 0
    """The next N writes are applied and lose their response."""


@dataclass
class Token:
    location_id: str
    scopes: frozenset[str]
    expires_at: float | None = None
    """None for a Private Integration Token (no expiry)."""


@dataclass
class Grant:
    """What an authorization code or refresh token stands for."""

    client_id: str
    location_id: str
    scopes: frozenset[str]


@dataclass
class Location:
    id: str
    allow_duplicates: bool = False
    active: bool = True
    timezone: str = "UTC"
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    appointments: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    calendars: set[str] = field(default_factory=set)
    search_versions: dict[str, list[tuple[float, dict[str, Any] | None]]] = field(
        default_factory=dict
    )
    """Per contact: (visible from, version or None for deleted) as search will see it."""


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    """What the server answered; 0 when the connection dropped before it handled it."""
    location_id: str | None
    lost: bool = False
    """Handled (with ``status``), but the response never reached the client."""


def is_write(method: str, path: str) -> bool:
    """Whether a request could change data: everything but GET and search (and tokens)."""
    return method != "GET" and not path.startswith("/contacts/search") and path != "/oauth/token"


class FakeGhlState:
    """The whole fake world. Mutate it from tests; the app reads it on every request."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        seed: int = 7,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.clock: Callable[[], float] = clock or time.time
        self.sleep_hook = sleep
        """If set, latency faults call this (a virtual clock's sleep) instead of waiting."""
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.locations: dict[str, Location] = {}
        self.tokens: dict[str, Token] = {}
        self.clients: dict[str, str] = {}
        self.codes: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.used_refresh_tokens: set[str] = set()
        self.access_ttl: float = 86_399.0
        self.search_lag_seconds: float = 0.0
        self.rate_max: int = 100
        self.rate_interval: float = 10.0
        self.daily_limit: int = 200_000
        self.faults = Faults()
        self.requests: list[LoggedRequest] = []
        self._windows: dict[str, deque[float]] = {}
        self._daily: dict[str, tuple[int, int]] = {}

    # -- setup helpers for tests ---------------------------------------------------------
    def new_id(self) -> str:
        """A 20-character id shaped like GHL's."""
        alphabet = string.ascii_letters + string.digits
        return "".join(self.rng.choice(alphabet) for _ in range(20))

    def add_location(
        self, location_id: str | None = None, *, allow_duplicates: bool = False
    ) -> Location:
        loc = Location(id=location_id or self.new_id(), allow_duplicates=allow_duplicates)
        self.locations[loc.id] = loc
        return loc

    def issue_token(
        self,
        location_id: str,
        *,
        scopes: frozenset[str] | set[str] = ALL_SCOPES,
        ttl: float | None = None,
        token: str | None = None,
    ) -> str:
        """A location token; ``ttl=None`` makes a Private Integration Token (no expiry)."""
        value = token or f"pit-{self.new_id()}"
        expires = None if ttl is None else self.clock() + ttl
        self.tokens[value] = Token(location_id, frozenset(scopes), expires)
        return value

    def register_client(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def issue_code(
        self, client_id: str, location_id: str, scopes: frozenset[str] = ALL_SCOPES
    ) -> str:
        """What the chooselocation page would redirect back with."""
        code = f"code-{self.new_id()}"
        self.codes[code] = Grant(client_id, location_id, frozenset(scopes))
        return code

    def add_custom_field(
        self, location_id: str, key: str, *, name: str | None = None, data_type: str = "TEXT"
    ) -> str:
        field_id = self.new_id()
        self.locations[location_id].custom_fields[field_id] = {
            "id": field_id,
            "name": name or key.replace("_", " ").title(),
            "fieldKey": f"contact.{key}",
            "dataType": data_type,
            "model": "contact",
            "locationId": location_id,
            "position": len(self.locations[location_id].custom_fields),
        }
        return field_id

    def add_calendar(self, location_id: str, calendar_id: str | None = None) -> str:
        cal = calendar_id or self.new_id()
        self.locations[location_id].calendars.add(cal)
        return cal

    # -- bookkeeping the app uses ----------------------------------------------------------
    def now_iso(self) -> str:
        return iso_ms(self.clock())

    def index_contact(self, loc: Location, contact_id: str) -> None:
        """Queue the current version of a contact for search, visible after the lag."""
        doc = loc.contacts.get(contact_id)
        versions = loc.search_versions.setdefault(contact_id, [])
        versions.append((self.clock() + self.search_lag_seconds, dict(doc) if doc else None))

    def settle_search(self) -> None:
        """Let the search index catch up now with every write so far, whatever the lag:
        a test decides when search has caught up instead of sleeping through the lag."""
        now = self.clock()
        with self.lock:
            for loc in self.locations.values():
                for versions in loc.search_versions.values():
                    versions[:] = [(min(at, now), doc) for at, doc in versions]

    def searchable(self, loc: Location) -> list[dict[str, Any]]:
        """Contacts as the (eventually consistent) search index sees them now."""
        now = self.clock()
        out: list[dict[str, Any]] = []
        for versions in loc.search_versions.values():
            visible = [doc for at, doc in versions if at <= now]
            if visible and visible[-1] is not None:
                out.append(visible[-1])
        return out

    def take_budget(self, location_id: str) -> tuple[bool, int, int]:
        """Count one request against the location's burst and daily buckets.

        Returns (allowed, burst remaining, daily remaining). A sliding log: a request
        counts for exactly ``rate_interval`` seconds after it arrived.
        """
        now = self.clock()
        window = self._windows.setdefault(location_id, deque())
        while window and window[0] <= now - self.rate_interval:
            window.popleft()
        day = int(now // 86_400)
        seen_day, used = self._daily.get(location_id, (day, 0))
        if seen_day != day:
            used = 0
        if len(window) >= self.rate_max or used >= self.daily_limit:
            return False, 0, max(0, self.daily_limit - used)
        window.append(now)
        used += 1
        self._daily[location_id] = (day, used)
        return True, self.rate_max - len(window), self.daily_limit - used

    def budget_left(self, location_id: str | None) -> tuple[int, int]:
        if location_id is None:
            return self.rate_max, self.daily_limit
        now = self.clock()
        window = self._windows.get(location_id, deque())
        live = sum(1 for t in window if t > now - self.rate_interval)
        _, used = self._daily.get(location_id, (0, 0))
        return max(0, self.rate_max - live), max(0, self.daily_limit - used)

    def writes(self) -> list[LoggedRequest]:
        """Logged requests that could change data (everything but GET and search)."""
        return [r for r in self.requests if is_write(r.method, r.path)]
