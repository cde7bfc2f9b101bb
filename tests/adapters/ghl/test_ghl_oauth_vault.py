"""OAuth refresh across processes: two token sources over one real ``StoreVault``.

Each ``OAuthTokens`` here has its own ``Store`` on one SQLite file, as two processes of
the same connection would (a scheduler and a manual run). GHL refresh tokens are
single-use, so the pair must be rotated once, and both must end up using it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from ghl_world import LOCATION, World

from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.oauth import LockingVault, OAuthTokens
from state.store import Store
from syncengine.errors import AuthError, TransientAdapterError
from syncengine.models import Record
from syncengine.runtime import StoreVault

pytestmark = pytest.mark.timeout(60)
NAME = f"ghl:t:b:{LOCATION}"
LOCK = f"t#oauth:{NAME}"
CLIENT, SECRET = "client-1", "client-secret-xyz"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SYNCENGINE_VAULT_KEY", "a passphrase for the test vault")
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def stores(url: str) -> Iterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for store in opened:
        store.close()


def process(world: World, url: str, stores: list[Store], vault: type = StoreVault) -> OAuthTokens:
    """What one process holds: its own store connection, its own token source."""
    store = Store(url)
    stores.append(store)
    return OAuthTokens(
        name=NAME,
        client_id=CLIENT,
        client_secret=SECRET,
        base_url="http://fake",
        context=world.context(vault=vault(store, "t")),
        clock=world.clock,
    )


def grants(world: World) -> int:
    return sum(1 for r in world.state.requests if r.path == "/oauth/token")


def installed(world: World, url: str, stores: list[Store]) -> OAuthTokens:
    world.state.register_client(CLIENT, SECRET)
    first = process(world, url, stores)
    first.exchange_code(world.state.issue_code(CLIENT, LOCATION))
    return first


def stored_pair(url: str, stores: list[Store]) -> Mapping[str, Any]:
    store = Store(url)
    stores.append(store)
    pair = StoreVault(store, "t").load(NAME)
    assert pair is not None
    return pair


def test_the_store_vault_can_lock() -> None:
    assert issubclass(StoreVault, LockingVault)


def test_a_pair_rotated_by_another_process_is_used_not_refreshed(
    world: World, url: str, stores: list[Store]
) -> None:
    one = installed(world, url, stores)
    two = process(world, url, stores)
    old = two.token()  # both hold the first pair in memory
    assert one.token() == old
    world.clock.sleep(90_000)  # past the one-day access token
    new = one.token()  # process one refreshes
    assert new != old and grants(world) == 2  # the code exchange, one refresh
    assert two.token() == new  # process two finds the rotated pair under the lock
    assert grants(world) == 2
    assert len(world.state.used_refresh_tokens) == 1


def test_a_refresh_waits_for_the_other_process_and_takes_its_pair(
    world: World, url: str, stores: list[Store]
) -> None:
    installed(world, url, stores)
    waiting = process(world, url, stores)
    old = stored_pair(url, stores)
    world.clock.sleep(90_000)
    other = Store(url)  # the other process, in the middle of its refresh
    stores.append(other)
    holder = other.acquire_lock(LOCK)
    done: list[bool] = []
    thread = threading.Thread(target=lambda: done.append(waiting.refresh(str(old["access_token"]))))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and not done  # blocked on the vault's lock
    with httpx.Client(transport=world.transport, base_url="http://fake") as http:
        reply = http.post(
            "/oauth/token",
            data={
                "client_id": CLIENT,
                "client_secret": SECRET,
                "grant_type": "refresh_token",
                "refresh_token": str(old["refresh_token"]),
            },
        ).json()
    rotated = {
        "access_token": reply["access_token"],
        "refresh_token": reply["refresh_token"],
        "expires_at": world.clock.now + 86_399,
    }
    StoreVault(other, "t").save(NAME, rotated)
    other.release_lock(LOCK, holder)
    thread.join(10)
    assert done == [True]
    assert waiting.token() == reply["access_token"]
    assert grants(world) == 2  # the code exchange and the other process's refresh


class StaleFirstLoad(StoreVault):
    """A vault whose first load under the lock returns what it held a moment earlier: a
    process that does not take the lock rotated the pair in between."""

    stale: Mapping[str, Any] | None = None

    def load(self, name: str) -> Mapping[str, Any] | None:
        if StaleFirstLoad.stale is not None:
            pair, StaleFirstLoad.stale = StaleFirstLoad.stale, None
            return pair
        return super().load(name)


def test_invalid_grant_reloads_the_vault_once_before_giving_up(
    world: World, url: str, stores: list[Store]
) -> None:
    one = installed(world, url, stores)
    stale = stored_pair(url, stores)
    one.refresh(str(stale["access_token"]))  # rotated: the stale refresh token is spent
    fresh = stored_pair(url, stores)
    late = process(world, url, stores, vault=StaleFirstLoad)
    StaleFirstLoad.stale = stale
    assert late.refresh(str(stale["access_token"])) is True
    assert late.token() == fresh["access_token"]
    # with nothing newer in the vault, the refusal stands
    dead = process(world, url, stores)
    StoreVault(stores[-1], "t").save(NAME, stale)
    with pytest.raises(AuthError, match="auth login") as caught:
        dead.refresh(str(stale["access_token"]))
    assert str(stale["refresh_token"]) not in str(caught.value)


def test_a_5xx_from_the_token_endpoint_is_transient_and_keeps_the_pair(
    world: World, url: str, stores: list[Store]
) -> None:
    tokens = installed(world, url, stores)
    kept = stored_pair(url, stores)
    world.state.faults.error_next = 1
    with pytest.raises(TransientAdapterError) as caught:
        tokens.refresh(str(kept["access_token"]))
    assert not isinstance(caught.value, AuthError) and "auth login" not in str(caught.value)
    assert stored_pair(url, stores) == kept
    assert tokens.refresh(str(kept["access_token"]))  # the same refresh token still works
    assert stored_pair(url, stores)["refresh_token"] != kept["refresh_token"]


def oauth_adapter(world: World, store: Store) -> GhlAdapter:
    world.secrets.update({"env:CID": CLIENT, "env:CSECRET": SECRET})
    return GhlAdapter.from_settings(
        {
            "location_id": LOCATION,
            "auth": "oauth",
            "client_id": "env:CID",
            "client_secret": "env:CSECRET",
            "base_url": "http://fake",
        },
        world.context(vault=StoreVault(store, "t"), connection="t", side="b"),
        clock=world.clock,
    )


def test_a_rotated_out_token_stays_redacted(world: World, url: str, stores: list[Store]) -> None:
    installed(world, url, stores)
    store = Store(url)
    stores.append(store)
    adapter = oauth_adapter(world, store)
    adapter.snapshot("contact")
    old = stored_pair(url, stores)
    world.clock.sleep(90_000)
    adapter.snapshot("contact")  # refreshed on the way
    new = stored_pair(url, stores)
    assert new["access_token"] != old["access_token"]
    for value in (old["access_token"], old["refresh_token"], new["access_token"]):
        assert adapter.client.redact(f"GHL said: {value}") == "GHL said: ***"
    adapter.close()


class CrashAfterSave(StoreVault):
    def save(self, name: str, value: Mapping[str, Any]) -> None:
        super().save(name, value)
        raise KeyboardInterrupt("simulated crash after persisting the new pair")


def test_a_crash_between_refresh_and_use_leaves_a_working_pair(
    world: World, url: str, stores: list[Store]
) -> None:
    installed(world, url, stores)
    crashing = process(world, url, stores, vault=CrashAfterSave)
    before = stored_pair(url, stores)
    with pytest.raises(KeyboardInterrupt):
        crashing.refresh(str(before["access_token"]))
    after = stored_pair(url, stores)
    assert after["refresh_token"] != before["refresh_token"]  # persisted before the crash
    restarted = Store(url)  # a new process: only the database survives
    stores.append(restarted)
    adapter = oauth_adapter(world, restarted)
    adapter.create(Record("contact", "", {"email": "after-crash@example.com"}))
    assert len(adapter.snapshot("contact").records) == 1
    assert grants(world) == 2  # no second refresh was needed
    adapter.close()
    restarted.release_lock(LOCK, restarted.acquire_lock(LOCK))  # the lock was let go


def test_a_lock_left_by_a_killed_process_is_taken_over(
    world: World, url: str, stores: list[Store]
) -> None:
    tokens = installed(world, url, stores)
    kept = stored_pair(url, stores)
    killed = (
        "import os, sys\n"
        "from state.store import Store\n"
        "Store(sys.argv[1]).acquire_lock(sys.argv[2])\n"
        "os._exit(9)  # dies holding it, like kill -9 mid-refresh\n"
    )
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", killed, url, LOCK], check=False, env=env, cwd=root)
    started = time.monotonic()
    assert tokens.refresh(str(kept["access_token"]))
    assert time.monotonic() - started < StoreVault.LOCK_WAIT / 2  # not left to time out
    assert stored_pair(url, stores)["refresh_token"] != kept["refresh_token"]
