"""The Alerts page's calls into core.alerts and core.alerts.notify: cached reads (dicts only, the database URL in every
key), the condition of one alert evaluated now (never cached), and the writes (run the checks, resolve or
acknowledge one alert), each after a server-side admin check and followed by dropping the cached alert views."""

from __future__ import annotations

import streamlit as st

from core import alerts
from core.access.users import LOCAL_OPERATOR
from core.alerts import notify
from core.alerts.findings import ALERT_TYPES
from core.config import get_settings
from ui.auth_gate import current_user, enforce_company, ensure_user, require_admin

TTL = 15
SEVERITY_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}

__all__ = [
    "ALERT_TYPES",
    "SEVERITY_ICON",
    "active",
    "listing",
    "channels",
    "condition_holds",
    "run_checks",
    "resolve",
    "acknowledge",
    "clear",
]


def _db() -> str:
    return get_settings().database_url


@st.cache_data(ttl=TTL, show_spinner=False)
def _active(db: str, company: str | None) -> dict:
    return alerts.active_alerts(company=company)


@st.cache_data(ttl=TTL, show_spinner=False)
def _listing(db: str, company: str | None, filters: tuple, page: int, page_size: int) -> dict:
    return alerts.list_alerts(company=company, page=page, page_size=page_size, **dict(filters))


@st.cache_data(ttl=TTL, show_spinner=False)
def _channels(db: str) -> list[dict]:
    return notify.channel_status()


def channels() -> list[dict]:
    """The configured notification channels: redacted label, state, failing since, last error."""
    return _channels(_db())


def active(company: str | None = None) -> dict:
    return _active(_db(), company)


def listing(company: str | None = None, *, page: int = 1, page_size: int = 50, **filters) -> dict:
    """list_alerts with the alert list's filters (alert_type, provider_name, is_resolved, created_at__gte)."""
    kept = tuple(sorted((k, v) for k, v in filters.items() if v not in (None, "")))
    return _listing(_db(), company, kept, page, page_size)


def _who() -> str:
    user = current_user()
    return f"dashboard:{user.username}" if user and user != LOCAL_OPERATOR else "dashboard"


def clear() -> None:
    _active.clear()
    _listing.clear()
    _channels.clear()


def run_checks(company: str | None = None) -> dict:
    require_admin()
    try:
        return alerts.check_alerts(company=company, actor=ensure_user())
    finally:
        clear()


def resolve(alert_id: int, note: str | None, company: str | None = None) -> dict:
    require_admin()
    try:
        return alerts.resolve_alert(
            alert_id, note, resolved_by=_who(), company=enforce_company(company), actor=ensure_user()
        )
    finally:
        clear()


def acknowledge(alert_id: int, note: str | None, until=None, company: str | None = None) -> dict:
    """Acknowledge (no `until`) or snooze (until a datetime or date) one open alert."""
    require_admin()
    try:
        return alerts.acknowledge_alert(
            alert_id, note, until, acknowledged_by=_who(), company=enforce_company(company), actor=ensure_user()
        )
    finally:
        clear()


def condition_holds(alert_id: int, company: str | None = None) -> bool | None:
    """Whether the alert's condition is still met now; None when it cannot be told (the rule failed)."""
    try:
        return alerts.condition_holds(alert_id, company=enforce_company(company))
    except RuntimeError:
        return None
