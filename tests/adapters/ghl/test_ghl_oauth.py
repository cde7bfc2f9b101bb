"""OAuth: code exchange, rotation persisted before use, single-use refresh tokens."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from ghl_world import LOCATION, World

from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.oauth import OAuthTokens, authorize_url
from syncengine.errors import AuthError
from syncengine.models import Record

pytestmark = pytest.mark.timeout(30)


class MemoryVault:
    def __init__(self) -> None:
        self.items: dict[str, Mapping[str, Any]] = {}
        self.saves = 0
        self.crash_after_save = False

    def load(self, name: str) -> Mapping[str, Any] | None:
        return self.items.get(name)

    def save(self, name: str, value: Mapping[str, Any]) -> None:
        self.items[name] = dict(value)
        self.saves += 1
        if self.crash_after_save:
            raise KeyboardInterrupt("simulated crash after persisting the new pair")


def oauth_adapter(world: World, vault: MemoryVault) -> GhlAdapter:
    world.secrets.update({"env:CID": "client-1", "env:CSECRET": "client-secret-xyz"})
    ctx = world.context(vault=vault)
    return GhlAdapter.from_settings(
        {
            "location_id": LOCATION,
            "auth": "oauth",
            "client_id": "env:CID",
            "client_secret": "env:CSECRET",
            "base_url": "http://fake",
        },
        ctx,
        clock=world.clock,
    )


def install(world: World, vault: MemoryVault) -> OAuthTokens:
    world.state.register_client("client-1", "client-secret-xyz")
    tokens = OAuthTokens(
        name=f"ghl:t:a:{LOCATION}",
        client_id="client-1",
        client_secret="client-secret-xyz",
        base_url="http://fake",
        context=world.context(vault=vault),
        clock=world.clock,
    )
    tokens.exchange_code(world.state.issue_code("client-1", LOCATION))
    return tokens


def test_authorize_url_has_the_v2_path_and_scopes() -> None:
    url = authorize_url(
        client_id="c", redirect_uri="https://x/cb", scopes=["contacts.readonly", "contacts.write"]
    )
    assert url.startswith("https://marketplace.gohighlevel.com/v2/oauth/chooselocation?")
    assert "scope=contacts.readonly+contacts.write" in url


def test_expired_access_token_is_refreshed_and_persisted(world: World) -> None:
    vault = MemoryVault()
    install(world, vault)
    adapter = oauth_adapter(world, vault)
    first = dict(vault.items[f"ghl:t:a:{LOCATION}"])
    adapter.create(Record("contact", "", {"email": "o@example.com"}))
    world.clock.sleep(90_000)  # past the one-day access token
    assert len(adapter.snapshot("contact").records) == 1
    second = vault.items[f"ghl:t:a:{LOCATION}"]
    assert second["refresh_token"] != first["refresh_token"]
    assert first["refresh_token"] in world.state.used_refresh_tokens
    secrets = (
        first["access_token"],
        first["refresh_token"],
        second["access_token"],
        second["refresh_token"],
        "client-secret-xyz",
    )
    assert all(s not in repr(row) for row in world.audit for s in secrets)


def test_crash_between_persist_and_use_leaves_a_working_pair(world: World) -> None:
    vault = MemoryVault()
    tokens = install(world, vault)
    vault.crash_after_save = True
    with pytest.raises(KeyboardInterrupt):
        tokens.refresh(str(vault.items[f"ghl:t:a:{LOCATION}"]["access_token"]))
    vault.crash_after_save = False
    restarted = oauth_adapter(world, vault)  # a new process: only the vault survives
    assert restarted.snapshot("contact").records == []


def test_reused_refresh_token_is_refused(world: World) -> None:
    vault = MemoryVault()
    tokens = install(world, vault)
    stale = dict(vault.items[f"ghl:t:a:{LOCATION}"])
    tokens.refresh(str(stale["access_token"]))
    vault.items[f"ghl:t:a:{LOCATION}"] = stale  # as if the new pair had been lost
    again = OAuthTokens(
        name=f"ghl:t:a:{LOCATION}",
        client_id="client-1",
        client_secret="client-secret-xyz",
        base_url="http://fake",
        context=world.context(vault=vault),
        clock=world.clock,
    )
    with pytest.raises(AuthError, match="auth login") as caught:
        again.refresh(str(stale["access_token"]))
    assert str(stale["refresh_token"]) not in str(caught.value)


def test_inactive_location_keeps_the_refresh_token(world: World) -> None:
    vault = MemoryVault()
    tokens = install(world, vault)
    kept = dict(vault.items[f"ghl:t:a:{LOCATION}"])
    world.state.locations[LOCATION].active = False
    with pytest.raises(AuthError, match="Location is not active"):
        tokens.refresh(str(kept["access_token"]))
    assert vault.items[f"ghl:t:a:{LOCATION}"] == kept
    world.state.locations[LOCATION].active = True
    assert tokens.refresh(str(kept["access_token"]))


def test_concurrent_refreshes_rotate_once(world: World) -> None:
    vault = MemoryVault()
    tokens = install(world, vault)
    rejected = str(vault.items[f"ghl:t:a:{LOCATION}"]["access_token"])
    saves = vault.saves
    errors: list[BaseException] = []

    def go() -> None:
        try:
            tokens.refresh(rejected)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and vault.saves == saves + 1
