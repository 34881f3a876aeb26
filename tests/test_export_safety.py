"""Exports are safe to open in a spreadsheet, quoted per RFC 4180, free of secrets; sort keys are allow-listed."""
import csv
import io

import pytest

from core.ledger import export_csv_text, list_usage, safe_cell
from core.usage import record_usage
from core.validation import InvalidRecord


@pytest.mark.parametrize("value", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_starts_are_neutralised(value):
    assert safe_cell(value) == "'" + value


def test_plain_values_are_unchanged():
    assert safe_cell("gpt-4o") == "gpt-4o" and safe_cell(12) == "12" and safe_cell(None) == ""


def test_export_quotes_and_redacts(db):
    record_usage(job_id="x1", provider_name="openai", model_name="gpt-4o", input_tokens=1, output_tokens=1,
                 description='He said "hi", then =cmd|\' /C calc\'!A0 with key sk-proj-abcdefghijklmnop')
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
