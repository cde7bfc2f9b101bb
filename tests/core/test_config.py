from __future__ import annotations

from pathlib import Path

import pytest

from syncengine.config import load, parse
from syncengine.errors import ConfigError, SecretError
from syncengine.policy import ConflictRule, Direction
from syncengine.secrets import SecretStore

GOOD = """
[connections.main]
schedule = "every 15m"
conflicts = "manual"
[connections.main.fields]
email = { conflicts = "a", direction = "a->b" }
[connections.main.a]
adapter = "jsonl"
path = "a.jsonl"
[connections.main.b]
adapter = "ghl"
token = "env:GHL_TOKEN"
"""


def test_a_good_config_parses(tmp_path: Path):
    (tmp_path / "syncengine.toml").write_text(GOOD)
    cfg = load(tmp_path / "syncengine.toml")
    conn = cfg.connection(None)
    assert conn.policy.conflicts is ConflictRule.MANUAL
    assert conn.policy.rule_for("contact", "email").direction is Direction.A_TO_B
    assert cfg.state_url == f"sqlite:///{tmp_path / 'syncengine.db'}"


def test_every_problem_is_reported_at_once():
    raw = {
        "connections": {
            "x": {
                "conflicts": "loudest",
                "schedule": "sometimes",
                "a": {"adapter": "ghl", "token": "pit-123"},
                "b": {},
            }
        }
    }
    with pytest.raises(ConfigError) as info:
        parse(raw, Path("syncengine.toml"))
    text = str(info.value)
    assert len(info.value.problems) == 4
    for needle in ("loudest", "sometimes", "literal secret", "env:VAR", "b.adapter is missing"):
        assert needle in text
    assert "pit-123" not in text  # the secret itself is never echoed


def test_missing_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ConfigError, match="syncengine init"):
        load(tmp_path / "nope.toml")


def test_secret_references_resolve_and_fail_clearly():
    store = SecretStore({"TOKEN": "s3cret"})
    assert store("env:TOKEN", setting="token") == "s3cret"
    with pytest.raises(SecretError, match="environment variable MISSING is not set"):
        store("env:MISSING", setting="token")
