"""The CSV adapter against the contract, plus what only a CSV side has to get right:
the header, unknown columns, ``cf.`` columns, malformed rows, BOMs and atomic rewrites."""

from __future__ import annotations

import csv
import errno
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterContext
from adapters.files.csvfile import DEFAULT_COLUMNS, CsvAdapter
from adapters.registry import load_factory
from adapters.testing import AdapterContract, MakeAdapter, ManualClock
from syncengine.errors import (
    ConfigError,
    PermanentAdapterError,
    RecordRejected,
    TransientAdapterError,
)
from syncengine.models import FieldChange, Record


class TestCsvContract(AdapterContract):
    @pytest.fixture
    def make_adapter(self, tmp_path: Path) -> MakeAdapter:
        return lambda: CsvAdapter(tmp_path / "side.csv")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "contacts.csv"


def write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


def rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def contact(email: str = "new@example.com", **fields: object) -> Record:
    return Record(entity="contact", id="", fields={"email": email, **fields})


# -- settings ------------------------------------------------------------------------------
def test_entry_point_and_relative_path(tmp_path: Path) -> None:
    adapter = load_factory("csv")({"path": "people.csv"}, AdapterContext(base_dir=tmp_path))
    assert isinstance(adapter, CsvAdapter)
    assert adapter.path == tmp_path / "people.csv"


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"csv adapter: setting 'path' is missing; set path"):
        CsvAdapter.from_settings({}, AdapterContext(base_dir=tmp_path))


# -- reading -------------------------------------------------------------------------------
def test_rows_read_as_canonical_contacts(path: Path) -> None:
    write(
        path,
        " ID , First_Name ,email,tags,cf.plan,cf.Seats,updated_at,owner\n"
        "c1, Ada ,ada@example.com,vip; beta;vip,gold,,2024-01-02T03:04:05+00:00,Grace\n"
        "c2,,,,,,,\n",
    )
    c1, c2 = CsvAdapter(path).snapshot("contact").records
    assert c1.fields == {
        "custom_fields": {"plan": "gold"},
        "email": "ada@example.com",
        "first_name": "Ada",
        "tags": ["beta", "vip"],
    }
    assert c1.updated_at is not None and c1.updated_at.year == 2024
    assert (c2.id, c2.fields, c2.updated_at) == ("c2", {}, None)


def test_a_crlf_file_without_a_final_newline_stays_crlf_when_a_row_is_appended(
    path: Path,
) -> None:
    path.write_bytes(b"id,email\r\nc1,a@example.com\r\nc2,b@example.com")
    CsvAdapter(path).create(contact())
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 4 and all(line.endswith(b"\r\n") for line in lines)


def test_excels_sep_line_names_the_delimiter_and_is_kept(path: Path) -> None:
    path.write_bytes(b"sep=;\r\nid;email\r\nc1;a@example.com\r\n")
    adapter = CsvAdapter(path)
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1"]
    adapter.create(contact())
    lines = path.read_bytes().splitlines()
    assert lines[:3] == [b"sep=;", b"id;email", b"c1;a@example.com"] and len(lines) == 4
    path.write_bytes(b'sep=;\nid;email\nc1;a@example.com;x;"\n')
    (problem,) = CsvAdapter(path).snapshot("contact").problems
    assert problem.where == f"{path}:3"  # lines counted as in the file


def test_a_column_that_looks_like_a_field_is_named_with_the_mapping_not_guessed(
    path: Path,
) -> None:
    write(path, "id,Email Address,Mobile,Emial,Lead Score,phone\nc1,a@example.com,1,x,7,\n")
    snap = CsvAdapter(path).snapshot("contact")
    assert snap.records[0].fields.get("email") is None  # never mapped on a guess
    assert snap.notes == (
        f"{path}: column 'Email Address' is not synced (it is kept as it is); if it holds "
        'email, map it: columns = { email = "Email Address" }',
        f"{path}: column 'Emial' is not synced (it is kept as it is); if it holds email, "
        'map it: columns = { email = "Emial" }',
    )  # Mobile: the file has a phone column already; Lead Score looks like no field
    mapped = CsvAdapter(path, columns={"email": "Email Address"}).snapshot("contact")
    assert mapped.records[0].fields["email"] == "a@example.com" and mapped.notes == ()


def test_a_tag_change_keeps_the_cells_order(path: Path) -> None:
    write(path, "id,tags\nc1,vip ; lead;old\n")
    adapter = CsvAdapter(path)
    back = adapter.update("contact", "c1", [FieldChange("tags", None, ["lead", "new", "vip"])])
    assert back.fields["tags"] == ["lead", "new", "vip"]  # the record: canonical
    assert path.read_text().splitlines()[1] == "c1,vip;lead;new"


def test_rows_of_empty_cells_are_blank_lines_kept_as_they_are(path: Path) -> None:
    write(path, "id,email,tags\nc1,a@example.com,\n,,\n , ,\n")
    adapter = CsvAdapter(path)
    snap = adapter.snapshot("contact")
    assert ([r.id for r in snap.records], snap.problems) == (["c1"], [])
    adapter.create(contact())
    assert path.read_text().splitlines()[2:4] == [",,", " , ,"]


def test_blank_lines_before_the_header_stay_before_it(path: Path) -> None:
    path.write_text("\nid,email\nc1,a@example.com\n")
    CsvAdapter(path).create(contact())
    assert path.read_text().splitlines()[:3] == ["", "id,email", "c1,a@example.com"]


def test_a_utf16_file_is_refused_with_how_to_save_it(path: Path) -> None:
    path.write_bytes("id,email\nc1,a@example.com\n".encode("utf-16"))
    with pytest.raises(PermanentAdapterError, match=r"is UTF-16 .*save it as UTF-8"):
        CsvAdapter(path).snapshot("contact")


def test_bom_is_tolerated_and_kept(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbfid,email\r\nc1,a@example.com\r\n")
    adapter = CsvAdapter(path)
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1"]
    adapter.create(contact())
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,email\r\nc1,a@example.com\r\n")
    assert data.endswith(b"\r\n")


def test_empty_or_missing_file_is_an_empty_side(path: Path) -> None:
    assert CsvAdapter(path).snapshot("contact").records == []
    write(path, "")
    adapter = CsvAdapter(path)
    assert adapter.snapshot("contact").records == []
    created = adapter.create(contact())
    header, row = rows(path)
    assert header == list(DEFAULT_COLUMNS)
    assert dict(zip(header, row, strict=True))["email"] == "new@example.com"
    assert CsvAdapter(path).get("contact", created.id) == created


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("email,first_name\n", "no 'id' column"),
        ("id,email,Email\n", "'email' appears twice"),
        ('id,"email\n', "header row cannot be read"),
    ],
)
def test_a_broken_header_refuses_the_whole_file(path: Path, header: str, words: str) -> None:
    write(path, header + "c1,a@example.com\n")
    adapter = CsvAdapter(path)
    with pytest.raises(PermanentAdapterError, match=words) as caught:
        adapter.snapshot("contact")
    assert f"{path}:1" in str(caught.value)
    with pytest.raises(PermanentAdapterError):
        adapter.create(contact())
    assert path.read_text() == header + "c1,a@example.com\n"


MALFORMED = [
    # (row text, record id, what the problem says)
    ("x1,nope@,", "x1", "not a valid address"),
    ("x2,a@example.com", "x2", "has 2 cells but the header has 3"),
    ("x3,a@example.com,,extra", "x3", "has 4 cells"),
    (",a@example.com,", None, "has no id"),
    ('x4,"a@example.com"junk,', "x4", "cannot be read as CSV"),
    ("x5,a@example.com,last week", "x5", "not an ISO 8601 time"),
]


@pytest.mark.parametrize(("row", "record_id", "words"), MALFORMED)
def test_malformed_row_is_reported_skipped_and_kept(
    path: Path, row: str, record_id: str | None, words: str
) -> None:
    write(path, f"id,email,updated_at\nc1,ok@example.com,\n{row}\nc2,b@example.com,\n")
    adapter = CsvAdapter(path)
    snap = adapter.snapshot("contact")
    (problem,) = snap.problems
    assert (problem.where, problem.record_id) == (f"{path}:3", record_id)
    assert words in problem.problem
    assert [r.id for r in snap.records] == ["c1", "c2"]
    adapter.update("contact", "c2", [FieldChange("email", None, "c@example.com")])
    assert path.read_text().splitlines()[2] == row


def test_a_date_of_birth_is_kept_as_written_and_one_that_is_no_date_is_reported(
    path: Path,
) -> None:
    write(path, "id,date_of_birth\nus,09/25/1990\niso,1990-09-25\nbad,31/12/1990\n")
    snap = CsvAdapter(path).snapshot("contact")
    assert {r.id: r.fields["date_of_birth"] for r in snap.records} == {
        "us": "09/25/1990",
        "iso": "1990-09-25",
    }
    (problem,) = snap.problems
    assert (problem.where, problem.record_id) == (f"{path}:4", "bad")
    assert "'31/12/1990', which is not a date; write it as YYYY-MM-DD" in problem.problem


def test_a_row_without_a_readable_id_is_a_problem_without_an_id(path: Path) -> None:
    write(path, "id,email\nc1,a@example.com\n,b@example.com\n")
    snap = CsvAdapter(path).snapshot("contact")
    assert [p.record_id for p in snap.problems] == [None]
    assert snap.complete  # the engine holds back the deletes it might hide


def test_duplicate_ids_quarantine_every_copy(path: Path) -> None:
    write(path, "id,email\nd,a@example.com\nok,\nd,b@example.com\n")
    snap = CsvAdapter(path).snapshot("contact")
    assert [r.id for r in snap.records] == ["ok"]
    assert [(p.where, p.record_id) for p in snap.problems] == [
        (f"{path}:2", "d"),
        (f"{path}:4", "d"),
    ]


def test_multiline_cells_keep_line_numbers_right(path: Path) -> None:
    write(path, 'id,email,note\nc1,a@example.com,"two\nlines"\nc2,bad@,\n')
    (problem,) = CsvAdapter(path).snapshot("contact").problems
    assert problem.where == f"{path}:4"


def test_non_utf8_row_is_reported_and_kept_byte_for_byte(path: Path) -> None:
    path.write_bytes(b"id,first_name\nc1,Ada\nc2,\xff\xfe\n")
    adapter = CsvAdapter(path)
    (problem,) = adapter.snapshot("contact").problems
    assert "UTF-8" in problem.problem and problem.record_id == "c2"
    adapter.update("contact", "c1", [FieldChange("first_name", "Ada", "Augusta")])
    assert path.read_bytes() == b"id,first_name\nc1,Augusta\nc2,\xff\xfe\n"


def test_writing_to_a_malformed_row_is_refused_with_its_line(path: Path) -> None:
    write(path, "id,email\nx,nope@\n")
    with pytest.raises(RecordRejected, match=f"{path}:2"):
        CsvAdapter(path).update("contact", "x", [FieldChange("email", None, "a@example.com")])


# -- writing -------------------------------------------------------------------------------
def test_unknown_columns_and_untouched_rows_survive_byte_for_byte(
    path: Path, clock: ManualClock
) -> None:
    text = (
        "owner,id,first_name,email,Notes\r\n"
        'Grace,c1,Ada,ada@example.com,"likes ""engines"", tea"\r\n'
        "Linus,c2,Bob,bob@example.com,\r\n"
    )
    write(path, text)
    adapter = CsvAdapter(path, clock=clock)
    adapter.update("contact", "c2", [FieldChange("first_name", "Bob", "Robert")])
    lines = path.read_bytes().decode().split("\r\n")
    assert lines[:2] == text.split("\r\n")[:2]
    assert lines[2] == "Linus,c2,Robert,bob@example.com,"
    assert "updated_at" not in lines[0]  # the user's file has no such column: none added


def test_missing_columns_are_added_and_rows_padded(path: Path) -> None:
    write(path, "id,email,owner\nc1,a@example.com,Grace\nc2,short\n")
    adapter = CsvAdapter(path)
    adapter.update(
        "contact",
        "c1",
        [
            FieldChange("city", None, "Oslo"),
            FieldChange("custom_fields", None, {"plan": "gold"}),
        ],
    )
    assert rows(path) == [
        ["id", "email", "owner", "city", "cf.plan"],
        ["c1", "a@example.com", "Grace", "Oslo", "gold"],
        ["c2", "short", "", ""],  # still one cell short: still malformed, not misread
    ]
    reread = CsvAdapter(path).snapshot("contact")
    assert reread.records[0].fields["custom_fields"] == {"plan": "gold"}
    assert [p.record_id for p in reread.problems] == ["c2"]


def test_custom_fields_replace_as_a_whole(path: Path) -> None:
    write(path, "id,cf.plan,cf.seats\nc1,gold,5\n")
    adapter = CsvAdapter(path)
    updated = adapter.update(
        "contact", "c1", [FieldChange("custom_fields", None, {"seats": "6", "tier": "b"})]
    )
    assert updated.fields["custom_fields"] == {"seats": "6", "tier": "b"}
    assert rows(path) == [["id", "cf.plan", "cf.seats", "cf.tier"], ["c1", "", "6", "b"]]


def test_values_the_csv_cannot_hold_are_rejected(path: Path) -> None:
    adapter = CsvAdapter(path)
    with pytest.raises(RecordRejected, match="containing ';'"):
        adapter.create(contact(tags=["a;b"]))
    with pytest.raises(RecordRejected, match="has company_name of type list"):
        adapter.create(contact(company_name=["A", "B"]))
    assert not path.exists()


def test_a_list_or_object_custom_field_is_a_json_cell_read_back_as_its_value(
    path: Path,
) -> None:
    """A GHL multi-select's options reach a CSV file and come back as the same list."""
    adapter = CsvAdapter(path)
    made = adapter.create(contact(custom_fields={"colours": ["red", "blue"], "dims": {"w": 2}}))
    assert made.fields["custom_fields"] == {"colours": ["red", "blue"], "dims": {"w": 2}}
    header, row = rows(path)
    assert row[header.index("cf.colours")] == '["red", "blue"]'
    assert row[header.index("cf.dims")] == '{"w": 2}'
    # A hand edit of the cell is a change to the list; a cell that is no JSON list or
    # object stays the text it is.
    text = path.read_text(encoding="utf-8").replace('""red"", ""blue""', '""green""')
    write(path, text.replace('{""w"": 2}', "[draft"))
    (again,) = CsvAdapter(path).snapshot("contact").records
    assert again.fields["custom_fields"] == {"colours": ["green"], "dims": "[draft"}


def test_scalars_are_written_as_text(path: Path) -> None:
    created = CsvAdapter(path).create(contact(postal_code=90210, custom_fields={"vip": True}))
    assert created.fields["postal_code"] == "90210"
    assert created.fields["custom_fields"] == {"vip": "true"}
    assert CsvAdapter(path).get("contact", created.id) == created


def test_writes_stamp_updated_at_when_the_column_exists(path: Path, clock: ManualClock) -> None:
    write(path, "id,email,updated_at\nc1,a@example.com,\n")
    updated = CsvAdapter(path, clock=clock).update(
        "contact", "c1", [FieldChange("email", None, "b@example.com")]
    )
    assert updated.updated_at == clock.now
    assert rows(path)[1] == ["c1", "b@example.com", "2024-05-01T12:00:00+00:00"]


def test_only_contacts_live_here(path: Path) -> None:
    adapter = CsvAdapter(path)
    assert adapter.capabilities().entities == {"contact"}
    assert adapter.snapshot("note").records == []
    with pytest.raises(PermanentAdapterError, match="cannot create note"):
        adapter.create(Record(entity="note", id="", fields={"title": "t"}, parent_id="c1"))


# -- atomicity, outside edits, batches -----------------------------------------------------
def test_failed_replace_leaves_the_original_and_no_temp_file(
    path: Path, failing_replace: Callable[[OSError], Any]
) -> None:
    write(path, "id,email\nc1,a@example.com\n")
    hook = failing_replace(OSError(errno.ENOSPC, "No space left on device"))
    adapter = CsvAdapter(path, replace=hook)
    with pytest.raises(TransientAdapterError):
        adapter.delete("contact", "c1")
    assert path.read_text() == "id,email\nc1,a@example.com\n"
    assert sorted(os.listdir(path.parent)) == [path.name]
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1"]


def test_an_outside_edit_is_picked_up(path: Path) -> None:
    write(path, "id,email\nc1,a@example.com\n")
    adapter = CsvAdapter(path)
    assert len(adapter.snapshot("contact").records) == 1
    write(path, "id,email\nc1,a@example.com\nc2,b@example.com\n")
    assert [r.id for r in adapter.snapshot("contact").records] == ["c1", "c2"]


def test_ten_thousand_writes_in_one_batch(path: Path) -> None:
    adapter = CsvAdapter(path)
    with adapter.batch():
        created = [adapter.create(contact(f"p{n}@example.com")) for n in range(10_000)]
    with adapter.batch():
        for record in created[::2]:
            adapter.update("contact", record.id, [FieldChange("city", None, "Oslo")])
        for record in created[1::4]:
            adapter.delete("contact", record.id)
    assert adapter.rewrites == 2
    records = CsvAdapter(path).snapshot("contact").records
    assert len(records) == 7_500
    assert records[0].fields["city"] == "Oslo"


# -- separators ----------------------------------------------------------------------------
@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_the_header_says_which_separator_the_file_uses(path: Path, sep: str) -> None:
    """Excel writes semicolons where the decimal mark is a comma; exports also use tabs
    and pipes. The file is read with the separator that makes an id column, and every
    rewrite (a new column, a new row, a quoted tag list) keeps it."""
    write(
        path,
        sep.join(["id", "email", "owner"])
        + "\n"
        + sep.join(["c1", "a@example.com", "Grace"])
        + "\n",
    )
    adapter = CsvAdapter(path)
    (c1,) = adapter.snapshot("contact").records
    assert c1.fields == {"email": "a@example.com"}
    adapter.update("contact", "c1", [FieldChange("tags", None, ["beta", "vip"])])
    created = adapter.create(contact("new@example.com", city="Oslo"))
    lines = path.read_text().splitlines()
    quoted = '"beta;vip"' if sep == ";" else "beta;vip"
    assert lines == [
        sep.join(["id", "email", "owner", "tags", "city"]),
        sep.join(["c1", "a@example.com", "Grace", quoted, ""]),
        sep.join([created.id, "new@example.com", "", "", "Oslo"]),
    ]
    reread = CsvAdapter(path).snapshot("contact")
    assert not reread.problems
    assert {r.id: r.fields.get("tags") for r in reread.records} == {
        "c1": ["beta", "vip"],
        created.id: None,
    }


def test_a_commas_header_wins_over_other_separators(path: Path) -> None:
    write(path, "id,email;note\nc1,a@example.com;x\n")
    (c1,) = CsvAdapter(path).snapshot("contact").records
    assert c1.id == "c1" and c1.fields == {}  # 'email;note' is one column of the user's


@pytest.mark.parametrize(("setting", "sep"), [("semicolon", ";"), ("\t", "\t"), ("pipe", "|")])
def test_the_delimiter_setting_names_the_separator(tmp_path: Path, setting: str, sep: str) -> None:
    settings = {"path": "new.csv", "delimiter": setting}
    adapter = load_factory("csv")(settings, AdapterContext(base_dir=tmp_path))
    assert isinstance(adapter, CsvAdapter)
    created = adapter.create(contact("a@example.com"))
    header, row = (tmp_path / "new.csv").read_text().splitlines()
    assert header == sep.join(DEFAULT_COLUMNS)
    assert row.split(sep)[0] == created.id
    assert CsvAdapter(tmp_path / "new.csv").get("contact", created.id) == created


def test_a_new_file_without_the_setting_uses_commas(path: Path) -> None:
    CsvAdapter(path).create(contact())
    assert path.read_text().splitlines()[0] == ",".join(DEFAULT_COLUMNS)


def test_a_delimiter_setting_the_header_contradicts_names_the_fix(path: Path) -> None:
    write(path, "id;email\nc1;a@example.com\n")
    adapter = CsvAdapter(path, delimiter=",")
    with pytest.raises(PermanentAdapterError) as caught:
        adapter.snapshot("contact")
    assert str(caught.value) == (
        f"{path}:1: the header has no 'id' column when its cells are separated by commas "
        "(the delimiter setting), but has one separated by semicolons; set delimiter = "
        '"semicolon" or remove the setting'
    )


def test_a_delimiter_setting_the_header_contradicts_names_the_fix_with_renamed_columns(
    path: Path,
) -> None:
    write(path, "Contact Id,Email Address\nc1,a@example.com\n")
    columns = {"id": "Contact Id", "email": "Email Address"}
    with pytest.raises(PermanentAdapterError) as caught:
        CsvAdapter(path, delimiter=";", columns=columns).snapshot("contact")
    assert str(caught.value) == (
        f"{path}:1: the header has no 'Contact Id' column when its cells are separated by "
        "semicolons (the delimiter setting), but has one separated by commas; set "
        'delimiter = "comma" or remove the setting'
    )
    assert [r.id for r in CsvAdapter(path, columns=columns).snapshot("contact").records] == ["c1"]


@pytest.mark.parametrize("value", ["colon", 3, ""])
def test_an_unknown_delimiter_setting_is_a_config_error(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        CsvAdapter.from_settings(
            {"path": "p.csv", "delimiter": value}, AdapterContext(base_dir=tmp_path)
        )
    (problem,) = caught.value.problems
    assert problem.startswith("csv adapter: setting 'delimiter' is ")
    assert '"comma", "semicolon", "tab", "pipe"' in problem


def test_malformed_rows_of_a_semicolon_file_are_reported(path: Path) -> None:
    write(path, 'id;email\nc1;a@example.com\nx1;a;b\nx2;"a"junk\nc2;b@example.com\n')
    snap = CsvAdapter(path).snapshot("contact")
    assert [r.id for r in snap.records] == ["c1", "c2"]
    assert [(p.record_id, p.problem) for p in snap.problems] == [
        ("x1", "has 3 cells but the header has 2; fix the semicolons or quoting"),
        ("x2", snap.problems[1].problem),
    ]
    assert "cannot be read as CSV" in snap.problems[1].problem


def test_titled_column_names_are_the_fields_they_spell(path: Path) -> None:
    write(
        path,
        "ID,First Name,last-name,E-mail,Company  Name,cf.Plan Tier\nc1,Ada,Lovelace,x,Acme,gold\n",
    )
    (c1,) = CsvAdapter(path).snapshot("contact").records
    assert c1.fields == {
        "company_name": "Acme",
        "custom_fields": {"Plan Tier": "gold"},
        "first_name": "Ada",
        "last_name": "Lovelace",
    }  # 'E-mail' is no field name ('e_mail'): the user's column


# -- columns named otherwise ---------------------------------------------------------------
EXPORT = '"Contact Id","First Name","Email Address",Phone,"Last Activity"\nx1,Ada,ada@example.com,,yesterday\n'


def test_the_columns_setting_maps_an_exports_headers(path: Path) -> None:
    write(path, EXPORT)
    adapter = CsvAdapter(path, columns={"id": "Contact Id", "email": "email address"})
    (x1,) = adapter.snapshot("contact").records
    assert (x1.id, x1.fields) == ("x1", {"email": "ada@example.com", "first_name": "Ada"})
    adapter.update("contact", "x1", [FieldChange("email", None, "ada@lovelace.example")])
    adapter.update("contact", "x1", [FieldChange("city", None, "Oslo")])
    assert rows(path) == [
        ["Contact Id", "First Name", "Email Address", "Phone", "Last Activity", "city"],
        ["x1", "Ada", "ada@lovelace.example", "", "yesterday", "Oslo"],
    ]


def test_a_new_file_takes_the_mapped_names(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    adapter = CsvAdapter(path, columns={"id": "Contact Id", "cf.plan": "Plan"})
    created = adapter.create(contact(custom_fields={"plan": "gold", "seats": "5"}))
    header = rows(path)[0]
    assert header[0] == "Contact Id" and header[-2:] == ["Plan", "cf.seats"]
    assert CsvAdapter(path, columns=adapter.columns).get("contact", created.id) == created


def test_a_mapped_column_the_header_lacks_refuses_the_file(path: Path) -> None:
    write(path, EXPORT)
    with pytest.raises(PermanentAdapterError, match="the header has no column 'E-mail'"):
        CsvAdapter(path, columns={"id": "Contact Id", "email": "E-mail"}).snapshot("contact")
    with pytest.raises(PermanentAdapterError, match=r"no column 'ID' \(the columns setting's id\)"):
        CsvAdapter(path, columns={"id": "ID"}).snapshot("contact")
    with pytest.raises(PermanentAdapterError, match=r'columns = \{ id = "..." \}'):
        CsvAdapter(path).snapshot("contact")  # 'Contact Id' is not 'id'


def test_the_columns_setting_is_checked_whole(tmp_path: Path) -> None:
    context = AdapterContext(base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        CsvAdapter.from_settings(
            {
                "path": "p.csv",
                "delimiter": "colon",
                "columns": {"emial": "E", "city": 3, "id": "X", "phone": " x "},
            },
            context,
        )
    assert caught.value.problems == [
        'csv adapter: setting \'delimiter\' is "colon"; set it to one of "comma", '
        '"semicolon", "tab", "pipe" (or the character itself), or remove it to let the '
        "header decide",
        "csv adapter: columns.emial: no such field; did you mean 'email'?",
        "csv adapter: columns.city: must be the header text of its column, like "
        'columns = { id = "Contact Id", email = "Email Address" }',
        "csv adapter: columns.phone: column ' x ' is already columns.id's",
    ]
    with pytest.raises(ConfigError, match="setting 'columns' must be a table"):
        CsvAdapter.from_settings({"path": "p.csv", "columns": "id=X"}, context)


def test_the_location_names_a_separator_other_than_commas(path: Path) -> None:
    write(path, "id;email\nc1;a@example.com\n")
    assert CsvAdapter(path).location() == f"{path}, semicolon-separated"
    write(path, "id,email\n")
    assert CsvAdapter(path).location() == str(path)
    write(path, "email\n")  # the header is refused: the read after says why
    assert CsvAdapter(path).location() == str(path)
