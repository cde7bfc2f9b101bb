"""``syncengine demo``: a whole reconciliation, no account, no network.

Side a is a business app kept in a JSON Lines file (``app.jsonl``); side b is GHL, played
by the project's fake GHL API v2 served on 127.0.0.1 for the length of the demo, so
every GHL read and write is real HTTP. The demo links existing contacts by email instead
of duplicating them, syncs once, then makes the edits a week of real use makes (edits on
both sides, a conflict held for review, one resolved by newest, a delete, tag changes, a
duplicate group), previews the run, applies it, and writes the HTML conflict-review
report.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel

from syncengine.cli_io import section
from syncengine.errors import UsageError

STARTER_CONFIG = """\
# syncengine configuration. Secrets are references (env:VAR or keyring:NAME), never values.
[state]
url = "sqlite:///syncengine.db"      # beside this file; or postgresql://user@host/db
keep_history = "90d"                # history older than this is pruned; "forever" keeps it

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
# direction: both (the default) | a->b | b->a | none (not synced: each side keeps its own)
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
    _contact(
        "app-5",
        "Edsger",
        "Dijkstra",
        "ewd@utexas.edu",
        company_name="UT Austin",
        website="https://www.cs.utexas.edu/~EWD",
    ),
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
    {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ADA@analytical.org",
        "source": "webinar",
        "tags": ["newsletter"],
    },
    {
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace@navy.mil",
        "phone": "+12025550143",
    },
    {
        "firstName": "Linus",
        "lastName": "Torvalds",
        "email": "linus@kernel.org",
        "companyName": "Linux Foundation",
    },
    # Two GHL contacts share one email: a duplicate group, reported and never merged.
    {
        "firstName": "Margaret",
        "lastName": "Hamilton",
        "email": "margaret@mit.edu",
        "companyName": "MIT",
    },
    {
        "firstName": "Maggie",
        "lastName": "Hamilton",
        "email": "Margaret@MIT.edu",
        "companyName": "Draper Lab",
    },
]
DEMO_TOKEN_ENV = "SYNCENGINE_DEMO_GHL_TOKEN"


def demo_config(base_url: str, location_id: str) -> str:
    """The starter config with side b pointed at the fake GHL."""
    side_b = (
        '[connections.main.b]\nadapter = "ghl"\n'
        f'base_url = "{base_url}"\nlocation_id = "{location_id}"\ntoken = "env:{DEMO_TOKEN_ENV}"\n'
    )
    config = STARTER_CONFIG.split("[connections.main.b]")[0] + side_b
    config = config.replace(
        'entities = ["contact", "note", "task", "appointment"]',
        'entities = ["contact", "note", "task"]',
    )
    # GHL has no feed of deletes: they are seen on a full pass. The demo takes one each run.
    share = next(line for line in config.splitlines() if line.startswith("max_delete_share"))
    config = config.replace(
        share, f'{share}\nfull_pass_every = "0s"               # GHL deletes show on full passes'
    )
    return config.replace(
        'company_name = { conflicts = "manual" }', 'website = { conflicts = "manual" }'
    )


class DemoGhl:
    """A GHL user's edits, made through the (fake) GHL API like any other client."""

    def __init__(self, base_url: str, token: str, location_id: str) -> None:
        self.location_id = location_id
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Version": "2021-07-28"},
            timeout=10,
        )

    def create(self, body: dict[str, Any]) -> str:
        response = self.http.post("/contacts/", json={**body, "locationId": self.location_id})
        response.raise_for_status()
        return str(response.json()["contact"]["id"])

    def find(self, email: str) -> str:
        response = self.http.post(
            "/contacts/search", json={"locationId": self.location_id, "pageLimit": 100}
        )
        response.raise_for_status()
        for contact in response.json()["contacts"]:
            if str(contact.get("email", "")).lower() == email.lower():
                return str(contact["id"])
        raise LookupError(email)

    def update(self, email: str, **body: Any) -> None:
        self.http.put(f"/contacts/{self.find(email)}", json=body).raise_for_status()

    def remove_tags(self, email: str, tags: list[str]) -> None:
        self.http.request(
            "DELETE", f"/contacts/{self.find(email)}/tags", json={"tags": tags}
        ).raise_for_status()

    def delete(self, email: str) -> None:
        self.http.delete(f"/contacts/{self.find(email)}").raise_for_status()

    def close(self) -> None:
        self.http.close()


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


DEMO_MARK = ".syncengine-demo"
"""A file the demo leaves in its folder: only a folder holding it is ever emptied."""


def _fresh_demo_dir(directory: Path) -> None:
    """Start from an empty folder. A previous demo's folder is cleared; any other
    non-empty folder is refused, never deleted (``--dir`` may be mistyped)."""
    if directory.exists():
        if not directory.is_dir():
            raise UsageError(f"--dir {directory}: is a file; name a folder for the demo")
        if (directory / DEMO_MARK).exists():
            shutil.rmtree(directory)
        elif any(directory.iterdir()):
            raise UsageError(
                f"--dir {directory}: the folder has files the demo did not make; "
                "name a new or empty folder (the demo clears only its own)"
            )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / DEMO_MARK).write_text("made by `syncengine demo`\n", encoding="utf-8")


DEMO_RATE_MAX = 1000
"""Requests per 10 s the demo's fake GHL takes (GHL's own cap is 100); the client
throttles to whatever the server's headers say."""


def run_demo(directory: Path, console: Console) -> int:
    from syncengine import config as config_mod
    from syncengine.fakeghl import prepare_state, start_in_thread
    from syncengine.render import plan_renderable, render, report_renderable
    from syncengine.runtime import open_session

    started = time.monotonic()
    _fresh_demo_dir(directory)
    state, token = prepare_state()
    # The demo seeds and edits GHL through its API too: against GHL's 100 requests per
    # 10 s, those calls spend the window and the runs would wait ~10 s on the throttle.
    state.rate_max = DEMO_RATE_MAX
    fake = start_in_thread(state, token, "demoLocation00000001")
    os.environ[DEMO_TOKEN_ENV] = token
    ghl = DemoGhl(fake.base_url, token, fake.location_id)
    try:
        cfg_path = directory / "syncengine.toml"
        cfg_path.write_text(demo_config(fake.base_url, fake.location_id), encoding="utf-8")
        app = directory / "app.jsonl"
        _write(app, APP_SEED)
        for body in GHL_SEED:
            ghl.create(body)
        config = config_mod.load(cfg_path)
        calls = 0

        def sync(title: str, dry_run: bool = False) -> tuple[Any, dict[str, int]]:
            """One run (or preview), printed, and the held conflicts' ids by key: the
            resolve commands it prints name a held conflict by its id, as the CLI's do."""
            nonlocal calls
            session = open_session(config, "main")
            try:
                report = session.engine.run(dry_run=dry_run)
                ids = session.store.open_conflict_ids("main")
            finally:
                session.close()
            calls += len(session.engine.calls)
            section(console, title)
            console.print(
                plan_renderable(report.plan, conflict_ids=ids)
                if dry_run
                else report_renderable(report, conflict_ids=ids)
            )
            return report, ids

        console.print(
            Panel.fit(
                "syncengine demo: a business app (app.jsonl) <-> GHL (the project's fake GHL API v2,\n"
                f"served on {fake.base_url} for the demo). Files in {directory.resolve()}"
            )
        )
        sync("1. first sync: existing contacts are linked by email, the rest created")
        # A week of use on both sides.
        _edit(app, {"id": "app-3"}, city="Wilmslow", tags=["lead"])  # a: edit + tag add
        ghl.update("kj@nasa.gov", phone="+17575550199")  # GHL: edit
        _edit(app, {"id": "app-5"}, website="https://ewd.example.org")  # both edit one field:
        ghl.update("ewd@utexas.edu", website="https://burroughs.example.com")  # held for review
        _edit(app, {"id": "app-7"}, last_name="Knuth (TAOCP)")  # both edit last_name:
        time.sleep(1.1)  # (GHL's edit is newer)
        ghl.update("knuth@stanford.edu", lastName="E. Knuth")  # newest wins
        ghl.delete("fran@ibm.com")  # deleted in GHL
        ghl.remove_tags("ada@analytical.org", ["newsletter"])  # tag removed in GHL
        sync("2. preview (plan): nothing is written", dry_run=True)
        report, held_ids = sync("3. run")
        html = directory / "conflict-review.html"
        html.write_text(render(report, "html", conflict_ids=held_ids), encoding="utf-8")
        again, _ = sync("4. a second run right away: nothing left to do", dry_run=True)
    finally:
        ghl.close()
        fake.stop()
    held = sum(1 for c in report.plan.conflicts if c.resolution == "held")
    console.print(
        Panel.fit(
            f"done in {time.monotonic() - started:.1f} s, {calls} GHL API calls\n"
            f"config:           {cfg_path}\n"
            f"side a (app):     {app}\n"
            f"side b (GHL):     the fake GHL at {fake.base_url} (stopped with the demo)\n"
            f"state database:   {directory / 'syncengine.db'}\n"
            f"review report:    {html}\n"
            f"held conflicts:   {held} (in the review report; `syncengine conflicts -c {cfg_path}`"
            " lists them)\n"
            f"duplicate groups: {len(report.plan.duplicates)}\n"
            f"what was sent:    `syncengine history show {report.run_id} -c {cfg_path}`"
            " (every op of the run, from its journal)\n"
            f"second run plans: {len(again.plan.operations)} operations\n"
            "Side b was the fake GHL, which stopped with the demo, so this config has no side b\n"
            "to run against any more. To resolve a conflict and run again on sides of your own:\n"
            "`syncengine init`, edit syncengine.toml, then `syncengine run`.",
            title="where everything is",
        )
    )
    return 0
