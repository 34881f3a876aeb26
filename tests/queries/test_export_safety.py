"""Exports are safe to open in a spreadsheet, quoted per RFC 4180, free of secrets, in the list's order, with the
UTF-8 byte order mark spreadsheets need; sort keys are allow-listed."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InvalidRecord
from core.queries.usage_export import export_csv_text, safe_cell
from core.queries.usage_list import list_usage
from core.usage import record_usage


@pytest.mark.parametrize("value", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_starts_are_neutralised(value):
    assert safe_cell(value) == "'" + value


def test_plain_values_are_unchanged():
    assert safe_cell("gpt-4o") == "gpt-4o" and safe_cell(12) == "12" and safe_cell(None) == ""


def test_export_quotes_and_redacts(db):
    record_usage(
        job_id="x1",
        provider_name="openai",
        model_name="gpt-4o",
        input_tokens=1,
        output_tokens=1,
        description="He said \"hi\", then =cmd|' /C calc'!A0 with key sk-proj-abcdefghijklmnop",
    )
    text = export_csv_text()
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["description"].startswith('He said "hi", then =cmd')
    assert "sk-proj-abcdefghijklmnop" not in text and "sk-***" in row["description"]
    assert '"He said ""hi"", then' in text  # RFC 4180 doubling of quotes inside a quoted field


def test_unknown_sort_key_is_an_error_not_sql(db):
    with pytest.raises(InvalidRecord, match="ordering"):
        list_usage(ordering="id; DROP TABLE ai_jobs")
    with pytest.raises(InvalidRecord, match="unknown filter"):
        list_usage(**{"id__gt": "1"})


@pytest.mark.parametrize(
    "ordering", ["-created_at", "created_at", "-total_cost", "total_cost", "-execution_time_seconds", "-total_tokens"]
)
def test_export_follows_the_list_order_with_a_byte_order_mark(db, ordering):
    """The CSV holds the rows in the usage list's order, starts with the UTF-8 BOM (a spreadsheet then reads
    "complète" right) and reads back with the csv module, RFC 4180 line ends and all."""
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    for i, (cost, secs, tokens) in enumerate(
        [("0.5", "2", 40), ("0.25", "9", 900), ("0.75", "1", 10), ("0.25", "3", 90), ("1.5", "4", 300), ("0.1", "9", 5)]
    ):
        record_usage(
            job_id=f"o{i}",
            created_at=t0 + timedelta(minutes=7 * ((i * 5) % 6)),
            provider_name="openai",
            model_name="gpt-4o",
            input_tokens=tokens,
            output_tokens=0,
            cost_input=cost,
            cost_output="0",
            execution_time_seconds=secs,
            description=f"synthèse complète n°{i}",
            company="Acme",
        )
    listed = [r["ai_job"]["job_id"] for r in list_usage(ordering=ordering, page_size=50)["results"]]
    text = export_csv_text(ordering=ordering, batch=2)  # several batches
    assert text.startswith("\ufeffid,job_id,") and text.count("\r\n") == 7
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert [r["job_id"] for r in rows] == listed and len(set(listed)) == 6
    assert rows[0]["description"].startswith("synthèse complète")
    raw = text.encode("utf-8")
    assert raw.startswith(b"\xef\xbb\xbf") and "complète".encode() in raw


def test_export_without_an_ordering_is_by_id_and_refuses_an_unknown_one(db):
    for i in range(3):
        record_usage(
            job_id=f"k{i}",
            provider_name="openai",
            model_name="gpt-4o",
            input_tokens=1,
            output_tokens=1,
            created_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC) - timedelta(hours=i),
        )
    rows = list(csv.DictReader(io.StringIO(export_csv_text().removeprefix("\ufeff"))))
    assert [r["job_id"] for r in rows] == ["k0", "k1", "k2"]
    with pytest.raises(InvalidRecord, match="ordering"):
        export_csv_text(ordering="id; DROP TABLE ai_jobs")
