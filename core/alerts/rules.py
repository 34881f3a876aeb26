"""The alert rules: each reads month-to-date spend (core.limits.spend) or grouped figures (core.queries.aggregate)
and returns the findings whose threshold is reached. A rule fires AT its threshold (>=, or <= for "remaining under").

Rules never write; core.alerts.lifecycle turns findings into alerts (dedup, auto-resolve, notifications).
The probe's own calls (operation "probe") are left out of the usage-pattern and quality rules: a daily
health check is not the team's usage. They still count toward budgets and quotas (they are real spend).
What a rule reads and returns (Context, Finding, the alert types) is in core.alerts.findings.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import or_, select

from core.alerts.findings import Context, Finding, percent_down, provider_label, ratio_text, round_down
from core.display import count, percent, plural, seconds, usd
from core.limits.spend import limit_statuses
from core.redact import redact
from core.storage.models import PROBE_BATCH_KEY, PROBE_STOPPED, ProbeRun, WorkerState

FAILED_STATUSES = ("failed", "timeout")

# -- quotas and budgets ------------------------------------------------------------------------------------


def check_quotas(ctx: Context) -> list[Finding]:
    s = ctx.settings
    levels = [
        ("quota_exceeded", s.alert_quota_exceeded, "Exceeded"),
        ("quota_critical", s.alert_quota_critical, "Critical"),
        ("quota_warning", s.alert_quota_warning, "Warning"),
    ]
    best: dict[tuple[int, str], tuple[int, Decimal, Finding]] = {}
    for st in limit_statuses(ctx.session, company_id=ctx.company_id, now=ctx.now):
        if not st.kind.startswith("quota") or st.limit <= 0:
            continue
        ratio = st.consumed / st.limit
        for rank, (alert_type, threshold, word) in enumerate(levels):
            if ratio >= threshold:
                pct = round_down(ratio * 100)
                if st.kind == "quota_tokens":
                    detail = f"{count(st.consumed)} of {count(st.limit)} tokens monthly"
                else:
                    detail = f"{usd(st.consumed)} of {usd(st.limit)} monthly"
                f = Finding(
                    st.company_id,
                    st.provider,
                    alert_type,
                    round_down(threshold * 100),
                    pct,
                    f"{word}: quota {provider_label(st.provider)} at {percent_down(pct)} ({detail})",
                )
                key = (st.company_id, st.provider)
                # One alert per provider: the highest level reached, across USD and token quotas.
                if key not in best or (rank, -ratio) < (best[key][0], -best[key][1]):
                    best[key] = (rank, ratio, f)
                break
    return [f for _, _, f in best.values()]


def check_costs(ctx: Context) -> list[Finding]:
    s = ctx.settings
    out: list[Finding] = []
    for st in limit_statuses(ctx.session, company_id=ctx.company_id, now=ctx.now):
        if st.kind != "budget" or st.limit <= 0:
            continue
        label = provider_label(st.provider)
        ratio = st.consumed / st.limit
        pct = round_down(ratio * 100)
        if ratio >= s.alert_cost_exceeded:
            out.append(
                Finding(
                    st.company_id,
                    st.provider,
                    "cost_exceeded",
                    round_down(s.alert_cost_exceeded * 100),
                    pct,
                    f"Monthly budget {label} exceeded: {usd(st.consumed)} of {usd(st.limit)} ({percent_down(pct)})",
                )
            )
        elif ratio >= s.alert_cost_warning:
            out.append(
                Finding(
                    st.company_id,
                    st.provider,
                    "cost_warning",
                    round_down(s.alert_cost_warning * 100),
                    pct,
                    f"Monthly budget {label} at {percent_down(pct)}: {usd(st.consumed)} of {usd(st.limit)}",
                )
            )
        # The budget probe's absolute rule, for a budget being used: nothing spent is no warning, and an exhausted
        # budget is cost_exceeded's to report (one alert, not two).
        if st.consumed > 0 and 0 < st.remaining <= s.alert_remaining_under_usd:
            out.append(
                Finding(
                    st.company_id,
                    st.provider,
                    "budget_remaining_low",
                    s.alert_remaining_under_usd,
                    st.remaining,
                    f"Budget {label} remaining {usd(st.remaining)} (alert at "
                    f"{usd(s.alert_remaining_under_usd)} or less; {usd(st.consumed)} of "
                    f"{usd(st.limit)} consumed)",
                )
            )
    return out


# -- usage patterns ----------------------------------------------------------------------------------------


def _split_days(ctx: Context, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    today = ctx.now.astimezone(UTC).date().isoformat()
    return df[df["day"] == today], df[df["day"] != today]


def check_daily_spike(ctx: Context) -> list[Finding]:
    """Today's cost against the mean daily cost of the trailing baseline days that had usage."""
    s = ctx.settings
    today, past = _split_days(ctx, ctx.daily_frame())
    out = []
    for (cid, provider), g in today.groupby(["company_id", "provider_name"]):
        cost_today = sum(g["total_cost"], Decimal(0))
        hist = past[(past["company_id"] == cid) & (past["provider_name"] == provider)]
        per_day = [sum(d["total_cost"], Decimal(0)) for _, d in hist.groupby("day")]
        if len(per_day) < s.alert_baseline_min_days or int(g["jobs"].sum()) < s.alert_min_jobs:
            continue
        mean = sum(per_day, Decimal(0)) / len(per_day)
        if mean <= 0:
            continue
        ratio = cost_today / mean
        if ratio >= s.alert_daily_spike:
            out.append(
                Finding(
                    int(cid),
                    provider,
                    "daily_spike",
                    s.alert_daily_spike,
                    round_down(ratio),
                    f"Daily spike {provider_label(provider)}: {usd(cost_today)} today, "
                    f"{ratio_text(round_down(ratio))}x the {len(per_day)}-day average of {usd(mean)}",
                )
            )
    return out


def check_unusual_usage(ctx: Context) -> list[Finding]:
    """Today's tokens against the median daily tokens of the baseline (one outlier day does not move it)."""
    s = ctx.settings
    today, past = _split_days(ctx, ctx.daily_frame())
    out = []
    for (cid, provider), g in today.groupby(["company_id", "provider_name"]):
        tokens_today = int(g["total_tokens"].sum())
        hist = past[(past["company_id"] == cid) & (past["provider_name"] == provider)]
        per_day = [int(d["total_tokens"].sum()) for _, d in hist.groupby("day")]
        if len(per_day) < s.alert_baseline_min_days or int(g["jobs"].sum()) < s.alert_min_jobs:
            continue
        median = Decimal(str(statistics.median(per_day)))
        if median <= 0:
            continue
        ratio = Decimal(tokens_today) / median
        if ratio >= s.alert_unusual_usage:
            increase = round_down((ratio - 1) * 100, "1")
            out.append(
                Finding(
                    int(cid),
                    provider,
                    "unusual_usage",
                    s.alert_unusual_usage,
                    round_down(ratio),
                    f"Unusual {provider_label(provider)} usage: +{increase}% vs median "
                    f"({count(tokens_today)} tokens today, median {count(median)} per day)",
                )
            )
    return out


# -- quality -----------------------------------------------------------------------------------------------


def check_failure_rate(ctx: Context) -> list[Finding]:
    s = ctx.settings
    df = ctx.window_frame()
    out = []
    for (cid, provider), g in df.groupby(["company_id", "provider_name"]):
        jobs = int(g["jobs"].sum())
        failed = int(g.loc[g["job_status"].isin(FAILED_STATUSES), "jobs"].sum())
        if jobs < s.alert_min_jobs:
            continue
        rate = Decimal(failed) / Decimal(jobs)
        if rate >= s.alert_failure_rate:
            pct = round_down(rate * 100, "0.1")
            out.append(
                Finding(
                    int(cid),
                    provider,
                    "high_failure_rate",
                    s.alert_failure_rate,
                    round_down(rate, "0.0001"),
                    f"High {provider_label(provider)} failure rate: {percent_down(pct)} over "
                    f"{plural(s.alert_failure_window_days, 'day')} ({count(failed)} of "
                    f"{plural(jobs, 'job')}; threshold: {percent(s.alert_failure_rate * 100)})",
                )
            )
    return out


def check_slow_execution(ctx: Context) -> list[Finding]:
    s = ctx.settings
    df = ctx.window_frame()
    out = []
    for (cid, provider), g in df.groupby(["company_id", "provider_name"]):
        # Over the timed jobs only: a job without a measured time is no evidence of speed, neither 0 s nor slow.
        timed = int(g["timed_jobs"].sum())
        if timed < s.alert_min_jobs:
            continue
        avg = Decimal(int(g["execution_ms"].sum())) / Decimal(timed) / 1000
        if avg >= s.alert_slow_execution_seconds:
            out.append(
                Finding(
                    int(cid),
                    provider,
                    "slow_execution",
                    s.alert_slow_execution_seconds,
                    round_down(avg),
                    f"Slow {provider_label(provider)} execution: {seconds(round_down(avg))} average "
                    f"over {plural(s.alert_failure_window_days, 'day')} ({plural(timed, 'timed job')}; "
                    f"threshold: {seconds(s.alert_slow_execution_seconds)})",
                )
            )
    return out


def check_cost_deviation(ctx: Context) -> list[Finding]:
    """A model's cost per job today against its cost per job over the baseline days (worst model per provider)."""
    s = ctx.settings
    today, past = _split_days(ctx, ctx.daily_frame())
    worst: dict[tuple[int, str], tuple[Decimal, Finding]] = {}
    for (cid, provider, model), g in today.groupby(["company_id", "provider_name", "model_name"]):
        jobs_today = int(g["jobs"].sum())
        hist = past[(past["company_id"] == cid) & (past["provider_name"] == provider) & (past["model_name"] == model)]
        jobs_before = int(hist["jobs"].sum())
        if jobs_today < s.alert_min_jobs or jobs_before < s.alert_min_jobs:
            continue
        usual = sum(hist["total_cost"], Decimal(0)) / jobs_before
        if usual <= 0:
            continue
        now_cpj = sum(g["total_cost"], Decimal(0)) / jobs_today
        ratio = now_cpj / usual
        if ratio >= s.alert_cost_deviation:
            f = Finding(
                int(cid),
                provider,
                "high_cost_deviation",
                s.alert_cost_deviation,
                round_down(ratio),
                f"Cost deviation {provider_label(provider)} {model}: {usd(round_down(now_cpj, '0.000001'))} per "
                f"job today, {ratio_text(round_down(ratio))}x its usual {usd(round_down(usual, '0.000001'))}",
            )
            key = (int(cid), provider)
            if key not in worst or ratio > worst[key][0]:
                worst[key] = (ratio, f)
    return [f for _, f in worst.values()]


# -- availability ------------------------------------------------------------------------------------------


def check_provider_availability(ctx: Context) -> list[Finding]:
    """Providers whose call failed in the latest probe run (providers it did not probe are not judged)."""
    if ctx.company_id is not None and ctx.company_id != ctx.probe_company_id():
        return []
    state = ctx.session.get(WorkerState, PROBE_BATCH_KEY)
    if state is None:
        return []
    batch_start = datetime.fromisoformat(state.value)
    # A run cut off by a stop says nothing about the provider: it is neither a failure nor a success.
    measured = or_(ProbeRun.error_class.is_(None), ProbeRun.error_class != PROBE_STOPPED)
    runs = list(
        ctx.session.scalars(
            select(ProbeRun)
            .where(ProbeRun.started_at >= batch_start, measured)
            .order_by(ProbeRun.started_at, ProbeRun.id)
        )
    )
    latest: dict[str, ProbeRun] = {}
    for r in runs:
        latest[r.provider] = r
    out = []
    for provider, run in latest.items():
        if run.ok:
            continue
        company_id = ctx.probe_company_id(create=True)
        history = ctx.session.scalars(
            select(ProbeRun.ok)
            .where(ProbeRun.provider == provider, measured)
            .order_by(ProbeRun.started_at.desc(), ProbeRun.id.desc())
            .limit(100)
        )
        streak = 0
        for ok in history:
            if ok:
                break
            streak += 1
        served = (
            f"now served by {provider_label(run.served_by)}"
            if run.served_by and run.served_by != provider
            else "no provider in the fallback chain answered"
        )
        why = redact(run.error_message or run.error_class or "unknown error")[:300]
        out.append(
            Finding(
                company_id,
                provider,
                "provider_unavailable",
                Decimal(1),
                Decimal(streak),
                f"{provider_label(provider)} unavailable ({run.model}): {why}; {served}",
            )
        )
    return out


@dataclass(frozen=True)
class Rule:
    check: str  # the name listed in check_alerts' "checks_performed"
    types: tuple[str, ...]  # alert types this rule decides (and may auto-resolve)
    run: Callable[[Context], list[Finding]]


RULES: tuple[Rule, ...] = (
    Rule("quota_status", ("quota_warning", "quota_critical", "quota_exceeded"), check_quotas),
    Rule("cost_limits", ("cost_warning", "cost_exceeded", "budget_remaining_low"), check_costs),
    Rule("failure_rates", ("high_failure_rate",), check_failure_rate),
    Rule(
        "usage_patterns",
        ("daily_spike", "unusual_usage"),
        lambda ctx: check_daily_spike(ctx) + check_unusual_usage(ctx),
    ),
    Rule(
        "performance",
        ("slow_execution", "high_cost_deviation"),
        lambda ctx: check_slow_execution(ctx) + check_cost_deviation(ctx),
    ),
    Rule("provider_availability", ("provider_unavailable",), check_provider_availability),
)
