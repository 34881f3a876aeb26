"""UTC time, one definition each: now, a naive timestamp (taken as UTC), midnight, the month's start, the ISO text
the results carry, and the dates and timestamps a user types. A shared leaf: imports nothing of the project.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def as_utc(ts: datetime) -> datetime:
    """An aware UTC datetime; a naive one is UTC already (SQLite hands timestamps back naive)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def utc_now(now: datetime | None = None) -> datetime:
    """`now` in UTC (the clock of a test or a caller), or the current time."""
    return datetime.now(UTC) if now is None else as_utc(now)


def midnight(d: date) -> datetime:
    """The start of the UTC day `d`."""
    return datetime.combine(d, time.min, UTC)


def month_start(ts: datetime) -> datetime:
    """The start of the UTC month holding `ts`."""
    ts = as_utc(ts)
    return datetime(ts.year, ts.month, 1, tzinfo=UTC)


def iso_z(ts: datetime | None) -> str | None:
    """2026-11-30T09:27:00Z (UTC, with a Z); None stays None."""
    return None if ts is None else as_utc(ts).isoformat().replace("+00:00", "Z")


def parse_utc(value) -> datetime:
    """A datetime (naive = UTC), a date or "YYYY-MM-DD" (the start of that day, UTC), or an ISO 8601 date and time
    ("Z" or an offset; none = UTC) as an aware UTC datetime. Raises ValueError for text it cannot read: the caller
    names the field."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return midnight(value)
    text = str(value).strip()
    return as_utc(datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text))
