"""What every request passes before a handler sees it: faults, token, version, budget.

An outer ASGI layer, so it can do what a route cannot: drop the connection after the
response started (the client sees a truncated response, as when a proxy resets it),
let a write take effect and then drop its response (the client cannot tell whether
it landed: GHL pitfall 9, the case creates must be idempotent for), and stamp the ``X-RateLimit-*`` headers on every response, errors included. Order, as
on the real server: bearer token (401), rate limit (429), ``Version`` header (400 if
missing, 422 if wrong); scope (401) and location (403) are checked by the handlers
because only they know which scope and location a route needs.
"""

from __future__ import annotations

import anyio
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.ghl.fake.errors import error_response
from adapters.ghl.fake.state import FakeGhlState, LoggedRequest, Token, is_write

CONTACTS_VERSION = "2021-07-28"
CALENDARS_VERSION = "2021-04-15"


class DroppedConnection(Exception):
    """Raised after the response started: the server goes away mid-response."""


class Gate:
    def __init__(self, app: ASGIApp, state: FakeGhlState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        st = self.state
        path: str = scope["path"]
        method: str = scope["method"]
        headers = Headers(scope=scope)
        delay, drop, fail, throttle = self._draw_faults()
        if delay:
            if st.sleep_hook is not None:
                st.sleep_hook(delay)
            else:
                await anyio.sleep(delay)
        token, early = self._authenticate(path, headers)
        location_id = token.location_id if token else None
        if early is None and token is not None:
            with st.lock:
                allowed, _, _ = st.take_budget(token.location_id)
            if throttle or not allowed:
                early = error_response(429, "Too many requests, retry after the rate window")
        if early is None and not path.startswith("/oauth/"):
            early = self._check_version(path, headers)
        if early is None and fail:
            status = st.rng.choice((500, 502, 503))
            early = error_response(status, "Internal server error (injected fault)")
        if early is None and drop:
            await _truncated_response(send)
            st.requests.append(LoggedRequest(method, path, 0, location_id))
            raise DroppedConnection(f"injected dropped connection on {method} {path}")
        scope["ghl.token"] = token
        status_seen = [0]
        # drawn only for writes that will be handled, so "the next N" means N applied writes
        lose = early is None and is_write(method, path) and self._draw_lost_response()

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                remaining, daily = st.budget_left(location_id)
                extra = [
                    (b"x-ratelimit-limit-daily", str(st.daily_limit).encode()),
                    (b"x-ratelimit-daily-remaining", str(daily).encode()),
                    (
                        b"x-ratelimit-interval-milliseconds",
                        str(int(st.rate_interval * 1000)).encode(),
                    ),
                    (b"x-ratelimit-max", str(st.rate_max).encode()),
                    (b"x-ratelimit-remaining", str(remaining).encode()),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        if early is not None:
            await early(scope, receive, send_with_limits)
        elif lose:
            await self._handle_then_drop(scope, receive, send, status_seen)
            st.requests.append(LoggedRequest(method, path, status_seen[0], location_id, True))
            raise DroppedConnection(f"injected lost response after {method} {path}")
        else:
            await self.app(scope, receive, send_with_limits)
        st.requests.append(LoggedRequest(method, path, status_seen[0], location_id))

    async def _handle_then_drop(
        self, scope: Scope, receive: Receive, send: Send, status_seen: list[int]
    ) -> None:
        """Run the handler to the end (its effect happens), keep its response, and send
        the client only the start of one: the connection then dies mid-body."""

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]

        await self.app(scope, receive, swallow)
        await _truncated_response(send)

    def _draw_faults(self) -> tuple[float, bool, bool, bool]:
        st = self.state
        with st.lock:
            f = st.faults
            delay = f.latency
            if f.latency_next[0] > 0:
                f.latency_next = (f.latency_next[0] - 1, f.latency_next[1])
                delay += f.latency_next[1]
            drop = f.drop_next > 0 or (f.drop_share > 0 and st.rng.random() < f.drop_share)
            if f.drop_next > 0:
                f.drop_next -= 1
            fail = f.error_next > 0 or (f.error_share > 0 and st.rng.random() < f.error_share)
            if f.error_next > 0:
                f.error_next -= 1
            throttle = f.burst_429 > 0
            if throttle:
                f.burst_429 -= 1
            return delay, drop, fail, throttle

    def _draw_lost_response(self) -> bool:
        st = self.state
        with st.lock:
            f = st.faults
            if f.lost_response_next > 0:
                f.lost_response_next -= 1
                return True
            return f.lost_response_share > 0 and st.rng.random() < f.lost_response_share

    def _authenticate(
        self, path: str, headers: Headers
    ) -> tuple[Token | None, JSONResponse | None]:
        if path == "/oauth/token":
            return None, None
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return None, error_response(401, "Invalid token: access token is invalid")
        token = self.state.tokens.get(value)
        if token is None:
            return None, error_response(401, "Invalid token: access token is invalid")
        if token.expires_at is not None and token.expires_at <= self.state.clock():
            return None, error_response(401, "Invalid JWT")
        return token, None

    @staticmethod
    def _check_version(path: str, headers: Headers) -> JSONResponse | None:
        expected = CALENDARS_VERSION if path.startswith("/calendars/") else CONTACTS_VERSION
        got = headers.get("version")
        if got is None:
            return error_response(400, f"Version header is missing; send Version: {expected}")
        if got != expected:
            return error_response(422, [f"Version must be one of the following values: {expected}"])
        return None


async def _truncated_response(send: Send) -> None:
    """The start of a 200 and a few bytes of a body that promised more."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"cont', "more_body": True})
