"""``syncengine schedule``: each connection on its own schedule (APScheduler 3.x).

One job per connection with ``max_instances=1`` and ``coalesce=True``: a slow run never
overlaps itself and missed runs collapse into one. A run in another process (a manual
``syncengine run``) is excluded by the connection's lock in the state store, and the
job just logs that it was busy. SIGTERM/SIGINT stop the scheduler; the run in flight
finishes the record it is writing (its one to three ops), settles the journal of its
chunk and stops, so the journal stays consistent and the next run does the rest; a
second signal ends the process at once, as kill -9 would.

An interval schedule counts from the connection's last run, wherever it ran: a
scheduler started (or restarted by a deploy) runs a connection whose interval has
passed at once, and one that ran five minutes ago in ten, instead of leaving every
connection a whole interval behind on each start. A cron schedule keeps its clock.
"""

from __future__ import annotations

import faulthandler
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from rich.console import Console
from rich.markup import escape

from syncengine.cli_io import console_for
from syncengine.config import Config, parse_duration
from syncengine.errors import LockedError, SafetyRefusal, StoppedWhileReading, SyncError
from syncengine.interrupt import STOP_SIGNALS, exit_at_once, stop_on_signals
from syncengine.render._common import NOTHING_CHANGED, run_summary


def _console() -> Console:
    """Looked up at each message: where stderr goes (terminal or log file) can change."""
    return console_for(stderr=True)


def _interval(schedule: str) -> timedelta | None:
    """An ``every ...`` schedule's interval; None for a cron expression."""
    return parse_duration(schedule) if schedule.startswith("every") else None


def trigger_for(schedule: str, first: datetime | None = None) -> Any:
    """The schedule's trigger; an interval one fires at ``first`` and every interval
    after it (APScheduler's default is one interval after the scheduler starts)."""
    every = _interval(schedule)
    if every is not None:
        return IntervalTrigger(seconds=every.total_seconds(), start_date=first)
    return CronTrigger.from_crontab(schedule)


def first_run_at(schedule: str, last_started: datetime | None, now: datetime) -> datetime | None:
    """When an interval schedule's first run falls due: one interval after the last run,
    or now if that has passed (or the connection never ran). None for a cron schedule,
    whose own clock says when."""
    every = _interval(schedule)
    if every is None:
        return None
    if last_started is None:
        return now
    return max(now, last_started + every)


def _last_started(config: Config, names: list[str]) -> dict[str, datetime]:
    """When each connection's latest run started, from the state store."""
    from state.store import Store

    store = Store(config.state_url, source=config.state_source)
    try:
        return {
            name: runs[0]["started_at"]
            for name in names
            if (runs := store.runs(name, limit=1)) and runs[0]["started_at"] is not None
        }
    finally:
        store.close()


def _when(moment: datetime, now: datetime) -> str:
    if moment - now < timedelta(seconds=1):
        return "first run now"
    return f"first run at {moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def run_connection(config: Config, name: str, stop: Callable[[], bool] | None = None) -> str:
    """One run of ``name``, logged; ``stop`` says when to stop at a clean point."""
    from syncengine.runtime import open_session

    try:
        session = open_session(config, name)
    except SyncError as exc:
        _console().print(f"[red]{name}: {escape(str(exc))}[/]")
        return "error"
    try:
        if stop is not None:
            session.engine.should_stop = stop
        report = session.engine.run()
        line = run_summary(report.summary()) or NOTHING_CHANGED
        _console().print(f"{name}: run {report.run_id}: {line}", markup=False)
        return "ok"
    except StoppedWhileReading as exc:
        _console().print(f"[yellow]{name}: {escape(str(exc))}[/]")
        return "stopped"
    except LockedError as exc:
        _console().print(f"[yellow]{name}: skipped, {escape(str(exc))}[/]")
        return "busy"
    except SafetyRefusal as exc:
        # The schedule never forces: the refusal's own advice names the one-off command.
        _console().print(
            f"[red]{name}: refused: {escape(str(exc))} (The schedule never "
            f"forces: until then, its runs of {name} are refused the same way.)[/]"
        )
        return "error"
    except SyncError as exc:
        _console().print(f"[red]{name}: error: {escape(str(exc))}[/]")
        return "error"
    finally:
        session.close()


def run_scheduler(config: Config, *, once: bool = False) -> int:
    scheduled = {n: c for n, c in config.connections.items() if c.schedule}
    if not scheduled:
        _console().print('no connection has a schedule; add schedule = "every 15m" to one')
        return 2
    unscheduled = sorted(set(config.connections) - set(scheduled))
    if unscheduled:
        _console().print(
            f"not scheduled (no schedule set): {', '.join(unscheduled)}; "
            "`syncengine run NAME` syncs one by hand"
        )
    if once:  # on this thread, stopped as `syncengine run` is
        with stop_on_signals() as request:
            results = [
                run_connection(config, n, request) for n in sorted(scheduled) if not request()
            ]
        if request.exit_code is not None:
            return request.exit_code
        return 0 if all(r in ("ok", "busy") for r in results) else 1
    stop = threading.Event()
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
    )
    last = _last_started(config, sorted(scheduled))
    now = datetime.now(UTC)
    for name, conn in sorted(scheduled.items()):
        assert conn.schedule is not None
        first = first_run_at(conn.schedule, last.get(name), now)
        # The first run is set as well as the trigger's start: by the time the scheduler
        # starts, "now" is past, and the trigger alone would wait for its next tick.
        timing = {} if first is None else {"next_run_time": first}
        scheduler.add_job(
            run_connection,
            trigger_for(conn.schedule, first),
            args=[config, name, stop.is_set],
            id=name,
            name=name,
            **timing,
        )
        _console().print(f"{name}: {conn.schedule}" + (f"; {_when(first, now)}" if first else ""))

    # A scheduler that will not stop can say where each thread is: kill -USR1 PID
    # prints every thread's stack to stderr (and the scheduler goes on).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signum = _run_until_signalled(scheduler)
    name = signal.Signals(signum).name
    _console().print(f"{name}: stopping after the run in flight ({name} again stops at once)")
    stop.set()  # the run in flight stops at its next clean point
    # Shut down (waiting for that run to settle its journal) on a thread of its own, so
    # this one can take a second signal meanwhile: against a slow side a chunk's last
    # record can take a while, and a second Ctrl-C means now.
    stopping = threading.Thread(target=scheduler.shutdown, name="schedule-stop")
    stopping.start()
    while stopping.is_alive():
        again = signal.sigtimedwait(STOP_SIGNALS, 0.1)
        if again is not None:
            exit_at_once(again.si_signo)
    # The signals stay blocked to the end: the process is exiting, and one that comes
    # now has nothing left to stop. Unblocked, it killed the interpreter as it exited
    # (Python restores the default handlers first): exit -2 instead of 0, seen in CI.
    return 0


def _run_until_signalled(scheduler: BackgroundScheduler) -> int:
    """Start the scheduler and wait, on the main thread, for SIGTERM or SIGINT.

    The signals are blocked before any scheduler thread exists (threads inherit the
    mask) and taken with ``sigwait``. A Python signal handler instead needs the
    signal delivered to the main thread: the kernel may hand it to a job thread,
    and the main thread, asleep in an untimed wait, then never ran the handler; a
    SIGTERM was lost so in CI.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    scheduler.start()
    return signal.sigwait(STOP_SIGNALS)
