"""Where the command line's output goes: consoles, and the files it is asked to write.

A pipe or a file gets lines that are never wrapped (rich would otherwise cut them at 80
columns), so an id or a printed ``syncengine resolve ...`` command copies whole. A file
the user names (``--report``, ``--output``, ``init PATH``) is checked before anything
runs, so a typo in a folder name costs a message, not a traceback after the sync.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from syncengine.errors import UsageError
from syncengine.writable import can_write_file

UNWRAPPED_WIDTH = 10_000
"""Columns for output that is not a terminal: wide enough that nothing wraps."""

REPORT_FORMATS = ("html", "md", "json")
_SUFFIX_ALIASES = {"htm": "html", "markdown": "md"}


def console_for(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr): a terminal wraps at its width, anything else never."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=UNWRAPPED_WIDTH, soft_wrap=True)


RULE_WIDTH = 100
"""Columns of a section heading where nothing wraps (it would span all of them)."""


def section(console: Console, title: str) -> None:
    """A heading line: across a terminal, or ``RULE_WIDTH`` columns in a pipe or file."""
    console.print(Rule(title), width=min(console.width, RULE_WIDTH))


def report_format(path: str, option: str = "--report") -> str:
    """A report's format, from its file name's suffix."""
    suffix = Path(path).suffix.lstrip(".").lower()
    fmt = _SUFFIX_ALIASES.get(suffix, suffix)
    if fmt not in REPORT_FORMATS:
        raise UsageError(
            f"{option} {path!r}: name the file .html, .md or .json; the suffix picks the format"
        )
    return fmt


def default_report_name(fmt: str) -> str:
    """``syncengine-report.md`` for Markdown: the default name follows the format."""
    return f"syncengine-report.{fmt}"


def check_writable(path: str, option: str) -> Path:
    """``path`` if a file can be written there; else a UsageError naming the path and the fix.

    Called before a run starts, so a bad path never leaves a run applied and unreported.
    """
    target = Path(path)
    folder = target.parent
    where = f"{option} {path!r}" if option else repr(path)
    if target.is_dir():
        raise UsageError(f"{where} is a folder; name a file inside it")
    if not folder.exists():
        raise UsageError(
            f"{where}: the folder {str(folder)!r} does not exist; create it "
            f"(mkdir -p {folder}) or name a file in a folder that exists"
        )
    if not folder.is_dir():
        raise UsageError(f"{where}: {str(folder)!r} is not a folder; name a file in a folder")
    if not can_write_file(target):
        raise UsageError(
            f"{where}: no permission to write there; pick a folder you can write to "
            "or fix its permissions"
        )
    return target


def write_file(path: str, text: str, option: str) -> None:
    """Write ``text`` to ``path``; an OS error becomes a message naming the path."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"{option} {path!r}: could not write the file ({exc.strerror or exc}); "
            "pick another path"
        ) from None
