"""Seed 004's `/ai/usage/efficiency/`: per model over the last `days` days (default 30) — average cost per job,
execution time, success rate, tokens, cost per token — an efficiency score and recommendations derived from
the figures.

Efficiency score (0-10, 1 decimal) = 0.4 x cost score + 0.3 x speed score + 0.3 x quality score, where
- cost score = 10 x (highest - own cost per token) / (highest - lowest), over the priced models (10 when equal);
- speed score = the same min-max scale on the average execution time;
- quality score = 10 x success rate.
A model with no priced call has no cost score: its score is 0.5 x speed + 0.5 x quality.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.aggregate import aggregate
from core.analytics_common import (
    EPSILON, ZERO, avg_money, group, money, price_hint, scope_filters, unpriced_summary, utc_now,
)
from core.db import read_scope
from core.validation import InvalidRecord

QUALITY_THRESHOLD = 0.95  # seed 004's high_failure_rate: 5 %
SLOW_SECONDS = 30  # seed 004's slow_execution
FEW_CALLS = 10
MAX_DAYS = 3660  # as the dashboard view: ten years
WEIGHTS = {"cost": 0.4, "speed": 0.3, "quality": 0.3}


def _minmax(value: float, lo: float, hi: float) -> float:
    return 10.0 if hi == lo else 10.0 * (hi - value) / (hi - lo)


def _models(df) -> list[dict]:
    out = []
    all_ = group(df, ["provider_name", "model_name"])
    priced = group(df[df["pricing_status"] != "unpriced"], ["provider_name", "model_name"])
    priced = {(r.provider_name, r.model_name): r for r in priced.itertuples()} if not priced.empty else {}
    for r in all_.itertuples():
        jobs = int(r.jobs)
        p = priced.get((r.provider_name, r.model_name))
        cpt = float(p.total_cost / p.total_tokens) if p is not None and p.total_tokens else None
        unpriced_jobs = jobs - (int(p.jobs) if p is not None else 0)
        out.append({"model": r.model_name, "provider": r.provider_name, "metrics": {
            "avg_cost_per_job": avg_money(r.total_cost, jobs),
            "avg_execution_time": round(r.execution_ms / jobs / 1000, 2) if jobs else 0.0,
            "success_rate": round(r.success_sum / jobs, 3) if jobs else 0.0,
            "avg_tokens": round(int(r.total_tokens) / jobs) if jobs else 0,
            "cost_per_token": None if cpt is None else round(cpt, 9),
            "jobs_count": jobs, "total_cost": money(r.total_cost), "unpriced_jobs": unpriced_jobs},
            "_exact_cpt": cpt})
    return out


def _score(models: list[dict]) -> None:
    cpts = [m["_exact_cpt"] for m in models if m["_exact_cpt"] is not None]
    times = [m["metrics"]["avg_execution_time"] for m in models]
    for m in models:
        met = m["metrics"]
        speed = _minmax(met["avg_execution_time"], min(times), max(times))
        quality = 10.0 * met["success_rate"]
        if m["_exact_cpt"] is None:
            cost = None
            score = 0.5 * speed + 0.5 * quality
        else:
            cost = _minmax(m["_exact_cpt"], min(cpts), max(cpts))
            score = WEIGHTS["cost"] * cost + WEIGHTS["speed"] * speed + WEIGHTS["quality"] * quality
        m["efficiency_score"] = round(score, 1)
        m["score_parts"] = {"cost": None if cost is None else round(cost, 1), "speed": round(speed, 1),
                            "quality": round(quality, 1)}


def _recommend(m: dict, ctx: dict) -> list[str]:
    met, parts, rec = m["metrics"], m["score_parts"], []
    name = m["model"]
    cheapest, best_q, fastest = ctx["cheapest"], ctx["best_quality"], ctx["fastest"]
    if cheapest and name == cheapest["model"] and ctx["priced_models"] > 1:
        rec.append(f"Lowest cost per token (${met['cost_per_token'] * 1000:.4f} per 1k tokens): "
                   "first choice for simple, high-volume tasks")
    elif parts["cost"] is not None and parts["cost"] <= 3 and ctx["priced_models"] > 1:
        ratio = m["_exact_cpt"] / cheapest["_exact_cpt"] if cheapest and cheapest["_exact_cpt"] else None
        if best_q and name == best_q["model"]:
            rec.append("Costly but the highest success rate: keep it for complex tasks")
        elif ratio:
            rec.append(f"Cost per token {ratio:.1f}x that of {cheapest['model']}: check whether it would do")
        else:
            rec.append("Among the most expensive models per token: reserve it for tasks that need it")
    if met["success_rate"] < QUALITY_THRESHOLD:
        rec.append(f"Success rate {met['success_rate'] * 100:.1f}% is below {QUALITY_THRESHOLD * 100:.0f}%: "
                   "look at its errors or add a fallback")
    elif best_q and name == best_q["model"] and ctx["models"] > 1 and not any("highest success" in r for r in rec):
        rec.append(f"Highest success rate ({met['success_rate'] * 100:.1f}%)")
    if met["avg_execution_time"] >= SLOW_SECONDS:
        rec.append(f"Slow: {met['avg_execution_time']:.1f} s on average (threshold {SLOW_SECONDS} s); "
                   "avoid it for interactive calls")
    elif fastest and name == fastest["model"] and ctx["models"] > 1:
        rec.append(f"Fastest model ({met['avg_execution_time']:.1f} s on average): suited to interactive calls")
    if met["unpriced_jobs"]:
        rec.append(f"{met['unpriced_jobs']} calls have no price: {price_hint(m['provider'], name)}")
    if met["jobs_count"] < FEW_CALLS:
        rec.append(f"Only {met['jobs_count']} calls in the period: figures are indicative")
    if not rec:
        rec.append(f"Balanced: cost score {parts['cost'] if parts['cost'] is not None else 'n/a'}, speed "
                   f"{parts['speed']}, quality {parts['quality']} out of 10; no change needed")
    return rec


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
        df = aggregate(s, start=start, end=now + EPSILON, dims=["provider_name", "model_name", "pricing_status"],
                       filters=filters)
    models = _models(df) if not df.empty else []
    insights = {"most_cost_effective": None, "highest_quality": None, "fastest": None, "best_overall": None,
                "recommended_for_simple_tasks": None, "recommendations": []}
    if models:
        _score(models)
        priced = [m for m in models if m["_exact_cpt"] is not None]
        cheapest = min(priced, key=lambda m: (m["_exact_cpt"], -m["metrics"]["jobs_count"])) if priced else None
        best_q = max(models, key=lambda m: (m["metrics"]["success_rate"], m["metrics"]["jobs_count"]))
        fastest = min(models, key=lambda m: (m["metrics"]["avg_execution_time"], -m["metrics"]["jobs_count"]))
        best = max(models, key=lambda m: (m["efficiency_score"], m["metrics"]["jobs_count"]))
        ctx = {"cheapest": cheapest, "best_quality": best_q, "fastest": fastest, "priced_models": len(priced),
               "models": len(models)}
        for m in models:
            m["recommendations"] = _recommend(m, ctx)
        insights.update(most_cost_effective=cheapest["model"] if cheapest else None, highest_quality=best_q["model"],
                        fastest=fastest["model"], best_overall=best["model"])
        recs = insights["recommendations"]
        # For simple tasks: the cheapest model that is also reliable and quick enough (else the cheapest).
        usable = [m for m in priced if m["metrics"]["success_rate"] >= QUALITY_THRESHOLD
                  and m["metrics"]["avg_execution_time"] < SLOW_SECONDS]
        simple = min(usable, key=lambda m: (m["_exact_cpt"], -m["metrics"]["jobs_count"])) if usable else cheapest
        insights["recommended_for_simple_tasks"] = simple["model"] if simple else None
        if simple and simple["model"] != best_q["model"]:
            recs.append(f"Use {simple['model']} for simple tasks")
            recs.append(f"Reserve {best_q['model']} for complex analyses (highest success rate)")
        for m in models:
            if m["metrics"]["success_rate"] < QUALITY_THRESHOLD:
                recs.append(f"Investigate {m['model']}: success rate {m['metrics']['success_rate'] * 100:.1f}%")
            if m["metrics"]["avg_execution_time"] >= SLOW_SECONDS:
                recs.append(f"Move latency-sensitive work off {m['model']} "
                            f"({m['metrics']['avg_execution_time']:.1f} s on average)")
        for m in models:
            if m["metrics"]["unpriced_jobs"]:
                recs.append(f"Price {m['model']} so that costs are complete: {price_hint(m['provider'], m['model'])}")
        if not recs:
            recs.append(f"{best['model']} has the best balance of cost, speed and quality")
    for m in models:
        m.pop("_exact_cpt", None)
    models.sort(key=lambda m: (-m["efficiency_score"], -m["metrics"]["jobs_count"], m["model"]))
    return {"period": {"days": int(days), "start_date": start.date().isoformat(), "end_date": now.date().isoformat()},
            "models_comparison": models, "overall_insights": insights, "unpriced": unpriced_summary(df),
            "total_cost": money(sum((Decimal(m["metrics"]["total_cost"]) for m in models), ZERO))}
