"""``syncengine.toml``: one ``[state]`` table and a ``[connections.NAME]`` per connection.

Every problem in a file is collected and reported at once, each naming the key and the
fix, so a user fixes a config in one pass. A literal secret (a token pasted into the
file) is refused: the file must hold a reference (``env:VAR`` or ``keyring:NAME``).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.registry import adapter_names, adapter_settings, settings_problems
from state.url import FROM_CONFIG, scheme_problem
from syncengine.config_keys import flat_field_rules, unknown_field, unknown_keys
from syncengine.errors import ConfigError, SecretError
from syncengine.models import ENTITIES, Entity
from syncengine.policy import ConflictRule, DeleteRule, Direction, FieldRule, Policy
from syncengine.secrets import SECRET_SETTINGS, SecretStore, is_reference, reference_source

DEFAULT_NAME = "syncengine.toml"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_PASSWORD_IN_URL = re.compile(r"^[a-z0-9+]+://[^/@:]*:[^/@]+@")


@dataclass(frozen=True)
class SideConfig:
    adapter: str
    settings: Mapping[str, Any]


DEFAULT_KEEP_HISTORY = timedelta(days=90)


@dataclass(frozen=True)
class ConnectionConfig:
    name: str
    a: SideConfig
    b: SideConfig
    policy: Policy
    schedule: str | None = None
    full_pass_every: timedelta | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    state_url: str
    connections: Mapping[str, ConnectionConfig] = field(default_factory=dict)
    keep_history: timedelta | None = DEFAULT_KEEP_HISTORY
    """How long runs, their journal and calls, and settled conflicts are kept (None:
    for ever); each run prunes what is older."""
    state_source: str = FROM_CONFIG
    """Where ``state_url`` came from (``[state] url``, or the variable it refers to),
    for the messages of a database that will not open."""

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def connection(self, name: str | None) -> ConnectionConfig:
        if name is None:
            if len(self.connections) == 1:
                return next(iter(self.connections.values()))
            raise ConfigError(
                [f"name a connection: one of {', '.join(sorted(self.connections)) or 'none'}"],
                str(self.path),
            )
        if name not in self.connections:
            raise ConfigError(
                [f"no connection {name!r}; known: {', '.join(sorted(self.connections)) or 'none'}"],
                str(self.path),
            )
        return self.connections[name]


def _keep_history(problems: list[str], value: Any) -> timedelta | None:
    if value == "forever":
        return None
    kept = parse_duration(str(value))
    if kept is None or kept <= timedelta(0):
        problems.append(
            f'state.keep_history = {value!r}: use a duration like "90d", or "forever" to keep '
            "every run's history"
        )
        return DEFAULT_KEEP_HISTORY
    return kept


def parse_duration(text: str) -> timedelta | None:
    m = _DURATION.match(text.removeprefix("every").strip() if text.startswith("every") else text)
    if not m:
        return None
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def find_config(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("SYNCENGINE_CONFIG")
    if env:
        return Path(env)
    return Path.cwd() / DEFAULT_NAME


def load(path: Path) -> Config:
    if not path.exists():
        raise ConfigError(
            ["no config file here; create one with `syncengine init` or pass --config PATH"],
            str(path),
        )
    try:
        raw = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(path)) from None
    return parse(raw, path)


def read_text(path: Path) -> str:
    """The file's text; a directory, an unreadable file or one that is not UTF-8 is a
    ``ConfigError`` naming the fix, never a traceback. A UTF-8 byte order mark (as some
    Windows editors write) is allowed."""
    if path.is_dir():
        raise ConfigError(
            [
                "is a directory, not a config file; pass the file itself, "
                f"e.g. --config {path / DEFAULT_NAME}"
            ],
            str(path),
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [f"cannot be read ({exc.strerror}); check the path and its permissions"], str(path)
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
        line = data.count(b"\n", 0, exc.start) + 1
        what = "is UTF-16 text" if utf16 else f"is not UTF-8 text (a stray byte on line {line})"
        raise ConfigError(
            [f"{what}; save it as UTF-8 (a TOML file must be UTF-8)"], str(path)
        ) from None


_TOP_KEYS = ("state", "connections")
_STATE_KEYS = ("url", "keep_history")
_CONNECTION_KEYS = (
    "a",
    "b",
    "schedule",
    "entities",
    "match",
    "default_region",
    "conflicts",
    "tie_break",
    "deletes",
    "max_delete_share",
    "min_guarded_deletes",
    "full_pass_every",
    "fields",
)
_FIELD_RULE_KEYS = ("conflicts", "direction")


def _enum(problems: list[str], where: str, value: Any, enum: type[Any], default: Any) -> Any:
    if value is None:
        return default
    try:
        return enum(value)
    except ValueError:
        problems.append(f"{where} = {value!r}: use one of {', '.join(e.value for e in enum)}")
        return default


def _side(problems: list[str], settings_found: list[str], where: str, raw: Any) -> SideConfig:
    if not isinstance(raw, Mapping):
        problems.append(
            f'[{where}] is missing: add it with adapter = "jsonl" (or csv, ghl, memory) and its settings'
        )
        return SideConfig("memory", {})
    adapter = raw.get("adapter")
    known = adapter_names()
    if not isinstance(adapter, str) or not adapter:
        problems.append(f"{where}.adapter is missing: set adapter = one of {', '.join(known)}")
        adapter = "memory"
    elif adapter not in known:
        close = difflib.get_close_matches(adapter, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(
            f"{where}.adapter = {adapter!r}: no such adapter; {hint}use one of {', '.join(known)}"
        )
    else:
        before = len(problems)
        unknown_keys(problems, where, raw, adapter_settings(adapter), ignore=("adapter",))
        if len(problems) == before:  # a misspelt key is likely the missing setting: named once
            settings = {k: v for k, v in raw.items() if k != "adapter"}
            settings_found += [f"{where}: {p}" for p in settings_problems(adapter, settings)]
    for key, value in raw.items():
        if key in SECRET_SETTINGS and not is_reference(value):
            problems.append(
                f"{where}.{key} holds a literal secret: never put secrets in the file; "
                f'set {key} = "env:VAR" (export VAR) or "keyring:NAME"'
            )
    return SideConfig(adapter, {k: v for k, v in raw.items() if k != "adapter"})


def _policy(problems: list[str], where: str, raw: Mapping[str, Any]) -> Policy:
    entities = raw.get("entities", list(ENTITIES))
    ents: list[Entity] = []
    for e in entities if isinstance(entities, list) else []:
        if e in ENTITIES:
            ents.append(e)
        else:
            problems.append(f"{where}.entities: unknown entity {e!r}; use {', '.join(ENTITIES)}")
    if not isinstance(entities, list):
        problems.append(f'{where}.entities must be a list like ["contact", "note"]')
    if "contact" not in ents and ents:
        ents.insert(0, "contact")  # children need their contacts
    match = raw.get("match", ["email", "phone"])
    if not isinstance(match, list) or any(m not in ("email", "phone") for m in match):
        problems.append(f'{where}.match must be a list of "email" and/or "phone"')
        match = ["email", "phone"]
    fields: dict[str, FieldRule] = {}
    raw_fields = raw.get("fields", {})
    if not isinstance(raw_fields, Mapping):
        problems.append(
            f"{where}.fields must be a table of field = {{ conflicts = ..., direction = ... }}"
        )
        raw_fields = {}
    synced = tuple(ents) or ENTITIES
    for fname, rule in flat_field_rules(raw_fields):
        unknown = unknown_field(fname, synced)
        if unknown is not None:
            problems.append(f"{where}.fields.{fname}: {unknown}")
            continue
        if not isinstance(rule, Mapping):
            problems.append(
                f'{where}.fields.{fname} must be a table, e.g. {{ direction = "a->b" }}'
            )
            continue
        unknown_keys(problems, f"{where}.fields.{fname}", rule, _FIELD_RULE_KEYS)
        fields[fname] = FieldRule(
            conflicts=_enum(
                problems,
                f"{where}.fields.{fname}.conflicts",
                rule.get("conflicts"),
                ConflictRule,
                None,
            ),
            direction=_enum(
                problems,
                f"{where}.fields.{fname}.direction",
                rule.get("direction"),
                Direction,
                Direction.BOTH,
            ),
        )
    tie = raw.get("tie_break", "a")
    if tie not in ("a", "b"):
        problems.append(f'{where}.tie_break = {tie!r}: use "a" or "b"')
        tie = "a"
    share = raw.get("max_delete_share", 0.2)
    if not isinstance(share, int | float) or not 0 <= share <= 1:
        problems.append(
            f"{where}.max_delete_share = {share!r}: use a share between 0 and 1, like 0.2"
        )
        share = 0.2
    guarded = raw.get("min_guarded_deletes", 3)
    if not isinstance(guarded, int) or isinstance(guarded, bool) or guarded < 1:
        problems.append(
            f"{where}.min_guarded_deletes = {guarded!r}: use a whole number of at least 1, "
            "like 3 (plans deleting fewer records are never refused)"
        )
        guarded = 3
    region = str(raw.get("default_region", "US")).upper()
    if region not in _regions():
        problems.append(
            f"{where}.default_region = {raw.get('default_region')!r}: use a two-letter "
            'country code such as "US", "GB" or "DE" (for phone numbers without a +prefix)'
        )
        region = "US"
    return Policy(
        conflicts=_enum(
            problems, f"{where}.conflicts", raw.get("conflicts"), ConflictRule, ConflictRule.NEWEST
        ),
        tie_break=tie,
        deletes=_enum(
            problems, f"{where}.deletes", raw.get("deletes"), DeleteRule, DeleteRule.PROPAGATE
        ),
        fields=fields,
        match_keys=tuple(match),
        default_region=region,
        entities=synced,
        max_delete_share=float(share),
        min_guarded_deletes=guarded,
    )


def _regions() -> frozenset[str]:
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def _state_url(problems: list[str], url: Any, path: Path) -> tuple[str, str]:
    """The state database URL and where it came from: a path relative to the config
    file, a URL, or a secret reference to one (a PostgreSQL URL with a password is a
    secret)."""
    default = f"sqlite:///{path.parent / 'syncengine.db'}"
    if url is None:
        return default, FROM_CONFIG
    if not isinstance(url, str):
        problems.append('state.url must be a string like "sqlite:///syncengine.db"')
        return default, FROM_CONFIG
    source = FROM_CONFIG
    if is_reference(url):
        source = reference_source(url, FROM_CONFIG)
        try:
            url = SecretStore()(url, setting="state.url")
        except SecretError as exc:
            problems.append(str(exc))
            return default, FROM_CONFIG
    elif _PASSWORD_IN_URL.match(url):
        problems.append(
            "state.url holds a literal password: never put secrets in the file; set "
            'url = "env:SYNCENGINE_STATE_URL" (export the full URL) or use trust/peer '
            "authentication or a ~/.pgpass file"
        )
    problem = scheme_problem(url)
    if problem is not None:
        problems.append(problem if source == FROM_CONFIG else f"{problem} (in {source})")
        return default, FROM_CONFIG
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{(path.parent / url.removeprefix('sqlite:///')).resolve()}", source
    return str(url), source


def parse(raw: Mapping[str, Any], path: Path) -> Config:
    """The config, or one ``ConfigError`` naming every problem the file shows.

    A side's own settings are checked by its adapter (``settings_problems``). Their
    problems go into this error only when it is raised for others; alone, they are
    left to the opening of the sides, which names them together with the problems only
    opening finds (a secret that does not resolve), so that case is one report too."""
    problems: list[str] = []
    side_settings: list[str] = []
    unknown_keys(problems, "", raw, _TOP_KEYS)
    state = raw.get("state", {})
    if isinstance(state, Mapping):
        unknown_keys(problems, "state", state, _STATE_KEYS)
    url, url_source = _state_url(
        problems, state.get("url") if isinstance(state, Mapping) else None, path
    )
    keep_history = _keep_history(
        problems, state.get("keep_history", "90d") if isinstance(state, Mapping) else "90d"
    )
    connections: dict[str, ConnectionConfig] = {}
    raw_conns = raw.get("connections", {})
    if not isinstance(raw_conns, Mapping) or not raw_conns:
        problems.append(
            "no [connections.NAME] table: add one with [connections.NAME.a] and [connections.NAME.b]"
        )
        raw_conns = {}
    for name, body in raw_conns.items():
        where = f"connections.{name}"
        if not isinstance(body, Mapping):
            problems.append(f"[{where}] must be a table")
            continue
        unknown_keys(problems, where, body, _CONNECTION_KEYS)
        schedule = body.get("schedule")
        if schedule is not None and not _valid_schedule(str(schedule)):
            problems.append(
                f'{where}.schedule = {schedule!r}: use "every 15m" (s/m/h/d) or a cron expression like "*/15 * * * *"'
            )
        full = body.get("full_pass_every", "24h")
        full_every = parse_duration(str(full))
        if full_every is None:
            problems.append(f'{where}.full_pass_every = {full!r}: use a duration like "24h"')
        side_a = _side(problems, side_settings, f"{where}.a", body.get("a"))
        side_b = _side(problems, side_settings, f"{where}.b", body.get("b"))
        same = _same_file(side_a, side_b, path.parent)
        if same is not None:
            problems.append(
                f"{where}.a and {where}.b both name the file {str(same)!r}: a side cannot "
                "sync with itself; point one of them at the other file"
            )
        connections[name] = ConnectionConfig(
            name=name,
            a=side_a,
            b=side_b,
            policy=_policy(problems, where, body),
            schedule=str(schedule) if schedule is not None else None,
            full_pass_every=full_every,
        )
    if problems:
        raise ConfigError(problems + side_settings, str(path))
    return Config(
        path=path,
        state_url=str(url),
        connections=connections,
        keep_history=keep_history,
        state_source=url_source,
    )


def _same_file(a: SideConfig, b: SideConfig, base_dir: Path) -> Path | None:
    """The file both sides' ``path`` settings name (relative to the config), if one."""
    paths = []
    for side in (a, b):
        raw = side.settings.get("path")
        if not isinstance(raw, str) or not raw.strip():
            return None
        found = Path(raw).expanduser()
        paths.append((found if found.is_absolute() else base_dir / found).resolve())
    return paths[0] if paths[0] == paths[1] else None


def _valid_schedule(text: str) -> bool:
    if text.startswith("every"):
        return parse_duration(text) is not None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(text)  # the scheduler's own parser: what it accepts
    except ValueError:
        return False
    return True
