"""Find adapters by name through the ``syncengine.adapters`` entry-point group.

Each entry point names an adapter class (``AdapterType``): its ``SETTINGS`` say which
settings a side of that kind takes, so the config layer can name a misspelt one, and
its ``from_settings`` builds the side. A class is imported only when a connection uses
it, so a broken optional adapter cannot break the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast

from adapters.base import Adapter, AdapterContext, AdapterFactory, AdapterType
from syncengine.errors import UnknownAdapterError

GROUP = "syncengine.adapters"


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def adapter_names() -> list[str]:
    return sorted(_entry_points())


def load_type(name: str) -> AdapterType:
    ep = _entry_points().get(name)
    if ep is None:
        known = ", ".join(adapter_names()) or "none"
        raise UnknownAdapterError(f"no adapter named {name!r}; set adapter to one of: {known}")
    return cast(AdapterType, ep.load())


def adapter_settings(name: str) -> tuple[str, ...]:
    """The settings a side with ``adapter = name`` may hold (besides ``adapter``)."""
    return tuple(load_type(name).SETTINGS)


def settings_problems(name: str, settings: Mapping[str, Any]) -> list[str]:
    """The problems of a side's settings that the config can name without opening it.
    An adapter made before ``settings_problems`` joined ``AdapterType`` has none to
    name here: its ``from_settings`` still names them all when the side is opened."""
    check = getattr(load_type(name), "settings_problems", None)
    return [] if check is None else list(check(settings))


def load_factory(name: str) -> AdapterFactory:
    return load_type(name).from_settings


def open_adapter(name: str, settings: Mapping[str, Any], context: AdapterContext) -> Adapter:
    return load_factory(name)(settings, context)
