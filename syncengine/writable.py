"""Whether a file can be written, found by trying.

``os.access`` answers from the permission bits: it says yes to root everywhere and to
anyone on a read-only mount, where the real write then fails after a run was applied.
A throwaway file in the folder (or opening the file itself for appending, which
changes nothing) is the only answer the write itself will agree with.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def can_create_files_in(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".syncengine-probe-"):
            return True
    except OSError:
        return False


def can_write_file(target: Path) -> bool:
    """Whether ``target`` (in a folder that exists) can be created or overwritten."""
    if not target.exists():
        return can_create_files_in(target.parent)
    try:
        with target.open("ab"):
            return True
    except OSError:
        return False
