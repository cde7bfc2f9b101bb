"""The ``syncengine`` command line (typer + rich).

Exit codes: 0 ok; 1 the run finished but some records were quarantined, failed or
could not be read; 2 a usage or config error; 3 a safety guard refused the run; 4 the
connection is locked by another run. Errors a user can fix print without a traceback.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from syncengine import config as config_mod
from syncengine.cli_io import (
    REPORT_FORMATS,
    check_writable,
    console_for,
    default_report_name,
    report_format,
    write_file,
)
from syncengine.config_keys import did_you_mean, field_names, names_field
from syncengine.errors import (
    LockedError,
    NotFoundError,
    SafetyRefusal,
    StoppedWhileReading,
    SyncError,
    UsageError,
    UserError,
)
from syncengine.interrupt import stop_on_signals
from syncengine.models import ENTITIES, SIDES, RunReport, Side
from syncengine.normalize import is_valid_email
from syncengine.render._common import DELETED, NOTHING_CHANGED, plural, run_summary
from syncengine.values import (
    BOOL_FIELDS,
    LIST_FIELDS,
    OBJECT_FIELDS,
    type_problem,
    value_problem,
)

if TYPE_CHECKING:
    from state.store import Store
    from syncengine.engine import SyncEngine
    from syncengine.runtime import Session

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Two-way sync between a business app and GoHighLevel.",
)
conflicts_app = typer.Typer(no_args_is_help=False, help="Review conflicts held for a decision.")
app.add_typer(conflicts_app, name="conflicts")
console = console_for()
err = console_for(stderr=True)

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default ./syncengine.toml or $SYNCENGINE_CONFIG); "
        "before or after the command.",
    ),
]
ConnArg = Annotated[
    str | None, typer.Argument(help="Connection name (optional when there is one).")
]
ConnOpt = Annotated[
    str | None, typer.Option("--connection", help="Only this connection (default: all).")
]
ConnAlso = Annotated[
    str | None,
    typer.Option("--connection", help="The connection, as an option (same as the argument)."),
]
"""Beside ``ConnArg``: the listing commands take ``--connection``, so a user who learnt
it there writes ``run --connection NAME`` too."""


def _either(argument: str | None, option: str | None) -> str | None:
    """The connection named by the argument or by ``--connection``; both, differing, is
    a usage error (exit 2) rather than a guess."""
    if argument is not None and option is not None and argument != option:
        with _errors():
            raise UsageError(
                f"connection named twice: {argument!r} and --connection {option!r}; give one"
            )
    return argument if argument is not None else option


@dataclass
class _Given:
    """Options given before the command (``syncengine -c X plan``), for every command."""

    config: str | None = None


_given = _Given()


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        print(f"syncengine {version('syncengine')}")
        raise typer.Exit()


@app.callback()
def _main(
    config: ConfigOpt = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Two-way sync between a business app and GoHighLevel."""
    # Each invocation looks at where its output goes now (a terminal, a pipe, a file).
    global console, err
    console, err = console_for(), console_for(stderr=True)
    _given.config = config


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except UserError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, emoji=False)
        raise typer.Exit(exc.exit_code) from None
    except SafetyRefusal as exc:
        err.print(f"[bold red]refused:[/] {escape(str(exc))}", highlight=False, emoji=False)
        raise typer.Exit(3) from None
    except LockedError as exc:
        err.print(f"[bold yellow]busy:[/] {escape(str(exc))}", highlight=False, emoji=False)
        raise typer.Exit(4) from None
    except SyncError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, emoji=False)
        raise typer.Exit(1) from None
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError):
            raise
        # The database failing under a command (a server restarted, a disk full): what
        # the driver said, not a traceback; a rerun settles what a run left in flight.
        said = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        err.print(
            f"[bold red]error:[/] the state database failed: {escape(said)}; run the "
            "command again once it is back (a rerun settles what a run left in flight)",
            highlight=False,
            emoji=False,
        )
        raise typer.Exit(1) from None


def _load(cfg: str | None) -> config_mod.Config:
    """The config named after the command, else before it (``syncengine -c X plan``)."""
    return config_mod.load(config_mod.find_config(cfg or _given.config))


def _connection_name(cfg: config_mod.Config, connection: str | None) -> str | None:
    """A ``--connection`` filter, checked: an unknown name is a usage error (exit 2)
    rather than an empty listing that looks like "nothing there"."""
    return cfg.connection(connection).name if connection is not None else None


def _render(obj: Any, fmt: str, conflict_ids: Mapping[str, int] | None = None) -> str:
    from syncengine.render import render

    return render(obj, fmt, conflict_ids=conflict_ids)  # type: ignore[arg-type]


def _print_report(report: RunReport, fmt: str, conflict_ids: Mapping[str, int]) -> None:
    if fmt == "text":
        from syncengine.render import report_renderable

        # crop=False: a resolve command wider than the terminal runs on, unbroken.
        console.print(report_renderable(report, conflict_ids=conflict_ids), crop=False)
    elif fmt == "json" and report.dry_run:
        from syncengine.render import dumps

        typer.echo(dumps(report, preview=True))
    else:
        typer.echo(_render(report, fmt, conflict_ids))


def _say_refused(report: RunReport) -> None:
    """On stderr, after the preview or the report file: why a run would be refused."""
    if report.refusal is not None:
        err.print(
            f"[bold red]refused:[/] a run would be refused: {escape(report.refusal)}",
            highlight=False,
            emoji=False,
        )


def _exit_code(report: RunReport) -> int:
    """3 for a preview the guard would refuse, 1 for anything held back, else 0."""
    if report.refusal is not None:
        return 3
    return 1 if report.outcomes.any_failed() or report.problems else 0


def _run(
    cfg: str | None,
    connection: str | None,
    *,
    dry_run: bool,
    force: bool,
    fmt: str,
    report_path: str | None = None,
    progress: bool = True,
) -> int:
    from syncengine.runtime import open_session

    with _errors():
        if fmt not in OUTPUT_FORMATS:
            raise UsageError(f"--format {fmt!r}: use one of {', '.join(OUTPUT_FORMATS)}")
        if report_path:  # refuse a bad name or folder before anything runs
            report_format(report_path)
            check_writable(report_path, "--report")
        config = _load(cfg)
        session = open_session(config, connection)
        try:
            with stop_on_signals() if not dry_run else nullcontext(None) as stop:
                if stop is not None:
                    session.engine.should_stop = stop
                try:
                    report = _run_engine(
                        session, dry_run=dry_run, force=force, fmt=fmt, bar=progress
                    )
                except StoppedWhileReading as exc:
                    err.print(f"[yellow]{escape(str(exc))}[/]", highlight=False)
                    return stop.exit_code if stop and stop.exit_code else 1
            ids = session.store.open_conflict_ids(session.conn.name)
        finally:
            session.close()
        _print_report(report, fmt, ids)
        if report_path:
            write_file(report_path, _render(report, report_format(report_path), ids), "--report")
            err.print(f"report written to {report_path}", highlight=False)
        _say_refused(report)
        if stop is not None and stop.exit_code is not None:
            _say_stopped(report)
            return stop.exit_code
        return _exit_code(report)


def _run_engine(session: Session, *, dry_run: bool, force: bool, fmt: str, bar: bool) -> RunReport:
    """The run, with a progress bar where a person watches a text report."""
    if not (bar and not dry_run and fmt == "text" and console.is_terminal):
        return session.engine.run(dry_run=dry_run, force=force)
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"syncing {session.conn.name}", total=None)
        session.engine.progress = lambda done, total: progress.update(
            task, completed=done, total=total
        )
        return session.engine.run(dry_run=dry_run, force=force)


def _say_stopped(report: RunReport) -> None:
    from syncengine.apply import STOPPED_BEFORE

    ran = sum(1 for o in report.outcomes if o.error != STOPPED_BEFORE)
    err.print(
        f"[yellow]stopped:[/] {ran} of {len(report.plan.operations)} operations ran; "
        "the next run plans the rest",
        highlight=False,
    )


OUTPUT_FORMATS = ("text", "json", "md", "html")


FormatOpt = Annotated[str, typer.Option("--format", "-f", help="text, json, md or html.")]
ListFormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="text, or json (the stored rows, for scripts).")
]


@contextmanager
def _state(cfg: config_mod.Config) -> Iterator[Store]:
    """The state store for a command's reads and writes, closed after (also on error)."""
    from state.store import Store

    store = Store(cfg.state_url, source=cfg.state_source)
    try:
        yield store
    finally:
        store.close()


def _listing_format(fmt: str) -> bool:
    """Whether a listing is asked for as JSON; anything but text or json is refused."""
    if fmt not in ("text", "json"):
        raise UsageError(f"--format {fmt!r}: use text or json")
    return fmt == "json"


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    """Times as ISO 8601 (``2026-12-03T10:37:43+00:00``), anything else as its text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


@app.command()
def plan(
    connection: ConnArg = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = "text",
    force: Annotated[bool, typer.Option(help="Plan past the safety guards.")] = False,
    connection_option: ConnAlso = None,
) -> None:
    """Preview a run: what would change on each side. Touches neither side nor the base.

    Exit 3 when a run would be refused by a safety guard (the plan is shown all the same),
    1 when some records could not be read."""
    name = _either(connection, connection_option)
    raise typer.Exit(_run(config, name, dry_run=True, force=force, fmt=fmt))


@app.command()
def run(
    connection: ConnArg = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = "text",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Same as `syncengine plan`.")] = False,
    force: Annotated[
        bool, typer.Option(help="Run past the safety guards (emptied side, mass delete).")
    ] = False,
    report: Annotated[
        str | None,
        typer.Option(help="Also write the run's report to this file (.html, .md, .json)."),
    ] = None,
    connection_option: ConnAlso = None,
) -> None:
    """Reconcile both sides now. Ctrl-C stops it after the records in flight (exit 130)."""
    name = _either(connection, connection_option)
    raise typer.Exit(_run(config, name, dry_run=dry_run, force=force, fmt=fmt, report_path=report))


@app.command("report")
def report_cmd(
    connection: ConnArg = None,
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html, md or json.")] = "html",
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File to write (default syncengine-report.FORMAT)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Report the plan a forced run would make.")] = False,
    connection_option: ConnAlso = None,
) -> None:
    """Write the conflict review report: what a run would do now, and what waits for you.

    Exits like ``plan``: 3 when a run would be refused (the report says why), 1 when some
    records could not be read; the file is written either way."""
    from syncengine.runtime import open_session

    connection = _either(connection, connection_option)
    with _errors():
        if fmt not in REPORT_FORMATS:
            raise UsageError(f"--format {fmt!r}: use html, md or json")
        path = output or default_report_name(fmt)
        check_writable(path, "--output")
        session = open_session(_load(config), connection)
        try:
            rep = session.engine.run(dry_run=True, force=force)
            ids = session.store.open_conflict_ids(session.conn.name)
        finally:
            session.close()
        write_file(path, _render(rep, fmt, ids), "--output")
        console.print(f"report written to [bold]{escape(path)}[/]", highlight=False)
        _say_refused(rep)
        raise typer.Exit(_exit_code(rep))


@conflicts_app.callback(invoke_without_command=True)
def conflicts_list(
    ctx: typer.Context,
    config: ConfigOpt = None,
    connection: ConnOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
    fmt: ListFormatOpt = "text",
) -> None:
    """List conflicts held for review (``conflicts show ID`` for one)."""
    if ctx.invoked_subcommand is not None:
        _given.config = config or _given.config  # `conflicts -c X show 3`
        return
    with _errors():
        as_json = _listing_format(fmt)
        cfg = _load(config)
        connection = _connection_name(cfg, connection)
        with _state(cfg) as store:
            rows = store.conflicts(connection) if all_ else store.open_conflicts(connection)
        if as_json:
            _print_json(rows)
            return
        table = Table(title="conflicts" if all_ else "conflicts held for review")
        for col in ("id", "connection", "entity", "a id", "b id", "field", "a", "b", "status"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r["id"]),
                r["connection"],
                r["entity"],
                r["a_id"],
                r["b_id"],
                r["field"],
                _side_cell(r, "a"),
                _side_cell(r, "b"),
                r["status"],
            )
        console.print(table if rows else "no conflicts waiting for review")
        if any(r["status"] == "open" for r in rows):
            console.print(
                "`syncengine conflicts show ID` shows one, with the commands that settle it; "
                "`syncengine resolve ID ... --keep a` (or b) settles some, and "
                "`syncengine resolve --all --field FIELD --keep a` every one on a field",
                markup=False,
                highlight=False,
            )


@conflicts_app.command("show")
def conflicts_show(
    conflict_id: Annotated[
        str, typer.Argument(help="The conflict's id or key (as plan and report print).")
    ],
    config: ConfigOpt = None,
    fmt: ListFormatOpt = "text",
) -> None:
    """One conflict: base, both values, and how to resolve it (or how it was resolved)."""
    from syncengine.conflict_view import conflict_view

    with _errors():
        as_json = _listing_format(fmt)
        with _state(_load(config)) as store:
            row = _find_conflict(store, conflict_id)
        if as_json:
            _print_json(row)
        else:
            console.print(conflict_view(row, conflict_id), highlight=False)


def _find_conflict(store: Store, id_or_key: str) -> dict[str, Any]:
    """By id, or by key: the open conflict with that key, else its latest row."""
    if id_or_key.isdigit():
        return store.conflict(int(id_or_key))
    try:
        return store.conflict(store.conflict_id(id_or_key))
    except NotFoundError:
        rows = [r for r in store.conflicts(None, limit=10_000) if r["key"] == id_or_key]
        if not rows:
            raise NotFoundError(
                f"no conflict {id_or_key!r}; list them with `syncengine conflicts --all`"
            ) from None
        return rows[0]  # newest first


SHOWN_RESOLVED = 20
"""Conflicts ``resolve`` names one by one; past that it counts the rest."""


@app.command()
def resolve(
    conflict_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="The conflicts' ids or keys (as the report prints); or --all.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    keep: Annotated[str | None, typer.Option(help="Keep side a's or b's value.")] = None,
    value: Annotated[
        str | None, typer.Option(help="Use this value instead (JSON, or plain text).")
    ] = None,
    all_open: Annotated[
        bool,
        typer.Option("--all", help="Every conflict held for review (narrow with --field)."),
    ] = False,
    connection: ConnOpt = None,
    field: Annotated[
        str | None,
        typer.Option(help="With --all: only conflicts on this field (e.g. company_name)."),
    ] = None,
) -> None:
    """Decide held conflicts; the next run applies the decisions.

    One by id or key, several at once (`resolve 3 4 7 --keep a`), or every open one
    (`resolve --all --field company_name --keep b`). All or none: an unknown id, or
    one a run has applied, refuses the lot.
    """
    with _errors():
        if (keep is None) == (value is None) or (keep is not None and keep not in ("a", "b")):
            raise UsageError("give exactly one of --keep a, --keep b or --value VALUE")
        named = list(conflict_ids or [])
        if all_open == bool(named):
            raise UsageError(
                "name the conflicts to resolve (ids or keys, as `syncengine conflicts` lists "
                "them), or give --all for every open one"
            )
        if not all_open and (field is not None or connection is not None):
            raise UsageError("--field and --connection narrow --all; with ids, name only those")
        if field is not None and field != "*" and not names_field(field, ENTITIES):
            close = did_you_mean(field, field_names(ENTITIES))
            raise UsageError(
                f"--field {field!r} names no field"
                + (f"; did you mean {close!r}?" if close else "")
                + " (conflicts on a delete are on field '*')"
            )
        cfg = _load(config)
        with _state(cfg) as store:
            chosen = _chosen_conflicts(store, cfg, named, connection, field)
            if not chosen:
                where = " ".join(
                    p
                    for p in (
                        f"of {connection}" if connection else "",
                        f"on field {field}" if field else "",
                    )
                    if p
                )
                console.print(f"no conflicts held for review {where}".rstrip(), markup=False)
                return
            cids = [cid for _, cid in chosen]
            parsed: Any = None
            if value is not None:
                if len(cids) > 1:
                    raise UsageError(
                        f"--value sets one conflict's value, and {len(cids)} are named; "
                        "resolve them one at a time, or --keep a side for all of them"
                    )
                name, cid = chosen[0]
                row = store.conflict(cid)
                if row["kind"] != "field" and row["status"] in ("open", "resolving"):
                    raise UsageError(
                        f"conflict {name} is a delete against an "
                        "edit: there is no value to set; --keep the side whose outcome you want "
                        "(the deleting side: the record goes on both; the editing side: it is "
                        "restored on the other)"
                    )
                parsed = _resolution_value(value, str(row["field"]))
            resolved = store.resolve_conflicts(cids, keep or "value", parsed)
        names = [name for name, _ in chosen]
        for name, row in list(zip(names, resolved, strict=True))[:SHOWN_RESOLVED]:
            kept = "value" if row["kind"] == "field" else "outcome"
            how = (
                f"set to {json.dumps(parsed)}"
                if value is not None
                else f"resolved by keeping side {keep}'s {kept}"
            )
            console.print(
                f"conflict {name} ({row['entity']} {row['field']}) will be {how} on the next "
                f"run of {row['connection']}",
                markup=False,
            )
        if len(resolved) > SHOWN_RESOLVED:
            console.print(
                f"... and {len(resolved) - SHOWN_RESOLVED} more, each resolved by keeping side "
                f"{keep}'s value or outcome ({len(resolved)} in all)",
                markup=False,
            )


def _chosen_conflicts(
    store: Store,
    cfg: config_mod.Config,
    named: list[str],
    connection: str | None,
    field: str | None,
) -> list[tuple[str, int]]:
    """The conflicts a ``resolve`` names, once each, by the name the user gave and id:
    the ids or keys listed, or with none listed (``--all``) every open conflict of
    ``connection`` on ``field``. Whether each exists and waits for a run is the store's
    to check when it resolves them."""
    if not named:
        scope = _connection_name(cfg, connection)
        return [
            (str(r["id"]), int(r["id"]))
            for r in store.open_conflicts(scope)
            if field is None or r["field"] == field
        ]
    chosen: dict[int, str] = {}
    for name in named:
        chosen.setdefault(store.conflict_id(name), name)
    return [(name, cid) for cid, name in chosen.items()]


def _resolution_value(text: str, field: str) -> Any:
    """``--value``'s text as the value to set: JSON, or else the text itself. Text that
    starts like JSON but is none (a lost quote: ``'"Acme'``) is refused, not set as is;
    so is a date or time that names none."""
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip()[:1] in ('"', "[", "{"):
            raise UsageError(
                f"--value {text!r} starts like JSON but is not ({exc.msg}); quote it in full, "
                """e.g. --value '"Acme Ltd"', or give plain text without the leading quote"""
            ) from None
        parsed = text
    head = field.partition(".")[0]
    if head not in BOOL_FIELDS | LIST_FIELDS | OBJECT_FIELDS and _is_number(parsed):
        parsed = text.strip()  # a postal code or a phone typed bare: the text it is
    if problem := type_problem(field, parsed):
        raise UsageError(f"cannot set {field} to {json.dumps(parsed)}: {field} {problem}")
    if head == "email" and isinstance(parsed, str) and not is_valid_email(parsed):
        raise UsageError(
            f"cannot set email to {parsed!r}, which is not a valid address; give one like "
            """--value 'ada@example.com'"""
        )
    problem = value_problem(head, parsed)
    if problem is not None:
        raise UsageError(
            f"cannot set {field} to {parsed!r}, which {problem.partition(', which ')[2]}"
        )
    return parsed


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


history_app = typer.Typer(no_args_is_help=False, help="Past runs, newest first.")
app.add_typer(history_app, name="history")

SHOWN_OPS = 200
"""Journal rows ``history show`` prints as text (the JSON output has every one)."""


@history_app.callback(invoke_without_command=True)
def history(
    ctx: typer.Context,
    config: ConfigOpt = None,
    connection: ConnOpt = None,
    limit: int = 20,
    fmt: ListFormatOpt = "text",
) -> None:
    """Past runs, newest first (``history show RUN`` for what one run sent)."""
    if ctx.invoked_subcommand is not None:
        _given.config = config or _given.config  # `history -c X show 3`
        return
    with _errors():
        as_json = _listing_format(fmt)
        cfg = _load(config)
        name = _connection_name(cfg, connection)
        with _state(cfg) as store:
            rows = store.runs(name, limit)
        if as_json:
            _print_json(rows)
            return
        table = Table(title="runs")
        for col in ("id", "connection", "status", "started", "finished", "summary"):
            table.add_column(col)
        for r in rows:
            summary = run_summary(r["summary"])
            table.add_row(
                str(r["id"]),
                r["connection"],
                r["status"],
                f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                f"{r['finished_at']:%H:%M:%S}" if r["finished_at"] else "-",
                summary or r.get("error") or (NOTHING_CHANGED if r["status"] == "ok" else ""),
            )
        console.print(table if rows else "no runs yet")


@history_app.command("show")
def history_show(
    run_id: Annotated[int, typer.Argument(help="The run's id (as `syncengine history` lists).")],
    config: ConfigOpt = None,
    fmt: ListFormatOpt = "text",
) -> None:
    """What one run sent to each side, op by op, and what came of each, from its journal."""
    from syncengine.run_view import journal_dict, run_view

    with _errors():
        as_json = _listing_format(fmt)
        with _state(_load(config)) as store:
            run = store.run(run_id)
            rows = store.journal(run_id, None if as_json else SHOWN_OPS)
            total = len(rows) if as_json else store.journal_size(run_id)
        if as_json:
            _print_json({"run": run, "operations": [journal_dict(r) for r in rows]})
        else:
            console.print(run_view(run, rows, total), highlight=False)


@history_app.command("record")
def history_record(
    record_id: Annotated[
        str, typer.Argument(help="The record's id on either side (as plan and history print).")
    ],
    config: ConfigOpt = None,
    connection: ConnOpt = None,
    limit: int = 50,
    fmt: ListFormatOpt = "text",
) -> None:
    """Every write runs sent for one record, newest first: when, which side, what changed."""
    from syncengine.run_view import journal_dict, record_view

    with _errors():
        as_json = _listing_format(fmt)
        cfg = _load(config)
        name = _connection_name(cfg, connection)
        with _state(cfg) as store:
            rows = store.journal_of_record(name, record_id, limit)
        if as_json:
            _print_json([journal_dict(r) for r in rows])
        else:
            console.print(record_view(record_id, rows), highlight=False)


@app.command()
def quarantine(
    config: ConfigOpt = None,
    connection: ConnOpt = None,
    fmt: ListFormatOpt = "text",
) -> None:
    """Records held back: refused writes and records the last run could not read.

    A write a side refused is retried every run (the reason is shown); a record that
    could not be read is fixed at its source (the rest synced)."""
    with _errors():
        as_json = _listing_format(fmt)
        cfg = _load(config)
        name = _connection_name(cfg, connection)
        names = [name] if name is not None else sorted(cfg.connections)
        with _state(cfg) as store:
            held = [(n, q) for n in names for q in store.quarantined(n)]
            unreadable: list[tuple[str, dict[str, Any]]] = []
            for n in names:
                last = next(iter(store.runs(n, 1)), None)
                if last is not None:
                    summary = last["summary"]
                    # Runs recorded before the records were kept as data have the text.
                    records = summary.get("unreadable_records") or [
                        {"problem": text} for text in summary.get("unreadable", [])
                    ]
                    unreadable += [(n, r) for r in records]
        if as_json:
            _print_json(
                {
                    "quarantined": [{"connection": n, **q} for n, q in held],
                    "unreadable": [{"connection": n, **r} for n, r in unreadable],
                }
            )
            return
        if not held and not unreadable:
            console.print("nothing is quarantined")
            return
        if held:
            table = Table(title="quarantined: retried every run until the side accepts them")
            for col in ("connection", "side", "entity", "record", "attempts", "since", "reason"):
                table.add_column(col, overflow="fold")
            for n, q in held:
                table.add_row(
                    n,
                    q["side"],
                    q["entity"],
                    q["record_id"],
                    str(q["attempts"]),
                    f"{q['first_seen']:%Y-%m-%d %H:%M}",
                    q["reason"],
                )
            console.print(table)
        if unreadable:
            console.print("[bold]unreadable in the last run[/] (fix them where they are):")
            for n, r in unreadable:
                console.print(f"  {n}: {escape(r['problem'])}", highlight=False)


@app.command()
def check(
    connection: ConnArg = None, config: ConfigOpt = None, connection_option: ConnAlso = None
) -> None:
    """Validate the config and make test requests against both sides."""
    from adapters.base import Checkable, Locatable
    from syncengine.runtime import open_session

    connection = _either(connection, connection_option)
    with _errors():
        session = open_session(_load(config), connection)
        problems: list[str] = []
        try:
            for side in SIDES:
                adapter = session.engine.adapter(side)
                where = adapter.location() if isinstance(adapter, Locatable) else adapter.name
                try:
                    found = adapter.check() if isinstance(adapter, Checkable) else []
                    problems += [f"side {side}: {p}" for p in found]
                    if not found:
                        problems += _read_check(session.engine, side, where)
                except SyncError as exc:
                    said = str(exc)
                    problems.append(
                        f"side {side}: {said}"
                        if where in said
                        else f"side {side} ({where}): {said}"
                    )
            changed = session.engine.side_change()
            if changed is not None:
                problems.append(f"a run would be refused: {changed}")
        finally:
            session.close()
        for p in problems:
            err.print(f"[red]problem:[/] {escape(p)}", highlight=False)
        raise typer.Exit(1 if problems else 0)


UNREADABLE_SHOWN = 5


def _read_check(engine: SyncEngine, side: Side, where: str) -> list[str]:
    """Read every entity the connection syncs from one side: what is readable is
    counted, each record that is not is a problem (a run would quarantine it and exit
    1), so a side whose every row is malformed is not reported as ok."""
    adapter = engine.adapter(side)
    held = adapter.capabilities().entities
    counts: list[str] = []
    unreadable: list[str] = []
    for entity in engine.entities():
        if entity not in held:
            continue
        snap = adapter.snapshot(entity)
        counts.append(plural(len(snap.records), entity))
        unreadable += [f"{p.where}: {p.problem}" for p in snap.problems]
    readable = ", ".join(counts) or "nothing this connection syncs"
    if not unreadable:
        console.print(f"side {side} ({adapter.name}, {where}): ok, {readable} readable")
        return []
    console.print(f"side {side} ({adapter.name}, {where}): {readable} readable")
    shown = [f"side {side}: unreadable: {text}" for text in unreadable[:UNREADABLE_SHOWN]]
    if len(unreadable) > UNREADABLE_SHOWN:
        shown.append(
            f"side {side}: ... and {len(unreadable) - UNREADABLE_SHOWN} more unreadable records "
            "(`syncengine plan` lists them all)"
        )
    return shown


@app.command()
def init(
    path: Annotated[
        str, typer.Argument(help="Where to write the config.")
    ] = config_mod.DEFAULT_NAME,
    force: bool = False,
) -> None:
    """Write a starter syncengine.toml (two JSONL file sides) to edit."""
    from syncengine.demo import STARTER_CONFIG

    with _errors():
        if Path(path).exists() and not force and not Path(path).is_dir():
            raise UsageError(f"{path} exists; pass --force to overwrite")
        check_writable(path, "init")
        write_file(path, STARTER_CONFIG, "init")
    console.print(
        f"wrote {path}; edit the sides, then `syncengine check` and `syncengine plan`",
        highlight=False,
    )


@app.command()
def schedule(
    config: ConfigOpt = None,
    once: Annotated[
        bool, typer.Option(help="Start every job once and exit (for testing).")
    ] = False,
) -> None:
    """Run every connection on its schedule until stopped (SIGTERM finishes the op in flight)."""
    from syncengine.scheduler import run_scheduler

    with _errors():
        raise typer.Exit(run_scheduler(_load(config), once=once))


@app.command()
def demo(
    directory: Annotated[
        str, typer.Option("--dir", help="Where to put the demo's files.")
    ] = "demo-out",
) -> None:
    """A full reconciliation on embedded defaults: no account, no network."""
    from syncengine.demo import run_demo

    with _errors():
        raise typer.Exit(run_demo(Path(directory), console))


@app.command("fake-ghl")
def fake_ghl(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8089,
    location: Annotated[
        str, typer.Option(help="The location id to create.")
    ] = "demoLocation00000001",
    token: Annotated[
        str | None, typer.Option(help="The token to accept (default: a new one).")
    ] = None,
    duplicates: Annotated[
        bool, typer.Option(help="Whether the location allows duplicate contacts.")
    ] = False,
) -> None:
    """Serve the project's fake GHL API v2 on 127.0.0.1 (in-memory; for trying things out)."""
    from adapters.ghl.fake import serve
    from syncengine.fakeghl import prepare_state

    state, issued = prepare_state(location_id=location, allow_duplicates=duplicates, token=token)
    console.print(
        f"fake GHL on http://127.0.0.1:{port}  location_id = {location!r}\n"
        f"export GHL_TOKEN={issued}\n"
        f'in syncengine.toml: adapter = "ghl", base_url = "http://127.0.0.1:{port}", '
        f'location_id = "{location}", token = "env:GHL_TOKEN"'
    )
    serve(host="127.0.0.1", port=port, state=state)


auth_app = typer.Typer(no_args_is_help=True, help="OAuth for GHL sides.")
app.add_typer(auth_app, name="auth")


@auth_app.command("login")
def auth_login(
    connection: ConnArg = None,
    config: ConfigOpt = None,
    redirect_uri: Annotated[
        str, typer.Option(help="The redirect URI registered for the app.")
    ] = "http://localhost:8765/callback",
    code: Annotated[
        str | None, typer.Option(help="The code from the redirect (asked for if not given).")
    ] = None,
    scopes: Annotated[str, typer.Option(help="Space-separated scopes to ask for.")] = (
        "contacts.readonly contacts.write locations/customFields.readonly "
        "calendars/events.readonly calendars/events.write"
    ),
    connection_option: ConnAlso = None,
) -> None:
    """Install the GHL app on a location: print the authorize URL, then exchange the code.

    The token pair is stored encrypted in the state database (key: SYNCENGINE_VAULT_KEY).
    """
    from adapters.ghl.oauth import authorize_url
    from syncengine.runtime import open_side_for_oauth

    connection = _either(connection, connection_option)
    with _errors():
        cfg = _load(config)
        conn = cfg.connection(connection)
        tokens, client_id = open_side_for_oauth(cfg, conn)
        console.print("Open this URL, choose the location, and copy the code from the redirect:")
        console.print(
            authorize_url(client_id=client_id, redirect_uri=redirect_uri, scopes=scopes.split()),
            soft_wrap=True,
        )
        the_code = code or typer.prompt("code")
        tokens.exchange_code(the_code, redirect_uri)
        console.print(f"tokens stored for connection {conn.name!r}; `syncengine check` to try them")


def _side_cell(row: Mapping[str, Any], side: str) -> str:
    """A side's value in the conflicts list; the deleting side of a delete conflict
    shows as deleted (as in the plan and ``conflicts show``), not as null."""
    value = row[f"{side}_value"]
    return DELETED if row["kind"] != "field" and value is None else _short(value)


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _reflowed(doc: str) -> str:
    """A docstring as help: each paragraph on one line, for the terminal to wrap (typer
    keeps the source's line breaks after the first paragraph: "the\nsame")."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(p.split()).replace("``", "`") for p in paragraphs)


for _typer_app in (app, conflicts_app, history_app, auth_app):
    for _command in _typer_app.registered_commands:
        _doc = _command.help or (_command.callback.__doc__ if _command.callback else None)
        if _doc:
            _command.help = _reflowed(_doc)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
