"""Client-side throttle for GHL's per-location limits: 100 requests / 10 s, 200k / day.

A sliding log of send times, the same algorithm the server counts with, so a client
that waits until its oldest request leaves the window is never refused for the burst.
The server counts a request when it arrives, up to a round trip after we logged it, so
a slot is reused only after the window, a small margin and the slowest recent round
trip: with several writers in flight, arrivals delayed by different amounts would
otherwise bunch into one server window and draw 429s. After each response the
``X-RateLimit-*`` headers correct the local view: the server's cap and window win, and
if the server saw more requests than we sent (another process on the same location)
the log is padded so we slow down too; after a 429 the requests we do not know of are
taken to be as recent as possible. Written here rather than with pyrate-limiter
because clock and sleep must be injectable together: tests run a virtual clock.

The daily bucket is different: waiting for it would stall a run for hours, so once
``X-RateLimit-Daily-Remaining`` reaches 0 every ``acquire`` refuses at once with
``RateLimitExhausted`` (the side is unavailable for the rest of the run), naming when the
budget resets. GHL does not document the daily window; we assume the UTC day (as the
fake counts it). If GHL counts differently, the first request after our reset is
refused with a 429 whose headers say the day is still spent, and we refuse again from
there: one wasted request, never a stall.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from syncengine.errors import RateLimitExhausted

DEFAULT_MAX = 100
DEFAULT_INTERVAL = 10.0
DAY = 86_400.0


def next_utc_midnight(epoch: float) -> float:
    """When the daily bucket observed at ``epoch`` (wall-clock seconds) is assumed to refill."""
    return (epoch // DAY + 1) * DAY


class RateLimiter:
    def __init__(
        self,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        wall: Callable[[], float] = time.time,
        max_requests: int = DEFAULT_MAX,
        interval: float = DEFAULT_INTERVAL,
        margin: float = 0.05,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        """Wall-clock seconds (the burst clock may be monotonic): the daily reset needs dates."""
        self.max_requests = max_requests
        self.interval = interval
        self.margin = margin
        self.daily_remaining: int | None = None
        self.daily_resets_at: float | None = None
        """Wall-clock seconds when the daily count last observed is assumed to refill."""
        self.waited = 0.0
        """Seconds spent waiting for the window: how the bench tells throttling apart."""
        self._sent: deque[float] = deque()
        self._trips: deque[float] = deque(maxlen=32)
        """The latest round trips (seconds): how late a request may reach the server."""
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more request fits the burst window; refuse if the day is spent."""
        while True:
            with self._lock:
                self._check_daily()
                now = self._clock()
                horizon = self.interval + self.margin + max(self._trips, default=0.0)
                while self._sent and self._sent[0] <= now - horizon:
                    self._sent.popleft()
                if len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    if self.daily_remaining is not None:
                        self.daily_remaining -= 1  # the next response's headers correct it
                    return
                wait = self._sent[0] + horizon - now
            self.waited += wait
            self._sleep(wait)

    def observe_trip(self, seconds: float) -> None:
        """One request's round trip, from its slot to its response."""
        with self._lock:
            self._trips.append(max(0.0, seconds))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the server's view from the ``X-RateLimit-*`` headers of a response."""
        cap = _int(headers.get("x-ratelimit-max"))
        window_ms = _int(headers.get("x-ratelimit-interval-milliseconds"))
        remaining = _int(headers.get("x-ratelimit-remaining"))
        daily = _int(headers.get("x-ratelimit-daily-remaining"))
        with self._lock:
            if cap:
                self.max_requests = cap
            if window_ms:
                self.interval = window_ms / 1000
            if daily is not None:
                self.daily_remaining = daily
                self.daily_resets_at = next_utc_midnight(self._wall())
            if remaining is not None:
                now = self._clock()
                missing = (self.max_requests - remaining) - len(self._sent)
                self._sent.extend([now] * max(0, missing))

    def exhausted(self) -> RateLimitExhausted | None:
        """The refusal to raise when the daily budget is spent (None while it is not)."""
        with self._lock:
            try:
                self._check_daily()
            except RateLimitExhausted as exc:
                return exc
            return None

    def _check_daily(self) -> None:
        """Forget a spent day once its window has passed; refuse while it has not."""
        if self.daily_remaining is None or self.daily_remaining > 0:
            return
        if self.daily_resets_at is not None and self._wall() >= self.daily_resets_at:
            self.daily_remaining = None  # a new day: the next response says how much is left
            self.daily_resets_at = None
            return
        resets = (
            datetime.fromtimestamp(self.daily_resets_at, UTC)
            if self.daily_resets_at is not None
            else None
        )
        when = f"at {resets:%Y-%m-%d %H:%M} UTC" if resets else "when GHL's day turns"
        raise RateLimitExhausted(
            "GHL's daily request limit for this location is used up; this side is skipped "
            f"for the rest of the run and syncs again after the budget resets ({when}). "
            "Lower request_budget or run less often to stay under it.",
            resets_at=resets,
        )

    def penalize(self) -> None:
        """After a 429: the server's window is full. The requests we logged stay where
        they are (they leave it as logged); the ones we do not know of (another process
        on the location) are taken to be as recent as possible, so the retry waits
        until enough of ours have left, not a whole window every time."""
        with self._lock:
            now = self._clock()
            self._sent.extend([now] * max(0, self.max_requests - len(self._sent)))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
