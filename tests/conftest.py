"""Shared test set-up: hypothesis profiles (dev / ci, chosen by HYPOTHESIS_PROFILE or CI)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# No explain phase: on a failing sync-machine example it replays every step many times
# over (minutes: past the test timeout, which then reads as a flaky test); the shrunk
# example and its blob say enough.
PHASES = tuple(p for p in Phase if p is not Phase.explain)

settings.register_profile("dev", max_examples=40, deadline=None, phases=PHASES)
settings.register_profile(
    "ci",
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    phases=PHASES,
)
settings.register_profile(
    "deterministic", max_examples=40, deadline=None, derandomize=True, phases=PHASES
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev")
)
