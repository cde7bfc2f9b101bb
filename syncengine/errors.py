"""The one exception tree of syncengine.

Every error the engine raises on purpose is a ``SyncError``. Two marker mixins decide
what the runner does with a failed op: a ``Transient`` error is retried with backoff,
a ``Permanent`` one is quarantined at once. A ``SideUnavailable`` error is neither: it
says nothing about the record, only that the side refuses every call alike (revoked
token, missing scope, spent daily budget), so the run stops writing to that side and
quarantines nothing. ``UserError`` subclasses are printed to the user without a
traceback, each naming the thing that is wrong and how to fix it.
Foreign exceptions (httpx, sqlalchemy, json) are translated where they enter, with
``raise ... from exc``; the core never sees them.

    SyncError
    ├── UserError                     printed without a traceback, exit code 2
    │   ├── ConfigError               all config problems of a file, reported at once
    │   ├── SecretError               a secret reference that cannot be resolved
    │   ├── UnknownAdapterError       no adapter registered under that name
    │   ├── NotFoundError             a conflict/run/connection id that does not exist
    │   └── UsageError                a command-line option with a value it cannot take
    ├── SafetyRefusal                 a guard refused the run, exit code 3
    │   ├── SideEmptiedRefusal        a side that had records returned none
    │   └── MassDeleteRefusal         deletes exceed the configured share
    ├── LockedError                   another run of the same connection holds the lock
    │   └── LockLostError             this run's lease ran out and another run took over
    ├── AdapterError                  a side failed an operation
    │   ├── TransientAdapterError     (Transient) 429, 5xx, timeouts, resets
    │   ├── PermanentAdapterError     (Permanent) other 4xx, validation
    │   │   ├── RecordRejected        the side refused one record (bad data)
    │   │   └── RecordNotFound        the record is gone on that side
    │   ├── SideUnavailable           every further call to the side fails the same way:
    │   │   │                         stop writing to it this run, quarantine nothing
    │   │   ├── AuthError             bad, expired or revoked credentials, missing scope
    │   │   └── RateLimitExhausted    the side's daily request budget is spent; carries resets_at
    │   └── DuplicateOnSide           a create refused as duplicate; carries the existing id
    ├── MalformedRecord               (Permanent) a record in a source could not be read
    └── StateError                    the state store failed or is at a wrong schema
        └── StateConfigError          (UserError, exit 2) [state] url names no usable database
"""

from __future__ import annotations

from datetime import datetime


class Transient:
    """Marker: retrying the same operation later may succeed."""


class Permanent:
    """Marker: retrying will not help; quarantine the record and go on."""


class SyncError(Exception):
    """Root of every error syncengine raises on purpose."""


class UserError(SyncError):
    """An error the user can fix; the CLI prints it without a traceback (exit 2)."""

    exit_code = 2


class ConfigError(UserError):
    """One or more config problems, all reported at once."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


class SecretError(UserError):
    """A secret reference (env:NAME, keyring:NAME) that cannot be resolved."""


class UnknownAdapterError(UserError):
    """No adapter is registered under the requested name."""


class NotFoundError(UserError):
    """A named object (connection, conflict, run) does not exist."""


class UsageError(UserError):
    """A command-line option with a value it cannot take; nothing has run yet."""


class SafetyRefusal(SyncError):
    """A safety guard refused the run; ``--force`` overrides (exit 3)."""

    exit_code = 3


class SideEmptiedRefusal(SafetyRefusal):
    """A side that had records returned none: likely an outage, not a mass delete."""


class MassDeleteRefusal(SafetyRefusal):
    """The plan deletes more than the configured share of a side's linked records."""


class SideChangedRefusal(SafetyRefusal):
    """A side is other records than the ones this connection's state was built with."""


class LockedError(SyncError):
    """Another run of this connection holds its lock."""

    exit_code = 4


class LockLostError(LockedError):
    """This run's lease ran out (the process stalled) and another run took over."""


class StoppedWhileReading(SyncError):
    """A stop was asked for (Ctrl-C, SIGTERM) while the run read its sides: it stopped
    before it planned, so it wrote nothing; the next run reads again."""

    run_status = "stopped"


class AdapterError(SyncError):
    """A side failed an operation. ``side`` and ``record_id`` name where, when known.

    ``kind`` says in words what sort of failure it is: the journal, quarantine and
    reports show ``failure_text`` (that phrase, then the side's message), never a class
    name, which means nothing to the person reading them."""

    kind = "failed"

    def __init__(self, message: str, *, record_id: str | None = None) -> None:
        self.record_id = record_id
        super().__init__(message)


class TransientAdapterError(AdapterError, Transient):
    """Rate limit, server error, timeout or dropped connection: retry with backoff."""

    kind = "kept failing"

    def __init__(
        self, message: str, *, record_id: str | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, record_id=record_id)


class PermanentAdapterError(AdapterError, Permanent):
    """The side refused the operation for good."""

    kind = "refused"


class RecordRejected(PermanentAdapterError):
    """The side refused one record's data (validation)."""


class RecordNotFound(PermanentAdapterError):
    """The record does not exist (any more) on that side."""

    kind = "not found"


class ReadStopped(AdapterError):
    """A side stopped a read between two of its requests: the run was asked to stop
    (``Interruptible``)."""

    kind = "stopped"


class SideUnavailable(AdapterError):
    """Every further call to this side will fail the same way, whatever the record.

    Not ``Permanent``: the record is not at fault, so quarantining it (and every record
    after it) would bury one side-wide cause under many per-record failures. Not
    ``Transient`` either: retrying the op with backoff cannot help within a run. Stop
    writing to the side for this run and quarantine nothing. ``entities`` narrows it
    where only some endpoints refuse (a token without the calendar scope still writes
    contacts): then only writes of those entities stop."""

    kind = "side unavailable"

    def __init__(
        self,
        message: str,
        *,
        record_id: str | None = None,
        entities: frozenset[str] | None = None,
    ) -> None:
        self.entities = entities
        super().__init__(message, record_id=record_id)


class Unreachable(SideUnavailable):
    """The side could not be connected to at all (refused, no route, no such host),
    retries included: it is down or the address is wrong, for every record alike."""

    kind = "unreachable"


class AuthError(SideUnavailable):
    """Credentials are missing, wrong, revoked or expired for good, or lack a scope."""

    kind = "not authorised"


class DuplicateOnSide(AdapterError, Permanent):
    """A create was refused because the side already has this record."""

    kind = "refused as a duplicate"

    def __init__(self, message: str, *, existing_id: str, record_id: str | None = None) -> None:
        self.existing_id = existing_id
        super().__init__(message, record_id=record_id)


class SideReadFailed(SyncError):
    """A side could not be read at all (its file has no usable header, its API refused
    the token): the run stopped before it planned, so it wrote nothing anywhere. The
    side's own error is ``cause`` (and ``__cause__``)."""

    def __init__(self, side: str, adapter: str, cause: AdapterError) -> None:
        self.side = side
        self.adapter = adapter
        self.cause = cause
        super().__init__(f"side {side} ({adapter}) could not be read, so nothing ran: {cause}")


class MalformedRecord(SyncError, Permanent):
    """A record in a source could not be read; names where it is and what is wrong."""

    def __init__(self, where: str, problem: str, *, record_id: str | None = None) -> None:
        self.where = where
        self.problem = problem
        self.record_id = record_id
        super().__init__(f"{where}: {problem}")


class StateError(SyncError):
    """The state store failed, or its schema is not at the version this code needs."""


class StateConfigError(StateError, UserError):
    """``[state] url`` names no database syncengine can open (an unsupported scheme, a
    directory that is missing or not writable): the user fixes the config, so it is a
    config-class error (exit 2), not a failure of the store."""


def failure_text(exc: AdapterError) -> str:
    """A failed write as the journal and quarantine keep it: ``refused: <message>``."""
    return f"{exc.kind}: {exc}"


def is_transient(exc: BaseException) -> bool:
    """Whether a failed op may be retried."""
    return isinstance(exc, Transient)


class RateLimitExhausted(SideUnavailable):
    """The side's daily request budget is spent; no call will succeed before it resets.

    ``resets_at`` (UTC, when known) is when the budget is expected back: the next run
    after it can go on. Waiting for it inside a run would stall the run for hours."""

    kind = "request limit spent"

    def __init__(
        self, message: str, *, resets_at: datetime | None = None, record_id: str | None = None
    ) -> None:
        self.resets_at = resets_at
        super().__init__(message, record_id=record_id)
