"""OAuth 2.0 authorization code with rotating refresh tokens, for a GHL Marketplace app.

GHL refresh tokens are single-use: each refresh returns a new pair and the old refresh
token dies (research notes §2b, pitfall 19), so two refreshes of one pair leave one
caller holding a dead token. A refresh therefore

1. runs under one lock per token name in this process, and, when the vault offers it
   (``LockingVault``, as the state store's vault does), under a lock shared by every
   process using that vault: a scheduler and a manual ``syncengine run`` of the same
   connection never refresh at once;
2. reloads the pair from the vault once it holds the lock: if another caller already
   rotated it, that pair is used and GHL is not asked at all;
3. persists the new pair through the vault **before** anything uses it, so a crash
   right after the refresh still leaves a working pair on disk;
4. on ``invalid_grant`` reloads the vault once more before giving up (a process that
   does not take the lock may have rotated the pair meanwhile);
5. keeps the old pair untouched when GHL answers ``Location is not active``, because
   that refresh token works again once the location is reactivated, and when the
   token endpoint fails with a 5xx or 429 (transient: the pair was not used).

Every token this object has held stays in ``secrets()``, so a rotated-out token that
turns up in a later message or audit row is still redacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

import httpx

from adapters.base import AdapterContext, CallRecord, TokenVault
from syncengine.errors import AuthError, TransientAdapterError

AUTHORIZE_URL = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"
EXPIRY_SKEW = 120.0
"""Refresh this many seconds before the access token's stated expiry."""
INACTIVE = "Location is not active"
INVALID_GRANT = "invalid grant"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@runtime_checkable
class LockingVault(Protocol):
    """A ``TokenVault`` that can hold one entry against every process sharing the vault.

    Optional: a vault without it still works, serialised within this process only."""

    def locked(self, name: str) -> AbstractContextManager[object]:
        """Hold ``name`` until the block exits; wait while another process holds it."""
        ...


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def authorize_url(
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str | None = None,
    base: str = AUTHORIZE_URL,
) -> str:
    """The chooselocation URL a user opens to install the app on a location."""
    query = {
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "scope": " ".join(scopes),
    }
    if state:
        query["state"] = state
    return f"{base}?{urlencode(query)}"


class OAuthTokens:
    """A ``TokenSource`` over a token pair kept in the vault under ``name``."""

    def __init__(
        self,
        *,
        name: str,
        client_id: str,
        client_secret: str,
        base_url: str,
        context: AdapterContext,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if context.vault is None:
            raise AuthError(
                "GHL OAuth needs a token vault; the engine provides one "
                "(run through `syncengine`, not the adapter alone)"
            )
        self._vault: TokenVault = context.vault
        self._name = name
        self._client_id = client_id
        self._client_secret = client_secret
        self._base_url = base_url.rstrip("/")
        self._context = context
        self._clock = clock
        self._pair: Mapping[str, Any] | None = None
        self._held: dict[str, None] = {}
        """Every token value this object has held, in order: all of them stay redacted."""

    @property
    def client_id(self) -> str:
        return self._client_id

    # -- TokenSource -----------------------------------------------------------------------
    def token(self) -> str:
        pair = self._current()
        if self._expired(pair):
            self.refresh(str(pair["access_token"]))
            pair = self._current()
        return str(pair["access_token"])

    def refresh(self, rejected: str) -> bool:
        """Rotate the pair unless another caller already did; True when a new one is ready."""
        with self._exclusive():
            stored = self._load()
            if stored and stored.get("access_token") != rejected and not self._expired(stored):
                self._pair = stored  # another caller (or process) rotated it while we waited
                return True
            current = stored or self._current()
            self._pair = self._rotate(current)
            return True

    def secrets(self) -> tuple[str, ...]:
        return (*self._held, self._client_secret) if self._client_secret else tuple(self._held)

    # -- first install ------------------------------------------------------------------------
    def exchange_code(self, code: str, redirect_uri: str | None = None) -> Mapping[str, Any]:
        """Trade the code from the redirect for a pair, persisted before it is returned."""
        form = {"grant_type": "authorization_code", "code": code, "user_type": "Location"}
        if redirect_uri:
            form["redirect_uri"] = redirect_uri
        with self._exclusive():
            status, body = self._post(form)
            fresh = self._pair_from(status, body, form)
            self._vault.save(self._name, fresh)
            self._pair = self._hold(fresh)
        return fresh

    # -- internals ------------------------------------------------------------------------------
    def _exclusive(self) -> ExitStack:
        """This process's lock for the name, then the vault's cross-process one if any."""
        stack = ExitStack()
        stack.enter_context(_lock_for(self._name))
        if isinstance(self._vault, LockingVault):
            try:
                stack.enter_context(self._vault.locked(self._name))
            except BaseException:
                stack.close()
                raise
        return stack

    def _rotate(self, current: Mapping[str, Any]) -> Mapping[str, Any]:
        """Redeem ``current``'s refresh token and persist the new pair before returning it."""
        form = {"grant_type": "refresh_token", "refresh_token": str(current["refresh_token"])}
        status, body = self._post(form)
        if status == 400 and INVALID_GRANT in _message(body).lower():
            again = self._load()
            if again and again.get("refresh_token") != current.get("refresh_token"):
                return again  # rotated elsewhere after we read it: that pair is the live one
        fresh = self._pair_from(status, body, form)
        self._vault.save(self._name, fresh)  # persist before anyone uses it
        return self._hold(fresh)

    def _load(self) -> Mapping[str, Any] | None:
        stored = self._vault.load(self._name)
        return self._hold(stored) if stored else stored

    def _hold(self, pair: Mapping[str, Any]) -> Mapping[str, Any]:
        for key in ("access_token", "refresh_token"):
            if pair.get(key):
                self._held[str(pair[key])] = None
        return pair

    def _current(self) -> Mapping[str, Any]:
        if self._pair is None:
            self._pair = self._load()
        if not self._pair:
            raise AuthError(
                f"no GHL tokens stored for {self._name!r}; run "
                "`syncengine auth login` to install the app on the location"
            )
        return self._pair

    def _expired(self, pair: Mapping[str, Any]) -> bool:
        return float(pair.get("expires_at", 0)) - EXPIRY_SKEW <= self._clock()

    def _post(self, form: Mapping[str, str]) -> tuple[int, Any]:
        """One call of the token endpoint, audited; a connection failure is transient."""
        data = {"client_id": self._client_id, "client_secret": self._client_secret, **form}
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            with httpx.Client(transport=self._context.http_transport, timeout=30.0) as http:
                response = http.post(
                    f"{self._base_url}/oauth/token",
                    data=data,
                    headers={"Accept": "application/json"},
                )
            status = response.status_code
            body = response.json() if response.content else {}
        except (httpx.TransportError, ValueError) as exc:
            error = type(exc).__name__
            raise TransientAdapterError(
                "GHL token endpoint failed on the connection; if the refresh reached GHL the "
                "old refresh token is spent and `syncengine auth login` is needed"
            ) from exc
        finally:
            self._context.audit(
                CallRecord(
                    at=datetime.now(UTC),
                    method="POST",
                    path="/oauth/token",
                    status=status,
                    latency_ms=round((time.perf_counter() - started) * 1000, 3),
                    error=error,
                )
            )
        return status, body

    def _pair_from(self, status: int, body: Any, form: Mapping[str, str]) -> dict[str, Any]:
        """The new pair from a token response, or the error that says what to do."""
        if status == 200 and isinstance(body, dict) and "access_token" in body:
            return {
                "access_token": body["access_token"],
                "refresh_token": body["refresh_token"],
                "expires_at": self._clock() + float(body.get("expires_in", 86_399)),
                "scope": body.get("scope", ""),
                "location_id": body.get("locationId"),
            }
        message = _message(body)
        for value in (self._client_secret, form.get("code"), form.get("refresh_token")):
            if value:
                message = message.replace(value, "***")
        for value in self._held:
            message = message.replace(value, "***")
        if status >= 500 or status == 429:
            raise TransientAdapterError(
                f"GHL token endpoint answered {status} for {self._name!r} ({message}); the "
                "stored tokens are kept and the refresh is tried again"
            )
        if INACTIVE in message:
            raise AuthError(
                f"GHL says {INACTIVE!r} for {self._name!r}: the app stays "
                "installed and the stored refresh token is kept; reactivate "
                "the location's subscription and run again"
            )
        raise AuthError(
            f"GHL refused the token grant for {self._name!r} ({status}: "
            f"{message}); run `syncengine auth login` to reinstall the app"
        )


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message", body))
    return str(body)
