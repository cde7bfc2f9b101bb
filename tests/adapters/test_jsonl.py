"""The JSONL adapter against the contract, plus what only a file side has to get right:
untouched bytes, malformed lines, atomic rewrites, outside edits and big batches."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterContext, KeyLookup
from adapters.files.jsonl import JsonlAdapter
from adapters.registry import load_factory
from adapters.testing import AdapterContract, MakeAdapter, ManualClock
from syncengine.errors import (
    ConfigError,
    PermanentAdapterError,
    RecordNotFound,
    RecordRejected,
    TransientAdapterError,
)
from syncengine.models import Entity, FieldChange, Record


class TestJsonlContract(AdapterContract):
    @pytest.fixture
    def make_adapter(self, tmp_path: Path) -> MakeAdapter:
        return lambda: JsonlAdapter(tmp_path / "side.jsonl")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "contacts.jsonl"


def write_lines(path: Path, *lines: str) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def contact(email: str = "new@example.com", **fields: object) -> Record:
    return Record(entity="contact", id="", fields={"email": email, **fields})


# -- settings ------------------------------------------------------------------------------
def test_relative_path_resolves_against_base_dir(tmp_path: Path) -> None:
    context = AdapterContext(base_dir=tmp_path)
    adapter = JsonlAdapter.from_settings({"path": "data.jsonl"}, context)
    assert adapter.path == tmp_path / "data.jsonl"


def test_entry_point_opens_the_adapter(tmp_path: Path) -> None:
    factory = load_factory("jsonl")
    adapter = factory({"path": str(tmp_path / "x.jsonl")}, AdapterContext())
    assert isinstance(adapter, JsonlAdapter)
    assert isinstance(adapter, KeyLookup)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({}, "'path' is missing"),
        ({"path": "  "}, "'path' is missing"),
        ({"path": 3}, "must be a string"),
        ({"path": "."}, "is a directory"),
        ({"path": "nowhere/x.jsonl"}, "does not exist"),
    ],
)
def test_bad_path_setting_is_a_config_error(
    tmp_path: Path, settings: dict[str, object], words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        JsonlAdapter.from_settings(settings, AdapterContext(connection="crm", base_dir=tmp_path))
    (problem,) = caught.value.problems
    assert words in problem
    assert "jsonl adapter" in problem
    assert "crm" in caught.value.source


# -- reading -------------------------------------------------------------------------------
def test_missing_file_is_an_empty_side_created_on_first_write(path: Path) -> None:
    adapter = JsonlAdapter(path)
    assert adapter.snapshot("contact").records == []
    assert not path.exists()
    created = adapter.create(contact())
    assert json.loads(path.read_text())["id"] == created.id


def test_lines_read_as_canonical_records(path: Path) -> None:
    write_lines(
        path,
        '{"id": "c1", "first_name": " Ada ", "postal_code": 12345, "tags": "vip", '
        '"updated_at": "2024-01-02T03:04:05Z"}',
        '{"id": 7, "entity": "contact", "email": "", "custom_fields": {"a": "", "b": "x"}}',
        '{"id": "t1", "entity": "task", "contact_id": "c1", "title": "Call", "completed": true}',
    )
    adapter = JsonlAdapter(path)
    c1, c7 = adapter.snapshot("contact").records
    assert c1.fields == {"first_name": "Ada", "postal_code": "12345", "tags": ["vip"]}
    assert c1.updated_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (c7.id, c7.fields, c7.updated_at) == ("7", {"custom_fields": {"b": "x"}}, None)
    (task,) = adapter.snapshot("task").records
    assert (task.parent_id, task.fields["completed"]) == ("c1", True)


MALFORMED = [
    # (line, entity whose snapshot reports it, record id, what the problem says)
    ("{not json", "contact", None, "is not valid JSON"),
    ("[1, 2]", "contact", None, "is a JSON array, not an object"),
    ("null", "contact", None, "is a JSON null, not an object"),
    ("42", "contact", None, "is a JSON number, not an object"),
    ('"text"', "contact", None, "is a JSON string, not an object"),
    ('{"id": "x12", "tags": ["ok", 5, null]}', "contact", "x12", "tags[2] of type null"),
    ('{"id": "x13", "email": "a@x.com", "email": "b@x.com"}', "contact", "x13", "'email' twice"),
    ('{"email": "a@example.com"}', "contact", None, "has no id"),
    ('{"id": "x1", "entity": "deal"}', "contact", "x1", "unknown entity 'deal'"),
    ('{"id": "x2", "email": "nope@"}', "contact", "x2", "not a valid address"),
    ('{"id": "x3", "tags": {"a": 1}}', "contact", "x3", "tags of type object"),
    ('{"id": "x4", "custom_fields": ["a"]}', "contact", "x4", "custom_fields of type array"),
    ('{"id": "x5", "first_name": ["A"]}', "contact", "x5", "first_name of type array"),
    ('{"id": "x6", "entity": "note", "title": "orphan"}', "note", "x6", 'without "contact_id"'),
    ('{"id": "x7", "updated_at": "yesterday"}', "contact", "x7", "not an ISO 8601 time"),
    (
        '{"id": "x8", "entity": "task", "contact_id": "c1", "completed": "yes"}',
        "task",
        "x8",
        "true or false",
    ),
    (
        '{"id": "x9", "date_of_birth": "1990-02-30"}',
        "contact",
        "x9",
        "'1990-02-30', which is not a date",
    ),
    ('{"id": "x10", "date_of_birth": "March 3"}', "contact", "x10", "write it as YYYY-MM-DD"),
    (
        '{"id": "x11", "entity": "task", "contact_id": "c1", "due_date": "next friday"}',
        "task",
        "x11",
        "'next friday', which is not an ISO-8601 time",
    ),
    (
        '{"id": "x12", "entity": "appointment", "contact_id": "c1", "start_time": "20300115"}',
        "appointment",
        "x12",
        "start_time '20300115', which is not an ISO-8601 time",
    ),
]


@pytest.mark.parametrize(("line", "entity", "record_id", "words"), MALFORMED)
def test_malformed_line_is_reported_skipped_and_kept(
    path: Path, line: str, entity: Entity, record_id: str | None, words: str
) -> None:
    write_lines(path, '{"id": "c1", "email": "ok@example.com"}', line)
    adapter = JsonlAdapter(path)
    (problem,) = adapter.snapshot(entity).problems
    assert problem.where == f"{path}:2"
    assert words in problem.problem
    assert problem.record_id == record_id
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1"]
    assert all(adapter.snapshot(e).records == [] for e in ("note", "task", "appointment"))
    adapter.update("contact", "c1", [FieldChange("first_name", None, "Ada")])
    assert path.read_text().splitlines()[1] == line


@pytest.mark.parametrize(
    ("line", "record_id"),
    [
        ('{"id": "c9", "first_name": "Ada",}', "c9"),
        ('{"first_name": "Ada", "id": 42, oops}', "42"),
        ('{"id": "a\\"b", broken', 'a"b'),
        ('{"first_name": "no id here"', None),
    ],
)
def test_unparsable_line_names_its_id_when_it_can(
    path: Path, line: str, record_id: str | None
) -> None:
    write_lines(path, line)
    snap = JsonlAdapter(path).snapshot("contact")
    assert [p.record_id for p in snap.problems] == [record_id]
    # The read is whole all the same: the engine, not the side, holds back the deletes
    # a line without an id might hide.
    assert snap.complete


def test_non_utf8_line_is_reported_and_kept_byte_for_byte(path: Path) -> None:
    bad = b'{"id": "x", "first_name": "\xff\xfe"}\n'
    path.write_bytes(b'{"id": "c1"}\n' + bad)
    adapter = JsonlAdapter(path)
    (problem,) = adapter.snapshot("contact").problems
    assert (problem.where, "UTF-8" in problem.problem) == (f"{path}:2", True)
    adapter.create(contact())
    assert path.read_bytes().splitlines(keepends=True)[1] == bad


def test_duplicate_ids_quarantine_every_copy(path: Path) -> None:
    write_lines(
        path,
        '{"id": "d", "first_name": "One"}',
        '{"id": "ok"}',
        '{"id": "d", "first_name": "Two"}',
    )
    adapter = JsonlAdapter(path)
    snap = adapter.snapshot("contact")
    assert [r.id for r in snap.records] == ["ok"]
    assert [(p.where, p.record_id) for p in snap.problems] == [
        (f"{path}:1", "d"),
        (f"{path}:3", "d"),
    ]
    assert "lines 1, 3" in snap.problems[0].problem


def test_writing_to_a_malformed_record_is_refused_with_its_line(path: Path) -> None:
    write_lines(path, '{"id": "x", "email": "nope@"}')
    adapter = JsonlAdapter(path)
    attempts: list[Callable[[], object]] = [
        lambda: adapter.get("contact", "x"),
        lambda: adapter.update("contact", "x", [FieldChange("first_name", None, "A")]),
        lambda: adapter.delete("contact", "x"),
    ]
    for attempt in attempts:
        with pytest.raises(RecordRejected, match=f"{path}:1") as caught:
            attempt()
        assert caught.value.record_id == "x"


def test_a_date_or_time_that_is_none_is_refused_on_write_and_the_file_kept(path: Path) -> None:
    """What another side hands over is checked as a hand-written line would be."""
    write_lines(path, '{"id": "c1", "email": "a@example.com"}')
    before = path.read_bytes()
    adapter = JsonlAdapter(path)
    task = Record("task", "t", {"title": "x", "due_date": "next friday"}, parent_id="c1")
    with pytest.raises(RecordRejected, match="due_date 'next friday', which is not an ISO-8601"):
        adapter.create(task)
    with pytest.raises(RecordRejected, match="date_of_birth '1990-02-30'"):
        adapter.update("contact", "c1", [FieldChange("date_of_birth", None, "1990-02-30")])
    assert path.read_bytes() == before


def test_problem_lines_follow_rewrites(path: Path) -> None:
    write_lines(path, '{"id": "a"}', '{"id": "b"}', "garbage")
    adapter = JsonlAdapter(path)
    adapter.delete("contact", "a")
    (problem,) = adapter.snapshot("contact").problems
    assert problem.where == f"{path}:2"


# -- writing -------------------------------------------------------------------------------
def test_untouched_lines_and_unknown_keys_survive_byte_for_byte(
    path: Path, clock: ManualClock
) -> None:
    lines = [
        '{"id":"c1" ,  "email":"a@example.com", "crm": {"score": [1, 2.50]}}',
        '{"crm_rank": 3, "id": "c2", "first_name": "Bob", "zz": null}',
        "",
        '{"id": "c3", "first_name": "Cy", "note": "caf\\u00e9"}',
    ]
    write_lines(path, *lines)
    adapter = JsonlAdapter(path, clock=clock)
    adapter.update("contact", "c2", [FieldChange("first_name", "Bob", "Robert")])
    out = path.read_text().splitlines()
    assert [out[0], out[2], out[3]] == [lines[0], lines[2], lines[3]]
    assert json.loads(out[1]) == {
        "crm_rank": 3,
        "id": "c2",
        "first_name": "Robert",
        "zz": None,
        "updated_at": "2024-05-01T12:00:00+00:00",
    }
    assert list(json.loads(out[1])) == ["crm_rank", "id", "first_name", "zz", "updated_at"]


def test_file_order_is_stable(path: Path) -> None:
    write_lines(path, *(json.dumps({"id": f"c{n}"}) for n in range(4)))
    adapter = JsonlAdapter(path)
    adapter.update("contact", "c2", [FieldChange("city", None, "Oslo")])
    adapter.delete("contact", "c1")
    new = adapter.create(contact())
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert ids == ["c0", "c2", "c3", new.id]


def test_created_ids_never_collide_with_existing_ones(path: Path) -> None:
    write_lines(path, '{"id": "c1"}', '{"id": "c1"}', "{bad")
    adapter = JsonlAdapter(path)
    created = {adapter.create(contact(f"{n}@example.com")).id for n in range(50)}
    assert len(created) == 50
    assert "c1" not in created


def test_writes_stamp_updated_at(path: Path, clock: ManualClock) -> None:
    adapter = JsonlAdapter(path, clock=clock)
    created = adapter.create(contact())
    clock.tick(60)
    updated = adapter.update("contact", created.id, [FieldChange("city", None, "Oslo")])
    assert (created.updated_at, updated.updated_at) == (
        datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 1, tzinfo=UTC),
    )
    assert JsonlAdapter(path).get("contact", created.id) == updated


def test_values_are_written_as_they_read_back(path: Path) -> None:
    adapter = JsonlAdapter(path)
    created = adapter.create(contact(postal_code=90210, tags="solo"))
    assert created.fields["postal_code"] == "90210"
    line = json.loads(path.read_text())
    assert (line["postal_code"], line["tags"]) == ("90210", ["solo"])


def test_crlf_and_bom_are_kept(path: Path) -> None:
    path.write_bytes(b'\xef\xbb\xbf{"id": "c1"}\r\n{"id": "c2"}\r\n')
    adapter = JsonlAdapter(path)
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1", "c2"]
    new = adapter.create(contact())
    data = path.read_bytes()
    assert data.startswith(b'\xef\xbb\xbf{"id": "c1"}\r\n{"id": "c2"}\r\n')
    assert data.endswith(b"\r\n") and new.id.encode() in data


def test_a_crlf_file_without_a_final_newline_stays_crlf_when_a_line_is_appended(
    path: Path,
) -> None:
    path.write_bytes(b'{"id": "c1"}\r\n{"id": "c2"}')
    JsonlAdapter(path).create(contact())
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3 and all(line.endswith(b"\r\n") for line in lines)


@pytest.mark.parametrize(
    ("first", "spaced"),
    [('{"id":"c1","email":"ada@example.com"}', False), ('{"id": "c1"}', True)],
)
def test_lines_the_sync_writes_are_spaced_like_the_files_own(
    path: Path, first: str, spaced: bool
) -> None:
    write_lines(path, first, '{"id":"c2","city":"Paris"}')
    adapter = JsonlAdapter(path)
    adapter.update("contact", "c2", [FieldChange("city", "Paris", "London")])
    adapter.create(contact())
    first_line, rewritten, added = path.read_text().splitlines()
    assert first_line == first
    assert rewritten.startswith(
        '{"id": "c2", "city": "London"' if spaced else '{"id":"c2","city":"London"'
    )
    assert (": " in added) is spaced and (", " in added) is spaced


def test_find_by_key_scans_phone_and_email(path: Path) -> None:
    write_lines(
        path,
        '{"id": "a", "email": "Ada@Example.com", "phone": "(415) 555-0100"}',
        '{"id": "b", "email": "bob@example.com"}',
    )
    adapter = JsonlAdapter(path)
    assert [r.id for r in adapter.find_by_key("contact", "phone:+14155550100")] == ["a"]
    assert [r.id for r in adapter.find_by_key("contact", "email:ada@example.com")] == ["a"]


def test_file_permissions_survive_a_rewrite(path: Path) -> None:
    write_lines(path, '{"id": "c1"}')
    path.chmod(0o640)
    JsonlAdapter(path).create(contact())
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_tag_change_keeps_the_lines_order(path: Path) -> None:
    write_lines(path, '{"id": "c1", "tags": ["vip", "lead", "old"]}')
    adapter = JsonlAdapter(path)
    back = adapter.update("contact", "c1", [FieldChange("tags", None, ["lead", "new", "vip"])])
    assert back.fields["tags"] == ["lead", "new", "vip"]
    assert json.loads(path.read_text())["tags"] == ["vip", "lead", "new"]
    assert adapter.snapshot("contact").records[0].fields["tags"] == ["lead", "new", "vip"]


def test_a_symlinked_file_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "app.jsonl"
    real.parent.mkdir()
    write_lines(real, '{"id": "c1"}')
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    created = JsonlAdapter(link).create(contact())
    assert link.is_symlink() and created.id in real.read_text()
    assert [p.name for p in real.parent.iterdir()] == ["app.jsonl"]  # no temp file left


def test_a_new_file_gets_the_umask_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        JsonlAdapter(tmp_path / "new.jsonl").create(contact())
    finally:
        os.umask(old)
    assert (tmp_path / "new.jsonl").stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another owner")
def test_a_rewrite_keeps_the_files_owner(path: Path) -> None:
    write_lines(path, '{"id": "c1"}')
    os.chown(path, 1234, 1234)
    JsonlAdapter(path).create(contact())
    assert (path.stat().st_uid, path.stat().st_gid) == (1234, 1234)


# -- atomicity -----------------------------------------------------------------------------
def test_failed_replace_leaves_the_original_and_no_temp_file(
    path: Path, failing_replace: Callable[[OSError], Any]
) -> None:
    write_lines(path, '{"id": "c1", "first_name": "Ada"}')
    before = path.read_bytes()
    hook = failing_replace(OSError(errno.ENOSPC, "No space left on device"))
    adapter = JsonlAdapter(path, replace=hook)
    with pytest.raises(TransientAdapterError, match="unchanged"):
        adapter.create(contact())
    with pytest.raises(TransientAdapterError):
        adapter.update("contact", "c1", [FieldChange("first_name", "Ada", "X")])
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == [path.name]
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1"]
    kept = adapter.get("contact", "c1")
    assert kept is not None and kept.fields["first_name"] == "Ada"
    hook.armed = False
    retried = adapter.create(contact())
    assert JsonlAdapter(path).get("contact", retried.id) == retried


def test_permission_denied_is_permanent(
    path: Path, failing_replace: Callable[[OSError], Any]
) -> None:
    hook = failing_replace(PermissionError(errno.EACCES, "Permission denied"))
    with pytest.raises(PermanentAdapterError, match="writable"):
        JsonlAdapter(path, replace=hook).create(contact())
    assert not path.exists()


def test_failed_batch_writes_nothing(path: Path, failing_replace: Callable[[OSError], Any]) -> None:
    write_lines(path, '{"id": "c1"}')
    hook = failing_replace(OSError(errno.EIO, "I/O error"))
    adapter = JsonlAdapter(path, replace=hook)
    with pytest.raises(TransientAdapterError), adapter.batch():
        for n in range(5):
            adapter.create(contact(f"{n}@example.com"))
    assert path.read_text() == '{"id": "c1"}\n'
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1"]


# -- outside edits -------------------------------------------------------------------------
def test_an_outside_edit_is_picked_up(path: Path) -> None:
    write_lines(path, '{"id": "c1"}')
    adapter = JsonlAdapter(path)
    assert len(adapter.snapshot("contact").records) == 1
    with path.open("a") as fh:
        fh.write('{"id": "c2", "first_name": "Eve"}\n')
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1", "c2"]
    adapter.update("contact", "c2", [FieldChange("first_name", "Eve", "Evelyn")])
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["c1", "c2"]


def test_an_outside_edit_during_a_batch_is_merged_not_lost(path: Path) -> None:
    write_lines(path, '{"id": "c1"}', '{"id": "c2"}', '{"id": "c3"}')
    adapter = JsonlAdapter(path)
    with adapter.batch():
        ours = adapter.create(contact())
        adapter.update("contact", "c1", [FieldChange("city", None, "Oslo")])
        adapter.update("contact", "c2", [FieldChange("city", None, "Rome")])
        # Meanwhile a person deletes c2 and adds c4 in their editor.
        write_lines(path, '{"id": "c1"}', '{"id": "c3"}', '{"id": "c4"}')
    reread = JsonlAdapter(path)
    records = {r.id: r for r in reread.snapshot("contact").records}
    assert sorted(records) == sorted(["c1", "c3", "c4", ours.id])
    assert records["c1"].fields == {"city": "Oslo"}


# -- batches -------------------------------------------------------------------------------
def test_ten_thousand_writes_in_one_batch(path: Path) -> None:
    adapter = JsonlAdapter(path)
    with adapter.batch():
        created = [adapter.create(contact(f"p{n}@example.com")) for n in range(10_000)]
        assert not path.exists()
    assert adapter.rewrites == 1
    with adapter.batch():
        for record in created[::2]:
            adapter.update("contact", record.id, [FieldChange("city", None, "Oslo")])
        for record in created[1::4]:
            adapter.delete("contact", record.id)
    assert adapter.rewrites == 2
    records = JsonlAdapter(path).snapshot("contact").records
    assert len(records) == 10_000 - 2_500
    assert [r.id for r in records[:3]] == [created[0].id, created[2].id, created[3].id]
    assert records[0].fields["city"] == "Oslo"


def test_single_writes_outside_a_batch_are_each_durable(path: Path) -> None:
    adapter = JsonlAdapter(path)
    first = adapter.create(contact("a@example.com"))
    assert JsonlAdapter(path).get("contact", first.id) == first
    adapter.create(contact("b@example.com"))
    assert adapter.rewrites == 2


def test_batches_nest_and_write_once(path: Path) -> None:
    adapter = JsonlAdapter(path)
    adapter.begin_batch()
    with adapter.batch():
        adapter.create(contact("a@example.com"))
    assert not path.exists()
    adapter.create(contact("b@example.com"))
    adapter.end_batch()
    assert adapter.rewrites == 1
    assert len(JsonlAdapter(path).snapshot("contact").records) == 2
    with pytest.raises(RuntimeError, match="without begin_batch"):
        adapter.end_batch()


def test_a_failed_op_inside_a_batch_keeps_the_others(path: Path) -> None:
    adapter = JsonlAdapter(path)
    with pytest.raises(RecordNotFound), adapter.batch():
        kept = adapter.create(contact())
        adapter.delete("contact", "missing")
    assert JsonlAdapter(path).get("contact", kept.id) == kept


def test_a_crash_inside_a_batch_writes_nothing(path: Path) -> None:
    class Crash(BaseException):
        pass

    write_lines(path, '{"id": "c1"}')
    adapter = JsonlAdapter(path)
    with pytest.raises(Crash), adapter.batch():
        adapter.create(contact())
        raise Crash
    assert path.read_text() == '{"id": "c1"}\n'
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1"]


def test_close_writes_what_an_open_batch_holds(path: Path) -> None:
    adapter = JsonlAdapter(path)
    adapter.begin_batch()
    created = adapter.create(contact())
    adapter.close()
    assert JsonlAdapter(path).get("contact", created.id) == created


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_truncated_line_is_placed_at_its_own_column(path: Path, ending: str) -> None:
    """The column names where the line breaks off, not column 1 of the line after."""
    line = '{"id": "c2", "email": "b@example.com", "first_name": "Bo"'
    path.write_bytes(f'{{"id": "c1"}}{ending}{line}{ending}'.encode())
    (problem,) = JsonlAdapter(path).snapshot("contact").problems
    assert problem.where == f"{path}:2"
    assert f"at column {len(line) + 1}" in problem.problem
