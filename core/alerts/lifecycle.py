"""Alert lifecycle and the alert views (list, active, check) of the usage spec, as JSON-able dicts.

- `check_alerts` runs every rule (core.alerts.rules), opens one alert per (company, provider, type) — the
  database refuses a second open one through the unique `open_key` — refreshes the open ones, resolves by
  itself every open alert whose condition has cleared, commits, and then sends the notifications (core.alerts.notify)
  outside the check lock.
- `resolve_alert`, `acknowledge_alert` (core.alerts.ack), `condition_holds`, `list_alerts`, `active_alerts`: the
  dashboard and the command line.

Each function opens its own session unless `session=` is passed (then the caller owns the transaction).
"""
from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.alerts import notify
from core.alerts.ack import LOCAL_OPERATOR, ack_fields, acknowledge, parse_until
from core.alerts.rules import ALERT_TYPES, RULES, SEVERITY, Context, Finding, Rule, company_names, open_key
from core.access.users import User, authorize
from core.config import get_settings
from core.storage.db import get_session, session_scope
from core.storage.locks import LockTimeout, job_lock
from core.storage.models import Alert, Company
from core.queries.values import MAX_ID
from core.redact import redact

log = logging.getLogger("core.alerts.lifecycle")

CHECK_LOCK = "alerts.check"
CHECK_LOCK_WAIT = 120.0  # seconds a check waits for a concurrent one (worker vs "Run checks now")

# active_alerts()' summary: the usage spec's three counters, then the other families, so the groups add up to count.
SUMMARY_GROUPS = {
    "quota_warnings": ("quota_warning", "quota_critical", "quota_exceeded"),
    "cost_warnings": ("cost_warning", "cost_exceeded", "budget_remaining_low", "daily_spike"),
    "failure_alerts": ("high_failure_rate", "provider_unavailable"),
    "usage_alerts": ("unusual_usage",),
    "performance_alerts": ("slow_execution", "high_cost_deviation"),
}
SUPERSEDES = {  # a higher level replaces the lower open alert of the same limit
    "quota_critical": ("quota_warning",), "quota_exceeded": ("quota_warning", "quota_critical"),
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
        LookupError.__init__(self, f"alert {alert_id!r} is already resolved ({_iso(resolved_at)}): "
                                   "there is no open alert to acknowledge")


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dec(value: Decimal | None) -> str | None:
    """The usage spec's style: at least two decimals ('80.00', '0.05'), more only when they carry information."""
    if value is None:
        return None
    two = value.quantize(Decimal("0.01"))
    return str(two) if two == value else f"{value.normalize():f}"


def _company_id(session: Session, company: str | None) -> int | None:
    if company is None or company == "":
        return None
    cid = session.scalar(select(Company.id).where(Company.name == company))
    if cid is None:
        raise LookupError(f"no such company: {company!r}")
    return cid


def _insert(session: Session):
    return sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert


def open_alert(session: Session, finding: Finding, now: datetime) -> int | None:
    """Insert the alert unless one is open for its key; returns the new id, or None when one was open.

    ON CONFLICT DO NOTHING on the unique open_key: two checks racing for the same key make one alert.
    """
    message = redact(finding.message)
    stmt = (_insert(session)(Alert).values(
        company_id=finding.company_id, provider_name=finding.provider, alert_type=finding.alert_type,
        severity=finding.level, threshold_value=finding.threshold, current_value=finding.current,
        message=message, is_resolved=False, open_key=finding.key, email_sent=False, notify_attempts=0,
        resolved_notified=False, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["open_key"]).returning(Alert.id))
    return session.execute(stmt).scalar()


def _close(alert: Alert, now: datetime, note: str | None, by: str | None) -> None:
    alert.is_resolved = True
    alert.resolved_at = now
    alert.resolution_note = redact(note) if note else None
    alert.resolved_by = by
    alert.open_key = None  # frees the key: the same condition later opens a new alert
    alert.updated_at = now


def _evaluate(s: Session, now: datetime, company_id: int | None,
              rules: tuple[Rule, ...] = RULES) -> tuple[list[Finding], list[str], set[str]]:
    ctx = Context(session=s, now=now, settings=get_settings(), company_id=company_id)
    findings: list[Finding] = []
    checks: list[str] = []
    judged: set[str] = set()
    for rule in rules:
        try:
            if s.get_bind().dialect.name == "sqlite":
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
            created.append({"id": new_id, "type": f.alert_type, "provider": f.provider,
                            "message": redact(f.message), "severity": f.level,
                            "company": names.get(f.company_id), "threshold_value": _dec(f.threshold),
                            "current_value": _dec(f.current)})
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
        higher = [t for t, lower in SUPERSEDES.items()
                  if alert.alert_type in lower and open_key(alert.company_id, alert.provider_name, t) in by_key]
        note = (f"Auto-resolved: superseded by {higher[0]}" if higher else
                f"Auto-resolved: condition cleared ({alert.alert_type} threshold no longer reached at "
                f"{now:%Y-%m-%d %H:%M} UTC)")
        _close(alert, now, note, "auto")
        resolved += 1
        log.info("alert auto-resolved: #%s %s %s", alert.id, alert.alert_type, alert.provider_name or "-")
    s.flush()
    return created, checks, resolved


def check_alerts(now: datetime | None = None, *, company: str | None = None, session: Session | None = None,
                 notify_now: bool = True, actor: User | None = None) -> dict:
    """Run every rule, open/refresh/auto-resolve alerts, send notifications; the usage spec's check_alerts response.

    Concurrent checks queue on a lock (PostgreSQL advisory lock / SQLite lease) while they evaluate and write
    alerts; the unique open_key still guards the database itself. Notifications go out after the lock is
    released, so a slow receiver never holds up another check: concurrent dispatches claim each (alert, channel)
    before sending (core.alerts.notify), and each delivery ends within NOTIFY_TIMEOUT_SECONDS.

    `actor` (default: the local operator, i.e. the worker and the command line) must be an admin of `company`,
    or of all companies for a check of every company: a check writes alerts.
    """
    now = _now(now)
    authorize(actor, "run alert checks", company=company)
    if session is not None:
        company_id = _company_id(session, company)
        created, checks, resolved = _run_check(session, now, company_id)
        sent = notify.dispatch(session, now=now).alerts_sent if notify_now else 0
        return _response(checks, created, sent, resolved)
    with job_lock(CHECK_LOCK, wait=CHECK_LOCK_WAIT) as acquired:
        if not acquired:
            raise LockTimeout("another alert check has been running for more than "
                              f"{int(CHECK_LOCK_WAIT)} s; try again later")
        with session_scope() as s:
            company_id = _company_id(s, company)
            created, checks, resolved = _run_check(s, now, company_id)
    sent = notify.dispatch(now=now).alerts_sent if notify_now else 0
    return _response(checks, created, sent, resolved)


def _response(checks: list[str], created: list[dict], sent: int, resolved: int) -> dict:
    return {"checks_performed": checks, "new_alerts_created": len(created), "alerts": created,
            "notifications_sent": sent, "auto_resolved": resolved}


def resolve_alert(alert_id, resolution_note: str | None = None, *, resolved_by: str | None = None,
                  company: str | None = None, session: Session | None = None, now: datetime | None = None,
                  actor: User | None = None) -> dict:
    """Resolve one alert with an optional note; resolving a resolved alert changes nothing.

    `actor` (default: the local operator) must be an admin of the alert's company; an alert of no company (a
    provider or probe alert) needs an admin of all companies. Raises PermissionError otherwise, AlertNotFound
    (a LookupError) for an unknown id (or one outside `company`).
    """
    now = _now(now)
    with session_scope(session) as s:
        alert = _alert_for_update(s, alert_id, company)
        who = authorize(actor, "resolve alerts", company=None if alert.company is None else alert.company.name)
        if not alert.is_resolved:
            note = (resolution_note or "").strip() or None
            by = resolved_by or (who.username if actor is not None else "user")
            _close(alert, now, note, by)
            s.flush()
            log.info("alert resolved: #%s %s by %s", alert.id, alert.alert_type, by)
        return {"message": "Alert resolved successfully",
                "alert": {"id": alert.id, "is_resolved": True, "resolved_at": _iso(alert.resolved_at),
                          "resolution_note": alert.resolution_note}}


def _shown(text: str | None) -> str | None:
    return None if text is None else redact(text)


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
    alert = s.get(Alert, alert_id, with_for_update=s.get_bind().dialect.name != "sqlite")
    if alert is None or (company and (alert.company is None or alert.company.name != company)):
        raise AlertNotFound(alert_id)
    return alert


def _open_for_update(s: Session, alert_id, company: str | None) -> Alert:
    """The open alert `alert_id` (in `company` when given), locked on PostgreSQL; AlertNotFound / AlertNotOpen."""
    alert = _alert_for_update(s, alert_id, company)
    if alert.is_resolved:
        raise AlertNotOpen(alert_id, alert.resolved_at)
    return alert


def acknowledge_alert(alert_id, note: str | None = None, until=None, *, acknowledged_by: str | None = None,
                      company: str | None = None, session: Session | None = None,
                      now: datetime | None = None, actor: User | None = None) -> dict:
    """Acknowledge an open alert: it stays open (and still resolves by itself when its condition clears) but gets
    no more messages until `until` — a datetime, or an ISO date ("YYYY-MM-DD": the start of that day, UTC) or
    date and time — or, without `until`, for as long as it stays open. Acknowledging again replaces the end and,
    when one is given, the note.

    `actor` (default: the local operator) must be an admin of the alert's company, as for resolve_alert.
    Raises ValueError for an `until` that cannot be read or is not in the future, AlertNotFound for an unknown id
    (or one outside `company`), AlertNotOpen (an AlertNotFound) for a resolved alert, PermissionError.
    """
    now = _now(now)
    end = parse_until(until, now)
    with session_scope(session) as s:
        alert = _open_for_update(s, alert_id, company)
        who = authorize(actor, "acknowledge alerts", company=None if alert.company is None else alert.company.name)
        by = acknowledged_by or (who.username if actor is not None else LOCAL_OPERATOR)
        acknowledge(alert, note, end, by, now)
        s.flush()
        log.info("alert acknowledged: #%s %s by %s, %s", alert.id, alert.alert_type, by,
                 f"no reminder until {_iso(end)}" if end else "no reminder while open")
        return {"message": "Alert acknowledged successfully",
                "alert": {"id": alert.id, "is_resolved": False, **ack_fields(alert, now)}}


def condition_holds(alert_id, *, company: str | None = None, now: datetime | None = None) -> bool:
    """Whether the alert's condition is met now (or a higher level of it, e.g. quota_critical for a
    quota_warning): its rule is evaluated as a check would, and nothing is written. True means a check would
    open (or keep open) an alert for it. Works for resolved alerts too.

    Raises AlertNotFound for an unknown id (or one outside `company`), RuntimeError when the rule fails.
    """
    now = _now(now)
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


def alert_dict(alert: Alert, company_name: str | None, now: datetime | None = None) -> dict:
    return {
        "id": alert.id,
        "company": None if alert.company_id is None else {"id": alert.company_id, "name": company_name},
        "provider_name": alert.provider_name,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "threshold_value": _dec(alert.threshold_value),
        "current_value": _dec(alert.current_value),
        # Read back through redact too: a secret configured after the text was stored still never shows.
        "message": _shown(alert.message),
        "is_resolved": alert.is_resolved,
        "resolved_at": _iso(alert.resolved_at),
        "resolution_note": _shown(alert.resolution_note),
        "resolved_by": alert.resolved_by,
        "email_sent": alert.email_sent,
        "email_sent_at": _iso(alert.email_sent_at),
        "created_at": _iso(alert.created_at),
        "updated_at": _iso(alert.updated_at),
        **ack_fields(alert, _now(now)),
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
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime.combine(value, time.min)
    else:
        text = str(value).strip()
        try:
            ts = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise ValueError(f"created_at__gte must be a date (YYYY-MM-DD) or ISO 8601 timestamp, got {value!r}") \
                from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def list_alerts(*, alert_type: str | None = None, provider_name: str | None = None, is_resolved=None,
                created_at__gte=None, company: str | None = None, page: int = 1, page_size: int = 100,
                session: Session | None = None, now: datetime | None = None) -> dict:
    """The alert list (GET /ai/alerts/): {"count", "results"} newest first, with the alert list's filters."""
    if alert_type and alert_type not in ALERT_TYPES:
        raise ValueError(f"alert_type must be one of {', '.join(ALERT_TYPES)}, got {alert_type!r}")
    resolved = _bool(is_resolved)
    since = _since(created_at__gte)
    page, page_size = max(1, int(page)), max(1, min(int(page_size), 1000))
    with session_scope(session) as s:
        conds = []
        if company:
            conds.append(Alert.company_id == _company_id(s, company))
        if alert_type:
            conds.append(Alert.alert_type == alert_type)
        if provider_name is not None and provider_name != "":
            conds.append(Alert.provider_name == provider_name.strip().lower())
        if resolved is not None:
            conds.append(Alert.is_resolved == resolved)
        if since is not None:
            conds.append(Alert.created_at >= since)
        count = s.scalar(select(func.count()).select_from(Alert).where(*conds))
        rows = s.scalars(select(Alert).where(*conds).order_by(Alert.created_at.desc(), Alert.id.desc())
                         .offset((page - 1) * page_size).limit(page_size)).all()
        names = company_names(s)
        return {"count": int(count or 0), "results": [alert_dict(a, names.get(a.company_id), now) for a in rows]}


def active_alerts(*, company: str | None = None, session: Session | None = None,
                  now: datetime | None = None) -> dict:
    """Active alerts (/ai/alerts/active/): open alerts (most severe first, silenced ones after the others of their
    severity) and counts per family and severity; each alert carries its acknowledgement (core.alerts.ack)."""
    order = {"critical": 0, "warning": 1, "info": 2}
    now = _now(now)
    with session_scope(session) as s:
        q = select(Alert).where(Alert.is_resolved.is_(False))
        if company:
            q = q.where(Alert.company_id == _company_id(s, company))
        rows = list(s.scalars(q.order_by(Alert.created_at.desc(), Alert.id.desc())))
        names = company_names(s)
    acks = {a.id: ack_fields(a, now) for a in rows}
    rows.sort(key=lambda a: (order.get(a.severity, 3), acks[a.id]["silenced"]))
    summary = {group: sum(1 for a in rows if a.alert_type in types) for group, types in SUMMARY_GROUPS.items()}
    return {
        "count": len(rows),
        "alerts": [{"id": a.id, "type": a.alert_type, "provider": a.provider_name, "message": _shown(a.message),
                    "severity": a.severity, "created_at": _iso(a.created_at),
                    "company": names.get(a.company_id), "threshold_value": _dec(a.threshold_value),
                    "current_value": _dec(a.current_value), **acks[a.id]} for a in rows],
        "summary": summary,  # the families add up to count
        "by_severity": {sev: sum(1 for a in rows if a.severity == sev) for sev in order},
        "acknowledged_count": sum(1 for a in rows if acks[a.id]["acknowledged"]),
    }


__all__ = ["check_alerts", "resolve_alert", "acknowledge_alert", "condition_holds", "list_alerts", "active_alerts",
           "AlertNotFound", "AlertNotOpen", "ALERT_TYPES", "SEVERITY", "open_alert"]
