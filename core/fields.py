"""Value parsers for fields given by people and files: numbers, counts, text, money. Each refusal is an
`InvalidRecord` naming the field and the value. A leaf: the maximums come from the caller (storage knows them).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from core.display import usd_exact
from core.errors import InvalidRecord


def missing(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def number(name: str, v) -> Decimal:
    if isinstance(v, bool):
        raise InvalidRecord(name, v, "must be a number, not a boolean")
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InvalidRecord(name, v, "must be a finite number")
        return Decimal(repr(v))
    try:
        d = Decimal(str(v).strip()) if not isinstance(v, Decimal | int) else Decimal(v)
    except (InvalidOperation, ValueError):
        raise InvalidRecord(name, v, "must be a number") from None
    if not d.is_finite():
        raise InvalidRecord(name, v, "must be a finite number")
    return d


def count(name: str, v, default: int | None = None, maximum: int | None = None) -> int:
    if missing(v):
        if default is None:
            raise InvalidRecord(name, v, "is required")
        return default
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    else:
        d = number(name, v)
        if d != d.to_integral_value():
            raise InvalidRecord(name, v, "must be a whole number")
        n = int(d)
    if n < 0:
        raise InvalidRecord(name, v, "must not be negative")
    if maximum is not None and n > maximum:
        raise InvalidRecord(name, v, f"is more than the per-record maximum ({maximum:,})")
    return n


_KINDS = {dict: "a JSON object", list: "a JSON array", tuple: "a JSON array", bool: "a boolean"}


def _not_text(v) -> str | None:
    """What v is when it cannot stand for text (None for text, for numbers, which read as their digits, and for
    no value)."""
    if v is None or isinstance(v, str) or (isinstance(v, int | float | Decimal) and not isinstance(v, bool)):
        return None
    return next((kind for t, kind in _KINDS.items() if isinstance(v, t)), type(v).__name__)


def check_text(name: str, v) -> None:
    """Refuse a value that is not text (a JSON object, array or boolean given for a text field)."""
    kind = _not_text(v)
    if kind is not None:
        raise InvalidRecord(name, v, f"must be text, not {kind}")


def text(name: str, v, default: str | None = None, max_len: int = 200, lower: bool = False) -> str:
    if missing(v):
        if default is None:
            raise InvalidRecord(name, v, "is required")
        return default
    check_text(name, v)
    if not isinstance(v, str):
        v = str(v)
    v = v.strip()
    if len(v) > max_len:
        raise InvalidRecord(name, v, f"is longer than {max_len} characters")
    if not v.isprintable() and any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise InvalidRecord(name, v, "contains control characters")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a JSON escape of half a pair): no database stores it
        raise InvalidRecord(name, v, "is not valid Unicode (a lone surrogate)") from None
    return v.lower() if lower else v


def money(name: str, v, maximum: Decimal, what: str = "the most the database holds") -> Decimal | None:
    if missing(v):
        return None
    d = number(name, v)
    if d < 0:
        raise InvalidRecord(name, v, "must not be negative")
    if d > maximum:
        raise InvalidRecord(name, v, f"is more than {what} ({usd_exact(maximum)})")
    return d.quantize(Decimal("0.000001"))
