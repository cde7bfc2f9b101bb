"""The names a config may use, and a misspelt one named with its likely fix.

A key nobody reads falls back silently to its default: ``conflict = "a"`` would sync
under ``newest``, ``pth = "app.jsonl"`` on a side would go unnoticed until the side
failed, and ``fields.compnay_name`` would leave the user's manual policy unapplied.
So every table's keys are checked against what its reader takes: the settings of a
connection, the settings each adapter declares (``AdapterType.SETTINGS``), and the
canonical field names of the entities the connection syncs.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from syncengine.models import ENTITIES, FIELDS, MAP_FIELDS, Entity

__all__ = ["field_names", "flat_field_rules", "names_field", "unknown_field", "unknown_keys"]


def did_you_mean(key: str, known: Collection[str]) -> str | None:
    """The known name ``key`` most likely misspells, if any is close."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return close[0] if close else None


def unknown_keys(
    problems: list[str],
    where: str,
    raw: Mapping[str, Any],
    known: Collection[str],
    *,
    ignore: Collection[str] = (),
) -> None:
    """Name every key of ``raw`` outside ``known`` (and ``ignore``), with the likely fix."""
    for key in raw:
        if key in known or key in ignore:
            continue
        close = did_you_mean(str(key), known)
        hint = f"did you mean {close!r}?" if close else f"known settings: {', '.join(known)}"
        problems.append(f"{where}{'.' if where else ''}{key}: unknown setting; {hint}")


def field_names(entities: Collection[Entity]) -> tuple[str, ...]:
    """Every name a ``fields`` table may give for these entities: ``FIELD`` and
    ``ENTITY.FIELD`` (a map field such as ``custom_fields`` also takes ``.KEY``)."""
    plain = dict.fromkeys(f for e in entities for f in FIELDS[e])
    qualified = [f"{e}.{f}" for e in entities for f in FIELDS[e]]
    return (*plain, *qualified)


def names_field(name: str, entities: Collection[Entity]) -> bool:
    """Whether ``name`` names a field of ``entities`` in a form ``Policy.rule_for`` looks
    up: ``email``, ``contact.email``, ``custom_fields``, ``custom_fields.plan`` or
    ``contact.custom_fields.plan`` (any key of a map field)."""
    known = field_names(entities)
    if name in known:
        return True
    maps = [f"{f}." for f in known if f.rpartition(".")[2] in MAP_FIELDS]
    return any(name.startswith(m) and len(name) > len(m) for m in maps)


def unknown_field(name: str, entities: Collection[Entity]) -> str | None:
    """Why ``name`` in a ``fields`` table names no field of ``entities``; None if it does."""
    if names_field(name, entities):
        return None
    entity, dot, rest = name.partition(".")
    if dot and entity in ENTITIES:
        return _unknown_field_of(entity, rest, entities)
    unsynced = [e for e in ENTITIES if e not in entities]
    if unsynced and names_field(name, unsynced):
        return (
            "a field of an entity this connection does not sync; "
            f"add it to entities ({', '.join(unsynced)})"
        )
    close = did_you_mean(name, field_names(entities))
    if close:
        return f"no such field; did you mean {close!r}?"
    plain = dict.fromkeys(f for e in entities for f in FIELDS[e])
    return (
        f"no such field of {', '.join(entities)}; use one of {', '.join(plain)} "
        "(or ENTITY.FIELD, custom_fields.KEY)"
    )


def _unknown_field_of(entity: Entity, rest: str, entities: Collection[Entity]) -> str:
    """Why ``ENTITY.REST`` names no field: the entity is not synced, has no such field,
    or both (each said, as each needs its own fix)."""
    known = FIELDS[entity]
    synced = entity in entities
    if not synced and names_field(f"{entity}.{rest}", [entity]):
        return f"a field of {entity}, which this connection does not sync; add it to entities"
    close = did_you_mean(rest, known)
    hint = f"did you mean '{entity}.{close}'?" if close else f"its fields: {', '.join(known)}"
    why = f"{entity} has no field {rest!r}; {hint}"
    return why if synced else f"{why}; and this connection does not sync {entity} (entities)"


def flat_field_rules(raw: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(name, rule)`` for every rule of a ``fields`` table, dotted names flattened.

    TOML reads an unquoted ``contact.email = {...}`` as a table ``contact`` holding
    ``email``: a table whose values are all tables is a group of names, not a rule
    (a rule's values are strings)."""
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if (
            isinstance(value, Mapping)
            and value
            and all(isinstance(v, Mapping) for v in value.values())
        ):
            yield from flat_field_rules(value, f"{name}.")
        else:
            yield name, value
