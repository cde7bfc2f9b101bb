"""Wiring a configured connection: the store, both adapters (with their audit sink and
token vault), and the engine. The CLI and the scheduler both start runs through here."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.base import Adapter, AdapterContext, CallRecord
from adapters.registry import open_adapter
from state.store import Store
from state.url import sqlite_path
from syncengine.config import Config, ConnectionConfig
from syncengine.engine import SyncEngine
from syncengine.errors import ConfigError, LockedError, SecretError
from syncengine.models import SIDES, Side
from syncengine.secrets import SecretStore


class StoreVault:
    """Encrypted token storage in the state store (Fernet, key from the environment).

    It also offers ``locked(name)`` (``adapters.ghl.oauth.LockingVault``): a lease in
    the store's lock table, so every process sharing this state database, on any host,
    takes turns with an entry. GHL refresh tokens are single-use; two processes
    refreshing one pair at once would leave one of them with a dead token."""

    LOCK_TTL = timedelta(seconds=60)
    """Long enough for one token request (30 s timeout); a holder that died frees the
    lease when it runs out, or at once when it ran on this host."""
    LOCK_WAIT = 45.0
    """Seconds to wait for another process's refresh before giving up."""
    LOCK_POLL = 0.05

    def __init__(self, store: Store, connection: str) -> None:
        self._store = store
        self._connection = connection

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Hold the vault entry ``name`` against other processes until the block exits."""
        lock = f"{self._connection}#oauth:{name}"
        deadline = time.monotonic() + self.LOCK_WAIT
        while True:
            try:
                holder = self._store.acquire_lock(lock, ttl=self.LOCK_TTL)
                break
            except LockedError as exc:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another process has been refreshing the OAuth tokens of connection "
                        f"{self._connection!r} for {self.LOCK_WAIT:.0f} s; try again when it "
                        "is done"
                    ) from exc
                time.sleep(self.LOCK_POLL)
        try:
            yield
        finally:
            self._store.release_lock(lock, holder)

    def _fernet(self) -> Any:
        from cryptography.fernet import Fernet

        key = os.environ.get("SYNCENGINE_VAULT_KEY")
        if not key:
            raise SecretError(
                "SYNCENGINE_VAULT_KEY is not set: OAuth tokens are stored encrypted; "
                "export a key made by `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        if len(key) != 44:  # accept any passphrase by deriving a Fernet key from it
            key = base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()
        return Fernet(key.encode())

    def load(self, name: str) -> Mapping[str, Any] | None:
        blob = self._store.vault_get(self._connection, name)
        if blob is None:
            return None
        data: Mapping[str, Any] = json.loads(self._fernet().decrypt(blob.encode()))
        return data

    def save(self, name: str, value: Mapping[str, Any]) -> None:
        self._store.vault_put(
            self._connection,
            name,
            self._fernet().encrypt(json.dumps(dict(value)).encode()).decode(),
        )


@dataclass
class AuditBuffer:
    """Collects calls during a run and writes them to the store in batches.

    Calls arrive from the applier's write threads too; only the thread that made the
    buffer writes to the store (the rest only append, under a lock), so an audit
    flush never competes with the applier's own transactions."""

    store: Store
    connection: str
    side: Side
    sink: list[tuple[Side, CallRecord]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _owner: int = field(default_factory=threading.get_ident, repr=False)

    def __call__(self, call: CallRecord) -> None:
        with self._lock:
            self._append(call)
            due = len(self.rows) >= 200
        if due and threading.get_ident() == self._owner:
            self.flush()

    def _append(self, call: CallRecord) -> None:
        self.sink.append((self.side, call))
        self.rows.append(
            {
                "connection": self.connection,
                "run_id": self.run_id,
                "side": self.side,
                "at": call.at,
                "method": call.method,
                "path": call.path,
                "status": call.status,
                "latency_ms": call.latency_ms,
                "retries": call.retries,
                "trace_id": call.trace_id,
                "error": call.error,
            }
        )

    def flush(self) -> None:
        with self._lock:
            rows, self.rows = self.rows, []
        self.store.add_audit(rows)


@dataclass
class Session:
    config: Config
    store: Store
    conn: ConnectionConfig
    engine: SyncEngine
    audits: list[AuditBuffer]

    def close(self) -> None:
        for audit in self.audits:
            audit.flush()
        self.engine.a.close()
        self.engine.b.close()
        self.store.close()


def open_side(
    config: Config,
    store: Store,
    conn: ConnectionConfig,
    side: Side,
    sink: list[tuple[Side, CallRecord]],
    transport: Any = None,
) -> tuple[Adapter, AuditBuffer]:
    audit = AuditBuffer(store, conn.name, side, sink)
    side_cfg = conn.a if side == "a" else conn.b
    context = AdapterContext(
        connection=conn.name,
        side=side,
        base_dir=config.base_dir,
        audit=audit,
        secrets=SecretStore(),
        vault=StoreVault(store, conn.name),
        http_transport=transport,
        default_region=conn.policy.default_region,
        state_dir=_state_dir(store.url),
    )
    return open_adapter(side_cfg.adapter, side_cfg.settings, context), audit


def _state_dir(url: str) -> Path | None:
    """The folder of a SQLite state file, which moves with the project it sits in."""
    path = sqlite_path(url)
    return None if path is None else path.resolve().parent


def _open_sides(
    config: Config,
    store: Store,
    conn: ConnectionConfig,
    calls: list[tuple[Side, CallRecord]],
    transport: Any,
) -> list[tuple[Adapter, AuditBuffer]]:
    """Both sides, or one ``ConfigError`` with the problems of both: a user whose two
    sides are misconfigured learns it in one pass, not one side per attempt."""
    opened: list[tuple[Adapter, AuditBuffer]] = []
    problems: list[str] = []
    for side in SIDES:
        where = f"connections.{conn.name}.{side}"
        try:
            opened.append(open_side(config, store, conn, side, calls, transport))
        except ConfigError as exc:
            problems += [f"{where}: {p}" for p in exc.problems]
        except SecretError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        for adapter, _ in opened:
            adapter.close()
        raise ConfigError(problems, str(config.path))
    return opened


def open_side_for_oauth(config: Config, conn: ConnectionConfig) -> tuple[Any, str]:
    """The OAuth token source of the connection's GHL side (for ``auth login``)."""
    from adapters.ghl.adapter import GhlAdapter

    for side, side_cfg in (("a", conn.a), ("b", conn.b)):
        if side_cfg.adapter == "ghl" and side_cfg.settings.get("auth") == "oauth":
            store = Store(config.state_url, source=config.state_source)
            context = AdapterContext(
                connection=conn.name,
                side=side,
                base_dir=config.base_dir,
                secrets=SecretStore(),
                vault=StoreVault(store, conn.name),
            )
            adapter = GhlAdapter.from_settings(side_cfg.settings, context)
            tokens = adapter.client.tokens
            return tokens, str(getattr(tokens, "client_id", ""))
    raise ConfigError(
        [f'connection {conn.name!r} has no side with adapter = "ghl" and auth = "oauth"'],
        str(config.path),
    )


def open_session(config: Config, name: str | None, *, transport: Any = None) -> Session:
    conn = config.connection(name)
    store = Store(config.state_url, source=config.state_source)
    calls: list[tuple[Side, CallRecord]] = []
    try:
        (a, audit_a), (b, audit_b) = _open_sides(config, store, conn, calls, transport)
    except BaseException:
        store.close()
        raise
    engine = SyncEngine(
        store,
        conn.name,
        a,
        b,
        conn.policy,
        full_pass_every=conn.full_pass_every,
        calls=calls,
        keep_history=config.keep_history,
    )

    def run_started(run_id: int | None) -> None:
        for audit in (audit_a, audit_b):
            audit.flush()
            audit.run_id = run_id

    engine.run_started = run_started
    return Session(config, store, conn, engine, [audit_a, audit_b])
