"""The client-side throttle on its own, on a virtual clock: burst window, round trips,
429 penalties and the daily budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.ghl.fake import VirtualClock
from adapters.ghl.limits import RateLimiter
from syncengine.errors import RateLimitExhausted

pytestmark = pytest.mark.timeout(10)


def limiter(clock: VirtualClock, **knobs: float) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, wall=clock, max_requests=10, **knobs)


def test_a_slot_is_reused_after_the_window_margin_and_slowest_round_trip() -> None:
    clock = VirtualClock(0.0)
    limits = limiter(clock, interval=10.0, margin=0.05)
    for _ in range(10):
        limits.acquire()
    limits.observe_trip(0.4)
    limits.observe_trip(0.2)
    limits.acquire()  # the 11th waits for the first to have reached and left the server
    assert clock.now == pytest.approx(10.45)


def test_a_429_pads_only_the_requests_we_did_not_send() -> None:
    clock = VirtualClock(0.0)
    limits = limiter(clock, interval=10.0, margin=0.0)
    for _ in range(6):
        limits.acquire()
    clock.sleep(5.0)
    limits.penalize()  # the server is full: 4 requests we do not know of, taken as now
    limits.acquire()  # our 6 from t=0 leave at t=10; the unknown 4 only at t=15
    assert clock.now == pytest.approx(10.0)


def test_the_daily_budget_refuses_until_the_next_utc_day() -> None:
    clock = VirtualClock(1_767_261_600.0)  # 2026-01-01T10:00:00Z
    limits = limiter(clock)
    limits.observe({"x-ratelimit-daily-remaining": "1"})
    limits.acquire()  # the last one of the day
    with pytest.raises(RateLimitExhausted) as caught:
        limits.acquire()
    assert caught.value.resets_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert clock.now == 1_767_261_600.0  # no waiting
    clock.sleep(14 * 3600)
    limits.acquire()  # a new day: the count is forgotten until a response restates it
    assert limits.daily_remaining is None
