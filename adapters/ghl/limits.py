"""Client-side throttle for GHL's per-location limits: 100 requests / 10 s, 200k / day.

A sliding log of send times, the same algorithm the server counts with, so a client
that waits until its oldest request leaves the window is never refused for the burst
(a small margin covers the request's own travel time). After each response the
``X-RateLimit-*`` headers correct the local view: the server's cap and window win, and
if the server saw more requests than we sent (another process on the same location)
the log is padded so we slow down too. Written here rather than with pyrate-limiter
because clock and sleep must be injectable together: tests run a virtual clock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping

from syncengine.errors import TransientAdapterError

DEFAULT_MAX = 100
DEFAULT_INTERVAL = 10.0


class RateLimiter:
    def __init__(
        self,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        max_requests: int = DEFAULT_MAX,
        interval: float = DEFAULT_INTERVAL,
        margin: float = 0.05,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.max_requests = max_requests
        self.interval = interval
        self.margin = margin
        self.daily_remaining: int | None = None
        self.waited = 0.0
        """Seconds spent waiting for the window: how the bench tells throttling apart."""
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more request fits the burst window; refuse if the day is spent."""
        if self.daily_remaining is not None and self.daily_remaining <= 0:
            raise TransientAdapterError(
                "GHL daily request limit for this location is used up; the sync resumes "
                "when the daily budget resets (or lower request_budget)",
                retry_after=3600.0,
            )
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.interval:
                    self._sent.popleft()
                if len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.interval - now + self.margin
            self.waited += wait
            self._sleep(wait)

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
            if remaining is not None:
                now = self._clock()
                missing = (self.max_requests - remaining) - len(self._sent)
                self._sent.extend([now] * max(0, missing))

    def penalize(self) -> None:
        """After a 429: treat the window as full from now, so the retry waits it out."""
        with self._lock:
            now = self._clock()
            self._sent = deque([now] * self.max_requests)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
