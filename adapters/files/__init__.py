"""File-backed sides: JSON Lines (``jsonl``) and CSV (``csv``).

Both keep a user's file as the user wrote it: lines the sync does not touch are written
back byte for byte, unknown keys and columns survive, malformed lines are reported and
kept. Every write replaces the file atomically; ``batch()`` groups many writes into one
rewrite. The adapters are found through entry points, so this package exports nothing.
"""

from __future__ import annotations
