"""Find adapters by name through the ``syncengine.adapters`` entry-point group.

Each entry point names a factory ``(settings, context) -> Adapter``; it is imported only
when a connection uses it, so a broken optional adapter cannot break the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast

from adapters.base import Adapter, AdapterContext, AdapterFactory
from syncengine.errors import UnknownAdapterError

GROUP = "syncengine.adapters"


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def adapter_names() -> list[str]:
    return sorted(_entry_points())


def load_factory(name: str) -> AdapterFactory:
    ep = _entry_points().get(name)
    if ep is None:
        known = ", ".join(adapter_names()) or "none"
        raise UnknownAdapterError(f"no adapter named {name!r}; set adapter to one of: {known}")
    return cast(AdapterFactory, ep.load())


def open_adapter(name: str, settings: Mapping[str, Any], context: AdapterContext) -> Adapter:
    return load_factory(name)(settings, context)
