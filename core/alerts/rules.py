"""The alert rules: each reads month-to-date spend (core.limits.spend) or grouped figures (core.queries.aggregate)
and returns the findings whose threshold is reached. A rule fires AT its threshold (>=, or <= for "remaining under").

Rules never write; core.alerts.lifecycle turns findings into alerts (dedup, auto-resolve, notifications).
The probe's own calls (operation "probe") are left out of the usage-pattern and quality rules: a daily
health check is not the team's usage. They still count toward budgets and quotas (they are real spend).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.clock import midnight
from core.config import Settings
from core.display import count, percent, plural, seconds, usd
from core.limits.spend import limit_statuses
from core.queries.aggregate import aggregate
from core.redact import redact
from core.storage.models import PROBE_BATCH_KEY, PROBE_OPERATION, PROBE_STOPPED, Company, ProbeRun, WorkerState

FAILED_STATUSES = ("failed", "timeout")

SEVERITY = {
    "quota_warning": "warning",
    "quota_critical": "critical",
    "quota_exceeded": "critical",
    "cost_warning": "warning",
    "cost_exceeded": "critical",
    "budget_remaining_low": "warning",
    "daily_spike": "warning",
    "unusual_usage": "info",
    "high_failure_rate": "warning",
    "slow_execution": "info",
    "high_cost_deviation": "warning",
    "provider_unavailable": "critical",
}
ALERT_TYPES = tuple(SEVERITY)

_NAMES = {
    "openai": "OpenAI",
    "ollama": "Ollama",
    "gemini": "Gemini",
    "anthropic": "Anthropic",
    "mistral": "Mistral",
    "": "all providers",
}


def provider_label(provider: str) -> str:
    return _NAMES.get(provider, provider[:1].upper() + provider[1:])


def open_key(company_id: int | None, provider: str, alert_type: str) -> str:
    return f"{'' if company_id is None else company_id}:{provider}:{alert_type}"


def _down(value: Decimal, places: str = "0.01") -> Decimal:
    # Rounded down so a value shown for a fired alert never appears to sit below its threshold.
    return value.quantize(Decimal(places), rounding=ROUND_DOWN)


def _num(value: Decimal) -> str:
    """A ratio in a message: 2.50 -> '2.5', 3.00 -> '3'; never scientific notation. Money, counts, percentages
    and durations are shown by core.display, as on the pages."""
    return f"{value.normalize():f}"


def _pct(value: Decimal) -> str:
    """A percentage in a message, one decimal as on the pages, rounded down: 99.99 reads 99.9%, never 100.0%."""
    return percent(_down(value, "0.1"))


@dataclass(frozen=True)
class Finding:
    company_id: int
    provider: str
    alert_type: str
    threshold: Decimal
    current: Decimal
    message: str
    severity: str = ""

    @property
    def key(self) -> str:
        return open_key(self.company_id, self.provider, self.alert_type)

    @property
    def level(self) -> str:
        return self.severity or SEVERITY[self.alert_type]


@dataclass
class Context:
    session: Session
    now: datetime
    settings: Settings
    company_id: int | None  # None: every company
    _frames: dict = field(default_factory=dict)

    def probe_company_id(self, create: bool = False) -> int | None:
        """Id of PROBE_COMPANY; created only when an alert needs it (a check has no other side effect)."""
        name = self.settings.probe_company
        cid = self.session.scalar(select(Company.id).where(Company.name == name))
        if cid is None and create:
            from core.ingest.record import get_or_create_company

            cid = get_or_create_company(self.session, name)
        return cid

    @property
    def filters(self) -> dict:
        return {"company_id": self.company_id}

    def today_start(self) -> datetime:
        return midnight(self.now.astimezone(UTC).date())

    def daily_frame(self) -> pd.DataFrame:
        """Per day / company / provider / model figures from the baseline start up to now, probe calls left out."""
        if "daily" not in self._frames:
            start = self.today_start() - timedelta(days=self.settings.alert_baseline_days)
            df = aggregate(
                self.session,
                start=start,
                end=self.now,
                dims=["day", "company_id", "provider_name", "model_name", "operation"],
                filters=self.filters,
            )
            df = df[df["operation"] != PROBE_OPERATION].copy()
            df["day"] = df["day"].map(lambda d: str(d)[:10])
            self._frames["daily"] = df
        return self._frames["daily"]

    def window_frame(self) -> pd.DataFrame:
        """Per company / provider / status figures over the failure window, probe calls left out."""
        if "window" not in self._frames:
            start = self.now - timedelta(days=self.settings.alert_failure_window_days)
            df = aggregate(
                self.session,
                start=start,
                end=self.now,
                dims=["company_id", "provider_name", "operation", "job_status"],
                filters=self.filters,
            )
            df = df[(df["operation"] != PROBE_OPERATION) & (df["job_status"] != "running")].copy()
            self._frames["window"] = df
        return self._frames["window"]


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
                pct = _down(ratio * 100)
                if st.kind == "quota_tokens":
                    detail = f"{count(st.consumed)} of {count(st.limit)} tokens monthly"
                else:
                    detail = f"{usd(st.consumed)} of {usd(st.limit)} monthly"
                f = Finding(
                    st.company_id,
                    st.provider,
                    alert_type,
                    _down(threshold * 100),
                    pct,
                    f"{word}: quota {provider_label(st.provider)} at {_pct(pct)} ({detail})",
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
        pct = _down(ratio * 100)
        if ratio >= s.alert_cost_exceeded:
            out.append(
                Finding(
                    st.company_id,
                    st.provider,
                    "cost_exceeded",
                    _down(s.alert_cost_exceeded * 100),
                    pct,
                    f"Monthly budget {label} exceeded: {usd(st.consumed)} of {usd(st.limit)} ({_pct(pct)})",
                )
            )
        elif ratio >= s.alert_cost_warning:
            out.append(
                Finding(
                    st.company_id,
                    st.provider,
                    "cost_warning",
                    _down(s.alert_cost_warning * 100),
                    pct,
                    f"Monthly budget {label} at {_pct(pct)}: {usd(st.consumed)} of {usd(st.limit)}",
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
                    _down(ratio),
                    f"Daily spike {provider_label(provider)}: {usd(cost_today)} today, "
                    f"{_num(_down(ratio))}x the {len(per_day)}-day average of {usd(mean)}",
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
            increase = _down((ratio - 1) * 100, "1")
            out.append(
                Finding(
                    int(cid),
                    provider,
                    "unusual_usage",
                    s.alert_unusual_usage,
                    _down(ratio),
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
            pct = _down(rate * 100, "0.1")
            out.append(
                Finding(
                    int(cid),
                    provider,
                    "high_failure_rate",
                    s.alert_failure_rate,
                    _down(rate, "0.0001"),
                    f"High {provider_label(provider)} failure rate: {_pct(pct)} over "
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
                    _down(avg),
                    f"Slow {provider_label(provider)} execution: {seconds(_down(avg))} average "
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
                _down(ratio),
                f"Cost deviation {provider_label(provider)} {model}: {usd(_down(now_cpj, '0.000001'))} per "
                f"job today, {_num(_down(ratio))}x its usual {usd(_down(usual, '0.000001'))}",
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


def company_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Company.id, Company.name)).all())
