"""The worker's jobs (probe, alert checks), their locks and schedule bookkeeping, and its logging.

worker.py only loops; everything it runs lives here so the command line (`python -m core probe`) and the
tests run the same code.

- Each job holds a named lock (PostgreSQL advisory lock / SQLite lease) while it runs: two workers never run it
  at the same time.
- A scheduled run is skipped when another worker already ran that slot: the daily probe compares the persisted
  last-run time with the latest PROBE_TIME slot, the alert check with half its interval.
- After downtime, `probe_missed()` says whether the latest slot passed without a completed probe.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.config import Settings, get_settings
from core.redact import redact
from core.storage.locks import job_lock

log = logging.getLogger("core.worker")

ALERTS_LAST_RUN_KEY = "alerts.last_run"


class RedactingFilter(logging.Filter):
    """Every record leaves as one redacted line (apprise and httpx may log URLs that carry credentials)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            exc = record.exc_info[1]
            message = f"{message} [{type(exc).__name__}: {exc}]"
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message).replace("\r", " ").replace("\n", " | ")
        record.args = None
        return True


def setup_logging(log_file: str | None = None, level: int = logging.INFO) -> None:
    """One line per event to stderr and, when set, to LOG_FILE; secrets redacted on every handler."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_aium", False):
            root.removeHandler(h)
            h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(RedactingFilter())
        h._aium = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level)
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "apprise", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def latest_slot(now: datetime, settings: Settings | None = None) -> datetime:
    """The most recent PROBE_TIME (in PROBE_TIMEZONE) at or before `now`, in UTC."""
    s = settings or get_settings()
    tz = ZoneInfo(s.probe_timezone)
    local = now.astimezone(tz)
    hh, mm = (int(x) for x in s.probe_time.split(":"))
    slot = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if slot > local:
        slot = (local - timedelta(days=1)).replace(hour=hh, minute=mm, second=0, microsecond=0)
    return slot.astimezone(UTC)


def _state_time(key: str) -> datetime | None:
    from core.worker.probe import get_state

    value = get_state(key)
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def probe_missed(now: datetime | None = None) -> bool:
    """True when a probe completed once and the latest slot has passed since without a completed probe.

    A database that never saw a probe has missed nothing: its first probe runs at the next PROBE_TIME (or now,
    with `worker.py --once probe`).
    """
    from core.worker.probe import last_success

    now = now or datetime.now(UTC)
    last = last_success()
    return last is not None and last < latest_slot(now)


@dataclass
class JobOutcome:
    name: str
    ran: bool = True
    alert: bool = False  # a new alert was created, a critical alert is open, or the probe report is not OK
    nothing_probed: bool = False  # the probe had no provider to call: the monitor itself is misconfigured
    skipped_reason: str | None = None
    report: str | None = None
    check: dict | None = None
    details: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """`--once`: 2 nothing could be probed (before anything else), 1 an alert, 0 otherwise."""
        return 2 if self.nothing_probed else 1 if self.alert else 0


def probe_job(now: datetime | None = None, *, scheduled: bool = False, out=None, stop=None) -> JobOutcome:
    """Run the probe, then an alert check (so provider_unavailable opens and is notified at once); the report
    lists the critical alerts open after that check and ends with the verdict, which the log repeats.

    `stop` (a core.worker.probe_call.StopRequest) cuts the probe short when set; the alert check is then left to the
    next run.
    """
    from core.worker.probe import LAST_SUCCESS_KEY, run_probe

    now = now or datetime.now(UTC)
    with job_lock("job.probe") as acquired:
        if not acquired:
            log.info("probe: skipped, another worker is running it")
            return JobOutcome("probe", ran=False, skipped_reason="running elsewhere")
        if scheduled:
            last_run = _state_time(LAST_SUCCESS_KEY)
            if last_run is not None and last_run >= latest_slot(now):
                log.info("probe: skipped, the %s slot already ran", latest_slot(now).isoformat())
                return JobOutcome("probe", ran=False, skipped_reason="slot already done")
        report = run_probe(now=now, stop=stop, check_alerts=True)
    if out is not None:
        print(report.text, file=out, flush=True)
    if report.stopped:
        log.warning("probe: %s", report.stopped)
        return JobOutcome("probe", report=report.text, details=[report.stopped])
    _log_verdict(report)
    check = report.check
    if check is not None:
        _log_check(check, critical=len(report.critical_alerts))
    created = check["new_alerts_created"] if check is not None else 0
    return JobOutcome(
        "probe",
        alert=report.alert or created > 0,
        nothing_probed=report.nothing_probed,
        report=report.text,
        check=check,
        details=list(report.reasons),
    )


def _log_verdict(report) -> None:
    """The probe's verdict in the log, as the report states it (the loop has no terminal to print it to)."""
    from core.worker.probe_report import NOTHING_PROBED, alert_line, settings_to_set

    for alert in report.critical_alerts:
        log.warning("probe: critical alert open: %s", alert_line(alert))
    if report.nothing_probed:
        log.warning("probe: NOT OK: %s (set %s)", NOTHING_PROBED, settings_to_set())
    if report.reasons:
        log.warning("probe: ALERT: %s", "; ".join(report.reasons))
    elif not report.nothing_probed:
        log.info("probe: monitoring OK")


def alerts_job(now: datetime | None = None, *, scheduled: bool = False) -> JobOutcome:
    """One alert check. Its outcome is an alert when the check opened one or a critical alert is open (any
    company); a run asked for (not scheduled: `--once`, cron) logs each open critical alert."""
    from core.alerts.lifecycle import check_alerts
    from core.storage.db import session_scope
    from core.storage.models import WorkerState
    from core.worker.probe_report import alert_line, open_critical_alerts

    now = now or datetime.now(UTC)
    with job_lock("job.alerts") as acquired:
        if not acquired:
            log.info("alerts: skipped, another worker is running the check")
            return JobOutcome("alerts", ran=False, skipped_reason="running elsewhere")
        if scheduled:
            last = _state_time(ALERTS_LAST_RUN_KEY)
            half = timedelta(minutes=get_settings().check_interval_minutes) / 2
            if last is not None and now - last < half:
                log.info("alerts: skipped, another worker checked at %s", last.isoformat())
                return JobOutcome("alerts", ran=False, skipped_reason="checked recently")
        check = check_alerts(now=now)
        with session_scope() as s:
            s.merge(WorkerState(key=ALERTS_LAST_RUN_KEY, value=now.isoformat(), updated_at=now))
    critical = open_critical_alerts()
    _log_check(check, critical=len(critical))
    if not scheduled:
        for alert in critical:
            log.warning("alerts: critical alert open: %s", alert_line(alert))
    return JobOutcome(
        "alerts",
        alert=check["new_alerts_created"] > 0 or bool(critical),
        check=check,
        details=[alert_line(a) for a in critical],
    )


def _log_check(check: dict, *, critical: int | None = None) -> None:
    still_open = "" if critical is None else f", {critical} critical open"
    log.info(
        "alerts: %s new, %s auto-resolved, %s notified%s (checks: %s)",
        check["new_alerts_created"],
        check.get("auto_resolved", 0),
        check["notifications_sent"],
        still_open,
        ", ".join(check["checks_performed"]),
    )
    for a in check["alerts"]:
        log.warning("ALERT %s [%s] %s: %s", a["type"], a["severity"], a["provider"] or "-", redact(a["message"]))
    _log_channels()


def _log_channels() -> None:
    """Every failing notification channel, after each check, until it works again."""
    from core.alerts.notify import channel_status

    for ch in channel_status():
        if ch["state"] == "failing":
            log.warning(
                "notification channel %s (%s) failing since %s (failed deliveries: %s, next attempt at %s): %s",
                ch["source"],
                ch["label"],
                ch["failing_since"],
                ch["consecutive_failures"],
                ch["next_attempt_at"],
                ch["last_error"],
            )


def sync_configured(settings: Settings | None = None) -> bool:
    """True when some provider's admin key is set: the worker then schedules the daily bill sync."""
    from core.providers.bills import configured_bills

    return bool(configured_bills(settings))


def sync_job(now: datetime | None = None) -> JobOutcome:
    """Daily sync of every provider bill whose admin key is set (OpenAI, Anthropic); one worker at a time.

    Each provider is synced on its own: one that fails (logged, redacted) leaves the others' sync as it is.
    """
    from core.providers.bills import BILLED, configured_bills

    bills = configured_bills()
    if not bills:
        keys = ", ".join(b.key_setting for b in BILLED.values())
        return JobOutcome("sync", ran=False, skipped_reason=f"no admin key set ({keys})")
    details: list[str] = []
    with job_lock("job.sync") as acquired:
        if not acquired:
            log.info("sync: skipped, another worker is running it")
            return JobOutcome("sync", ran=False, skipped_reason="running elsewhere")
        for bill in bills:
            try:
                summary = bill.daily(now=now)
            except Exception as e:  # noqa: BLE001 - one provider's failure must not stop the next one's sync
                log.error("sync: %s failed, nothing written: %s: %s", bill.label, type(e).__name__, redact(str(e)))
                details.append(f"{bill.name}: failed: {redact(str(e))}")
                continue
            log.info(
                "sync: %s usage %s..%s into %s: %s",
                bill.label,
                summary["since"],
                summary["until"],
                summary["company"],
                ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, int)),
            )
            details.append(f"{bill.name}: {summary}")
    return JobOutcome("sync", details=details)
