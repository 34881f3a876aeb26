"""Money as data: an exact Decimal with six places (micro-dollars), never a float; and its exact text in results
and exports. Showing money to people (rounded, with a $) is core.display's. A shared leaf: imports nothing of the
project.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

MICRO = Decimal("0.000001")
ZERO = Decimal("0.000000")


def to_money(value) -> Decimal:
    """Decimal with 6 places; refuses floats so binary rounding never reaches money."""
    if isinstance(value, float):
        raise TypeError("money must be Decimal, int or str, not float")
    return Decimal(value).quantize(MICRO, rounding=ROUND_HALF_EVEN)


def from_micros(micros: int) -> Decimal:
    """Micro-dollars (SQLite's money column, the column writer's arrays) as an amount."""
    return Decimal(int(micros)).scaleb(-6).quantize(MICRO)


def exact(value) -> str:
    """The exact 6-decimal text of an amount ('12.500000'): money in results and exports, never rounded."""
    return str(to_money(value))


def plain(value: Decimal | None) -> str | None:
    """An amount or a threshold with at least two decimals ('80.00', '0.05') and more only when they carry
    information ('0.123'); None stays None."""
    if value is None:
        return None
    two = value.quantize(Decimal("0.01"))
    return str(two) if two == value else f"{value.normalize():f}"
