"""The per-connection lock (a lease row) and the token vault, on every backend."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest

from state.store import Store
from syncengine.errors import LockedError


def test_a_second_acquire_is_refused_naming_the_holder(store: Store) -> None:
    holder = store.acquire_lock("c")
    assert holder
    with pytest.raises(LockedError) as info:
        store.acquire_lock("c")
    message = str(info.value)
    assert "'c' is being synced by" in message
    assert f"pid {os.getpid()} on {socket.gethostname()}" in message
    # Another connection has its own lock.
    other = store.acquire_lock("d")
    assert other != holder


def test_the_lock_is_refused_across_store_instances(state_url: str) -> None:
    first, second = Store(state_url), Store(state_url)
    try:
        first.acquire_lock("c")
        with pytest.raises(LockedError):
            second.acquire_lock("c")
    finally:
        first.close()
        second.close()


def test_release_frees_the_lock_but_only_for_its_holder(store: Store) -> None:
    holder = store.acquire_lock("c")
    store.release_lock("c", "someone-else")
    with pytest.raises(LockedError):
        store.acquire_lock("c")
    store.release_lock("c", holder)
    assert store.acquire_lock("c") != holder


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    crashed = store.acquire_lock("c", ttl=timedelta(seconds=-1))
    taker = store.acquire_lock("c")
    assert taker != crashed
    # The crashed holder's late release does not free the new holder's lock.
    store.release_lock("c", crashed)
    with pytest.raises(LockedError):
        store.acquire_lock("c")


def test_renewing_keeps_a_short_lease_alive(store: Store) -> None:
    holder = store.acquire_lock("c", ttl=timedelta(seconds=-1))
    store.renew_lock("c", holder, ttl=timedelta(minutes=5))
    with pytest.raises(LockedError):
        store.acquire_lock("c")


def test_vault_put_get_and_overwrite(store: Store) -> None:
    assert store.vault_get("c", "ghl") is None
    store.vault_put("c", "ghl", "cipher-1")
    store.vault_put("d", "ghl", "cipher-d")
    assert store.vault_get("c", "ghl") == "cipher-1"
    store.vault_put("c", "ghl", "cipher-2")
    assert store.vault_get("c", "ghl") == "cipher-2"
    assert store.vault_get("d", "ghl") == "cipher-d"
    assert store.vault_get("c", "other") is None
