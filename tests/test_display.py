"""One way to show numbers: money, counts, times and plurals as every page and message shows them."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core import display


@pytest.mark.parametrize(
    "value, shown",
    [
        ("1234.5678", "$1,234.57"),
        (Decimal("86.000000"), "$86.00"),
        ("0.545", "$0.5450"),
        ("0.7101", "$0.7101"),
        ("0.035046", "$0.0350"),
        ("0.000012", "<$0.0001"),
        ("0", "$0.00"),
        ("-86", "-$86.00"),
        (None, "—"),
        ("999999999999.999999", "$1,000,000,000,000.00"),
        ("1", "$1.00"),
        ("0.99995", "$1.00"),
    ],
)
def test_money(value, shown):
    assert display.usd(value) == shown


def test_counts_percent_seconds_and_missing_values():
    assert display.count(29771536) == "29,771,536" and display.count(None) == "—"
    assert display.percent(84.64) == "84.6%" and display.percent(None) == "—"
    assert display.seconds(2.3) == "2.30 s" and display.seconds(None) == "—"


def test_times_are_minutes_in_utc():
    assert display.when("2026-11-30T09:27:16.233246Z") == "2026-11-30 09:27 UTC"
    assert display.when(datetime(2026, 11, 30, 10, 27, 59, tzinfo=UTC)) == "2026-11-30 10:27 UTC"
    assert display.when(datetime(2026, 11, 30, 9, 27)) == "2026-11-30 09:27 UTC"  # naive = UTC
    assert display.day("2026-12-04") == "4 Dec 2026"


@pytest.mark.parametrize("n, shown", [(0, "0 calls"), (1, "1 call"), (2, "2 calls"), (1204, "1,204 calls")])
def test_plurals(n, shown):
    assert display.plural(n, "call") == shown


def test_cost_per_token_reads_per_million_tokens():
    assert display.per_million_tokens("0.0025", 1000) == "$2.50 / 1M tokens"
    assert display.per_million_tokens(Decimal("0.000075"), 15) == "$5.00 / 1M tokens"
    assert display.per_million_tokens("0.01", 1_000_000) == "$0.0100 / 1M tokens"
    assert display.per_million_tokens("1", 0) == "—" and display.per_million_tokens(None, 10) == "—"


def test_compact_counts_and_signed_changes():
    assert display.compact(42_563_146) == "42.56M" and display.compact(999_999) == "999,999"
    assert display.compact(2_500_000_000) == "2.50B" and display.compact(None) == "—"
    assert display.change(9.54) == "+9.5%" and display.change(-16.3) == "-16.3%" and display.change(None) == "—"
