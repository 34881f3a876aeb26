"""A bad line costs only itself: bytes that are not UTF-8, a CSV field over the csv module's limit, text fields
given as JSON objects, arrays or booleans, and half a surrogate pair are each refused on their line (named by
number, with the byte offset or the field), and every valid record of the file is stored."""

import csv
import io
import json

import pandas as pd
import pytest
from sqlalchemy import select

from core.errors import InvalidRecord
from core.ingest import files as importer
from core.ingest.checks import validate_record
from core.ingest.formats import import_any
from core.ingest.frames import ingest_frame
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage
from tests.helpers.records import rec, stored

FIELDS = [
    "job_id",
    "created_at",
    "company",
    "brand",
    "provider",
    "model",
    "status",
    "input_tokens",
    "output_tokens",
    "description",
]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 10)


def jsonl(rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for r in rows:
        w.writerow([r.get(f, "") for f in FIELDS] if isinstance(r, dict) else r)
    return buf.getvalue().encode()


def stored_ids() -> list[str]:
    with session_scope() as s:
        return sorted(s.scalars(select(AIJob.job_id)))


def ids(numbers) -> list[str]:
    return sorted(f"imp-{i}" for i in numbers)


def test_cli_keeps_the_valid_lines_of_a_file_with_a_bad_byte(db, tmp_path, cli):
    path = tmp_path / "ten-valid-lines.jsonl"
    path.write_bytes(jsonl([rec(i) for i in range(10)]) + b'{"job_id":"\xff"}\n')
    proc = cli("import", path, "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "imported 10, duplicates 0, refused 1",
        "  line 11: not valid UTF-8 at byte 12 (0xff)",
    ]
    assert stored(db) == (10, 10)


def test_jsonl_bad_bytes_refuse_their_line_in_arrow_blocks(db, tmp_path, small_blocks):
    rows = [rec(i) for i in range(25)]
    rows[3] = b'{"job_id": "imp-3", "model": "gpt\xe9"}'  # head area (format detection reads it)
    rows[13] = b'{"job_id": "imp-13", "brand": "\xc3\x28"}'  # block 2: an invalid continuation byte
    path = tmp_path / "u.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"job_id": "\xff"}\n' + jsonl(rows))  # line 1 after a BOM
    result = import_any(path)
    assert result.refused == [
        (1, "not valid UTF-8 at byte 16 (0xff)"),
        (5, "not valid UTF-8 at byte 34 (0xe9)"),
        (15, "not valid UTF-8 at byte 32 (0xc3)"),
    ]
    assert result.imported == 23
    assert stored_ids() == ids(set(range(25)) - {3, 13})


def test_csv_bad_bytes_refuse_their_row_wherever_they_sit(db, tmp_path):
    lines = csv_bytes([rec(i) for i in range(12)]).split(b"\n")
    lines[2] = lines[2].replace(b"gpt-4o-mini", b"gpt-4o\xffmini")  # line 3: in the detection head
    lines[8] = lines[8].replace(b"Web", b"W\xe9b")  # line 9
    path = tmp_path / "usage.txt"  # no .csv suffix: the format is read from the head
    path.write_bytes(b"\n".join(lines))
    result = import_any(path)
    assert result.refused == [(3, "not valid UTF-8 at byte 50 (0xff)"), (9, "not valid UTF-8 at byte 34 (0xe9)")]
    assert result.imported == 10
    assert stored_ids() == ids(set(range(12)) - {1, 7})


def test_csv_header_with_a_bad_byte_refuses_only_the_rows_using_that_column(db, tmp_path):
    rows = [rec(i, description="said" if i in (2, 5) else "") for i in range(8)]
    data = csv_bytes(rows).replace(b"description", b"descr\xffption", 1)
    path = tmp_path / "u.csv"
    path.write_bytes(data)
    result = import_any(path)
    assert result.refused == [
        (1, "not valid UTF-8 at byte 87 (0xff) in the header: column 10 has no readable name"),
        (4, "column 10: a value under a header name that is not valid UTF-8"),
        (7, "column 10: a value under a header name that is not valid UTF-8"),
    ]
    assert stored_ids() == ids({0, 1, 3, 4, 6, 7})


def test_csv_field_over_the_limit_refuses_its_row_and_the_file_reads_on(db, tmp_path):
    rows = [rec(i) for i in range(10)]
    rows[2]["description"] = "x" * 140_000  # one line
    rows[5]["description"] = "y" * 70_000 + "\n" + "z" * 70_000 + '\n,"'  # a quoted field over three lines
    rows[8]["input_tokens"] = -1  # line numbers stay right after it
    path = tmp_path / "u.csv"
    path.write_bytes(csv_bytes(rows))
    result = import_any(path)
    assert result.refused == [
        (4, "field 'description' is longer than 131,072 characters, the CSV field limit"),
        (7, "field 'description' is longer than 131,072 characters, the CSV field limit"),
        (12, "input_tokens='-1': must not be negative"),
    ]
    assert result.imported == 7
    assert stored_ids() == ids(set(range(10)) - {2, 5, 8})


def test_a_quote_never_closed_after_an_overlong_field_is_reported(db, tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes(
        csv_bytes([rec(0), rec(1)])
        + b'imp-2,2025-10-02T08:00:00Z,Acme,Web,openai,gpt-4o,completed,1,1,"'
        + b"w" * 140_000
        + b"\nimp-3,,,\n"
    )
    result = import_any(path)
    assert result.refused == [
        (
            4,
            "field 'description' is longer than 131,072 characters, the CSV field limit "
            "(a quoted field opened there is never closed)",
        )
    ]
    assert stored_ids() == ids({0, 1})


@pytest.mark.parametrize(
    "value, kind", [({"x": 1}, "a JSON object"), (["gpt-4o"], "a JSON array"), (True, "a boolean")]
)
def test_text_fields_refuse_json_objects_arrays_and_booleans(value, kind):
    for name in ("job_id", "company", "brand", "provider", "model", "job_type", "operation", "description", "status"):
        with pytest.raises(InvalidRecord) as exc:
            validate_record(rec(1) | {name: value})
        assert exc.value.field == name
        assert str(exc.value) == f"{name}={value!r}: must be text, not {kind}"


def test_a_json_object_as_model_is_refused_on_every_import_path(db, tmp_path, small_blocks):
    rows = [rec(i) for i in range(25)]
    rows[4] = rec(4, model={"x": 1})  # an Arrow block read line by line
    rows[17] = rec(17, description=["a"])
    path = tmp_path / "u.jsonl"
    path.write_bytes(jsonl(rows))
    result = import_any(path)
    assert result.refused == [
        (5, "model={'x': 1}: must be text, not a JSON object"),
        (18, "description=['a']: must be text, not a JSON array"),
    ]
    assert stored_ids() == ids(set(range(25)) - {4, 17})
    with session_scope() as s:  # the frame path (applications' batches): same refusal, same stored text
        res = ingest_frame(s, pd.DataFrame([rec(30, model={"x": 1}), rec(31, model=False), rec(32)]))
    assert (res.inserted, res.refused) == (
        1,
        [(0, "model={'x': 1}: must be text, not a JSON object"), (1, "model=False: must be text, not a boolean")],
    )
    with session_scope() as s:
        assert "{'x': 1}" not in s.scalars(select(AIJobUsage.model_name)).all()


def test_litellm_logs_refuse_a_json_object_as_model(db, tmp_path):
    log = {
        "request_id": "r1",
        "call_type": "acompletion",
        "spend": 0.5,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "startTime": "2025-10-02T08:00:00Z",
        "endTime": "2025-10-02T08:00:01Z",
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
    }
    path = tmp_path / "spend.jsonl"
    path.write_bytes(jsonl([log, log | {"request_id": "r2", "model": {"x": 1}}, log | {"request_id": "r3"}]))
    result = import_any(path, fmt="litellm")
    assert result.refused == [(2, "model={'x': 1}: must be text, not a JSON object")]
    assert stored_ids() == ["litellm:r1", "litellm:r3"]


def test_half_a_surrogate_pair_refuses_its_line_not_the_import(db, tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_bytes(
        jsonl(
            [
                rec(0),
                b'{"job_id": "imp-1", "model": "gpt\\ud800"}',
                rec(2),
                b'{"job_id": "imp-3", "model": "ok \\ud83d\\ude00"}',
            ]
        )
    )  # a whole pair is fine
    result = import_any(path)
    assert result.refused == [
        (2, "model='gpt\\ud800': is not valid Unicode (a lone surrogate)"),
        (4, "input_tokens=None: is required"),
    ]
    assert stored_ids() == ids({0, 2})


def test_litellm_json_array_with_a_bad_byte_refuses_that_element(db, tmp_path):
    log = {
        "request_id": "r1",
        "call_type": "acompletion",
        "spend": 0.5,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "startTime": "2025-10-02T08:00:00Z",
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
    }
    body = json.dumps([log, log | {"request_id": "r2", "model": "gpt-BAD"}, log | {"request_id": "r3"}])
    path = tmp_path / "spend.json"
    path.write_bytes(body.encode().replace(b"BAD", b"\xff"))
    result = import_any(path, fmt="litellm")
    assert result.refused == [(2, "model='gpt-\ufffd': not valid UTF-8 (byte 0xff)")]
    assert stored_ids() == ["litellm:r1", "litellm:r3"]
