"""OAuth 2.0 authorization code with rotating refresh tokens, for a GHL Marketplace app.

GHL refresh tokens are single-use: each refresh returns a new pair and the old refresh
token dies (research notes §2b, pitfall 19). So a refresh (1) runs under one lock per
connection in this process (single flight: the second caller finds the pair already
rotated and uses it), (2) persists the new pair through ``context.vault`` **before**
anything uses it, so a crash right after the refresh still leaves a working pair on
disk, and (3) keeps the old pair untouched when GHL answers ``Location is not active``,
because that refresh token works again once the location is reactivated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from adapters.base import AdapterContext, CallRecord, TokenVault
from syncengine.errors import AuthError, TransientAdapterError

AUTHORIZE_URL = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"
EXPIRY_SKEW = 120.0
"""Refresh this many seconds before the access token's stated expiry."""
INACTIVE = "Location is not active"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


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

    @property
    def client_id(self) -> str:
        return self._client_id

    # -- TokenSource -----------------------------------------------------------------------
    def token(self) -> str:
        pair = self._current()
        if float(pair.get("expires_at", 0)) - EXPIRY_SKEW <= self._clock():
            self.refresh(str(pair["access_token"]))
            pair = self._current()
        return str(pair["access_token"])

    def refresh(self, rejected: str) -> bool:
        """Rotate the pair unless another caller already did; True when a new one is ready."""
        with _lock_for(self._name):
            stored = self._vault.load(self._name)
            if stored and stored.get("access_token") != rejected and not self._expired(stored):
                self._pair = stored  # another caller rotated it while we waited
                return True
            current = stored or self._current()
            fresh = self._grant(
                {"grant_type": "refresh_token", "refresh_token": str(current["refresh_token"])}
            )
            self._vault.save(self._name, fresh)  # persist before anyone uses it
            self._pair = fresh
            return True

    def secrets(self) -> tuple[str, ...]:
        pair = self._pair or {}
        return tuple(
            str(v)
            for v in (pair.get("access_token"), pair.get("refresh_token"), self._client_secret)
            if v
        )

    # -- first install ------------------------------------------------------------------------
    def exchange_code(self, code: str, redirect_uri: str | None = None) -> Mapping[str, Any]:
        """Trade the code from the redirect for a pair, persisted before it is returned."""
        form = {"grant_type": "authorization_code", "code": code, "user_type": "Location"}
        if redirect_uri:
            form["redirect_uri"] = redirect_uri
        with _lock_for(self._name):
            fresh = self._grant(form)
            self._vault.save(self._name, fresh)
            self._pair = fresh
        return fresh

    # -- internals ------------------------------------------------------------------------------
    def _current(self) -> Mapping[str, Any]:
        if self._pair is None:
            self._pair = self._vault.load(self._name)
        if not self._pair:
            raise AuthError(
                f"no GHL tokens stored for {self._name!r}; run "
                "`syncengine auth login` to install the app on the location"
            )
        return self._pair

    def _expired(self, pair: Mapping[str, Any]) -> bool:
        return float(pair.get("expires_at", 0)) - EXPIRY_SKEW <= self._clock()

    def _grant(self, form: Mapping[str, str]) -> dict[str, Any]:
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
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            message = str(body.get("message", body)) if isinstance(body, dict) else str(body)
            for key in ("client_secret", "code", "refresh_token"):
                if data.get(key):
                    message = message.replace(data[key], "***")
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
        return {
            "access_token": body["access_token"],
            "refresh_token": body["refresh_token"],
            "expires_at": self._clock() + float(body.get("expires_in", 86_399)),
            "scope": body.get("scope", ""),
            "location_id": body.get("locationId"),
        }
