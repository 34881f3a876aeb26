"""The efficiency view (`/ai/usage/efficiency/`): per model over the last `days` days (default 30) — average cost per job,
execution time, reliability (`success_rate`), tokens, cost per token — an efficiency score,
recommendations derived from the figures, and the savings of moving an operation's calls to a cheaper model.

Efficiency score (0-10, 1 decimal) = 0.4 x cost score + 0.3 x speed score + 0.3 x quality score, where
- cost score = 10 x (highest - own cost per token) / (highest - lowest), over the priced models (10 when equal);
- speed score = the same min-max scale on the average execution time, over the models with timed calls;
- quality score = 10 x reliability.
A model with no priced call, or a self-hosted one (its $0 is no price, see `core.analytics.model_choice`), has no cost
score, and a model none of whose calls was timed has no speed score (its average time is None, not 0 s): its
score is the weighted mean of the parts it has (0.5 x speed + 0.5 x quality without cost). Self-hosted models
are listed after the others.
"Most cost-effective" is `core.analytics.model_choice.cheapest`, the definition Stats uses too. Reliability describes a
model; it is never a reason to send it harder work.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.queries.aggregate import aggregate
from core.analytics.common import (
    EPSILON, ZERO, avg_money, avg_seconds, group, money, price_hint, scope_filters, unpriced_summary, utc_now,
)
from core.analytics.savings import DIMS as SAVINGS_DIMS
from core.analytics.savings import SAVINGS_DAYS, savings
from core.storage.db import read_scope
from core.display import percent, plural, seconds, usd
from core.analytics.model_choice import MIN_JOBS, RELIABLE, cheapest, model_costs
from core.storage.models import Company
from core.errors import InvalidRecord

QUALITY_THRESHOLD = RELIABLE  # the high_failure_rate rule's 5 %
SLOW_SECONDS = 30  # the slow_execution rule's threshold
MAX_DAYS = 3660  # as the dashboard view: ten years
WEIGHTS = {"cost": 0.4, "speed": 0.3, "quality": 0.3}
TOP_SAVINGS = 3  # savings named among the overall recommendations (the page lists them all)


def _minmax(value: float, lo: float, hi: float) -> float:
    return 10.0 if hi == lo else 10.0 * (hi - value) / (hi - lo)


def _models(df) -> list[dict]:
    out = []
    all_ = group(df, ["provider_name", "model_name"])
    priced = group(df[df["pricing_status"] != "unpriced"], ["provider_name", "model_name"])
    priced = {(r.provider_name, r.model_name): r for r in priced.itertuples()} if not priced.empty else {}
    costs = model_costs(df)
    for r in all_.itertuples():
        jobs = int(r.jobs)
        p = priced.get((r.provider_name, r.model_name))
        c = costs.get((r.provider_name, r.model_name))
        cpt = float(p.total_cost / p.total_tokens) if p is not None and p.total_tokens else None
        unpriced_jobs = jobs - (int(p.jobs) if p is not None else 0)
        self_hosted = c is not None and c.self_hosted
        out.append({"model": r.model_name, "provider": r.provider_name, "self_hosted": self_hosted, "metrics": {
            "avg_cost_per_job": avg_money(r.total_cost, jobs),
            "avg_execution_time": avg_seconds(int(r.execution_ms), int(r.timed_jobs)),
            "success_rate": round(r.success_sum / jobs, 3) if jobs else 0.0,
            "avg_tokens": round(int(r.total_tokens) / jobs) if jobs else 0,
            "cost_per_token": None if cpt is None else round(cpt, 9),
            "jobs_count": jobs, "total_cost": money(r.total_cost), "unpriced_jobs": unpriced_jobs},
            # A self-hosted model's $0 is no price: it stays off the cost scale.
            "_exact_cpt": None if self_hosted else cpt, "_cost": c})
    return out


def _score(models: list[dict]) -> None:
    cpts = [m["_exact_cpt"] for m in models if m["_exact_cpt"] is not None]
    times = [m["metrics"]["avg_execution_time"] for m in models if m["metrics"]["avg_execution_time"] is not None]
    for m in models:
        met = m["metrics"]
        parts = {"cost": None if m["_exact_cpt"] is None else _minmax(m["_exact_cpt"], min(cpts), max(cpts)),
                 "speed": None if met["avg_execution_time"] is None else _minmax(met["avg_execution_time"],
                                                                                   min(times), max(times)),
                 "quality": 10.0 * met["success_rate"]}
        # A part that cannot be judged (no price, no timed call) is left out and the others keep their ratio.
        known = {k: v for k, v in parts.items() if v is not None}
        score = sum(WEIGHTS[k] * v for k, v in known.items()) / sum(WEIGHTS[k] for k in known)
        m["efficiency_score"] = round(score, 1)
        m["score_parts"] = {k: None if v is None else round(v, 1) for k, v in parts.items()}


def _slow(met: dict) -> bool:
    """Timed calls averaging SLOW_SECONDS or more (a model without a timed call is not known to be slow)."""
    return met["avg_execution_time"] is not None and met["avg_execution_time"] >= SLOW_SECONDS


def _reliability(met: dict) -> str:
    return percent(met["success_rate"] * 100)


def _recommend(m: dict, ctx: dict) -> list[str]:
    met, parts, rec = m["metrics"], m["score_parts"], []
    name = m["model"]
    cheapest_, best_q, fastest = ctx["cheapest"], ctx["best_quality"], ctx["fastest"]
    if m["self_hosted"]:
        rec.append("Self-hosted: $0 per call in the ledger because the hardware is paid elsewhere; "
                   "not compared on cost with priced models")
    elif cheapest_ and name == cheapest_["model"] and ctx["priced_models"] > 1:
        first_choice = ctx["simple"] is not None and name == ctx["simple"]["model"]
        rec.append(f"Cheapest priced model: {usd(m['_cost'].avg_cost_per_job)} per job on average"
                   + ("; first choice for simple, high-volume tasks" if first_choice else ""))
    elif parts["cost"] is not None and parts["cost"] <= 3 and ctx["priced_models"] > 1:
        mine = m["_cost"].avg_cost_per_job if m["_cost"] is not None else None
        base = cheapest_["_cost"].avg_cost_per_job if cheapest_ else None
        if mine is not None and base and mine > base:
            rec.append(f"Average cost per job {mine / base:.1f}x that of {cheapest_['model']}, "
                       "the cheapest priced model")
        else:
            rec.append("Among the dearest models per token: check whether a cheaper model serves its operations "
                       "as reliably")
    moves = ctx["savings"].get((m["provider"], name))
    if moves:
        rec.append(f"Moving its calls on {plural(moves[1], 'operation')} to cheaper models that already do that "
                   f"work reliably saves ≈ {usd(moves[0])}/month (see the savings)")
    if met["success_rate"] < QUALITY_THRESHOLD:
        rec.append(f"Reliability {_reliability(met)} is below {percent(QUALITY_THRESHOLD * 100, 0)}: "
                   "look at its errors or add a fallback")
    elif best_q and name == best_q["model"] and ctx["models"] > 1:
        rec.append(f"Most reliable: {_reliability(met)} of its calls succeeded")
    if _slow(met):
        rec.append(f"Slow: {seconds(met['avg_execution_time'])} on average (threshold {SLOW_SECONDS} s); "
                   "avoid it for interactive calls")
    elif fastest and name == fastest["model"] and ctx["models"] > 1:
        rec.append(f"Fastest model ({seconds(met['avg_execution_time'])} on average): suited to interactive calls")
    if met["unpriced_jobs"]:
        rec.append(f"{plural(met['unpriced_jobs'], 'call')} without a price: {price_hint(m['provider'], name)}")
    if met["jobs_count"] < MIN_JOBS:
        rec.append(f"Only {plural(met['jobs_count'], 'call')} in the period (fewer than {MIN_JOBS}): "
                   "not ranked on cost, figures are indicative")
    if not rec:
        rec.append(f"Balanced: cost score {parts['cost'] if parts['cost'] is not None else 'n/a'}, speed "
                   f"{parts['speed'] if parts['speed'] is not None else 'n/a'}, reliability {parts['quality']} "
                   "out of 10; no change needed")
    return rec


def saving_text(s: dict) -> str:
    """"Humari · document-summary: gpt-4o → gpt-4o-mini saves ≈ $41.20/month (…)"."""
    return (f"{s['company']} · {s['operation']}: {s['from_model']} → {s['to_model']} "
            f"saves ≈ {usd(s['saving_usd_month'])}/month "
            f"({plural(s['calls_30d'], 'call')} in the last {SAVINGS_DAYS} days at {usd(s['from_avg_cost_per_job'])} "
            f"instead of {usd(s['to_avg_cost_per_job'])}; {s['to_model']} is {percent(s['to_reliability'] * 100)} "
            "reliable on this operation)")


def _pick(models: list[dict], costs) -> dict | None:
    """The model entry of core.analytics.model_choice.cheapest over `costs`."""
    c = cheapest(costs)
    return next((m for m in models if m["_cost"] is c), None) if c is not None else None


def get_efficiency(now: datetime | None = None, company: str | None = None, session: Session | None = None, *,
                   days: int = 30, brand=None, provider: str | None = None) -> dict:
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
        by_op = aggregate(s, start=now - timedelta(days=SAVINGS_DAYS), end=now + EPSILON, dims=SAVINGS_DIMS,
                          filters=filters)
        names = dict(s.execute(select(Company.id, Company.name)).all())
        # The savings' frame serves the models too when the period is the same 30 days.
        df = by_op if int(days) == SAVINGS_DAYS else aggregate(
            s, start=start, end=now + EPSILON, dims=["provider_name", "model_name", "pricing_status"],
            filters=filters)
    models = _models(df) if not df.empty else []
    insights = {"most_cost_effective": None, "highest_quality": None, "fastest": None, "best_overall": None,
                "recommended_for_simple_tasks": None, "recommendations": []}
    proposals = savings(by_op, names) if not by_op.empty else []
    if models:
        _score(models)
        priced = [m for m in models if m["_exact_cpt"] is not None]
        cheapest_ = _pick(models, (m["_cost"] for m in models if m["_cost"] is not None))
        best_q = max(models, key=lambda m: (m["metrics"]["success_rate"], m["metrics"]["jobs_count"]))
        timed = [m for m in models if m["metrics"]["avg_execution_time"] is not None]
        fastest = min(timed, key=lambda m: (m["metrics"]["avg_execution_time"], -m["metrics"]["jobs_count"]),
                      default=None)
        # Self-hosted models are ranked apart: the best score is among the others when there are any.
        ranked = [m for m in models if not m["self_hosted"]] or models
        best = max(ranked, key=lambda m: (m["efficiency_score"], m["metrics"]["jobs_count"]))
        # For simple tasks: the cheapest model that is also reliable and quick enough (else the cheapest).
        usable = _pick(models, (m["_cost"] for m in priced if m["metrics"]["success_rate"] >= QUALITY_THRESHOLD
                                and not _slow(m["metrics"])))
        simple = usable or cheapest_
        by_model: dict[tuple, list] = {}
        for p in proposals:
            acc = by_model.setdefault((p["from_provider"], p["from_model"]), [ZERO, 0])
            acc[0] += Decimal(p["saving_usd_month"])
            acc[1] += 1
        ctx = {"cheapest": cheapest_, "best_quality": best_q, "fastest": fastest, "priced_models": len(priced),
               "models": len(models), "savings": by_model, "simple": usable}
        for m in models:
            m["recommendations"] = _recommend(m, ctx)
        insights.update(most_cost_effective=cheapest_["model"] if cheapest_ else None,
                        highest_quality=best_q["model"], fastest=fastest["model"] if fastest else None,
                        best_overall=best["model"],
                        recommended_for_simple_tasks=simple["model"] if simple else None)
        recs = insights["recommendations"]
        recs.extend(saving_text(p) for p in proposals[:TOP_SAVINGS])
        if len(proposals) > TOP_SAVINGS:
            recs.append(f"{plural(len(proposals) - TOP_SAVINGS, 'more saving')} in the savings table")
        if usable:
            recs.append(f"Use {usable['model']} for simple tasks: the cheapest per job among priced models with "
                        f"reliability of {percent(QUALITY_THRESHOLD * 100, 0)} or more and not slow (under "
                        f"{SLOW_SECONDS} s on average where timed)")
        elif simple:
            recs.append(f"Use {simple['model']} for simple tasks: the cheapest per job (no priced model with enough "
                        f"jobs is both reliable and not slow, under {SLOW_SECONDS} s on average where timed)")
        for m in models:
            if m["metrics"]["success_rate"] < QUALITY_THRESHOLD:
                recs.append(f"Investigate {m['model']}: reliability {_reliability(m['metrics'])}")
            if _slow(m["metrics"]):
                recs.append(f"Move latency-sensitive work off {m['model']} "
                            f"({seconds(m['metrics']['avg_execution_time'])} on average)")
        for m in models:
            if m["metrics"]["unpriced_jobs"]:
                recs.append(f"Price {m['model']} so that costs are complete: {price_hint(m['provider'], m['model'])}")
        if not recs:
            recs.append(f"{best['model']} has the best balance of cost, speed and reliability")
    for m in models:
        m.pop("_exact_cpt", None)
        m.pop("_cost", None)
    models.sort(key=lambda m: (m["self_hosted"], -m["efficiency_score"], -m["metrics"]["jobs_count"], m["model"]))
    return {"period": {"days": int(days), "start_date": start.date().isoformat(), "end_date": now.date().isoformat()},
            "models_comparison": models, "overall_insights": insights, "unpriced": unpriced_summary(df),
            "total_cost": money(sum((Decimal(m["metrics"]["total_cost"]) for m in models), ZERO)),
            "savings": proposals, "savings_period_days": SAVINGS_DAYS, "min_jobs": MIN_JOBS}
