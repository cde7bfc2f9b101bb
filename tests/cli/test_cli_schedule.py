"""``syncengine schedule`` as a real process: SIGTERM during a run ends it at a clean
point (no journal row left pending), and the next run finishes the job."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import Invoke, big_jsonl_pair, journal_counts

from syncengine.scheduler import first_run_at

pytestmark = pytest.mark.e2e

N = 4000  # enough contacts that a first sync spans several chunks of ops
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _start_schedule(config: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncengine.cli", "schedule", *options, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=config.parent,
    )


def _signal_while_applying(
    config: Path,
    *signals: signal.Signals,
    options: tuple[str, ...] = (),
    exits: int | None = 0,
    apart: float = 0.0,
) -> str:
    """Start the scheduler, wait until its first run is applying, send the signals
    (``apart`` seconds apart); ``exits`` is the exit code expected (None: 0 or 130)."""
    db = config.parent / "syncengine.db"
    proc = _start_schedule(config, *options)
    try:
        deadline = time.monotonic() + 90
        while sum(journal_counts(db).values()) == 0:  # wait until the first run is applying
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the scheduled run never started"
            time.sleep(0.05)
        for signum in signals:
            proc.send_signal(signum)
            time.sleep(apart)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in ((0, 130) if exits is None else (exits,)), out
    return out


def test_sigterm_stops_at_a_clean_point_and_the_next_run_converges(
    cli: Invoke, tmp_path: Path
) -> None:
    config = big_jsonl_pair(tmp_path, N, schedule="every 1s")
    db = tmp_path / "syncengine.db"
    out = _signal_while_applying(config, signal.SIGTERM)
    assert "SIGTERM: stopping after the run in flight" in out
    statuses = journal_counts(db)
    assert "pending" not in statuses, statuses  # every journaled op was settled
    with sqlite3.connect(db) as conn:
        (first_status,) = conn.execute("SELECT status FROM runs ORDER BY id LIMIT 1").fetchone()
    # The signal came while the first run was applying: it stopped early, or (on a
    # machine fast enough to finish before the signal landed) it completed.
    assert first_status == "stopped" or statuses == {"done": N}, (first_status, statuses)
    # Stopped early or finished: either way a manual run completes the job.
    assert cli("run", "--config", config).exit_code == 0
    plan = cli("plan", "--config", config, "--format", "json")
    assert plan.exit_code == 0
    assert json.loads(plan.output)["operations"] == []
    b_emails = [
        json.loads(line)["email"] for line in (tmp_path / "b.jsonl").read_text().splitlines()
    ]
    assert len(b_emails) == N == len(set(b_emails))


def test_schedule_once_stops_on_sigterm_as_run_does(tmp_path: Path) -> None:
    # Five times the usual pair: the signal lands seconds before such a run could end.
    config = big_jsonl_pair(tmp_path, 5 * N, schedule="every 1h")
    out = _signal_while_applying(config, signal.SIGTERM, options=("--once",), exits=143)
    assert "SIGTERM: stopping after the records in flight" in out
    assert "pending" not in journal_counts(tmp_path / "syncengine.db")


def test_a_second_ctrl_c_stops_at_once_and_a_run_settles_it(cli: Invoke, tmp_path: Path) -> None:
    """The second Ctrl-C, while the run in flight settles: the scheduler ends at once
    (exit 130, as kill -9 would) unless that run had settled already (exit 0); either
    way without a traceback, and the next run finishes the job."""
    config = big_jsonl_pair(tmp_path, N, schedule="every 1s")
    out = _signal_while_applying(config, signal.SIGINT, signal.SIGINT, exits=None, apart=0.2)
    assert "SIGINT: stopping after the run in flight" in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    if "SIGINT: stopped at once" not in out:
        assert "pending" not in journal_counts(tmp_path / "syncengine.db")
    assert cli("run", "--config", config).exit_code == 0
    b_emails = [
        json.loads(line)["email"] for line in (tmp_path / "b.jsonl").read_text().splitlines()
    ]
    assert len(b_emails) == N == len(set(b_emails))


def _runs(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT started_at FROM runs ORDER BY id")]
        except sqlite3.OperationalError:
            return []


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # every thread's stack, to its output
        time.sleep(2)
        proc.kill()
        pytest.fail(f"the scheduler did not stop on SIGTERM; its threads:\n{proc.communicate()[0]}")
    assert proc.returncode == 0, out
    return out


def test_an_interval_counts_from_the_last_run_not_from_the_start(tmp_path: Path) -> None:
    """A fresh connection runs as the scheduler starts, not an hour later; restarted at
    once, the scheduler waits out the hour from that run instead of running again."""
    (tmp_path / "a.jsonl").write_text('{"id": "1", "email": "a@example.com"}\n')
    (tmp_path / "b.jsonl").write_text("")
    config = tmp_path / "syncengine.toml"
    config.write_text(
        '[connections.main]\nschedule = "every 1h"\n'
        '[connections.main.a]\nadapter = "jsonl"\npath = "a.jsonl"\n'
        '[connections.main.b]\nadapter = "jsonl"\npath = "b.jsonl"\n',
        encoding="utf-8",
    )
    db = tmp_path / "syncengine.db"
    proc = _start_schedule(config)
    try:
        deadline = time.monotonic() + 60
        while not _runs(db):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "an hourly schedule did not run at its start"
            time.sleep(0.05)
        out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "main: every 1h; first run now" in out
    (started,) = _runs(db)
    proc = _start_schedule(config)
    try:
        assert proc.stdout is not None
        said = proc.stdout.readline()  # the schedule's line: it is about to start
        time.sleep(2)
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _runs(db) == [started]  # no second run: the hour counts from the first
    due = datetime.fromisoformat(started).astimezone(UTC) + timedelta(hours=1)
    assert said.strip() == f"main: every 1h; first run at {due:%Y-%m-%d %H:%M:%S} UTC"


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (None, NOW),  # never ran: now
        (NOW - timedelta(minutes=5), NOW + timedelta(minutes=10)),  # ran 5 min ago
        (NOW - timedelta(hours=3), NOW),  # long overdue: now, once
    ],
)
def test_first_run_of_an_interval_schedule(last: datetime | None, expected: datetime) -> None:
    assert first_run_at("every 15m", last, NOW) == expected


def test_a_cron_schedule_keeps_its_own_clock() -> None:
    assert first_run_at("*/15 * * * *", NOW - timedelta(minutes=5), NOW) is None
