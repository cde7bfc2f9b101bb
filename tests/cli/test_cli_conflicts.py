"""Held conflicts from the command line: ``conflicts``, ``conflicts show``, ``resolve``."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cli_support import Invoke, Project, contact, flat

from syncengine.cli import _resolution_value
from syncengine.errors import UsageError


@pytest.fixture
def held(cli: Invoke, project: Project) -> tuple[Project, int]:
    """A linked pair whose company_name both sides then changed differently, held for
    review by ``conflicts = "manual"``; returns the project and the conflict's id."""
    project.write_config(conflicts="manual")
    project.write("a", [contact("a1", "ada@example.com", company_name="Analytical")])
    project.write("b", [contact("b1", "ada@example.com", company_name="Analytical")])
    assert cli("run", "--config", project.config).exit_code == 0
    project.edit("a", "ada@example.com", company_name="From A", city="Paris")
    project.edit("b", "ada@example.com", company_name="From B")
    result = cli("run", "--config", project.config)
    assert result.exit_code == 0, result.output
    with project.store() as store:
        (row,) = store.open_conflicts("main")
    return project, int(row["id"])


def test_a_held_conflict_is_listed_and_the_rest_of_the_record_syncs(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    project, cid = held
    # The field nobody disputes moved; the disputed one stays as each side has it.
    assert project.by_email("b")["ada@example.com"]["city"] == "Paris"
    assert project.by_email("a")["ada@example.com"]["company_name"] == "From A"
    assert project.by_email("b")["ada@example.com"]["company_name"] == "From B"

    result = cli("conflicts", "--config", project.config)
    assert result.exit_code == 0
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.output.splitlines()
        if line.startswith("│")
    ]
    assert rows == [
        [str(cid), "main", "contact", "a1", "b1", "company_name", "From A", "From B", "open"]
    ]
    listed = json.loads(cli("conflicts", "-f", "json", "--config", project.config).output)
    assert [(r["id"], r["field"], r["a_value"], r["b_value"]) for r in listed] == [
        (cid, "company_name", "From A", "From B")
    ]
    # It stays held, run after run, without a new row.
    assert cli("run", "--config", project.config).exit_code == 0
    with project.store() as store:
        assert [r["id"] for r in store.open_conflicts()] == [cid]


def test_conflicts_show_prints_base_both_values_and_how_to_resolve(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    project, cid = held
    result = cli("conflicts", "show", str(cid), "--config", project.config)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert lines[0] == f"conflict {cid} · main · contact company_name · open"
    assert "records   a a1 · b b1" in lines
    assert 'base      "Analytical"' in lines
    assert 'a         "From A"' in lines and 'b         "From B"' in lines
    assert lines[lines.index("resolve with one of:") + 1 :] == [
        f'syncengine resolve {cid} --keep a  # keep "From A"',
        f'syncengine resolve {cid} --keep b  # keep "From B"',
        f"syncengine resolve {cid} --value VALUE  # your own (JSON, or plain text)",
    ]
    # For machines: the stored row, and nothing else on the output.
    result = cli("conflicts", "show", str(cid), "--format", "json", "--config", project.config)
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert (row["id"], row["field"], row["status"]) == (cid, "company_name", "open")
    assert (row["base"], row["a_value"], row["b_value"]) == ("Analytical", "From A", "From B")
    bad = cli("conflicts", "show", str(cid), "--format", "yaml", "--config", project.config)
    assert bad.exit_code == 2 and "use text or json" in flat(bad.output)


def test_conflicts_show_takes_the_key_the_reports_print(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    project, cid = held
    key = "contact:a1:b1:company_name"
    result = cli("conflicts", "show", key, "--config", project.config)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"conflict {cid} ")
    assert f"syncengine resolve {key} --keep a" in result.output
    shown = cli("conflicts", "show", key, "-f", "json", "--config", project.config)
    assert json.loads(shown.output)["id"] == cid


def test_conflicts_show_of_a_settled_conflict_says_how_it_was_resolved(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    project, cid = held
    key = "contact:a1:b1:company_name"
    assert cli("resolve", str(cid), "--keep", "b", "--config", project.config).exit_code == 0
    deciding = flat(cli("conflicts", "show", str(cid), "--config", project.config).output)
    assert "decided: keep side b; the next run of main applies it" in deciding
    assert "resolve with" not in deciding
    assert cli("run", "--config", project.config).exit_code == 0
    for ref in (str(cid), key):  # the key finds it too once it is no longer open
        shown = cli("conflicts", "show", ref, "--config", project.config)
        assert shown.exit_code == 0, shown.output
        out = flat(shown.output)
        assert "resolved at " in out and "side b kept" in out
        assert "nothing left to resolve" in out
        assert "syncengine resolve" not in out


def test_conflicts_show_of_an_unknown_key_exits_2(cli: Invoke, project: Project) -> None:
    result = cli("conflicts", "show", "contact:x:y:city", "--config", project.config)
    assert result.exit_code == 2
    assert "no conflict 'contact:x:y:city'" in flat(result.output)
    assert "valid integer" not in result.output


def test_resolve_records_the_decision_for_the_next_run(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    project, cid = held
    before = {side: project.path(side).read_bytes() for side in ("a", "b")}
    result = cli("resolve", str(cid), "--keep", "b", "--config", project.config)
    assert result.exit_code == 0
    assert (
        f"conflict {cid} (contact company_name) will be resolved by keeping side b's value on "
        "the next run of main"
    ) in flat(result.output)
    with project.store() as store:
        row = store.conflict(cid)
        assert (row["status"], row["resolution"]) == ("resolving", "b")
        assert [r["id"] for r in store.pending_resolutions("main")] == [cid]
    # Deciding writes no side; the next run does.
    assert {side: project.path(side).read_bytes() for side in ("a", "b")} == before
    assert "no conflicts waiting for review" in cli("conflicts", "--config", project.config).output


def test_resolve_keep_b_is_applied_to_side_a_by_the_next_run(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    project, cid = held
    assert cli("resolve", str(cid), "--keep", "b", "--config", project.config).exit_code == 0

    assert cli("run", "--config", project.config).exit_code == 0
    assert project.by_email("a")["ada@example.com"]["company_name"] == "From B"
    assert project.by_email("b")["ada@example.com"]["company_name"] == "From B"
    with project.store() as store:
        assert store.conflict(cid)["status"] == "resolved"
        assert store.open_conflicts() == []
    assert "no conflicts waiting for review" in cli("conflicts", "--config", project.config).output
    listed = cli("conflicts", "--all", "--config", project.config).output
    assert "resolved" in listed and str(cid) in listed
    again = json.loads(cli("plan", "--config", project.config, "-f", "json").stdout)
    assert (again["operations"], again["conflicts"]) == ([], [])


def test_resolve_by_key_with_a_value(cli: Invoke, held: tuple[Project, int]) -> None:
    project, cid = held
    with project.store() as store:
        key = store.conflict(cid)["key"]
    result = cli("resolve", key, "--value", "Both Ltd", "--config", project.config)
    assert result.exit_code == 0, result.output
    assert 'will be set to "Both Ltd" on the next run of main' in flat(result.output)
    assert cli("run", "--config", project.config).exit_code == 0
    for side in ("a", "b"):
        assert project.by_email(side)["ada@example.com"]["company_name"] == "Both Ltd"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999", "--keep", "b"], "no conflict with id 999"),
        (["contact:q1:q2:city", "--keep", "a"], "no open conflict 'contact:q1:q2:city'"),
        (["1"], "give exactly one of --keep a, --keep b or --value VALUE"),
        (["1", "--keep", "c"], "give exactly one of --keep a, --keep b or --value VALUE"),
        (["1", "--keep", "a", "--value", "x"], "give exactly one of"),
        (["1", "--value", '"Acme'], """--value '"Acme' starts like JSON but is not"""),
        (["1", "--value", "[1,"], "quote it in full"),
        (["--all", "--field", "compnay_name", "--keep", "a"], "did you mean 'company_name'?"),
    ],
)
def test_resolve_usage_errors_exit_2(
    cli: Invoke, held: tuple[Project, int], args: list[str], message: str
) -> None:
    project, cid = held
    result = cli("resolve", *args, "--config", project.config)
    assert result.exit_code == 2
    assert message in flat(result.output)
    with project.store() as store:
        assert store.conflict(cid)["status"] == "open"


def test_a_value_is_checked_against_its_field() -> None:
    assert _resolution_value("2030-01-15T09:00:00Z", "due_date") == "2030-01-15T09:00:00Z"
    assert _resolution_value("Acme Ltd", "company_name") == "Acme Ltd"
    assert _resolution_value('["a", "b"]', "tags") == ["a", "b"]
    with pytest.raises(UsageError, match="cannot set due_date to 'next friday', which is not an"):
        _resolution_value("next friday", "due_date")
    with pytest.raises(UsageError, match="cannot set date_of_birth to '1990-02-30'"):
        _resolution_value("1990-02-30", "date_of_birth")


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('["x"]', "first_name", 'cannot set first_name to ["x"]: first_name takes text'),
        ('"vip"', "tags", "tags takes a list of strings"),
        ("[1, 2]", "tags", "tags takes a list of strings"),
        ('"yes"', "completed", "completed takes true or false"),
        ('{"a": 1}', "custom_fields.tier", "takes text, a number or a list, not an object"),
        ("ada at example", "email", "cannot set email to 'ada at example', which is not a valid"),
    ],
)
def test_a_value_of_the_wrong_type_for_its_field_is_refused(
    text: str, field: str, message: str
) -> None:
    """Refused when given, not carried by the next run to both sides (where a file side
    refuses it and the record sits in quarantine)."""
    with pytest.raises(UsageError, match=re.escape(message)):
        _resolution_value(text, field)


def test_a_value_takes_each_fields_own_type() -> None:
    assert _resolution_value("12345", "postal_code") == "12345"  # typed bare: its text
    assert _resolution_value("true", "completed") is True
    assert _resolution_value("5", "custom_fields.seats") == 5
    assert _resolution_value('["red", "blue"]', "custom_fields.colours") == ["red", "blue"]
    assert _resolution_value("null", "city") is None  # cleared
    assert _resolution_value("ada@example.com", "email") == "ada@example.com"


def test_an_unknown_key_is_echoed_verbatim(cli: Invoke, project: Project) -> None:
    result = cli("resolve", "contact:x:y:city", "--keep", "a", "--config", project.config)
    assert result.exit_code == 2
    assert "no open conflict 'contact:x:y:city'" in flat(result.output)


def test_a_resolution_can_be_changed_until_the_next_run_applies_it(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    """Kept the wrong side? Resolve again (by id or key); the run applies the last
    choice, and after that the conflict is closed and resolving it is refused."""
    project, cid = held
    assert cli("resolve", str(cid), "--keep", "a", "--config", project.config).exit_code == 0
    key = "contact:a1:b1:company_name"
    again = cli("resolve", key, "--keep", "b", "--config", project.config)
    assert again.exit_code == 0, again.output
    assert cli("run", "--config", project.config).exit_code == 0
    assert project.by_email("a")["ada@example.com"]["company_name"] == "From B"
    late = cli("resolve", str(cid), "--keep", "a", "--config", project.config)
    assert late.exit_code == 2
    assert f"conflict {cid} is resolved (applied by a run)" in flat(late.output)


def test_an_edit_made_after_a_resolution_to_the_side_it_overrules_is_not_lost(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    """`--keep a` was decided against b's "From B": b's later "Newer B" was never
    reviewed, so the run does not overwrite it; it holds the conflict again instead."""
    project, cid = held
    assert cli("resolve", str(cid), "--keep", "a", "--config", project.config).exit_code == 0
    project.edit("b", "ada@example.com", company_name="Newer B")
    report = project.config.parent / "run.md"
    result = cli("run", "--report", str(report), "--config", project.config)
    assert result.exit_code == 0, result.output
    assert "held again: b changed it after it was resolved (keep a)" in flat(result.output)
    assert "**Held again: b changed it after it was resolved (keep a)" in report.read_text()
    assert project.by_email("a")["ada@example.com"]["company_name"] == "From A"
    assert project.by_email("b")["ada@example.com"]["company_name"] == "Newer B"
    with project.store() as store:
        (again,) = store.open_conflicts("main")
        assert store.conflict(cid)["status"] == "reopened"
    assert (again["a_value"], again["b_value"]) == ("From A", "Newer B")
    # A later run that finds it unchanged keeps the reason it waits.
    assert cli("run", "--config", project.config).exit_code == 0
    waiting = cli("conflicts", "show", str(again["id"]), "--config", project.config)
    assert "held again: b changed it after it was resolved (keep a)" in flat(waiting.output)
    shown = cli("conflicts", "show", str(cid), "--config", project.config)
    assert "reopened: a side changed it after it was resolved" in flat(shown.output)
    late = cli("resolve", str(cid), "--keep", "b", "--config", project.config)
    assert late.exit_code == 2 and f"conflict {cid} was reopened" in flat(late.output)
    # Decided again, on what b holds now, it goes through.
    assert (
        cli("resolve", str(again["id"]), "--keep", "a", "--config", project.config).exit_code == 0
    )
    assert cli("run", "--config", project.config).exit_code == 0
    assert project.by_email("b")["ada@example.com"]["company_name"] == "From A"


def test_the_kept_side_may_move_on_after_a_resolution(
    cli: Invoke, held: tuple[Project, int]
) -> None:
    """The kept side's own later edit is no unreviewed loss: it goes through."""
    project, cid = held
    assert cli("resolve", str(cid), "--keep", "a", "--config", project.config).exit_code == 0
    project.edit("a", "ada@example.com", company_name="Newer A")
    assert cli("run", "--config", project.config).exit_code == 0
    assert project.by_email("b")["ada@example.com"]["company_name"] == "Newer A"
    with project.store() as store:
        assert store.open_conflicts("main") == []
        assert store.conflict(cid)["status"] == "resolved"


def _delete_held_against_an_edit(cli: Invoke, project: Project) -> tuple[dict[str, Any], str]:
    """p0 deleted on a and edited on b, held (conflicts = "manual"): the conflict's row
    and the output of the run that held it."""
    project.write_config(conflicts="manual")
    people = [contact(f"a{i}", f"p{i}@example.com", first_name=f"P{i}") for i in range(10)]
    project.write("a", people)
    assert cli("run", "--config", project.config).exit_code == 0
    project.drop("a", {"p0@example.com"})
    project.edit("b", "p0@example.com", first_name="Edited on b")
    held = cli("run", "--config", project.config)
    assert held.exit_code == 0
    with project.store() as store:
        (row,) = store.open_conflicts("main")
    return row, held.output


def test_keeping_a_delete_does_not_delete_a_record_edited_since(
    cli: Invoke, project: Project
) -> None:
    row, _ = _delete_held_against_an_edit(cli, project)
    assert cli("resolve", str(row["id"]), "--keep", "a", "--config", project.config).exit_code == 0
    project.edit("b", "p0@example.com", first_name="Edited again on b")
    result = cli("run", "--config", project.config)
    assert "held again: b edited the record after it was resolved (keep a)" in flat(result.output)
    assert project.by_email("b")["p0@example.com"]["first_name"] == "Edited again on b"


def test_conflicts_show_of_an_unknown_id_exits_2(cli: Invoke, project: Project) -> None:
    result = cli("conflicts", "show", "42", "--config", project.config)
    assert result.exit_code == 2
    assert "no conflict with id 42" in flat(result.output)


def test_a_delete_conflict_takes_keep_not_a_value(cli: Invoke, project: Project) -> None:
    """A delete against an edit, held (conflicts = "manual"): --value has no meaning
    there and is refused; --keep b (the side that edited) restores the record on a."""
    row, output = _delete_held_against_an_edit(cli, project)
    assert row["kind"] == "delete_vs_edit"
    # The run's plan, the listing and `conflicts show` say the same of each side.
    hints = [line.split("#", 1)[1].strip() for line in output.splitlines() if " # " in line]
    assert hints == [
        "the delete: the record goes on both sides",
        "the record: it is made again on a",
    ]
    listed = cli("conflicts", "--config", project.config)
    assert "(deleted)" in listed.output and "null" not in listed.output
    shown = cli("conflicts", "show", str(row["id"]), "--config", project.config)
    lines = [line.strip() for line in shown.output.splitlines()]
    assert "a         (deleted)" in lines
    assert lines[lines.index("resolve with one of:") + 1 :] == [
        f"syncengine resolve {row['id']} --keep a  # the delete: the record goes on both sides",
        f"syncengine resolve {row['id']} --keep b  # the record: it is made again on a",
    ]
    assert not any("--value" in line for line in lines)  # no value to set for a delete
    refused = cli("resolve", str(row["id"]), "--value", '"x"', "--config", project.config)
    assert refused.exit_code == 2
    assert "is a delete against an edit: there is no value to set" in flat(refused.output)
    kept = cli("resolve", str(row["id"]), "--keep", "b", "--config", project.config)
    assert kept.exit_code == 0, kept.output
    assert cli("run", "--config", project.config).exit_code == 0
    assert project.by_email("a")["p0@example.com"]["first_name"] == "Edited on b"
    with project.store() as store:
        assert store.open_conflicts("main") == []


@pytest.fixture
def many_held(cli: Invoke, project: Project) -> tuple[Project, dict[tuple[str, str], int]]:
    """Three linked pairs with company_name held for review, and a city held on one of
    them; returns the project and the conflicts' ids by (email, field)."""
    project.write_config(conflicts="manual")
    people = ["ada@example.com", "bo@example.com", "cy@example.com"]
    for side in ("a", "b"):
        project.write(
            side, [contact(f"{side}{i}", e, company_name="Old") for i, e in enumerate(people)]
        )
    assert cli("run", "--config", project.config).exit_code == 0
    for e in people:
        project.edit("a", e, company_name="From A")
        project.edit("b", e, company_name="From B")
    project.edit("a", people[0], city="Paris")
    project.edit("b", people[0], city="Rome")
    assert cli("run", "--config", project.config).exit_code == 0
    with project.store() as store:
        rows = store.open_conflicts("main")
    email = {f"{s}{i}": e for s in ("a", "b") for i, e in enumerate(people)}
    return project, {(email[r["a_id"]], r["field"]): int(r["id"]) for r in rows}


def test_resolve_all_on_one_field_keeps_one_side_for_each(
    cli: Invoke, many_held: tuple[Project, dict[tuple[str, str], int]]
) -> None:
    project, ids = many_held
    assert len(ids) == 4
    shown = flat(cli("conflicts", "-c", project.config).output)
    listed = flat(cli("run", "--dry-run", "-c", project.config).output)
    assert "syncengine resolve --all --field FIELD --keep b" in listed, listed
    assert "`syncengine resolve --all --field FIELD --keep a` every one on a field" in shown
    result = cli("resolve", "--all", "--field", "company_name", "--keep", "b", "-c", project.config)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    for (_email, field), cid in ids.items():
        said = f"conflict {cid} (contact company_name) will be resolved by keeping side b's value"
        assert (said in out) == (field == "company_name")
    assert cli("run", "--config", project.config).exit_code == 0
    a = project.by_email("a")
    assert {a[e]["company_name"] for e in a} == {"From B"}
    assert (a["ada@example.com"]["city"], project.by_email("b")["ada@example.com"]["city"]) == (
        "Paris",
        "Rome",
    )  # the city stays held: it was not on the field resolved
    with project.store() as store:
        assert [r["field"] for r in store.open_conflicts("main")] == ["city"]
    again = cli("resolve", "--all", "--field", "company_name", "--keep", "b", "-c", project.config)
    assert again.exit_code == 0
    assert "no conflicts held for review on field company_name" in flat(again.output)


def test_resolve_several_by_id_all_or_none(
    cli: Invoke, many_held: tuple[Project, dict[tuple[str, str], int]]
) -> None:
    project, ids = many_held
    city, ada = ids[("ada@example.com", "city")], ids[("ada@example.com", "company_name")]
    refused = cli("resolve", str(city), "4242", "--keep", "a", "-c", project.config)
    assert refused.exit_code == 2
    assert "no conflict with id 4242" in flat(refused.output)
    with project.store() as store:
        assert len(store.open_conflicts("main")) == 4  # the known one was not resolved either
    key = "contact:a0:b0:city"  # the city conflict again, named by its key: once
    done = cli("resolve", str(city), str(ada), key, "--keep", "a", "-c", project.config)
    assert done.exit_code == 0, done.output
    assert flat(done.output).count("(contact city) will be resolved") == 1
    assert cli("run", "--config", project.config).exit_code == 0
    b = project.by_email("b")["ada@example.com"]
    assert (b["city"], b["company_name"]) == ("Paris", "From A")
    with project.store() as store:
        assert len(store.open_conflicts("main")) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "a"], "name the conflicts to resolve"),
        (["1", "--all", "--keep", "a"], "or give --all for every open one"),
        (["1", "--field", "city", "--keep", "a"], "--field and --connection narrow --all"),
        (["--all", "--value", "X"], "--value sets one conflict's value, and 4 are named"),
        (["--all", "--connection", "nope", "--keep", "a"], "nope"),
    ],
)
def test_resolve_many_usage_errors_exit_2(
    cli: Invoke,
    many_held: tuple[Project, dict[tuple[str, str], int]],
    args: list[str],
    message: str,
) -> None:
    project, _ids = many_held
    result = cli("resolve", *args, "--config", project.config)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    with project.store() as store:
        assert len(store.open_conflicts("main")) == 4


def test_resolve_names_the_first_ones_and_counts_the_rest(
    cli: Invoke,
    many_held: tuple[Project, dict[tuple[str, str], int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import syncengine.cli

    project, _ids = many_held
    monkeypatch.setattr(syncengine.cli, "SHOWN_RESOLVED", 3)
    result = cli("resolve", "--all", "--keep", "a", "-c", project.config)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert out.count("will be resolved by keeping side a's value") == 3
    assert "... and 1 more, each resolved by keeping side a's value or outcome (4 in all)" in out
    with project.store() as store:
        assert store.open_conflicts("main") == []
