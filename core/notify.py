"""Alert notifications through apprise (email, Slack, JSON webhooks… one URL scheme each).

One message per check lists every alert due: the new ones, the open ones due for a reminder (after
NOTIFY_REPEAT_HOURS) and the ones resolved since the last message (once). Critical alerts also go to
ADMIN_NOTIFY_URLS. Each URL is retried NOTIFY_RETRIES times; an alert is marked sent only once every channel it
was addressed to has taken the message, so a failed delivery is sent again at the next check.

The caller serialises dispatches (core.alerts holds the check lock), so two workers never send the same
notification twice. URLs carry credentials: they are never logged, and delivery errors are redacted.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import apprise
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.alert_rules import provider_label
from core.config import Settings, get_settings
from core.models import Alert, Company
from core.redact import redact

log = logging.getLogger("core.notify")


def split_urls(secret) -> list[str]:
    if secret is None:
        return []
    raw = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
    return [u.strip() for u in raw.replace("\n", ",").split(",") if u.strip()]


@dataclass
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None


@dataclass
class DispatchResult:
    alerts_sent: int = 0  # open alerts (new or reminders) delivered
    resolved_sent: int = 0
    messages: int = 0
    failed: int = 0  # alerts whose delivery failed (kept for the next check)
    errors: list[str] = field(default_factory=list)


def deliver(urls: list[str], title: str, body: str, settings: Settings | None = None) -> Delivery:
    """Send to every URL, retrying each; ok only when all took it. Errors come back redacted."""
    s = settings or get_settings()
    attempts = 0
    errors: list[str] = []
    for index, url in enumerate(urls, 1):
        # Never follow redirects: a webhook that answers 3xx must not bounce the alert (and its figures)
        # to another host, whatever `?redirect=` the URL carries.
        ap = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
        if not ap.add(url):
            errors.append(f"notification URL #{index} is not a valid apprise URL")
            continue
        for plugin in ap:
            plugin.redirects = False
        for attempt in range(1, s.notify_retries + 1):
            attempts += 1
            with apprise.LogCapture(level=logging.WARNING) as cap:
                ok = ap.notify(title=title, body=body)
            if ok:
                break
            detail = " ".join(line.strip() for line in cap.getvalue().splitlines() if line.strip())
            if attempt == s.notify_retries:
                errors.append(f"URL #{index}: {redact(detail)[:300] or 'delivery failed'}")
            elif s.notify_retry_delay_seconds:
                time.sleep(s.notify_retry_delay_seconds * attempt)
    return Delivery(not errors, attempts, "; ".join(errors) or None)


def _line(alert: Alert, companies: dict[int, str]) -> str:
    company = companies.get(alert.company_id, "-") if alert.company_id is not None else "-"
    provider = provider_label(alert.provider_name)
    return f"- [{alert.severity}] {alert.alert_type} · {provider} · {company}: {redact(alert.message)} (#{alert.id})"


def _compose(new: list[Alert], repeat: list[Alert], resolved: list[Alert], companies: dict[int, str],
             now: datetime) -> tuple[str, str]:
    parts = []
    if new:
        parts.append(f"{len(new)} new alert{'s' * (len(new) != 1)}")
    if repeat:
        parts.append(f"{len(repeat)} still open")
    if resolved:
        parts.append(f"{len(resolved)} resolved")
    title = "AI Usage Monitor: " + ", ".join(parts)
    lines = [f"AI Usage Monitor — check of {now:%Y-%m-%d %H:%M} UTC", ""]
    if new:
        lines += ["New alerts:"] + [_line(a, companies) for a in new] + [""]
    if repeat:
        lines += ["Still open (reminder):"] + [_line(a, companies) for a in repeat] + [""]
    if resolved:
        lines += ["Resolved:"] + [_line(a, companies) + (f" — {redact(a.resolution_note)}" if a.resolution_note
                                                         else "") for a in resolved] + [""]
    lines.append("Resolve from the dashboard's Alerts page or: python -m core alerts resolve ID --note TEXT")
    return title, "\n".join(lines)


def dispatch(session: Session, *, now: datetime | None = None, settings: Settings | None = None) -> DispatchResult:
    """Send what is due and record it in the alerts; the caller commits."""
    s = settings or get_settings()
    now = now or datetime.now(UTC)
    main_urls, admin_urls = split_urls(s.notify_urls), split_urls(s.admin_notify_urls)
    result = DispatchResult()
    # Resolved before anyone was told: nothing to take back, so no "resolved" message for it.
    for a in session.scalars(select(Alert).where(Alert.is_resolved.is_(True), Alert.resolved_notified.is_(False),
                                                 Alert.email_sent.is_(False))):
        a.resolved_notified = True
    if not main_urls and not admin_urls:
        session.flush()
        return result
    repeat_before = now - timedelta(hours=s.notify_repeat_hours)
    due = list(session.scalars(select(Alert).where(
        Alert.is_resolved.is_(False),
        or_(Alert.email_sent.is_(False), Alert.last_notified_at.is_(None), Alert.last_notified_at <= repeat_before))
        .order_by(Alert.id)))
    resolved = list(session.scalars(select(Alert).where(Alert.is_resolved.is_(True),
                                                        Alert.resolved_notified.is_(False)).order_by(Alert.id)))
    # Without a general channel only critical alerts have somewhere to go.
    if not main_urls:
        due = [a for a in due if a.severity == "critical"]
        resolved = [a for a in resolved if a.severity == "critical"]
    if not due and not resolved:
        session.flush()
        return result
    companies = dict(session.execute(select(Company.id, Company.name)).all())

    def send(urls: list[str], items_due: list[Alert], items_resolved: list[Alert]) -> Delivery | None:
        if not urls or not (items_due or items_resolved):
            return None
        new = [a for a in items_due if not a.email_sent]
        repeat = [a for a in items_due if a.email_sent]
        title, body = _compose(new, repeat, items_resolved, companies, now)
        d = deliver(urls, title, body, s)
        result.messages += 1
        if d.ok:
            log.info("notification sent: %s", redact(title))
        else:
            log.warning("notification failed after %s attempt(s): %s", d.attempts, d.error)
            result.errors.append(d.error or "delivery failed")
        return d

    main = send(main_urls, due, resolved)
    admin = send(admin_urls, [a for a in due if a.severity == "critical"],
                 [a for a in resolved if a.severity == "critical"])

    def delivered(alert: Alert) -> tuple[bool, int, str | None]:
        outcomes = [d for d in (main if main_urls else None,
                                admin if (admin_urls and alert.severity == "critical") else None) if d is not None]
        ok = bool(outcomes) and all(d.ok for d in outcomes)
        return ok, sum(d.attempts for d in outcomes), "; ".join(d.error for d in outcomes if d.error) or None

    for a in due:
        ok, attempts, error = delivered(a)
        a.notify_attempts = (a.notify_attempts or 0) + attempts
        if ok:
            a.email_sent = True
            a.email_sent_at = a.email_sent_at or now
            a.last_notified_at = now
            a.notify_error = None
            result.alerts_sent += 1
        else:
            a.notify_error = error
            result.failed += 1
    for a in resolved:
        ok, _, error = delivered(a)
        if ok:
            a.resolved_notified = True
            result.resolved_sent += 1
        else:
            a.notify_error = error
    session.flush()
    return result
