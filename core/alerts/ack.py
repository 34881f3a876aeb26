"""Acknowledgement and snooze of an open alert, after Prometheus Alertmanager's silences.

An acknowledged alert stays open: the checks keep refreshing it and resolve it when its condition clears (the
channels told of it then get their "resolved" message). While it is silenced it sends nothing more — without an
end for as long as it stays acknowledged, or until `snoozed_until`, after which reminders resume every
NOTIFY_REPEAT_HOURS. A higher level of the same limit (a quota warning becoming critical) is a new alert, not
acknowledged, and is notified as usual.
"""

from __future__ import annotations

from datetime import date, datetime

from core.clock import iso_z, parse_utc
from core.redact import redact
from core.storage.models import Alert

LOCAL_OPERATOR = "user"  # who acts when no one is named: the command line's and the worker's operator


def parse_until(value, now: datetime) -> datetime | None:
    """The end of a snooze: a datetime (naive = UTC), a date or "YYYY-MM-DD" (the start of that day, UTC), or an
    ISO 8601 date and time; None or "" for no end. Raises ValueError naming the value when it cannot be read or
    is not after `now`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, (date, str)):
        raise ValueError(f"until must be a date or a date and time, got {value!r}")
    try:
        ts = parse_utc(value)
    except ValueError:
        raise ValueError(f"until must be a date (YYYY-MM-DD) or an ISO 8601 date and time, got {value!r}") from None
    if ts <= now:
        raise ValueError(f"until must be in the future, got {value!r} ({iso_z(ts)}, now is {iso_z(now)})")
    return ts


def is_silenced(alert: Alert, now: datetime) -> bool:
    """True while an acknowledged alert sends no message (no end, or its snooze not over at `now`)."""
    return alert.acknowledged_at is not None and (alert.snoozed_until is None or alert.snoozed_until > now)


def acknowledge(alert: Alert, note: str | None, until: datetime | None, by: str | None, now: datetime) -> None:
    """Mark an open alert acknowledged by `by` at `now`. A new acknowledgement replaces the end of the previous
    one (None: no end) and its note when a note is given (a snooze for longer keeps the reason already written)."""
    alert.acknowledged_at = now
    alert.acknowledged_by = by or LOCAL_OPERATOR
    text = (note or "").strip()
    if text:
        alert.acknowledgement_note = redact(text)
    alert.snoozed_until = until
    alert.updated_at = now


def ack_fields(alert: Alert, now: datetime) -> dict:
    """The acknowledgement keys of an alert's dict; `silenced`: no message goes out for it at `now`."""
    return {
        "acknowledged": alert.acknowledged_at is not None,
        "acknowledged_at": iso_z(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "acknowledgement_note": alert.acknowledgement_note,
        "snoozed_until": iso_z(alert.snoozed_until),
        "silenced": not alert.is_resolved and is_silenced(alert, now),
    }


__all__ = ["LOCAL_OPERATOR", "parse_until", "is_silenced", "acknowledge", "ack_fields"]
