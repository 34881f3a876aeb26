"""One way to show numbers, used by every page, alert message, notification and report.

Money `$1,234.56`, under a dollar four decimals (`$0.0123`, `$0.5450`), under a hundredth of a cent
`<$0.0001`; tokens and counts with thousands separators; times `2026-11-30 09:27 UTC`; plurals right
("1 call", "2 calls"). Rounding happens only here: the figures behind stay exact Decimals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DASH = "—"  # nothing measured: never shown as 0
_CENT = Decimal("0.01")
_SMALL = Decimal("0.0001")


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)  # charts hand floats back; money itself never is one
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


def usd(value) -> str:
    """$1,234.56; under a dollar $0.0123 (four decimals, so small costs never read $0.00); None -> —."""
    d = _decimal(value)
    if d is None:
        return DASH
    if d < 0:
        return "-" + usd(-d)
    if d == 0:
        return "$0.00"
    if d < _SMALL:
        return "<$0.0001"
    small = d.quantize(_SMALL, rounding=ROUND_HALF_UP)
    if small < 1:
        return f"${small:,}"
    return f"${d.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def usd_exact(value) -> str:
    """A limit in a refusal, every decimal kept: $1,000,000 ; $999,999,999,999.999999 (usd() would round it up
    to a figure the limit does not reach)."""
    return f"${Decimal(value):,}"


def per_million_tokens(cost, tokens) -> str:
    """A cost per token, which as such is a long decimal, shown per million tokens: $2.50 / 1M tokens."""
    d = _decimal(cost)
    if d is None or not tokens:
        return DASH
    return f"{usd(d * 1_000_000 / int(tokens))} / 1M tokens"


def count(value) -> str:
    """Tokens, jobs, calls: 29,771,536; None -> —."""
    return DASH if value is None else f"{int(value):,}"


def compact(value) -> str:
    """A large count in a narrow tile: 42,563,146 -> 42.56M (give the exact count beside it, in the tile's help);
    under a million it is the count itself."""
    if value is None:
        return DASH
    n = int(value)
    for size, suffix in ((10**9, "B"), (10**6, "M")):
        if abs(n) >= size:
            return f"{n / size:,.2f}{suffix}"
    return f"{n:,}"


def percent(value, places: int = 1) -> str:
    """84.6% ; None -> —."""
    return DASH if value is None else f"{float(value):.{places}f}%"


def change(value, places: int = 1) -> str:
    """A signed change: +9.5% , -16.3% ; None (nothing to compare with) -> —."""
    return DASH if value is None else f"{float(value):+.{places}f}%"


def seconds(value) -> str:
    """2.30 s ; None (not measured) -> —."""
    return DASH if value is None else f"{float(value):,.2f} s"


def when(value) -> str:
    """2026-11-30 09:27 UTC (ISO strings, aware or naive UTC datetimes); None -> —."""
    if value is None or value == "":
        return DASH
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return f"{value:%Y-%m-%d %H:%M} UTC"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def day(value) -> str:
    """4 Dec 2026 from a date or an ISO date (a run-out day in a sentence); None -> —."""
    if value is None or value == "":
        return DASH
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return f"{d.day} {d:%b %Y}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """1 call, 2 calls, 1,204 calls."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
