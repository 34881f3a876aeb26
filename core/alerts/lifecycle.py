"""Alert lifecycle: open, refresh, resolve and acknowledge alerts (the listings are core.alerts.listing).

- `check_alerts` runs every rule (core.alerts.rules), opens one alert per (company, provider, type) — the
  database refuses a second open one through the unique `open_key` — refreshes the open ones, resolves by
  itself every open alert whose condition has cleared, commits, and then sends the notifications (core.alerts.notify)
  outside the check lock.
- `resolve_alert`, `acknowledge_alert` (core.alerts.ack), `condition_holds`: the dashboard and the command line.

Each function opens its own session unless `session=` is passed (then the caller owns the transaction).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access.users import User, authorize
from core.alerts import notify
from core.alerts.ack import LOCAL_OPERATOR, ack_fields, acknowledge, parse_until
from core.alerts.findings import ALERT_TYPES, SEVERITY, Context, Finding, company_names, open_key
from core.alerts.listing import company_scope
from core.alerts.rules import RULES, Rule
from core.clock import iso_z, utc_now
from core.config import get_settings
from core.money import plain
from core.queries.values import MAX_ID
from core.redact import redact
from core.storage.db import dialect_insert, get_session, is_sqlite, session_scope
from core.storage.locks import LockTimeout, job_lock
from core.storage.models import Alert

log = logging.getLogger("core.alerts.lifecycle")

CHECK_LOCK = "alerts.check"
CHECK_LOCK_WAIT = 120.0  # seconds a check waits for a concurrent one (worker vs "Run checks now")

SUPERSEDES = {  # a higher level replaces the lower open alert of the same limit
    "quota_critical": ("quota_warning",),
    "quota_exceeded": ("quota_warning", "quota_critical"),
    "cost_exceeded": ("cost_warning",),
}


class AlertNotFound(LookupError, ValueError):  # a lookup miss, and a bad argument for callers that catch that
    def __init__(self, alert_id):
        self.alert_id = alert_id
        super().__init__(f"alert {alert_id!r} not found")


class AlertNotOpen(AlertNotFound):
    """The alert exists but is resolved: there is no open alert with that id to act on."""

    def __init__(self, alert_id, resolved_at: datetime | None):
        self.alert_id = alert_id
        LookupError.__init__(
            self,
            f"alert {alert_id!r} is already resolved ({iso_z(resolved_at)}): there is no open alert to acknowledge",
        )


def open_alert(session: Session, finding: Finding, now: datetime) -> int | None:
    """Insert the alert unless one is open for its key; returns the new id, or None when one was open.

    ON CONFLICT DO NOTHING on the unique open_key: two checks racing for the same key make one alert.
    """
    message = redact(finding.message)
    stmt = (
        dialect_insert(session)(Alert)
        .values(
            company_id=finding.company_id,
            provider_name=finding.provider,
            alert_type=finding.alert_type,
            severity=finding.level,
            threshold_value=finding.threshold,
            current_value=finding.current,
            message=message,
            is_resolved=False,
            open_key=finding.key,
            email_sent=False,
            notify_attempts=0,
            resolved_notified=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["open_key"])
        .returning(Alert.id)
    )
    return session.execute(stmt).scalar()


def _close(alert: Alert, now: datetime, note: str | None, by: str | None) -> None:
    alert.is_resolved = True
    alert.resolved_at = now
    alert.resolution_note = redact(note) if note else None
    alert.resolved_by = by
    alert.open_key = None  # frees the key: the same condition later opens a new alert
    alert.updated_at = now


def _evaluate(
    s: Session, now: datetime, company_id: int | None, rules: tuple[Rule, ...] = RULES
) -> tuple[list[Finding], list[str], set[str]]:
    ctx = Context(session=s, now=now, settings=get_settings(), company_id=company_id)
    findings: list[Finding] = []
    checks: list[str] = []
    judged: set[str] = set()
    for rule in rules:
        try:
            if is_sqlite(s):
                findings.extend(rule.run(ctx))
            else:  # a savepoint: an SQL error in one rule must not abort the transaction the others share
                with s.begin_nested():
                    findings.extend(rule.run(ctx))
        except Exception as e:  # noqa: BLE001 - one broken rule must not stop the others
            log.error("alert rule %s failed: %s: %s", rule.check, type(e).__name__, redact(str(e)))
            continue
        checks.append(rule.check)
        judged.update(rule.types)
    return findings, checks, judged


def _run_check(s: Session, now: datetime, company_id: int | None) -> tuple[list[dict], list[str], int]:
    findings, checks, judged = _evaluate(s, now, company_id)
    by_key = {f.key: f for f in findings}
    names = company_names(s)
    created: list[dict] = []
    # Sorted keys: concurrent checks touch rows in one order, so they queue instead of deadlocking.
    for key in sorted(by_key):
        f = by_key[key]
        new_id = open_alert(s, f, now)
        if new_id is not None:
            created.append(
                {
                    "id": new_id,
                    "type": f.alert_type,
                    "provider": f.provider,
                    "message": redact(f.message),
                    "severity": f.level,
                    "company": names.get(f.company_id),
                    "threshold_value": plain(f.threshold),
                    "current_value": plain(f.current),
                }
            )
            log.info("alert opened: #%s %s %s %s", new_id, f.alert_type, f.provider or "-", redact(f.message))
            continue
        current = s.scalar(select(Alert).where(Alert.open_key == key))
        if current is not None and (current.current_value != f.current or current.message != redact(f.message)):
            current.current_value = f.current
            current.threshold_value = f.threshold
            current.message = redact(f.message)
            current.updated_at = now
    s.flush()
    q = select(Alert).where(Alert.open_key.is_not(None), Alert.alert_type.in_(sorted(judged))).order_by(Alert.id)
    if company_id is not None:
        q = q.where(Alert.company_id == company_id)
    resolved = 0
    for alert in list(s.scalars(q)):
        if alert.open_key in by_key:
            continue
        higher = [
            t
            for t, lower in SUPERSEDES.items()
            if alert.alert_type in lower and open_key(alert.company_id, alert.provider_name, t) in by_key
        ]
        note = (
            f"Auto-resolved: superseded by {higher[0]}"
            if higher
            else f"Auto-resolved: condition cleared ({alert.alert_type} threshold no longer reached at "
            f"{now:%Y-%m-%d %H:%M} UTC)"
        )
        _close(alert, now, note, "auto")
        resolved += 1
        log.info("alert auto-resolved: #%s %s %s", alert.id, alert.alert_type, alert.provider_name or "-")
    s.flush()
    return created, checks, resolved


def check_alerts(
    now: datetime | None = None,
    *,
    company: str | None = None,
    session: Session | None = None,
    notify_now: bool = True,
    actor: User | None = None,
) -> dict:
    """Run every rule, open/refresh/auto-resolve alerts, send notifications; the check_alerts response of the usage
    spec.

    Concurrent checks queue on a lock (PostgreSQL advisory lock / SQLite lease) while they evaluate and write
    alerts; the unique open_key still guards the database itself. Notifications go out after the lock is
    released, so a slow receiver never holds up another check: concurrent dispatches claim each (alert, channel)
    before sending (core.alerts.notify), and each delivery ends within NOTIFY_TIMEOUT_SECONDS.

    `actor` (default: the local operator, i.e. the worker and the command line) must be an admin of `company`,
    or of all companies for a check of every company: a check writes alerts.
    """
    now = utc_now(now)
    authorize(actor, "run alert checks", company=company)
    if session is not None:
        company_id = company_scope(session, company)
        created, checks, resolved = _run_check(session, now, company_id)
        sent = notify.dispatch(session, now=now).alerts_sent if notify_now else 0
        return _response(checks, created, sent, resolved)
    with job_lock(CHECK_LOCK, wait=CHECK_LOCK_WAIT) as acquired:
        if not acquired:
            raise LockTimeout(
                f"another alert check has been running for more than {int(CHECK_LOCK_WAIT)} s; try again later"
            )
        with session_scope() as s:
            company_id = company_scope(s, company)
            created, checks, resolved = _run_check(s, now, company_id)
    sent = notify.dispatch(now=now).alerts_sent if notify_now else 0
    return _response(checks, created, sent, resolved)


def _response(checks: list[str], created: list[dict], sent: int, resolved: int) -> dict:
    return {
        "checks_performed": checks,
        "new_alerts_created": len(created),
        "alerts": created,
        "notifications_sent": sent,
        "auto_resolved": resolved,
    }


def resolve_alert(
    alert_id,
    resolution_note: str | None = None,
    *,
    resolved_by: str | None = None,
    company: str | None = None,
    session: Session | None = None,
    now: datetime | None = None,
    actor: User | None = None,
) -> dict:
    """Resolve one alert with an optional note; resolving a resolved alert changes nothing.

    `actor` (default: the local operator) must be an admin of the alert's company; an alert of no company (a
    provider or probe alert) needs an admin of all companies. Raises PermissionError otherwise, AlertNotFound
    (a LookupError) for an unknown id (or one outside `company`).
    """
    now = utc_now(now)
    with session_scope(session) as s:
        alert = _alert_for_update(s, alert_id, company)
        who = authorize(actor, "resolve alerts", company=None if alert.company is None else alert.company.name)
        if not alert.is_resolved:
            note = (resolution_note or "").strip() or None
            by = resolved_by or (who.username if actor is not None else "user")
            _close(alert, now, note, by)
            s.flush()
            log.info("alert resolved: #%s %s by %s", alert.id, alert.alert_type, by)
        return {
            "message": "Alert resolved successfully",
            "alert": {
                "id": alert.id,
                "is_resolved": True,
                "resolved_at": iso_z(alert.resolved_at),
                "resolution_note": alert.resolution_note,
            },
        }


def _alert_id(alert_id) -> int:
    try:
        value = int(alert_id)
    except (TypeError, ValueError):
        raise AlertNotFound(alert_id) from None
    if not 1 <= value <= MAX_ID:  # past the column's range: no such alert (and no out-of-range SQL error)
        raise AlertNotFound(alert_id)
    return value


def _alert_for_update(s: Session, alert_id, company: str | None) -> Alert:
    """The alert `alert_id` (in `company` when given), locked on PostgreSQL; AlertNotFound otherwise."""
    alert_id = _alert_id(alert_id)
    alert = s.get(Alert, alert_id, with_for_update=not is_sqlite(s))
    if alert is None or (company and (alert.company is None or alert.company.name != company)):
        raise AlertNotFound(alert_id)
    return alert


def _open_for_update(s: Session, alert_id, company: str | None) -> Alert:
    """The open alert `alert_id` (in `company` when given), locked on PostgreSQL; AlertNotFound / AlertNotOpen."""
    alert = _alert_for_update(s, alert_id, company)
    if alert.is_resolved:
        raise AlertNotOpen(alert_id, alert.resolved_at)
    return alert


def acknowledge_alert(
    alert_id,
    note: str | None = None,
    until=None,
    *,
    acknowledged_by: str | None = None,
    company: str | None = None,
    session: Session | None = None,
    now: datetime | None = None,
    actor: User | None = None,
) -> dict:
    """Acknowledge an open alert: it stays open (and still resolves by itself when its condition clears) but gets
    no more messages until `until` — a datetime, or an ISO date ("YYYY-MM-DD": the start of that day, UTC) or
    date and time — or, without `until`, for as long as it stays open. Acknowledging again replaces the end and,
    when one is given, the note.

    `actor` (default: the local operator) must be an admin of the alert's company, as for resolve_alert.
    Raises ValueError for an `until` that cannot be read or is not in the future, AlertNotFound for an unknown id
    (or one outside `company`), AlertNotOpen (an AlertNotFound) for a resolved alert, PermissionError.
    """
    now = utc_now(now)
    end = parse_until(until, now)
    with session_scope(session) as s:
        alert = _open_for_update(s, alert_id, company)
        who = authorize(actor, "acknowledge alerts", company=None if alert.company is None else alert.company.name)
        by = acknowledged_by or (who.username if actor is not None else LOCAL_OPERATOR)
        acknowledge(alert, note, end, by, now)
        s.flush()
        log.info(
            "alert acknowledged: #%s %s by %s, %s",
            alert.id,
            alert.alert_type,
            by,
            f"no reminder until {iso_z(end)}" if end else "no reminder while open",
        )
        return {
            "message": "Alert acknowledged successfully",
            "alert": {"id": alert.id, "is_resolved": False, **ack_fields(alert, now)},
        }


def condition_holds(alert_id, *, company: str | None = None, now: datetime | None = None) -> bool:
    """Whether the alert's condition is met now (or a higher level of it, e.g. quota_critical for a
    quota_warning): its rule is evaluated as a check would, and nothing is written. True means a check would
    open (or keep open) an alert for it. Works for resolved alerts too.

    Raises AlertNotFound for an unknown id (or one outside `company`), RuntimeError when the rule fails.
    """
    now = utc_now(now)
    alert_id = _alert_id(alert_id)
    s = get_session()
    try:  # a session of its own, rolled back: the evaluation never writes
        alert = s.get(Alert, alert_id)
        if alert is None or (company and (alert.company is None or alert.company.name != company)):
            raise AlertNotFound(alert_id)
        rules = tuple(r for r in RULES if alert.alert_type in r.types)
        findings, checks, _ = _evaluate(s, now, alert.company_id, rules)
        if len(checks) < len(rules):
            raise RuntimeError(f"the {alert.alert_type} rule could not be evaluated (see the log)")
        types = (alert.alert_type, *(t for t, lower in SUPERSEDES.items() if alert.alert_type in lower))
        wanted = {open_key(alert.company_id, alert.provider_name, t) for t in types}
        return any(f.key in wanted for f in findings)
    finally:
        s.rollback()
        s.close()


__all__ = [
    "check_alerts",
    "resolve_alert",
    "acknowledge_alert",
    "condition_holds",
    "AlertNotFound",
    "AlertNotOpen",
    "ALERT_TYPES",
    "SEVERITY",
    "open_alert",
]
