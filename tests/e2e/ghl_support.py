"""Helpers for the two-way GHL end-to-end test: a JSONL side (a) and the fake GHL served
by uvicorn on 127.0.0.1 (b), a config between them, and the two sides read back.

Edits on the GHL side go over HTTP, as a GHL user's would; edits on the JSONL side are
whole lines rewritten, as an app's would. Both sides are read back for checking through
their own adapters (canonical records), with the fake's faults switched off.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from adapters.base import AdapterContext
from adapters.files.jsonl import JsonlAdapter
from adapters.ghl.adapter import GhlAdapter
from adapters.ghl.fake import FakeGhlState, Faults
from state.store import Store
from syncengine import config as config_mod
from syncengine.errors import AdapterError
from syncengine.models import JSON, OpStatus, Record, RunReport
from syncengine.render import render
from syncengine.runtime import open_session

LOCATION = "locE2E00000000000001"
TOKEN = "pit-e2e-5ecret-t0ken-3f9a1c77d2"
TOKEN_ENV = "SYNCENGINE_E2E_GHL_TOKEN"
CONNECTION = "main"
SYNCED = ("first_name", "last_name", "email", "phone", "city", "tags")
"""The contact fields the scenario uses; every linked pair must agree on all of them."""
MAX_RUNS = 5


def email(n: int) -> str:
    return f"p{n}@example.com"


@dataclass
class Project:
    """One connection: ``app.jsonl`` (side a) <-> the fake GHL at ``base_url`` (side b)."""

    dir: Path
    base_url: str
    state: FakeGhlState
    timeout: float = 5.0
    full_pass_every: str = "0s"
    """``"0s"``: every run reads everything; longer: incremental reads in between."""
    texts: list[str] = field(default_factory=list)
    """Every exception message and rendered report the runs produced (for the token check)."""
    sessions: int = 0

    @property
    def config_path(self) -> Path:
        return self.dir / "syncengine.toml"

    @property
    def jsonl(self) -> Path:
        return self.dir / "app.jsonl"

    def write_config(self) -> None:
        self.config_path.write_text(
            f"""
[connections.{CONNECTION}]
entities = ["contact", "note", "task"]
match = ["email"]
conflicts = "newest"
deletes = "propagate"
max_delete_share = 0.5
full_pass_every = "{self.full_pass_every}"

[connections.{CONNECTION}.a]
adapter = "jsonl"
path = "app.jsonl"

[connections.{CONNECTION}.b]
adapter = "ghl"
base_url = "{self.base_url}"
location_id = "{LOCATION}"
token = "env:{TOKEN_ENV}"
timeout = {self.timeout}
""",
            encoding="utf-8",
        )

    # -- running ---------------------------------------------------------------------------
    def sync(self, *, dry_run: bool = False) -> RunReport:
        """One run (or plan) through ``open_session``, as the CLI makes it."""
        session = open_session(config_mod.load(self.config_path), CONNECTION)
        self.sessions += 1
        try:
            report = session.engine.run(dry_run=dry_run, force=False)
        finally:
            session.close()
        self.texts.append(render(report, "json"))
        self.texts += [o.error for o in report.outcomes if o.error]
        self.texts += list(report.problems)
        return report

    def sync_after_search(self, runs: int = 1) -> list[RunReport]:
        """``runs`` runs, each once GHL's search has caught up with every write before it
        (``FakeGhlState.settle_search``): what runs a few minutes apart amount to."""
        reports = []
        for _ in range(runs):
            self.state.settle_search()
            reports.append(self.sync())
        return reports

    def sync_until_quiet(self, arm: Callable[[], None]) -> list[RunReport | AdapterError]:
        """Runs under faults (``arm`` switches them on before each) until one settles
        everything it planned, at most ``MAX_RUNS - 1``; then one run with the faults
        off, which must settle everything. Returns what each run gave."""
        results: list[RunReport | AdapterError] = []
        for _ in range(MAX_RUNS - 1):
            arm()
            try:
                report = self.sync()
            except AdapterError as exc:  # a read that failed past its retries: run again
                self.texts.append(f"{type(exc).__name__}: {exc}")
                results.append(exc)
                continue
            results.append(report)
            if not unsettled(report):
                break
        self.state.faults = Faults()
        final = self.sync()
        assert not unsettled(final), [o for o in final.outcomes if o.error] or final.problems
        results.append(final)
        return results

    # -- side a: the JSONL file --------------------------------------------------------------
    def write_a(self, rows: list[dict[str, Any]]) -> None:
        self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def rows_a(self) -> list[dict[str, Any]]:
        text = self.jsonl.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def edit_a(self, contact_email: str, **changes: Any) -> str:
        rows = self.rows_a()
        (row,) = [r for r in rows if r.get("email") == contact_email]
        row.update(changes)
        self.write_a(rows)
        return str(row["id"])

    def delete_a(self, contact_email: str) -> None:
        rows = self.rows_a()
        (gone,) = [r["id"] for r in rows if r.get("email") == contact_email]
        self.write_a([r for r in rows if r["id"] != gone and r.get("contact_id") != gone])

    def add_a(self, row: dict[str, Any]) -> None:
        self.write_a([*self.rows_a(), row])

    # -- side b: the fake GHL over HTTP ----------------------------------------------------------
    def ghl(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {TOKEN}", "Version": "2021-07-28"},
            timeout=10,
        )

    def ghl_id(self, contact_email: str) -> str:
        with self.ghl() as client:
            reply = client.get(
                "/contacts/search/duplicate",
                params={"locationId": LOCATION, "email": contact_email},
            )
        reply.raise_for_status()
        return str(reply.json()["contact"]["id"])

    def ghl_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        with self.ghl() as client:
            reply = client.request(method, path, json=body)
        assert reply.status_code < 300, (method, path, reply.text)
        return reply.json()

    def settled_log_length(self, quiet: float = 0.2) -> int:
        """The fake's request log length once it stops growing: the server thread logs a
        request just after it has answered, so the last edit may not be there yet."""
        length = -1
        while length != len(self.state.requests):
            length = len(self.state.requests)
            time.sleep(quiet)
        return length

    def audit_rows(self) -> list[dict[str, Any]]:
        """Every row of the state store's audit table (``Store.audit``)."""
        store = Store(config_mod.load(self.config_path).state_url)
        try:
            return store.audit(limit=1_000_000)
        finally:
            store.close()

    # -- reading both sides back -------------------------------------------------------------
    def read_both(self) -> tuple[Sides, Sides]:
        """Both sides as their adapters read them, once GHL's search has caught up."""
        self.state.settle_search()
        jsonl = JsonlAdapter.from_settings({"path": "app.jsonl"}, AdapterContext(base_dir=self.dir))
        ghl = GhlAdapter.from_settings(
            {"location_id": LOCATION, "token": "env:X", "base_url": self.base_url},
            AdapterContext(side="b", secrets=lambda reference, *, setting: TOKEN),
        )
        try:
            return Sides.read(jsonl), Sides.read(ghl)
        finally:
            jsonl.close()
            ghl.close()


@dataclass
class Sides:
    """One side's contacts by email, and its notes and tasks by their contact's email."""

    contacts: dict[str, Record]
    notes: dict[str, Counter[str]]
    tasks: dict[str, dict[str, dict[str, JSON]]]
    emails_seen: Counter[str]

    @classmethod
    def read(cls, adapter: JsonlAdapter | GhlAdapter) -> Sides:
        contacts = adapter.snapshot("contact").records
        emails = Counter(str(r.fields.get("email")) for r in contacts)
        by_id = {r.id: str(r.fields.get("email")) for r in contacts}
        notes: dict[str, Counter[str]] = {}
        for note in adapter.snapshot("note").records:
            notes.setdefault(by_id[note.parent_id or ""], Counter())[
                str(note.fields.get("body"))
            ] += 1
        tasks: dict[str, dict[str, dict[str, JSON]]] = {}
        for task in adapter.snapshot("task").records:
            title = str(task.fields.get("title"))
            tasks.setdefault(by_id[task.parent_id or ""], {})[title] = dict(task.fields)
        return cls({str(r.fields.get("email")): r for r in contacts}, notes, tasks, emails)

    def synced(self, contact_email: str) -> dict[str, JSON]:
        fields = self.contacts[contact_email].fields
        return {k: fields.get(k) for k in SYNCED}


def unsettled(report: RunReport) -> bool:
    """Whether a run left failed or quarantined records, or records it could not read."""
    bad = (OpStatus.FAILED, OpStatus.QUARANTINED)
    return bool(report.problems) or any(o.status in bad for o in report.outcomes)
