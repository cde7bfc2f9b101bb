"""The per-connection lease a run holds while it reads, plans and writes.

The lock is a row in the state store with an expiry (``Store.acquire_lock``), so a run
killed with -9 frees it when the lease runs out, on any host. A live run must never let
it run out: a slow read of a rate-limited side, or one chunk of writes against it, can
outlast any fixed lease. So a daemon thread renews the lease every third of its length
for as long as the run lives, and the applier renews it at every chunk boundary too.

If a renewal finds the row gone or held by someone else (the process was frozen past
its lease and another run took over), the lease is *lost*: the run stops writing at
the next clean point, keeps its cursors, and ends with ``LockLostError``.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import TracebackType

from state.store import LOCK_TTL, Store
from syncengine.errors import LockLostError, StateError


class Lease:
    """``with Lease(store, connection) as lease:`` holds the connection's lock."""

    def __init__(
        self, store: Store, connection: str, ttl: timedelta = LOCK_TTL, every: float | None = None
    ) -> None:
        self.store = store
        self.connection = connection
        self.ttl = ttl
        self.every = every if every is not None else ttl.total_seconds() / 3
        self.holder: str | None = None
        self._lost = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._renew_lock = threading.Lock()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def renew(self) -> None:
        """Extend the lease now; marks it lost if another run holds the lock."""
        if self.holder is None or self.lost:
            return
        with self._renew_lock:
            try:
                held = self.store.renew_lock(self.connection, self.holder, self.ttl)
            except StateError:
                return  # a busy database: the next renewal tries again, well within the lease
            if not held:
                self._lost.set()

    def check(self) -> None:
        """Raise ``LockLostError`` if the lease was lost."""
        if self.lost:
            raise LockLostError(
                f"connection {self.connection!r}: this run's lock lease ran out and another "
                "run took the connection over; this run stopped writing at a clean point and "
                "kept its cursors, so the next run reads the rest again"
            )

    def _keep_alive(self) -> None:
        while not self._done.wait(self.every):
            self.renew()

    def __enter__(self) -> Lease:
        self.holder = self.store.acquire_lock(self.connection, self.ttl)
        self._thread = threading.Thread(
            target=self._keep_alive, name=f"lease-{self.connection}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self.holder is not None and not self.lost:
            self.store.release_lock(self.connection, self.holder)


__all__ = ["Lease"]
