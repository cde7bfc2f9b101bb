"""The CLI with a GHL side: ``fake-ghl`` as a real process, and OAuth ``auth login``
followed by ``check`` and ``run`` against the fake over loopback HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_support import Invoke

from adapters.ghl.fake import FakeGhlState
from syncengine.fakeghl import RunningFake, free_port, prepare_state, start_in_thread

LOCATION = "locTest0000000000001"


@pytest.fixture
def fake() -> Iterator[RunningFake]:
    state, token = prepare_state(location_id=LOCATION, allow_duplicates=False)
    running = start_in_thread(state, token, LOCATION)
    yield running
    running.stop()


def _contacts_to_ghl(
    directory: Path, base_url: str, token_env: str, connection_settings: str = ""
) -> Path:
    """A config syncing app.jsonl's contacts with the GHL at ``base_url``."""
    config = directory / "syncengine.toml"
    config.write_text(
        '[connections.main]\nentities = ["contact"]\n'
        + connection_settings
        + '[connections.main.a]\nadapter = "jsonl"\npath = "app.jsonl"\n'
        f'[connections.main.b]\nadapter = "ghl"\nbase_url = "{base_url}"\n'
        f'location_id = "{LOCATION}"\ntoken = "env:{token_env}"\n',
        encoding="utf-8",
    )
    return config


def test_fake_ghl_command_serves_the_api_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncengine.cli",
            "fake-ghl",
            "--port",
            str(port),
            "--token",
            "pit-test",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/contacts/",
                    headers={"Authorization": "Bearer pit-test", "Version": "2021-07-28"},
                    json={"locationId": "demoLocation00000001", "email": "x@example.com"},
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "fake-ghl did not start"
                time.sleep(0.2)
        assert response.status_code == 201
        assert response.json()["contact"]["email"] == "x@example.com"
        bad = httpx.get(
            f"http://127.0.0.1:{port}/contacts/nope",
            headers={"Authorization": "Bearer wrong", "Version": "2021-07-28"},
        )
        assert bad.status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "export GHL_TOKEN=pit-test" in out


def _oauth_config(tmp: Path, fake: RunningFake) -> Path:
    (tmp / "app.jsonl").write_text(
        json.dumps({"id": "a1", "email": "ada@example.com", "first_name": "Ada", "tags": ["vip"]})
        + "\n",
        encoding="utf-8",
    )
    config = tmp / "syncengine.toml"
    config.write_text(
        "[connections.main]\n"
        'entities = ["contact", "note"]\n'
        "[connections.main.a]\n"
        'adapter = "jsonl"\npath = "app.jsonl"\n'
        "[connections.main.b]\n"
        'adapter = "ghl"\nauth = "oauth"\n'
        f'base_url = "{fake.base_url}"\nlocation_id = "{LOCATION}"\n'
        'client_id = "client-123"\nclient_secret = "env:TEST_GHL_CLIENT_SECRET"\n',
        encoding="utf-8",
    )
    return config


def test_auth_login_then_check_and_run_over_oauth(
    cli: Invoke, tmp_path: Path, fake: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: FakeGhlState = fake.state
    state.register_client("client-123", "shh-secret")
    code = state.issue_code("client-123", LOCATION)
    monkeypatch.setenv("TEST_GHL_CLIENT_SECRET", "shh-secret")
    monkeypatch.setenv("SYNCENGINE_VAULT_KEY", "a passphrase for the test vault")
    config = _oauth_config(tmp_path, fake)

    login = cli("auth", "login", "--config", config, "--code", code)
    assert login.exit_code == 0, login.output
    assert "client_id=client-123" in login.output
    assert "tokens stored" in login.output
    db = (tmp_path / "syncengine.db").read_bytes()
    assert b"shh-secret" not in db  # the vault holds ciphertext only

    check = cli("check", "--config", config)
    assert check.exit_code == 0, check.output
    run = cli("run", "--config", config)
    assert run.exit_code == 0, run.output
    created = [c for loc in state.locations.values() for c in loc.contacts.values()]
    assert [c["email"] for c in created] == ["ada@example.com"]
    # The access token expires: the next run refreshes (single-use refresh token) and goes on.
    for token in state.tokens.values():
        token.expires_at = time.time() - 1
    again = cli("run", "--config", config)
    assert again.exit_code == 0, again.output


def test_auth_login_without_an_oauth_side_is_a_config_error(
    cli: Invoke, tmp_path: Path, fake: RunningFake
) -> None:
    config = tmp_path / "syncengine.toml"
    config.write_text(
        '[connections.main.a]\nadapter = "jsonl"\npath = "a.jsonl"\n'
        '[connections.main.b]\nadapter = "jsonl"\npath = "b.jsonl"\n',
        encoding="utf-8",
    )
    result = cli("auth", "login", "--config", config, "--code", "x")
    assert result.exit_code == 2
    assert re.search(r'no side with adapter = "ghl" and auth = "oauth"', result.output)


def test_a_literal_token_for_ghl_is_refused(cli: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "syncengine.toml"
    config.write_text(
        '[connections.main.a]\nadapter = "jsonl"\npath = "a.jsonl"\n'
        '[connections.main.b]\nadapter = "ghl"\nlocation_id = "x"\ntoken = "pit-abc123"\n',
        encoding="utf-8",
    )
    result = cli("plan", "--config", config)
    assert result.exit_code == 2
    assert "literal secret" in result.output and "env:VAR" in result.output
    assert "pit-abc123" not in result.output


def test_read_only_scopes_are_enough_for_plan_and_run_stops_writing_to_ghl(
    cli: Invoke, tmp_path: Path, fake: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token with read scopes only: `check` names the write scope it lacks and says
    plan works; `plan` does; `run` writes nothing to GHL, quarantines nothing, exits 1."""
    state: FakeGhlState = fake.state
    state.issue_token(
        LOCATION,
        scopes={"contacts.readonly", "locations/customFields.readonly"},
        token="pit-read-only-0001",
    )
    monkeypatch.setenv("TEST_GHL_READ_ONLY", "pit-read-only-0001")
    (tmp_path / "app.jsonl").write_text(
        json.dumps({"id": "a1", "email": "ada@example.com", "first_name": "Ada"}) + "\n",
        encoding="utf-8",
    )
    config = _contacts_to_ghl(tmp_path, fake.base_url, "TEST_GHL_READ_ONLY")
    check = cli("check", "--config", config)
    assert check.exit_code == 1
    assert "lacks the scope contacts.write (`plan` works without it" in check.output.replace(
        "\n", " "
    )
    plan = cli("plan", "--config", config, "--format", "json")
    assert plan.exit_code == 0, plan.output
    assert [op["action"] for op in json.loads(plan.stdout)["operations"]] == ["create"]
    run = cli("run", "--config", config)
    assert run.exit_code == 1, run.output
    assert not [c for loc in state.locations.values() for c in loc.contacts.values()]
    assert "took no more writes this run" in run.output.replace("\n", " ")
    assert "nothing is quarantined" in cli("quarantine", "--config", config).output


def test_a_token_without_the_calendar_scope_still_syncs_contacts(
    cli: Invoke, tmp_path: Path, fake: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only appointment writes stop when GHL refuses the calendar scope: the contact and
    its note reach GHL, the appointment is reported and planned again, exit 1."""
    state: FakeGhlState = fake.state
    state.add_calendar(LOCATION, "cal-1")
    scopes = {"contacts.readonly", "contacts.write", "locations/customFields.readonly"}
    state.issue_token(LOCATION, scopes=scopes | {"calendars/events.readonly"}, token="pit-nocal-1")
    monkeypatch.setenv("TEST_GHL_NO_CALENDAR", "pit-nocal-1")
    rows = [
        {"id": "a1", "email": "ada@example.com", "first_name": "Ada"},
        {"id": "n1", "entity": "note", "contact_id": "a1", "title": "Call", "body": "demo"},
        {
            "id": "p1",
            "entity": "appointment",
            "contact_id": "a1",
            "title": "Demo",
            "start_time": "2030-01-15T10:00:00+00:00",
            "end_time": "2030-01-15T11:00:00+00:00",
            "calendar_id": "cal-1",
        },
    ]
    (tmp_path / "app.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    config = tmp_path / "syncengine.toml"
    config.write_text(
        '[connections.main]\n[connections.main.a]\nadapter = "jsonl"\npath = "app.jsonl"\n'
        f'[connections.main.b]\nadapter = "ghl"\nbase_url = "{fake.base_url}"\n'
        f'location_id = "{LOCATION}"\ntoken = "env:TEST_GHL_NO_CALENDAR"\ncalendar_id = "cal-1"\n',
        encoding="utf-8",
    )
    run = cli("run", "--config", config)
    assert run.exit_code == 1, run.output
    text = run.output.replace("\n", " ")
    assert "took no more appointment writes this run" in text
    location = state.locations[LOCATION]
    assert [c["email"] for c in location.contacts.values()] == ["ada@example.com"]
    assert "nothing is quarantined" in cli("quarantine", "--config", config).output


def test_a_ghl_nobody_answers_at_fails_the_run_in_seconds_naming_base_url(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed port: `check` and `run` say to check base_url after a few tries, not
    after minutes of backoff, and the run does not fall back to another reader of the
    same unreachable server."""
    monkeypatch.setenv("TEST_GHL_TOKEN", "pit-anything-0001")
    (tmp_path / "app.jsonl").write_text("", encoding="utf-8")
    closed = f"http://127.0.0.1:{free_port()}"
    config = _contacts_to_ghl(tmp_path, closed, "TEST_GHL_TOKEN")
    check = cli("check", "--config", config)
    assert check.exit_code == 1
    assert check.output.count(f"check base_url ({closed})") == 1  # one cause, said once
    started = time.monotonic()
    run = cli("run", "--config", config)
    took = time.monotonic() - started
    assert run.exit_code == 1
    out = run.output.replace("\n", " ")
    assert (
        "side b (ghl) could not be read, so nothing ran" in out
        and f"check base_url ({closed})" in out
    )
    assert "reading through GET /contacts/ instead" not in out
    assert took < 30, took  # four tries with backoff: seconds (it was two minutes)


def test_phones_reach_ghl_read_with_the_connections_region(
    cli: Invoke, tmp_path: Path, fake: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``default_region = "DE"`` reaches the GHL side: a Berlin number written without
    its country code arrives as +49..., not as the US number it was taken for."""
    monkeypatch.setenv("TEST_GHL_TOKEN", fake.token)
    rows = [{"id": "a1", "email": "berlin@example.com", "phone": "030 1234567"}]
    (tmp_path / "app.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    config = _contacts_to_ghl(tmp_path, fake.base_url, "TEST_GHL_TOKEN", 'default_region = "DE"\n')
    run = cli("run", "--config", config)
    assert run.exit_code == 0, run.output
    (contact,) = [c for loc in fake.state.locations.values() for c in loc.contacts.values()]
    assert contact["phone"] == "+49301234567"
    again = cli("plan", "--config", config, "--format", "json")
    assert json.loads(again.stdout)["operations"] == []  # the two spellings agree
