"""A thin typed HTTP client for GHL API v2: headers, throttle, retries, error mapping.

Every request takes a slot from the location's ``RateLimiter`` first, so a well-behaved
run never sees a 429; if one comes anyway (another process on the same location) it
waits the window out and retries, because a 429 was not processed and is always safe
to repeat. 5xx, timeouts and dropped connections are retried with exponential backoff
and jitter (tenacity) **only for idempotent calls**; a create that may or may not have
landed is the adapter's to resolve by looking the record up first (STYLE §9). A 401
that is not a scope problem triggers one token refresh. Other 4xx become the
``syncengine.errors`` types with GHL's own message. Each attempt is one ``CallRecord``
for the audit trail; secrets are scrubbed from paths, messages and logs, and so are the
personal data in query strings (the email or phone of a duplicate look-up).

Errors that say the whole side is out of reach are ``SideUnavailable``, never a
record's fault: a 401/403 (revoked or wrong token, missing scope, other location) is an
``AuthError``, and a spent daily budget (``X-RateLimit-Daily-Remaining: 0``, before
sending or on a 429) is ``RateLimitExhausted`` with the time it resets; neither is
retried within the run.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception
from tenacity.wait import wait_exponential_jitter

from adapters.base import AdapterContext, CallRecord
from adapters.ghl.limits import RateLimiter
from syncengine.errors import (
    AdapterError,
    AuthError,
    DuplicateOnSide,
    PermanentAdapterError,
    RecordNotFound,
    RecordRejected,
    TransientAdapterError,
    Unreachable,
)

log = logging.getLogger("adapters.ghl")

DEFAULT_BASE_URL = "https://services.leadconnectorhq.com"
CONTACTS_VERSION = "2021-07-28"
CALENDARS_VERSION = "2021-04-15"
SCOPE_MESSAGE = "not authorized for this scope"
SECRET_QUERY_KEYS = frozenset(
    {"access_token", "refresh_token", "client_secret", "code", "token", "apikey", "api_key"}
)
PERSONAL_QUERY_KEYS = frozenset({"email", "number", "phone", "query"})
"""Query values that are personal data (duplicate look-ups, list filters): kept out of
the audit trail, which is stored in the state database and shown in reports."""
_MISSING_ID = re.compile(r"\bwith id (\S+?)\.? not found", re.IGNORECASE)
_backoff = wait_exponential_jitter(multiplier=0.5, max=30.0, jitter=0.5)


class TokenSource(Protocol):
    """Where the bearer token comes from: a fixed token, or an OAuth pair that rotates."""

    def token(self) -> str: ...

    def refresh(self, rejected: str) -> bool:
        """Get a new token after ``rejected`` was refused; False if that is impossible."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every secret value to scrub from messages and audit rows."""
        ...


class StaticToken:
    """A Private Integration Token: no expiry, no refresh."""

    def __init__(self, value: str) -> None:
        self._value = value

    def token(self) -> str:
        return self._value

    def refresh(self, rejected: str) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return (self._value,)


class RateLimited(TransientAdapterError):
    """A 429: the request was not processed, so repeating it is always safe."""


class NotConnected(TransientAdapterError):
    """No connection could be made, so nothing was sent: repeating any request is safe.
    Retried ``CONNECT_ATTEMPTS`` times (a few seconds), not for a minute like a server
    error: a host that refuses connections is down or misnamed, and every later call
    of the run would wait the same minute first."""


CONNECT_ATTEMPTS = 4


class GhlClient:
    def __init__(
        self,
        *,
        base_url: str,
        location_id: str,
        tokens: TokenSource,
        context: AdapterContext,
        clock: Callable[[], float] | None = None,
        timeout: float = 30.0,
        max_attempts: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.location_id = location_id
        self._tokens = tokens
        self._context = context
        self._sleep = context.sleep or time.sleep
        self._clock = clock or time.monotonic
        self.max_attempts = max_attempts
        self.limiter = RateLimiter(clock=self._clock, sleep=self._sleep, wall=clock or time.time)
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=context.http_transport,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
        )
        self.calls = 0

    @property
    def tokens(self) -> TokenSource:
        """Where the bearer token comes from (a fixed token or the OAuth pair)."""
        return self._tokens

    def close(self) -> None:
        self._http.close()

    # -- public --------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        version: str = CONTACTS_VERSION,
        idempotent: bool = True,
        record_id: str | None = None,
        attempts: int | None = None,
    ) -> Any:
        """One API call with retries (``attempts``, default ``max_attempts``); returns the
        parsed JSON body of the 2xx answer."""

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, RateLimited | NotConnected):
                return True  # not processed / not sent; a spent day is RateLimitExhausted
            if not isinstance(exc, TransientAdapterError) or not idempotent:
                return False
            return exc.retry_after is None or exc.retry_after <= 60

        most = attempts or self.max_attempts

        def stop(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            limit = min(most, CONNECT_ATTEMPTS) if isinstance(exc, NotConnected) else most
            return state.attempt_number >= limit

        result: Any = None
        try:
            for attempt in Retrying(
                stop=stop,
                wait=self._wait,
                retry=retry_if_exception(retryable),
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    result = self._attempt(
                        method,
                        path,
                        params=params,
                        json=json,
                        version=version,
                        retries=attempt.retry_state.attempt_number - 1,
                        record_id=record_id,
                    )
        except NotConnected as exc:
            raise Unreachable(str(exc), record_id=record_id) from exc
        return result

    def redact(self, text: str) -> str:
        for secret in self._tokens.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- one attempt -----------------------------------------------------------------------
    def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        version: str,
        retries: int,
        record_id: str | None,
    ) -> Any:
        refreshed = False
        while True:
            token = self._tokens.token()
            self.limiter.acquire()
            slot = self._clock()
            response = self._send(method, path, params, json, version, token, retries)
            self.limiter.observe_trip(self._clock() - slot)
            status = response.status_code
            body = _body(response)
            if status == 401 and not refreshed and SCOPE_MESSAGE not in _message(body):
                refreshed = True
                if self._tokens.refresh(token):
                    continue
            if status < 300:
                return body
            raise self._error(method, path, status, body, response.headers, record_id)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        version: str,
        token: str,
        retries: int,
    ) -> httpx.Response:
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {token}", "Version": version}
        shown = _safe_path(path, params)
        self.calls += 1
        try:
            response = self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            self._audit(method, shown, None, started, retries, None, "timeout")
            raise TransientAdapterError(
                f"GHL {method} {shown} timed out (no answer in {self._http.timeout.read} s)"
            ) from exc
        except httpx.TransportError as exc:
            reason = self.redact(f"{type(exc).__name__}: {exc}")
            self._audit(method, shown, None, started, retries, None, reason)
            failed = NotConnected if isinstance(exc, httpx.ConnectError) else TransientAdapterError
            raise failed(
                f"GHL {method} {shown} failed on the connection ({reason}); check base_url "
                f"({self.base_url}) and that this machine can reach it"
            ) from exc
        self.limiter.observe(response.headers)
        body = _body(response)
        trace = body.get("traceId") if isinstance(body, dict) else None
        error = None if response.status_code < 400 else self.redact(_message(body))[:300]
        self._audit(
            method,
            shown,
            response.status_code,
            started,
            retries,
            trace if isinstance(trace, str) else None,
            error,
        )
        log.debug("GHL %s %s -> %s", method, shown, response.status_code)
        return response

    def _audit(
        self,
        method: str,
        path: str,
        status: int | None,
        started: float,
        retries: int,
        trace_id: str | None,
        error: str | None,
    ) -> None:
        self._context.audit(
            CallRecord(
                at=datetime.now(UTC),
                method=method,
                path=path,
                status=status,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                retries=retries,
                trace_id=trace_id,
                error=error,
            )
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            self.limiter.penalize()  # the next acquire() waits out the window
            return 0.0
        if isinstance(exc, TransientAdapterError) and exc.retry_after is not None:
            return exc.retry_after
        return float(_backoff(state))

    def _error(
        self,
        method: str,
        path: str,
        status: int,
        body: Any,
        headers: httpx.Headers,
        record_id: str | None,
    ) -> AdapterError:
        what = f"GHL {method} {path}"
        message = self.redact(_message(body))
        if status == 429:
            spent = self.limiter.exhausted()  # _send has taken the response's headers in
            if spent is not None:
                spent.record_id = record_id
                return spent
            retry_after = headers.get("retry-after")
            return RateLimited(
                f"{what} was rate limited (429); waiting for the window",
                record_id=record_id,
                retry_after=float(retry_after) if retry_after else None,
            )
        if status >= 500:
            return TransientAdapterError(
                f"{what} failed with {status}: {message} (a GHL-side error; retried with backoff)",
                record_id=record_id,
            )
        if status == 401 and SCOPE_MESSAGE in message:
            return AuthError(
                f"{what}: {message} Add the missing scope to the Private "
                "Integration (or app) and update the token.",
                record_id=record_id,
                # A calendar scope concerns appointments only: contacts still sync.
                entities=frozenset({"appointment"}) if path.startswith("/calendars/") else None,
            )
        if status == 401:
            return AuthError(
                f"{what}: GHL refused the token ({message}). Create a new token "
                "or run `syncengine auth login` again.",
                record_id=record_id,
            )
        if status == 403:
            return AuthError(
                f"{what}: {message} Check location_id = {self.location_id!r} on this side "
                "(the id in the sub-account's URL, /location/ID/...), or use a token issued "
                "for that location.",
                record_id=record_id,
            )
        meta = body.get("meta") if isinstance(body, dict) else None
        if status == 400 and isinstance(meta, dict) and isinstance(meta.get("contactId"), str):
            field = meta.get("matchingField", "a match key")
            return DuplicateOnSide(
                f"{what}: {message} (same {field} as contact {meta['contactId']})",
                existing_id=meta["contactId"],
                record_id=record_id,
            )
        if _addressed_record_missing(status, message, path, record_id):
            return RecordNotFound(f"{what}: {message}", record_id=record_id)
        if status in (400, 422):
            return RecordRejected(f"{what} was rejected ({status}): {message}", record_id=record_id)
        return PermanentAdapterError(f"{what} failed with {status}: {message}", record_id=record_id)


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:300]


def _message(body: Any) -> str:
    """GHL's message: a string, or an array of strings on 422."""
    if isinstance(body, dict):
        msg = body.get("message", body.get("error", ""))
        if isinstance(msg, list):
            return "; ".join(str(m) for m in msg)
        return str(msg)
    return str(body or "")


def _addressed_record_missing(status: int, message: str, path: str, record_id: str | None) -> bool:
    """Whether GHL says the record this request addressed does not exist.

    GHL answers an unknown id with 400, not 404, and a message naming the id ("Contact
    with id X not found"). A body can name another id too, such as an unknown calendar
    in an appointment write; that is bad data in the request, not a missing record, so
    a named id counts only when the path addresses it. A 404 always counts.
    """
    if status == 404:
        return True
    if status != 400:
        return False
    named = _MISSING_ID.search(message)
    if named is not None:
        return named.group(1) in path.split("/")
    return record_id is not None and "not found" in message.lower()


def _safe_path(path: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return path
    hidden = SECRET_QUERY_KEYS | PERSONAL_QUERY_KEYS
    shown = {k: ("***" if k.lower() in hidden else v) for k, v in params.items()}
    return f"{path}?{urlencode(shown)}"
