"""JSONL files are read a block at a time by Arrow; a block Arrow cannot read is read line by line. Either way
the same records are stored and the same lines refused, with the same messages and line numbers."""

import json
import re

import pytest
from sqlalchemy import select

from core.ingest import files as importer
from core.ingest.files import import_file
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage
from tests.helpers.records import rec, stored


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 10)


def _lines(rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def test_blocks_with_and_without_bad_lines(db, tmp_path, small_blocks):
    rows = [rec(i) for i in range(35)]
    rows[12] = b'{"job_id": "broken", '  # block 2: malformed -> read line by line
    rows[23] = rec(23, input_tokens="250")  # block 3: a type change -> line by line, stored
    rows[31] = rec(31, cached_tokens=1001)  # block 4: Arrow reads it; the scalar path refuses
    path = tmp_path / "u.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _lines(rows[:5]) + b"\n   \n" + _lines(rows[5:]))  # BOM, blank lines
    result = import_file(path)
    # Lines after the two blank ones are two further down.
    assert [line for line, _ in result.refused] == [15, 34]
    assert result.refused[0][1].startswith("invalid JSON: Expecting property name enclosed in double quotes")
    assert result.refused[1][1] == "cached_tokens=1001: exceeds input_tokens (1000)"
    assert (result.imported, result.duplicates) == (33, 0)
    assert stored(db) == (33, 33)
    with session_scope() as s:
        assert (
            s.scalar(
                select(AIJobUsage.input_tokens)
                .join(AIJob, AIJob.id == AIJobUsage.ai_job_id)
                .where(AIJob.job_id == "imp-23")
            )
            == 250
        )


def test_invalid_utf8_line_is_refused_alone(db, tmp_path, small_blocks):
    path = tmp_path / "u.jsonl"
    path.write_bytes(_lines([rec(1), b'{"job_id": "\xff\xfe"}', rec(3)]))
    result = import_file(path)
    assert result.refused == [(2, "not valid UTF-8 at byte 13 (0xff)")]
    assert result.imported == 2


def test_company_option_in_arrow_blocks(db, tmp_path, small_blocks):
    rows = [rec(i, company=None) if i % 3 == 0 else rec(i, company="Acme") for i in range(20)]
    rows[7] = rec(7, company="Other")
    path = tmp_path / "u.jsonl"
    path.write_bytes(_lines(rows))
    result = import_file(path, company="Acme")
    assert result.refused == [(8, "company='Other': differs from --company 'Acme'")]
    assert result.imported == 19


def test_progress_counts_every_line(db, tmp_path, small_blocks, capsys):
    """The progress printer is told, block by block, how many lines were read (refused ones included)."""
    path = tmp_path / "u.jsonl"
    path.write_bytes(_lines([rec(i) for i in range(25)] + [b"[1, 2]"]))
    result = import_file(path, progress=True)
    assert result.imported == 25 and result.read == 26
    seen = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) records", capsys.readouterr().err)]
    assert seen[-1] == 26 and seen == sorted(seen) and len(seen) > 1
