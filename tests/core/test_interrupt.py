"""The stop request of ``syncengine run``: the first signal asks, the handlers come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from syncengine.interrupt import stop_on_signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_becomes_a_request_and_the_handlers_are_restored(
    signum: signal.Signals, capfd: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(signum)
    with stop_on_signals() as stop:
        assert not stop() and stop.exit_code is None
        os.kill(os.getpid(), signum)  # handled on this (the main) thread before kill returns
        assert stop() and stop.exit_code == 128 + signum
    assert signal.getsignal(signum) is before
    assert f"{signum.name}: stopping after the records in flight" in capfd.readouterr().err


def test_off_the_main_thread_no_handler_is_installed() -> None:
    seen: list[object] = []

    def body() -> None:
        with stop_on_signals() as stop:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(stop())

    before = signal.getsignal(signal.SIGINT)
    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == [before, False]
