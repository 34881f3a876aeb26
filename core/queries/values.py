"""Filter values given by a reader (a shared link, a command-line flag, an API call), checked against what storage
holds before they reach SQL: an id past its column's range, a NUL or another control character, an overlong
name are refused with an InvalidRecord (a ValueError) naming the parameter — never sent to the database to fail
there with a driver error.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from core.errors import InvalidRecord

MAX_ID = 2**31 - 1  # INTEGER ids: companies, brands, alerts, budgets, quotas
MAX_BIG_ID = 2**63 - 1  # BIGINT ids: jobs and usage records
MAX_NAME = 200  # the longest company, brand, model or provider name stored
_WHOLE = re.compile(r"-?[0-9]+")


def whole_id(name: str, value, *, maximum: int = MAX_ID) -> int:
    """A record id (or a page number): a whole number from 1 to `maximum`."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip()
        if not _WHOLE.fullmatch(text):
            raise InvalidRecord(name, value, "must be a whole number")
        # Past 20 digits it is out of range anyway (and int() refuses strings of over 4300 digits).
        number = int(text) if len(text) <= 20 else maximum + 1
    if not 1 <= number <= maximum:
        raise InvalidRecord(name, value, f"must be a whole number from 1 to {maximum}")
    return number


def name_value(name: str, value, *, max_len: int = MAX_NAME) -> str:
    """A name to match (company, brand, provider, model): plain text of at most `max_len` characters."""
    text = str(value).strip()
    if len(text) > max_len:
        raise InvalidRecord(name, value, f"is longer than {max_len} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidRecord(name, value, "contains control characters")
    return text


def brand_ref(name: str, value) -> int | str:
    """A brand given by id (digits) or by name."""
    text = str(value).strip()
    if _WHOLE.fullmatch(text):
        return whole_id(name, text)
    return name_value(name, text)


EARLIEST = date(1900, 1, 1)
LATEST = date(9998, 12, 31)  # a day after it, or a month's end, must still be a date


def day_in_range(name: str, day: date, value=None) -> date:
    """A date (or the day of a timestamp) a window can start or end on; `value` is what the caller gave."""
    d = day.date() if isinstance(day, datetime) else day
    if not EARLIEST <= d <= LATEST:
        raise InvalidRecord(
            name, day if value is None else value, f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
        )
    return day
