"""``syncengine demo``: a whole reconciliation on local files, no account, no network.

Two JSON Lines sides stand in for a business app (``app.jsonl``) and a GHL export
(``ghl.jsonl``). The demo links existing contacts by email instead of duplicating them,
syncs once, then makes the edits a week of real use makes (edits on both sides, a
conflict held for review, one resolved by newest, a delete, tag changes, a duplicate
group), previews the run, applies it, and writes the HTML conflict-review report.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

STARTER_CONFIG = """\
# syncengine configuration. Secrets are references (env:VAR or keyring:NAME), never values.
[state]
url = "sqlite:///syncengine.db"      # beside this file; or postgresql://user@host/db

[connections.main]
schedule = "every 15m"               # or a cron expression: "*/15 * * * *"
entities = ["contact", "note", "task", "appointment"]
match = ["email", "phone"]           # how new records are linked instead of duplicated
default_region = "US"                # for phone numbers written without a country code
conflicts = "newest"                 # newest | a | b | manual
tie_break = "a"
deletes = "propagate"                # propagate | ignore | manual
max_delete_share = 0.2               # refuse a run deleting more than this share

[connections.main.fields]
company_name = { conflicts = "manual" }
# source = { direction = "a->b" }

[connections.main.a]
adapter = "jsonl"
path = "app.jsonl"

[connections.main.b]
adapter = "jsonl"
path = "ghl.jsonl"
# adapter = "ghl"
# location_id = "..."
# token = "env:GHL_TOKEN"
"""


def _contact(i: str, first: str, last: str, email: str | None, **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": i, "entity": "contact", "first_name": first, "last_name": last}
    if email:
        out["email"] = email
    out.update(more)
    return out


APP_SEED: list[dict[str, Any]] = [
    _contact(
        "app-1",
        "Ada",
        "Lovelace",
        "ada@analytical.org",
        company_name="Analytical Engines",
        tags=["vip"],
        phone="+44 20 7946 0000",
    ),
    _contact("app-2", "Grace", "Hopper", "grace@navy.mil", company_name="US Navy", tags=["lead"]),
    _contact("app-3", "Alan", "Turing", "alan@bletchley.uk", company_name="Bletchley Park"),
    _contact("app-4", "Katherine", "Johnson", "kj@nasa.gov", company_name="NASA", city="Hampton"),
    _contact("app-5", "Edsger", "Dijkstra", "ewd@utexas.edu", company_name="UT Austin"),
    _contact("app-6", "Barbara", "Liskov", "liskov@mit.edu", company_name="MIT", crm_score=9),
    _contact("app-7", "Donald", "Knuth", "knuth@stanford.edu", company_name="Stanford"),
    _contact("app-8", "Frances", "Allen", "fran@ibm.com", company_name="IBM"),
    {
        "id": "note-1",
        "entity": "note",
        "contact_id": "app-1",
        "title": "Intro call",
        "body": "Wants the analytical engine demo.",
    },
    {
        "id": "task-1",
        "entity": "task",
        "contact_id": "app-2",
        "title": "Send proposal",
        "due_date": "2026-12-01T10:00:00Z",
        "completed": False,
    },
]
GHL_SEED: list[dict[str, Any]] = [
    # Already in GHL with different formatting: linked by email, not duplicated.
    _contact(
        "ghl-a", "Ada", "Lovelace", "ADA@analytical.org", source="webinar", tags=["newsletter"]
    ),
    _contact("ghl-b", "Grace", "Hopper", "grace@navy.mil", phone="(202) 555-0143"),
    _contact("ghl-c", "Linus", "Torvalds", "linus@kernel.org", company_name="Linux Foundation"),
    # Two GHL contacts share one email: a duplicate group, reported and never merged.
    _contact("ghl-d", "Margaret", "Hamilton", "margaret@mit.edu", company_name="MIT"),
    _contact("ghl-e", "Maggie", "Hamilton", "Margaret@MIT.edu", company_name="Draper Lab"),
]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _edit(path: Path, match: dict[str, Any], **changes: Any) -> None:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            row.update(changes)
            row["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    _write(path, rows)


def _drop(path: Path, match: dict[str, Any]) -> None:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    _write(path, [r for r in rows if not all(r.get(k) == v for k, v in match.items())])


def run_demo(directory: Path, console: Console) -> int:
    from syncengine import config as config_mod
    from syncengine.render import plan_renderable, render, report_renderable
    from syncengine.runtime import open_session

    started = time.monotonic()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    cfg_path = directory / "syncengine.toml"
    cfg_path.write_text(STARTER_CONFIG, encoding="utf-8")
    app, ghl = directory / "app.jsonl", directory / "ghl.jsonl"
    _write(app, APP_SEED)
    _write(ghl, GHL_SEED)
    config = config_mod.load(cfg_path)

    def sync(title: str, dry_run: bool = False) -> Any:
        session = open_session(config, "main")
        try:
            report = session.engine.run(dry_run=dry_run)
        finally:
            session.close()
        console.rule(title)
        console.print(plan_renderable(report.plan) if dry_run else report_renderable(report))
        return report

    console.print(
        Panel.fit(
            "syncengine demo: a business app (app.jsonl) <-> a GHL export (ghl.jsonl)\n"
            f"files in {directory.resolve()}"
        )
    )
    sync("1. first sync: existing contacts are linked by email, the rest created")
    # A week of use on both sides.
    _edit(app, {"id": "app-3"}, city="Wilmslow", tags=["lead"])  # a: edit + tag add
    _edit(ghl, {"email": "kj@nasa.gov"}, phone="+1 757 555 0199")  # b: edit
    _edit(app, {"id": "app-5"}, company_name="Eindhoven University")  # both edit one field:
    _edit(ghl, {"email": "ewd@utexas.edu"}, company_name="Burroughs")  # held for review (manual)
    _edit(app, {"id": "app-7"}, last_name="Knuth (TAOCP)")  # both edit last_name:
    _edit(ghl, {"email": "knuth@stanford.edu"}, last_name="E. Knuth")  # newest wins
    _drop(ghl, {"email": "fran@ibm.com"})  # deleted in GHL
    _edit(ghl, {"id": "ghl-a"}, tags=["vip"])  # tag removed in GHL
    sync("2. preview (plan): nothing is written", dry_run=True)
    report = sync("3. run")
    html = directory / "conflict-review.html"
    html.write_text(render(report, "html"), encoding="utf-8")
    again = sync("4. second run: nothing left to do", dry_run=True)
    held = sum(1 for c in report.plan.conflicts if c.resolution == "held")
    console.print(
        Panel.fit(
            f"done in {time.monotonic() - started:.1f} s\n"
            f"config:           {cfg_path}\n"
            f"side a (app):     {app}\n"
            f"side b (GHL):     {ghl}\n"
            f"state database:   {directory / 'syncengine.db'}\n"
            f"review report:    {html}\n"
            f"held conflicts:   {held} (see `syncengine conflicts -c {cfg_path}`)\n"
            f"duplicate groups: {len(report.plan.duplicates)}\n"
            f"second run plans: {len(again.plan.operations)} operations",
            title="where everything is",
        )
    )
    return 0
