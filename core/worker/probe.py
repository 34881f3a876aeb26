"""The daily budget probe: a tiny live call to each configured provider, month-to-date usage from the ledger,
budget total / consumed / remaining, the open critical alerts, then the verdict: OK, ALERT, or NOT OK when
nothing could be probed (core.worker.probe_report holds the report and the rules of its verdict).

Each call asks for at most PROBE_MAX_TOKENS (<= 5) output tokens, has a timeout and no client retries (a retried
429 `insufficient_quota` would hide the very failure the probe is for). Every call is recorded in the ledger
(operation "probe", source "probe", company PROBE_COMPANY) and in `probe_runs`; the provider_unavailable rule
reads the latest run. The chain is walked in the probe operation's fallback order, and the report names the
provider that now serves.

A stop (SIGTERM to the worker) cuts the probe short within a fraction of a second, even mid-call: each call runs
in a thread the probe stops waiting for (core.worker.probe_call holds the calls). The run is then recorded as cut
off (error_class ProbeStopped, with how long it ran and the providers not probed), the completed-probe marks are
left alone, so the probe runs again at the next start, and the provider_unavailable rule ignores the cut-off row.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.orm import Session

from core import display
from core.alerts.findings import provider_label
from core.clock import month_start, utc_now
from core.config import get_settings
from core.limits.spend import limit_statuses, month_to_date
from core.providers.registry import ProviderConfig, configured_providers
from core.redact import redact
from core.storage.db import session_scope
from core.storage.models import PROBE_BATCH_KEY, PROBE_OPERATION, PROBE_STOPPED, ProbeRun, WorkerState
from core.worker.probe_call import ProbeStopped, StopRequest, call_provider, model_for, probe_chain
from core.worker.probe_report import (
    RULE,
    ProbeReport,
    ProviderCheck,
    check_lines,
    critical_alert_lines,
    not_configured_lines,
    open_critical_alerts,
    verdict_lines,
)

log = logging.getLogger("core.worker.probe")

LAST_SUCCESS_KEY = "probe.last_success"  # WorkerState: when the last probe completed (ISO 8601, UTC)
LAST_RUN_KEY = "probe.last_run"  # WorkerState: when the last probe started


def _record(check: ProviderCheck, started: datetime) -> None:
    """The probe call in the ledger, like any other AI call (its cost counts toward budgets)."""
    from core.ingest.record import record_usage

    s = get_settings()
    status = "completed" if check.ok else ("timeout" if check.error and check.error.kind == "timeout" else "failed")
    try:
        record_usage(
            job_id=f"probe-{check.provider}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
            created_at=started,
            company=s.probe_company,
            provider_name=check.provider,
            model_name=check.model,
            input_tokens=check.input_tokens,
            output_tokens=check.output_tokens,
            execution_time_seconds=Decimal(check.latency_ms) / 1000,
            status=status,
            operation=PROBE_OPERATION,
            job_type="probe",
            description="daily provider probe",
            error_class=None if check.ok else check.error.error_class,
            error_count=0 if check.ok else 1,
            source="probe",
            now=started,
        )
    except Exception as e:  # noqa: BLE001 - the report matters more than its ledger line
        log.error("probe: could not record the %s call: %s: %s", check.provider, type(e).__name__, redact(e))


def _set_state(s: Session, key: str, value: str, now: datetime) -> None:
    s.merge(WorkerState(key=key, value=value, updated_at=now))


def get_state(key: str, session: Session | None = None) -> str | None:
    with session_scope(session) as s:
        row = s.get(WorkerState, key)
        return None if row is None else row.value


def last_success(session: Session | None = None) -> datetime | None:
    value = get_state(LAST_SUCCESS_KEY, session)
    return None if value is None else datetime.fromisoformat(value)


def _record_cut(
    report: ProbeReport,
    stop: StopRequest,
    cut: ProviderConfig,
    interrupted: bool,
    not_probed: list[str],
    elapsed: float,
    call_started: float,
) -> ProbeReport:
    """A run cut off by a stop: the calls that ended are kept as measured, one row says where it stopped."""
    started = report.started_at
    why = f"stopped by {stop.reason} after {elapsed:.1f} s"
    if interrupted:
        why += f" during the {provider_label(cut.name)} call"
    if not_probed:
        why += f"; not probed: {', '.join(not_probed)}"
    report.stopped = why
    report.served_by = next((c.provider for c in report.checks if c.ok), None)
    lines = [RULE, f"{started:%Y-%m-%d %H:%M:%S} - AI provider monitoring", RULE, ""]
    for check in report.checks:
        lines += check_lines(check) + [""]
    lines.append(f"⏹️ Probe {why}")
    report.text = redact("\n".join(lines))
    finished = started + timedelta(seconds=elapsed)
    with session_scope() as s:
        for check in report.checks:
            s.add(_probe_run(report, check))
        s.add(
            ProbeRun(
                started_at=started,
                finished_at=finished,
                provider=cut.name,
                model=cut.model,
                ok=False,
                error_class=PROBE_STOPPED,
                error_message=redact(why),
                input_tokens=0,
                output_tokens=0,
                latency_ms=int((elapsed - call_started) * 1000) if interrupted else 0,
                served_by=report.served_by,
                report=report.text,
            )
        )
    return report


def _probe_run(report: ProbeReport, check: ProviderCheck) -> ProbeRun:
    finished = report.started_at + timedelta(milliseconds=check.latency_ms)
    return ProbeRun(
        started_at=report.started_at,
        finished_at=finished,
        provider=check.provider,
        model=check.model,
        ok=check.ok,
        error_class=check.error.error_class if check.error else None,
        error_message=redact(check.why) if check.why else None,
        input_tokens=check.input_tokens,
        output_tokens=check.output_tokens,
        latency_ms=check.latency_ms,
        served_by=report.served_by,
        report=report.text,
    )


def run_probe(
    now: datetime | None = None, *, stop: StopRequest | None = None, check_alerts: bool = False
) -> ProbeReport:
    """Probe every configured provider in chain order, record the results, and build the probe report.

    With `check_alerts`, the alert check runs once the probe is recorded (its result in `report.check`). Either
    way the report lists the critical alerts open at its end (every company) and ends with its verdict
    (core.worker.probe_report).
    With `stop`, the probe ends as soon as the request is set, even mid-call, and returns a report whose
    `stopped` says so (the run is recorded as cut off).
    """
    settings = get_settings()
    started = utc_now(now)
    providers = configured_providers()
    chain = probe_chain()
    order = [p for p in chain if p in providers] + [p for p in providers if p not in chain]
    report = ProbeReport(started_at=started, chain=order)
    t_start = time.monotonic()
    with session_scope() as s:
        _set_state(s, LAST_RUN_KEY, started.isoformat(), started)

    for index, name in enumerate(order):
        cfg = model_for(name, providers[name])
        call_started = time.monotonic() - t_start
        if stop is not None and stop.is_set():
            return _record_cut(report, stop, cfg, False, order[index:], call_started, call_started)
        try:
            check = call_provider(
                cfg, timeout=settings.probe_timeout_seconds, max_tokens=settings.probe_max_tokens, stop=stop
            )
        except ProbeStopped:
            return _record_cut(report, stop, cfg, True, order[index + 1 :], time.monotonic() - t_start, call_started)
        report.checks.append(check)
        _record(check, started)
        if check.ok:
            log.info(
                "probe: %s ok (%s, %s+%s tokens, %s ms)",
                name,
                check.model,
                check.input_tokens,
                check.output_tokens,
                check.latency_ms,
            )
        else:
            log.warning("probe: %s failed: %s", name, check.why)
    report.served_by = next((c.provider for c in report.checks if c.ok), None)
    # Figures up to the end of the probe, so its own calls (stamped `started`) are counted.
    until = started + timedelta(seconds=time.monotonic() - t_start, microseconds=1)

    lines = [
        RULE,
        f"{started:%Y-%m-%d %H:%M:%S} - AI provider monitoring",
        RULE,
        f"🔍 Checking providers (fallback chain for '{settings.probe_operation}': "
        f"{' → '.join(provider_label(p) for p in order) or 'none'})...",
        "",
    ]
    if report.nothing_probed:
        lines += not_configured_lines() + [""]
    lines += _provider_lines(report)
    with session_scope() as s:
        lines += _figure_lines(s, report, until)
        runs = [_probe_run(report, check) for check in report.checks]
        s.add_all(runs)
        s.flush()
        run_ids = [r.id for r in runs]
        _set_state(s, PROBE_BATCH_KEY, started.isoformat(), started)
        _set_state(s, LAST_SUCCESS_KEY, started.isoformat(), started)

    # After the probe is recorded, so that the check judges this run (provider_unavailable opens or resolves now)
    # and the verdict lists the alerts as they stand after it.
    if check_alerts:
        report.check = _alert_check(report, started)
    try:
        report.critical_alerts = open_critical_alerts()
    except Exception as e:  # noqa: BLE001 - the report still goes out, and says what it could not read
        log.error("probe: could not read the open alerts: %s: %s", type(e).__name__, redact(e))
        report.reasons.append(f"the open alerts could not be read ({type(e).__name__})")
    if report.critical_alerts:
        report.reasons.append(f"{display.plural(len(report.critical_alerts), 'critical alert')} open (listed above)")
    lines += critical_alert_lines(report.critical_alerts) + verdict_lines(report)
    report.text = redact("\n".join(lines))
    if run_ids:
        with session_scope() as s:
            s.execute(update(ProbeRun).where(ProbeRun.id.in_(run_ids)).values(report=report.text))
    return report


def _provider_lines(report: ProbeReport) -> list[str]:
    """Each provider's answer, the fallback taken and who serves now; a failure is a reason for ALERT."""
    lines: list[str] = []
    order = report.chain
    for check in report.checks:
        label = provider_label(check.provider)
        lines += check_lines(check)
        if check.ok:
            lines.append("")
            continue
        report.reasons.append(f"{label} unavailable: {check.error.kind} ({check.error.error_class})")
        later = order[order.index(check.provider) + 1 :]
        if report.served_by and report.served_by != check.provider and report.served_by in later:
            lines.append(
                f"   ↪ Fallback: {label} → {provider_label(report.served_by)} "
                f"(now served by {provider_label(report.served_by)})"
            )
        elif report.served_by and report.served_by not in later:
            lines.append(f"   ↪ Served by {provider_label(report.served_by)}, earlier in the chain")
        else:
            lines.append("   ↪ Fallback: no provider in the chain answered")
        lines.append("")
    if order:
        serving = provider_label(report.served_by) if report.served_by else "none (every provider failed)"
        lines += [f"➡️  Now serving: {serving}", ""]
        if report.served_by is None:
            report.reasons.append("no provider in the fallback chain answered")
    return lines


def _figure_lines(s: Session, report: ProbeReport, until: datetime) -> list[str]:
    """Month-to-date usage per probed provider and every budget; a budget (nearly) spent is a reason for ALERT."""
    settings = get_settings()
    lines: list[str] = []
    ms = month_start(report.started_at)
    for name in report.chain:
        spend = month_to_date(s, provider=name, now=until)
        lines += [
            f"📊 {provider_label(name)} usage this month:",
            f"   Calls: {display.count(spend.calls)}",
            f"   Tokens: {display.count(spend.tokens)}",
            f"   Estimated cost: {display.usd(spend.cost)}",
        ]
        if spend.unpriced_calls:
            lines.append(f"   Unpriced calls: {display.count(spend.unpriced_calls)} (no known price; not in the cost)")
        lines += [f"   Period: {ms:%d/%m/%Y} - today", ""]
    budgets = [st for st in limit_statuses(s, now=until) if st.kind == "budget"]
    if not budgets:
        lines += ["💰 Monthly budget: none set (python -m core budget set --company NAME --monthly-usd 10)", ""]
    for st in budgets:
        where = f"{st.company} / {provider_label(st.provider)}"
        lines += [
            f"💰 Monthly budget ({where}):",
            f"   Total budget: {display.usd(st.limit)}",
            f"   Consumed: {display.usd(st.consumed)}",
            f"   Remaining: {display.usd(st.remaining)}",
            "",
        ]
        if st.exhausted:
            report.reasons.append(f"budget {where} exhausted: {display.usd(st.consumed)} of {display.usd(st.limit)}")
        elif st.remaining <= settings.alert_remaining_under_usd:
            report.reasons.append(
                f"budget {where}: {display.usd(st.remaining)} remaining (alert at "
                f"{display.usd(settings.alert_remaining_under_usd)} or less)"
            )
    return lines


def _alert_check(report: ProbeReport, now: datetime) -> dict | None:
    """The alert check after the probe; a failing check makes the report ALERT instead of losing it."""
    from core.alerts.lifecycle import check_alerts

    try:
        return check_alerts(now=now)
    except Exception as e:  # noqa: BLE001 - reported, and the run's exit code says so
        log.error("probe: the alert check failed: %s: %s", type(e).__name__, redact(e))
        report.reasons.append(f"the alert check failed ({type(e).__name__}: {redact(e)})")
        return None
