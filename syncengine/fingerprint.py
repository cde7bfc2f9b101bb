"""Fingerprints: a short hash of a record's canonical content.

"Changed" always means "fingerprint differs from the base's", never a timestamp: a
side that bumps ``updated_at`` without changing content is not a change. Fingerprints
let the engine skip unchanged records in bulk without a Python-level diff.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from syncengine.models import JSON

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def fingerprint(fields: Mapping[str, JSON]) -> str:
    """Hash of canonical fields (callers pass canonical_fields output)."""
    return fingerprint_of_text(_dumps(fields))


def fingerprint_of_text(text: str) -> str:
    """Hash of fields already encoded with ``encode``."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def encode(fields: Mapping[str, JSON]) -> str:
    """The stable JSON text of canonical fields, as the state store keeps them."""
    return _dumps(fields)
