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
source = { direction = "none" }
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
    assert conn.policy.rule_for("contact", "source").direction is Direction.NONE
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
    assert len(info.value.problems) == 5
    for needle in (
        "loudest",
        "sometimes",
        "literal secret",
        "env:VAR",
        "b.adapter is missing",
        "connections.x.a: ghl: set location_id",  # the adapter's own check of its settings
    ):
        assert needle in text
    assert "pit-123" not in text  # the secret itself is never echoed


def test_side_settings_alone_are_left_to_the_opening_of_the_sides():
    """They are named there with what only opening finds (an unset secret), in one report."""
    raw = {"connections": {"x": {"a": {"adapter": "jsonl"}, "b": {"adapter": "memory"}}}}
    assert parse(raw, Path("syncengine.toml")).connection("x").a.settings == {}


def test_a_misspelt_side_setting_is_named_once_as_the_misspelling():
    raw = {
        "conflicts": "loudest",
        "a": {"adapter": "jsonl", "pth": "a.jsonl"},
        "b": {"adapter": "csv", "path": "b.csv", "delimiter": "colon"},
    }
    with pytest.raises(ConfigError) as info:
        parse({"connections": {"x": raw}}, Path("syncengine.toml"))
    problems = info.value.problems
    assert any("a.pth: unknown setting; did you mean 'path'?" in p for p in problems)
    assert not any("'path' is missing" in p for p in problems)
    assert any(p.startswith("connections.x.b: csv adapter: setting 'delimiter'") for p in problems)


def test_an_adapter_without_settings_problems_is_checked_when_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A third-party adapter written before the Protocol had ``settings_problems``."""
    from adapters import registry

    class OldAdapter:
        SETTINGS = ("path",)

    monkeypatch.setattr(registry, "load_type", lambda name: OldAdapter)
    assert registry.settings_problems("old", {}) == []


def test_missing_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ConfigError, match="syncengine init"):
        load(tmp_path / "nope.toml")


def test_secret_references_resolve_and_fail_clearly():
    store = SecretStore({"TOKEN": "s3cret"})
    assert store("env:TOKEN", setting="token") == "s3cret"
    with pytest.raises(SecretError, match="environment variable MISSING is not set"):
        store("env:MISSING", setting="token")


def test_misspelt_and_unknown_keys_are_named_with_the_likely_fix():
    raw = {
        "state": {"uri": "sqlite:///x.db"},
        "connections": {
            "x": {
                "conflict": "a",
                "fields": {"email": {"direction": "a->b", "conflict": "b"}},
                "a": {"adapter": "jsnol", "path": "a.jsonl"},
                "b": {"adapter": "memory"},
            }
        },
        "conections": {},
    }
    with pytest.raises(ConfigError) as info:
        parse(raw, Path("syncengine.toml"))
    problems = info.value.problems
    assert "conections: unknown setting; did you mean 'connections'?" in problems
    assert "state.uri: unknown setting; did you mean 'url'?" in problems
    assert "connections.x.conflict: unknown setting; did you mean 'conflicts'?" in problems
    assert (
        "connections.x.fields.email.conflict: unknown setting; did you mean 'conflicts'?"
        in problems
    )
    assert any(
        p.startswith("connections.x.a.adapter = 'jsnol': no such adapter; did you mean 'jsonl'?")
        for p in problems
    )
    assert len(problems) == 5


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("default_region", "Narnia", 'two-letter country code such as "US"'),
        ("min_guarded_deletes", 0, "whole number of at least 1"),
        ("max_delete_share", 2, "share between 0 and 1"),
    ],
)
def test_policy_values_are_checked(key: str, value: object, needle: str):
    raw = {
        "connections": {"x": {key: value, "a": {"adapter": "memory"}, "b": {"adapter": "memory"}}}
    }
    with pytest.raises(ConfigError, match=needle):
        parse(raw, Path("syncengine.toml"))


def test_policy_guards_and_region_are_configurable():
    raw = {
        "connections": {
            "x": {
                "default_region": "gb",
                "min_guarded_deletes": 10,
                "a": {"adapter": "memory"},
                "b": {"adapter": "memory"},
            }
        }
    }
    policy = parse(raw, Path("syncengine.toml")).connection("x").policy
    assert (policy.default_region, policy.min_guarded_deletes) == ("GB", 10)


def test_a_password_in_the_state_url_is_refused_and_a_reference_is_resolved(
    monkeypatch: pytest.MonkeyPatch,
):
    sides = {"a": {"adapter": "memory"}, "b": {"adapter": "memory"}}
    literal = {"state": {"url": "postgresql://sync:hunter2@db/sync"}, "connections": {"x": sides}}
    with pytest.raises(ConfigError, match=r"state\.url holds a literal password") as info:
        parse(literal, Path("syncengine.toml"))
    assert "hunter2" not in str(info.value)
    monkeypatch.setenv("SYNC_DB", "postgresql://sync:hunter2@db/sync")
    ref = {"state": {"url": "env:SYNC_DB"}, "connections": {"x": sides}}
    assert parse(ref, Path("syncengine.toml")).state_url == "postgresql://sync:hunter2@db/sync"
    monkeypatch.delenv("SYNC_DB")
    with pytest.raises(ConfigError, match="environment variable SYNC_DB is not set"):
        parse(ref, Path("syncengine.toml"))
