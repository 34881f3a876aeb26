"""The efficiency view (`/ai/usage/efficiency/`): per model over the last `days` days (default 30) — average cost per
job, execution time, reliability (`success_rate`), tokens, cost per token — an efficiency score, recommendations
derived from the figures, and the savings of moving an operation's calls to a cheaper model. `model_efficiency` computes
it as typed figures (Decimal money); `get_efficiency` is its JSON-able dict. The per-model metrics and the
efficiency score are computed in core.analytics.efficiency_scores; this module derives the recommendations and insights.

"Most cost-effective" is `core.analytics.model_choice.cheapest`, the definition Stats uses too. Reliability describes a
model; it is never a reason to send it harder work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analytics.common import (
    EPSILON,
    ZERO,
    Unpriced,
    money,
    price_hint,
    scope_filters,
    utc_now,
)
from core.analytics.efficiency_scores import (
    MEASURES,
    MODEL_DIMS,
    Metrics,
    ModelEfficiency,
    ModelEntry,
    model_entries,
    score_models,
)
from core.analytics.model_choice import MIN_JOBS, RELIABLE, cheapest
from core.analytics.savings import DIMS as SAVINGS_DIMS
from core.analytics.savings import SAVINGS_DAYS, Saving, savings
from core.display import percent, plural, seconds, usd
from core.errors import InvalidRecord
from core.queries.grouping import Ask, grouped
from core.storage.db import read_scope
from core.storage.models import Company

QUALITY_THRESHOLD = RELIABLE  # the high_failure_rate rule's 5 %
SLOW_SECONDS = 30  # the slow_execution rule's threshold
MAX_DAYS = 3660  # as the dashboard view: ten years
TOP_SAVINGS = 3  # savings named among the overall recommendations (the page lists them all)


@dataclass(frozen=True, slots=True)
class Insights:
    most_cost_effective: str | None = None
    highest_quality: str | None = None
    fastest: str | None = None
    best_overall: str | None = None
    recommended_for_simple_tasks: str | None = None
    recommendations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Efficiency:
    days: int
    start: date
    end: date
    models: tuple[ModelEfficiency, ...]  # priced first, best score first
    insights: Insights
    unpriced: Unpriced
    savings: tuple[Saving, ...]  # largest first
    savings_period_days: int = SAVINGS_DAYS
    min_jobs: int = MIN_JOBS

    @property
    def total_cost(self) -> Decimal:
        return sum((m.metrics.total_cost for m in self.models), ZERO)

    def to_dict(self) -> dict:
        i = self.insights
        return {
            "period": {"days": self.days, "start_date": self.start.isoformat(), "end_date": self.end.isoformat()},
            "models_comparison": [m.to_dict() for m in self.models],
            "overall_insights": {
                "most_cost_effective": i.most_cost_effective,
                "highest_quality": i.highest_quality,
                "fastest": i.fastest,
                "best_overall": i.best_overall,
                "recommended_for_simple_tasks": i.recommended_for_simple_tasks,
                "recommendations": list(i.recommendations),
            },
            "unpriced": self.unpriced.to_dict(),
            "total_cost": money(self.total_cost),
            "savings": [x.to_dict() for x in self.savings],
            "savings_period_days": self.savings_period_days,
            "min_jobs": self.min_jobs,
        }


def _slow(met: Metrics) -> bool:
    """Timed calls averaging SLOW_SECONDS or more (a model without a timed call is not known to be slow)."""
    return met.avg_execution_time is not None and met.avg_execution_time >= SLOW_SECONDS


def _reliability(met: Metrics) -> str:
    return percent(met.success_rate * 100)


def _recommend(m: ModelEntry, ctx: dict) -> list[str]:
    met, parts, rec = m.metrics, m.parts, []
    name = m.model
    cheapest_, best_q, fastest = ctx["cheapest"], ctx["best_quality"], ctx["fastest"]
    if m.self_hosted:
        rec.append(
            "Self-hosted: $0 per call in the ledger because the hardware is paid elsewhere; "
            "not compared on cost with priced models"
        )
    elif cheapest_ and name == cheapest_.model and ctx["priced_models"] > 1:
        first_choice = ctx["simple"] is not None and name == ctx["simple"].model
        rec.append(
            f"Cheapest priced model: {usd(m.cost.avg_cost_per_job)} per job on average"
            + ("; first choice for simple, high-volume tasks" if first_choice else "")
        )
    elif parts.cost is not None and parts.cost <= 3 and ctx["priced_models"] > 1:
        mine = m.cost.avg_cost_per_job if m.cost is not None else None
        base = cheapest_.cost.avg_cost_per_job if cheapest_ else None
        if mine is not None and base and mine > base:
            rec.append(f"Average cost per job {mine / base:.1f}x that of {cheapest_.model}, the cheapest priced model")
        else:
            rec.append(
                "Among the dearest models per token: check whether a cheaper model serves its operations as reliably"
            )
    moves = ctx["savings"].get((m.provider, name))
    if moves:
        rec.append(
            f"Moving its calls on {plural(moves[1], 'operation')} to cheaper models that already do that "
            f"work reliably saves ≈ {usd(moves[0])}/month (see the savings)"
        )
    if met.success_rate < QUALITY_THRESHOLD:
        rec.append(
            f"Reliability {_reliability(met)} is below {percent(QUALITY_THRESHOLD * 100, 0)}: "
            "look at its errors or add a fallback"
        )
    elif best_q and name == best_q.model and ctx["models"] > 1:
        rec.append(f"Most reliable: {_reliability(met)} of its calls succeeded")
    if _slow(met):
        rec.append(
            f"Slow: {seconds(met.avg_execution_time)} on average (threshold {SLOW_SECONDS} s); "
            "avoid it for interactive calls"
        )
    elif fastest and name == fastest.model and ctx["models"] > 1:
        rec.append(f"Fastest model ({seconds(met.avg_execution_time)} on average): suited to interactive calls")
    if met.unpriced_jobs:
        rec.append(f"{plural(met.unpriced_jobs, 'call')} without a price: {price_hint(m.provider, name)}")
    if met.jobs_count < MIN_JOBS:
        rec.append(
            f"Only {plural(met.jobs_count, 'call')} in the period (fewer than {MIN_JOBS}): "
            "not ranked on cost, figures are indicative"
        )
    if not rec:
        rec.append(
            f"Balanced: cost score {parts.cost if parts.cost is not None else 'n/a'}, speed "
            f"{parts.speed if parts.speed is not None else 'n/a'}, reliability {parts.quality} "
            "out of 10; no change needed"
        )
    return rec


def saving_text(s: Saving) -> str:
    """ "Humari · document-summary: gpt-4o → gpt-4o-mini saves ≈ $41.20/month (…)"."""
    return (
        f"{s.company} · {s.operation}: {s.from_model} → {s.to_model} "
        f"saves ≈ {usd(s.saving_usd_month)}/month "
        f"({plural(s.calls_30d, 'call')} in the last {SAVINGS_DAYS} days at {usd(s.from_avg_cost_per_job)} "
        f"instead of {usd(s.to_avg_cost_per_job)}; {s.to_model} is {percent(s.to_reliability * 100)} "
        "reliable on this operation)"
    )


def _pick(models: list[ModelEntry], costs) -> ModelEntry | None:
    """The model entry of core.analytics.model_choice.cheapest over `costs`."""
    c = cheapest(costs)
    return next((m for m in models if m.cost is c), None) if c is not None else None


def _insights(models: list[ModelEntry], proposals: list[Saving]) -> Insights:
    """Scores every model, writes its recommendations, and the overall insights."""
    score_models(models)
    priced = [m for m in models if m.exact_cpt is not None]
    cheapest_ = _pick(models, (m.cost for m in models if m.cost is not None))
    best_q = max(models, key=lambda m: (m.metrics.success_rate, m.metrics.jobs_count))
    timed = [m for m in models if m.metrics.avg_execution_time is not None]
    fastest = min(timed, key=lambda m: (m.metrics.avg_execution_time, -m.metrics.jobs_count), default=None)
    # Self-hosted models are ranked apart: the best score is among the others when there are any.
    ranked = [m for m in models if not m.self_hosted] or models
    best = max(ranked, key=lambda m: (m.score, m.metrics.jobs_count))
    # For simple tasks: the cheapest model that is also reliable and quick enough (else the cheapest).
    usable = _pick(
        models, (m.cost for m in priced if m.metrics.success_rate >= QUALITY_THRESHOLD and not _slow(m.metrics))
    )
    simple = usable or cheapest_
    by_model: dict[tuple, list] = {}
    for p in proposals:
        acc = by_model.setdefault((p.from_provider, p.from_model), [ZERO, 0])
        acc[0] += p.saving_usd_month
        acc[1] += 1
    ctx = {
        "cheapest": cheapest_,
        "best_quality": best_q,
        "fastest": fastest,
        "priced_models": len(priced),
        "models": len(models),
        "savings": by_model,
        "simple": usable,
    }
    for m in models:
        m.recommendations = _recommend(m, ctx)
    recs = [saving_text(p) for p in proposals[:TOP_SAVINGS]]
    if len(proposals) > TOP_SAVINGS:
        recs.append(f"{plural(len(proposals) - TOP_SAVINGS, 'more saving')} in the savings table")
    if usable:
        recs.append(
            f"Use {usable.model} for simple tasks: the cheapest per job among priced models with "
            f"reliability of {percent(QUALITY_THRESHOLD * 100, 0)} or more and not slow (under "
            f"{SLOW_SECONDS} s on average where timed)"
        )
    elif simple:
        recs.append(
            f"Use {simple.model} for simple tasks: the cheapest per job (no priced model with enough "
            f"jobs is both reliable and not slow, under {SLOW_SECONDS} s on average where timed)"
        )
    for m in models:
        if m.metrics.success_rate < QUALITY_THRESHOLD:
            recs.append(f"Investigate {m.model}: reliability {_reliability(m.metrics)}")
        if _slow(m.metrics):
            recs.append(
                f"Move latency-sensitive work off {m.model} ({seconds(m.metrics.avg_execution_time)} on average)"
            )
    for m in models:
        if m.metrics.unpriced_jobs:
            recs.append(f"Price {m.model} so that costs are complete: {price_hint(m.provider, m.model)}")
    if not recs:
        recs.append(f"{best.model} has the best balance of cost, speed and reliability")
    return Insights(
        cheapest_.model if cheapest_ else None,
        best_q.model,
        fastest.model if fastest else None,
        best.model,
        simple.model if simple else None,
        tuple(recs),
    )


def model_efficiency(
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    days: int = 30,
    brand=None,
    provider: str | None = None,
) -> Efficiency:
    now = utc_now(now)
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise InvalidRecord("days", days, "must be a whole number of days") from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRecord("days", days, f"must be between 1 and {MAX_DAYS}")
    start = now - timedelta(days=days)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        # The savings' range serves the models too when the period is the same 30 days.
        sets = {"operations": SAVINGS_DIMS} | ({"models": MODEL_DIMS} if days == SAVINGS_DAYS else {})
        asks = {"savings": Ask(now - timedelta(days=SAVINGS_DAYS), now + EPSILON, sets, filters, MEASURES)}
        if days != SAVINGS_DAYS:
            asks["period"] = Ask(start, now + EPSILON, {"models": MODEL_DIMS}, filters, MEASURES)
        g = grouped(s, asks)
        names = dict(s.execute(select(Company.id, Company.name)).all())
    by_op = g["savings"]["operations"]
    period = g["savings"] if days == SAVINGS_DAYS else g["period"]
    models = model_entries(period["models"])
    proposals = savings(by_op, names)
    insights = _insights(models, proposals) if models else Insights()
    models.sort(key=lambda m: (m.self_hosted, -m.score, -m.metrics.jobs_count, m.model, m.provider))
    return Efficiency(
        days,
        start.date(),
        now.date(),
        tuple(m.typed() for m in models),
        insights,
        Unpriced.of(period["models"], MODEL_DIMS),
        tuple(proposals),
    )


def get_efficiency(
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    days: int = 30,
    brand=None,
    provider: str | None = None,
) -> dict:
    """Per-model efficiency as the usage spec's dict (see `efficiency`)."""
    return model_efficiency(now, company, session, days=days, brand=brand, provider=provider).to_dict()
