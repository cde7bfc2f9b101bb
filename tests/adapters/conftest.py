"""Fixtures shared by the adapter tests."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from adapters.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class FailingReplace:
    """An ``os.replace`` stand-in that fails like a full disk or a kill mid-rename."""

    def __init__(self, error: OSError) -> None:
        self.error = error
        self.armed = True
        self.calls = 0

    def __call__(self, src: str, dst: str) -> None:
        self.calls += 1
        if self.armed:
            raise self.error
        os.replace(src, dst)


@pytest.fixture
def failing_replace() -> Callable[[OSError], FailingReplace]:
    """Makes a replace hook that raises the given error until ``armed`` is cleared."""
    return FailingReplace
