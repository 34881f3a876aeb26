"""The alert listings: `list_alerts` (every alert, filtered, a page at a time), `active_alerts` (the open ones with
their counts per family and severity), and `alert_dict`, one alert as the list shows it. Values are JSON-able:
times ISO 8601 UTC with a Z, thresholds and values as decimal text, messages redacted again on the way out.

Each function opens its own session unless `session=` is passed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.alerts.ack import ack_fields
from core.alerts.findings import ALERT_TYPES, company_names
from core.clock import iso_z, parse_utc, utc_now
from core.money import plain
from core.redact import redact
from core.storage.db import session_scope
from core.storage.models import Alert
from core.storage.names import company_id

# active_alerts()' summary: quota, cost and failure counters first, then the other families, so that the groups
# add up to the count.
SUMMARY_GROUPS = {
    "quota_warnings": ("quota_warning", "quota_critical", "quota_exceeded"),
    "cost_warnings": ("cost_warning", "cost_exceeded", "budget_remaining_low", "daily_spike"),
    "failure_alerts": ("high_failure_rate", "provider_unavailable"),
    "usage_alerts": ("unusual_usage",),
    "performance_alerts": ("slow_execution", "high_cost_deviation"),
}


def company_scope(session: Session, company: str | None) -> int | None:
    """The id of `company`; None when none is given (every company). LookupError for an unknown name."""
    if company is None or company == "":
        return None
    cid = company_id(session, company)
    if cid is None:
        raise LookupError(f"no such company: {company!r}")
    return cid


def _shown(text: str | None) -> str | None:
    return None if text is None else redact(text)


def alert_dict(alert: Alert, company_name: str | None, now: datetime | None = None) -> dict:
    """One alert as the alert list shows it."""
    return {
        "id": alert.id,
        "company": None if alert.company_id is None else {"id": alert.company_id, "name": company_name},
        "provider_name": alert.provider_name,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "threshold_value": plain(alert.threshold_value),
        "current_value": plain(alert.current_value),
        # Read back through redact too: a secret configured after the text was stored still never shows.
        "message": _shown(alert.message),
        "is_resolved": alert.is_resolved,
        "resolved_at": iso_z(alert.resolved_at),
        "resolution_note": _shown(alert.resolution_note),
        "resolved_by": alert.resolved_by,
        "email_sent": alert.email_sent,
        "email_sent_at": iso_z(alert.email_sent_at),
        "created_at": iso_z(alert.created_at),
        "updated_at": iso_z(alert.updated_at),
        **ack_fields(alert, utc_now(now)),
    }


def _bool(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "resolved"):
        return True
    if text in ("false", "0", "no", "active", "open"):
        return False
    raise ValueError(f"is_resolved must be true or false, got {value!r}")


def _since(value) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_utc(value)
    except ValueError:
        raise ValueError(f"created_at__gte must be a date (YYYY-MM-DD) or ISO 8601 timestamp, got {value!r}") from None


def list_alerts(
    *,
    alert_type: str | None = None,
    provider_name: str | None = None,
    is_resolved=None,
    created_at__gte=None,
    company: str | None = None,
    page: int = 1,
    page_size: int = 100,
    session: Session | None = None,
    now: datetime | None = None,
) -> dict:
    """The alert list: {"count", "results"}, newest first, filtered by type, provider, state, creation time and
    company, a page at a time."""
    if alert_type and alert_type not in ALERT_TYPES:
        raise ValueError(f"alert_type must be one of {', '.join(ALERT_TYPES)}, got {alert_type!r}")
    resolved = _bool(is_resolved)
    since = _since(created_at__gte)
    page, page_size = max(1, int(page)), max(1, min(int(page_size), 1000))
    with session_scope(session) as s:
        conds = []
        if company:
            conds.append(Alert.company_id == company_scope(s, company))
        if alert_type:
            conds.append(Alert.alert_type == alert_type)
        if provider_name is not None and provider_name != "":
            conds.append(Alert.provider_name == provider_name.strip().lower())
        if resolved is not None:
            conds.append(Alert.is_resolved == resolved)
        if since is not None:
            conds.append(Alert.created_at >= since)
        count = s.scalar(select(func.count()).select_from(Alert).where(*conds))
        rows = s.scalars(
            select(Alert)
            .where(*conds)
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        ).all()
        names = company_names(s)
        return {"count": int(count or 0), "results": [alert_dict(a, names.get(a.company_id), now) for a in rows]}


def active_alerts(*, company: str | None = None, session: Session | None = None, now: datetime | None = None) -> dict:
    """The open alerts (most severe first, silenced ones after the others of their severity) and counts per family
    and severity; each alert carries its acknowledgement (core.alerts.ack)."""
    order = {"critical": 0, "warning": 1, "info": 2}
    now = utc_now(now)
    with session_scope(session) as s:
        q = select(Alert).where(Alert.is_resolved.is_(False))
        if company:
            q = q.where(Alert.company_id == company_scope(s, company))
        rows = list(s.scalars(q.order_by(Alert.created_at.desc(), Alert.id.desc())))
        names = company_names(s)
    acks = {a.id: ack_fields(a, now) for a in rows}
    rows.sort(key=lambda a: (order.get(a.severity, 3), acks[a.id]["silenced"]))
    summary = {group: sum(1 for a in rows if a.alert_type in types) for group, types in SUMMARY_GROUPS.items()}
    return {
        "count": len(rows),
        "alerts": [
            {
                "id": a.id,
                "type": a.alert_type,
                "provider": a.provider_name,
                "message": _shown(a.message),
                "severity": a.severity,
                "created_at": iso_z(a.created_at),
                "company": names.get(a.company_id),
                "threshold_value": plain(a.threshold_value),
                "current_value": plain(a.current_value),
                **acks[a.id],
            }
            for a in rows
        ],
        "summary": summary,  # the families add up to count
        "by_severity": {sev: sum(1 for a in rows if a.severity == sev) for sev in order},
        "acknowledged_count": sum(1 for a in rows if acks[a.id]["acknowledged"]),
    }
