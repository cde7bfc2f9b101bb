"""Whether files can be made in a folder, found by making one.

``os.access`` answers from the permission bits: it says yes to root everywhere and to
anyone on a read-only mount, where the real write then fails after a run was applied.
A throwaway file in the folder is the only answer the write itself will agree with.
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
