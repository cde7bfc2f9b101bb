"""Ctrl-C or SIGTERM during ``syncengine run`` (or ``schedule --once``): stop at the
next clean point.

Without it the first Ctrl-C killed the run where it stood, and the user saw nothing of
what it had done: the journal made that safe, but not legible. Now the first signal
asks the run to stop after the record in flight (its journal settled, its report
printed, exit 128 + the signal's number, as shells expect of an interrupted command);
a second one ends the process at once, as kill -9 would: the journal makes that
safe (a crash at any point converges), and the next run settles what was in flight.
Unwinding instead (a KeyboardInterrupt raised wherever the run stood) left a database
connection inside its transaction, and releasing the run's lock then failed with
"database is locked", hiding what had happened.

The run sees the request where it checks ``should_stop``: before each read of a side
and before each record it writes. The notice is printed at once, so a run still deep
in one long read says it heard.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


class StopRequest:
    """Whether a stop signal came; callable, as ``SyncEngine.should_stop`` is."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number once one came (130 for Ctrl-C), else None."""
        return None if self.signum is None else 128 + self.signum

    def __call__(self) -> bool:
        return self.signum is not None


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """A ``StopRequest`` set by SIGINT/SIGTERM while the block runs; the handlers before
    are restored after it. Off the main thread (signals cannot be caught there) the
    request just never comes."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if request.signum is not None:
            exit_at_once(signum)
        request.signum = signum
        _say(
            f"{name}: stopping after the records in flight; the next run does the rest "
            f"({name} again stops at once)"
        )

    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def exit_at_once(signum: int) -> None:
    """End the process now, for a second stop signal: what was in flight is left as a
    kill -9 leaves it, for the next run to settle."""
    if os.isatty(1):
        os.write(1, b"\x1b[?25h")  # a progress bar hid the cursor: show it again
    name = signal.Signals(signum).name
    _say(f"{name}: stopped at once; the next run settles the records in flight")
    os._exit(128 + signum)


def _say(text: str) -> None:
    """A raw write: the handler may have interrupted a write to the same stream, which
    a buffered one would re-enter."""
    os.write(2, f"{text}\n".encode())
