"""Ctrl-C and SIGTERM during ``syncengine run``, as a real process.

The first signal stops the run after the records in flight: the journal is settled,
the report printed, the exit code 128 + the signal; a second stops it at once. Either
way (the second is as kill -9) the next run finishes the job without a duplicate.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import Invoke, big_jsonl_pair, journal_counts

pytestmark = pytest.mark.e2e

N = 20_000  # a first sync long enough (seconds) to be caught applying


def _run_and_signal(config: Path, *signals: signal.Signals) -> subprocess.CompletedProcess[str]:
    """``syncengine run``, sent ``signals`` (0.3 s apart) once it is applying."""
    db = config.parent / "syncengine.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncengine.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=config.parent,
    )
    try:
        deadline = time.monotonic() + 90
        while sum(journal_counts(db).values()) == 0:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started applying"
            time.sleep(0.02)
        for signum in signals:
            proc.send_signal(signum)
            time.sleep(0.3)
        out, errors = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, errors)


def _status(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        (status,) = conn.execute("SELECT status FROM runs ORDER BY id LIMIT 1").fetchone()
    return str(status)


def _converges(cli: Invoke, config: Path) -> None:
    rerun = cli("run", "--config", config)
    assert rerun.exit_code == 0, rerun.output
    emails = [
        json.loads(line)["email"]
        for line in (config.parent / "b.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(emails) == N == len(set(emails))  # all there, none twice


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_ends_the_run_at_a_clean_point(
    cli: Invoke, tmp_path: Path, signum: signal.Signals
) -> None:
    config = big_jsonl_pair(tmp_path, N)
    db = tmp_path / "syncengine.db"
    done = _run_and_signal(config, signum)
    if done.returncode == 0:  # a machine fast enough to finish before the signal landed
        assert journal_counts(db) == {"done": N}
    else:
        assert done.returncode == 128 + signum, done.stderr
        assert f"{signum.name}: stopping after the records in flight" in done.stderr
        assert "operations ran; the next run plans the rest" in done.stderr
        assert "Outcomes:" in done.stdout  # the report of what it did
        assert "Traceback" not in done.stderr
        assert _status(db) == "stopped"
        assert "pending" not in journal_counts(db)
    _converges(cli, config)


def test_a_second_ctrl_c_stops_at_once_and_the_next_run_settles_it(
    cli: Invoke, tmp_path: Path
) -> None:
    config = big_jsonl_pair(tmp_path, N)
    done = _run_and_signal(config, signal.SIGINT, signal.SIGINT)
    if done.returncode != 0:
        # The second stopped it at once, or came after the run had stopped: while its
        # report was printed (a plain Ctrl-C, 130) or as the process exited (killed by
        # it, -2); never with a traceback.
        assert done.returncode in (130, -signal.SIGINT), done.stderr
        assert "SIGINT: stopping after the records in flight" in done.stderr
        assert "Traceback" not in done.stderr, done.stderr
    _converges(cli, config)
