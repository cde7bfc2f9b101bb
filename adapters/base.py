"""The adapter contract: one small Protocol every side implements.

An adapter turns one system into canonical records (``syncengine.models.Record``) and
back. What a side can do is data (``Capabilities``), not subclass hooks, so the core can
plan around a read-only field or a side that cannot delete. Optional abilities are
separate Protocols checked with ``isinstance``: ``Incremental`` (changes since a cursor),
``KeyLookup`` (find records by match key, used to resolve an in-flight create after a
crash), ``Identified`` (which records a side is, kept per connection) and
``Interruptible`` (a long read that can stop between requests). Adapters never touch
the state store: whatever they need to persist (audit rows, tokens) goes through the
``AdapterContext`` the engine hands them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeGuard, runtime_checkable

from syncengine.capabilities import Capabilities, SideNote
from syncengine.errors import MalformedRecord
from syncengine.models import Entity, FieldChange, Op, Record
from syncengine.normalize import DEFAULT_REGION

__all__ = [
    "Adapter",
    "AdapterContext",
    "AdapterFactory",
    "AdapterType",
    "AuditSink",
    "Batching",
    "CallRecord",
    "Capabilities",
    "Checkable",
    "ImmediateChanges",
    "Incremental",
    "KeyLookup",
    "SecretResolver",
    "SideNote",
    "Snapshot",
    "TokenVault",
    "WriteCost",
    "feeds_immediately",
]


@dataclass
class Snapshot:
    """What one read of one entity returned.

    ``complete`` means every record of the entity is here, so an absent linked record
    was deleted; when ``covered_parents`` is set, that holds only for children of those
    contacts. An incremental read is not complete and names its tombstones in
    ``deleted_ids``. ``problems`` are records that could not be read: they are
    quarantined, and never taken for deleted. ``notes`` are what the user should know
    about this read that is no record's fault (a column that looks like a field but is
    not mapped): the plan shows them.
    """

    entity: Entity
    records: list[Record]
    complete: bool = True
    deleted_ids: tuple[str, ...] = ()
    problems: list[MalformedRecord] = field(default_factory=list)
    cursor: str | None = None
    covered_parents: frozenset[str] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallRecord:
    """One external call, for the audit trail. Never holds a secret."""

    at: datetime
    method: str
    path: str
    status: int | None
    latency_ms: float
    retries: int = 0
    trace_id: str | None = None
    error: str | None = None


class AuditSink(Protocol):
    def __call__(self, call: CallRecord) -> None: ...


class SecretResolver(Protocol):
    def __call__(self, reference: str, *, setting: str) -> str: ...


class TokenVault(Protocol):
    """Encrypted, durable storage for rotating credentials (OAuth token pairs)."""

    def load(self, name: str) -> Mapping[str, Any] | None: ...

    def save(self, name: str, value: Mapping[str, Any]) -> None: ...


def _no_audit(call: CallRecord) -> None:
    return None


@dataclass
class AdapterContext:
    """What the engine hands an adapter: where it lives and the services it may use."""

    connection: str = "default"
    side: str = "a"
    base_dir: Path = field(default_factory=Path.cwd)
    audit: AuditSink = _no_audit
    secrets: SecretResolver | None = None
    vault: TokenVault | None = None
    http_transport: Any = None
    """An ``httpx.BaseTransport`` to use instead of the network (tests, demo)."""
    sleep: Callable[[float], None] | None = None
    default_region: str = DEFAULT_REGION
    """The connection's region for phone numbers written without a country code
    (``default_region``): a side that keeps phones in E.164 writes them read with it,
    as the engine's match keys are."""
    state_dir: Path | None = None
    """The folder of the state database when it is a SQLite file (None for a server):
    a side that names itself by a path (``Identified``) names a path under it relative
    to it, so a project folder moved whole (config, files and state) is the same sides."""


@runtime_checkable
class Adapter(Protocol):
    """A side. Every method may raise ``AdapterError`` subclasses, nothing else."""

    name: str

    def capabilities(self) -> Capabilities: ...

    def snapshot(
        self, entity: Entity, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        """All records of ``entity``. For children, ``changed_parents`` are the contacts
        this run must cover; a side with costly child reads may cover only those (plus
        a rolling share) and say so in ``Snapshot.covered_parents``."""
        ...

    def get(self, entity: Entity, record_id: str) -> Record | None: ...

    def create(self, record: Record) -> Record:
        """Create; ``record.id`` is ignored, ``record.parent_id`` is this side's contact.
        Returns the record as the side now holds it, with its new id."""
        ...

    def update(self, entity: Entity, record_id: str, changes: Sequence[FieldChange]) -> Record:
        """Apply field changes; returns the record as the side now holds it."""
        ...

    def delete(self, entity: Entity, record_id: str) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Incremental(Protocol):
    """A side that can list what changed since a cursor (an opaque string it made)."""

    def changes_since(
        self, entity: Entity, cursor: str, *, changed_parents: Collection[str] | None = None
    ) -> Snapshot:
        """What changed since ``cursor``. For children, ``changed_parents`` are the
        contacts this run found new or changed: a side whose child reads cost a request
        per contact reads theirs first (as ``snapshot`` does); others may ignore it."""
        ...


@runtime_checkable
class ImmediateChanges(Incremental, Protocol):
    """An incremental side whose change feed shows a write as soon as it returns (no
    search index lagging behind). The engine then reads a run's own writes back at the
    end of the run and, when that is all it finds, moves the cursor past them, so the
    next run does not list them again. GHL's search lags: it is not one of these."""

    immediate_changes: bool


def feeds_immediately(adapter: object) -> TypeGuard[ImmediateChanges]:
    """Whether a side's change feed shows a write as soon as it returns."""
    return isinstance(adapter, ImmediateChanges) and adapter.immediate_changes


@runtime_checkable
class KeyLookup(Protocol):
    """A side that can find records by a match key (``email:...``, ``phone:...``)."""

    def find_by_key(self, entity: Entity, key: str) -> list[Record]: ...


@runtime_checkable
class Batching(Protocol):
    """A side that can group many writes into one (a file rewritten once per chunk).
    Writes inside ``batch()`` are durable when the block exits."""

    def batch(self) -> AbstractContextManager[Any]: ...


@runtime_checkable
class WriteCost(Protocol):
    """A side whose writes cost more than one request each (GHL: tag changes are extra
    calls). The plan uses it to say how many requests a run will need."""

    def write_requests(self, op: Op) -> int: ...


@runtime_checkable
class Checkable(Protocol):
    """A side that can make test requests (``syncengine check``): returns problems."""

    def check(self) -> list[str]: ...


@runtime_checkable
class Locatable(Protocol):
    """A side that can say where its records are, for ``syncengine check``: a file's
    path (and that it does not exist yet), a GHL location and its address."""

    def location(self) -> str: ...


@runtime_checkable
class Identified(Protocol):
    """A side that can name which records it is, in a form that stays the same from
    run to run and machine to machine: a file's absolute path, a GHL location id (not
    the address it is reached at). The state keeps it per connection, so a config
    pointed at other records under a connection name already in use is refused
    instead of reading that pairing's links as its own."""

    def identity(self) -> str: ...


@runtime_checkable
class Interruptible(Protocol):
    """A side whose reads take many requests (a large GHL location's first read: minutes)
    and can stop between two of them, raising ``ReadStopped``, once ``should_stop``
    says so. The engine sets it for its reads only: a write in flight always finishes."""

    def stop_reading_when(self, should_stop: Callable[[], bool]) -> None: ...


def identity_of(adapter: Adapter) -> str:
    """A side's identity; a side that cannot name one is known by its adapter's name."""
    return adapter.identity() if isinstance(adapter, Identified) else adapter.name


AdapterFactory = Callable[[Mapping[str, Any], AdapterContext], Adapter]


class AdapterType(Protocol):
    """What an adapter registers (its class, not an instance): the settings a side of
    its kind takes, so a misspelt one is named instead of silently ignored, and the
    factory that builds a side from them. ``from_settings`` reports every problem of
    the settings it is given at once, in one ``ConfigError``: those of
    ``settings_problems`` and those only opening the side finds (a secret that does not
    resolve, a directory that does not exist)."""

    SETTINGS: Collection[str]

    def settings_problems(self, settings: Mapping[str, Any]) -> list[str]:
        """What is wrong with the settings themselves, needing nothing else (no secret,
        no file): the config reports these with every other problem of the file."""
        ...

    def from_settings(self, settings: Mapping[str, Any], context: AdapterContext) -> Adapter: ...
