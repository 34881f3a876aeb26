"""Bad input is refused with an error naming the field and the value."""

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InvalidRecord
from core.ingest.checks import validate_record

NOW = datetime(2025, 11, 3, 12, tzinfo=UTC)
GOOD = {
    "job_id": "j1",
    "created_at": "2025-11-03T11:00:00Z",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 10,
    "output_tokens": 5,
}


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("input_tokens", -5, "negative"),
        ("output_tokens", 2.5, "whole number"),
        ("input_tokens", "12.7", "whole number"),
        ("input_tokens", float("nan"), "finite"),
        ("output_tokens", float("inf"), "finite"),
        ("input_tokens", "abc", "number"),
        ("input_tokens", True, "boolean"),
        ("cached_tokens", 11, "exceeds input_tokens"),
        ("reasoning_tokens", 6, "exceeds output_tokens"),
        ("status", "done", "must be one of"),
        ("created_at", "2025-11-03T12:06:00Z", "future"),
        ("created_at", "yesterday", "ISO 8601"),
        ("provider", "", "required"),
        ("model", None, "required"),
        ("job_id", "  ", "required"),
        ("execution_time_seconds", -1, "negative"),
        ("execution_time_seconds", float("nan"), "finite"),
        ("cost_input", "-0.01", "negative"),
        ("cost_output", "NaN", "finite"),
        ("success_rate", 1.5, "between"),
        ("memory_usage_mb", -64, "negative"),
    ],
)
def test_each_bad_value_is_refused_naming_field_and_value(field, value, reason):
    with pytest.raises(InvalidRecord) as exc:
        validate_record(GOOD | {field: value}, now=NOW)
    assert exc.value.field == field
    assert reason in str(exc.value)
    assert field in str(exc.value) and repr(value)[:20] in str(exc.value)


def test_cached_plus_cache_write_cannot_exceed_input():
    with pytest.raises(InvalidRecord, match="cache_write_tokens"):
        validate_record(GOOD | {"cached_tokens": 6, "cache_write_tokens": 5}, now=NOW)


def test_five_minutes_ahead_is_accepted_clock_skew():
    rec = validate_record(GOOD | {"created_at": (NOW + timedelta(minutes=4)).isoformat()}, now=NOW)
    assert rec.created_at == NOW + timedelta(minutes=4)


def test_csv_strings_are_parsed_and_naive_timestamps_are_utc():
    rec = validate_record(
        {k: str(v) for k, v in GOOD.items()}
        | {"created_at": "2025-11-03 10:00:00", "cost_input": "0.5", "status": "FAILED"},
        now=NOW,
    )
    assert rec.input_tokens == 10 and rec.created_at == datetime(2025, 11, 3, 10, tzinfo=UTC)
    assert str(rec.cost_input) == "0.500000" and rec.status == "failed" and rec.success_rate == 0.0


def test_integral_float_token_count_is_accepted():
    assert validate_record(GOOD | {"input_tokens": 12.0}, now=NOW).input_tokens == 12


def test_provider_is_lowercased():
    assert validate_record(GOOD | {"provider": " OpenAI "}, now=NOW).provider == "openai"
