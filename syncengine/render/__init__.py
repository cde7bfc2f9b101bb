"""Turn plans and run reports into text, JSON, Markdown or HTML. Pure: returns strings.

The CLI decides where output goes; this package only formats. ``render(obj, fmt)`` is
the one entry point the CLI needs; the per-format functions are public for callers that
want a rich renderable, a dict, or options such as ``conflict_ids`` (store ids for the
``syncengine resolve`` commands). All formats break nested field changes down with
``render.diff`` so a reviewer sees ``custom_fields.plan: "gold" → "silver"`` rather than
two whole dicts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Literal, TypeAlias

from rich.console import Console

from syncengine.models import Plan, RunReport

from .diff import ValueChange, diff_change, diff_values, format_value
from .html import plan_html, report_html
from .json import dumps, plan_to_dict, preview_to_dict, report_to_dict
from .markdown import plan_markdown, report_markdown
from .text import plan_renderable, report_renderable

__all__ = [
    "Format",
    "ValueChange",
    "diff_change",
    "diff_values",
    "dumps",
    "format_value",
    "plan_html",
    "plan_markdown",
    "plan_renderable",
    "plan_to_dict",
    "preview_to_dict",
    "render",
    "render_text",
    "report_html",
    "report_markdown",
    "report_renderable",
    "report_to_dict",
]

Format: TypeAlias = Literal["text", "json", "md", "html"]


def render_text(
    obj: Plan | RunReport, *, conflict_ids: Mapping[str, int] | None = None, width: int = 120
) -> str:
    """Plain text as the terminal would show it, through a recording, colourless Console."""
    console = Console(
        file=io.StringIO(),
        record=True,
        width=width,
        no_color=True,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        force_interactive=False,
        markup=False,
        emoji=False,
        highlight=False,
        legacy_windows=False,
        _environ={},
    )
    if isinstance(obj, RunReport):
        console.print(report_renderable(obj, conflict_ids=conflict_ids), crop=False)
    else:
        console.print(plan_renderable(obj, conflict_ids=conflict_ids), crop=False)
    # Rich pads every line to the table width; trailing blanks only bloat saved files.
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def render(
    obj: Plan | RunReport,
    fmt: Format,
    *,
    conflict_ids: Mapping[str, int] | None = None,
    width: int = 120,
) -> str:
    """``obj`` in format ``fmt``, ending in one newline; ``width`` applies to text only."""
    if fmt == "text":
        return render_text(obj, conflict_ids=conflict_ids, width=width)
    if fmt == "json":
        return dumps(obj) + "\n"
    if fmt == "md":
        if isinstance(obj, RunReport):
            return report_markdown(obj, conflict_ids=conflict_ids)
        return plan_markdown(obj, conflict_ids=conflict_ids)
    if fmt == "html":
        if isinstance(obj, RunReport):
            return report_html(obj, conflict_ids=conflict_ids)
        return plan_html(obj, conflict_ids=conflict_ids)
    raise ValueError(f"unknown format {fmt!r}: expected one of text, json, md, html")
