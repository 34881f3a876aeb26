"""The efficiency view's per-model figures: each model's metrics over the period and its efficiency score.

Efficiency score (0-10, 1 decimal) = 0.4 x cost score + 0.3 x speed score + 0.3 x quality score, where
- cost score = 10 x (highest - own cost per token) / (highest - lowest), over the priced models (10 when equal);
- speed score = the same min-max scale on the average execution time, over the models with timed calls;
- quality score = 10 x reliability.
A model with no priced call, or a self-hosted one (its $0 is no price, see `core.analytics.model_choice`), has no cost
score, and a model none of whose calls was timed has no speed score (its average time is None, not 0 s): its
score is the weighted mean of the parts it has (0.5 x speed + 0.5 x quality without cost). Self-hosted models
are listed after the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from core.analytics.common import average, avg_seconds, money
from core.analytics.model_choice import ModelCost, model_costs
from core.queries.grouping import TIMING, VOLUME, Sums

WEIGHTS = {"cost": 0.4, "speed": 0.3, "quality": 0.3}

MODEL_DIMS = ("provider_name", "model_name", "pricing_status")
MEASURES = VOLUME + TIMING + ("success_sum",)


@dataclass(frozen=True, slots=True)
class Metrics:
    avg_cost_per_job: Decimal  # over every call, to the micro-dollar
    avg_execution_time: float | None
    success_rate: float
    avg_tokens: int
    cost_per_token: Decimal | None  # exact, over priced calls; None without any
    jobs_count: int
    total_cost: Decimal
    unpriced_jobs: int


@dataclass(frozen=True, slots=True)
class ScoreParts:
    cost: float | None
    speed: float | None
    quality: float


@dataclass(frozen=True, slots=True)
class ModelEfficiency:
    model: str
    provider: str
    self_hosted: bool
    metrics: Metrics
    efficiency_score: float
    score_parts: ScoreParts
    recommendations: tuple[str, ...]

    def to_dict(self) -> dict:
        met, parts = self.metrics, self.score_parts
        return {
            "model": self.model,
            "provider": self.provider,
            "self_hosted": self.self_hosted,
            "metrics": {
                "avg_cost_per_job": money(met.avg_cost_per_job),
                "avg_execution_time": met.avg_execution_time,
                "success_rate": met.success_rate,
                "avg_tokens": met.avg_tokens,
                "cost_per_token": None if met.cost_per_token is None else round(float(met.cost_per_token), 9),
                "jobs_count": met.jobs_count,
                "total_cost": money(met.total_cost),
                "unpriced_jobs": met.unpriced_jobs,
            },
            "efficiency_score": self.efficiency_score,
            "score_parts": {"cost": parts.cost, "speed": parts.speed, "quality": parts.quality},
            "recommendations": list(self.recommendations),
        }


@dataclass(slots=True)
class ModelEntry:
    """A model while it is scored and described."""

    model: str
    provider: str
    self_hosted: bool
    metrics: Metrics
    exact_cpt: float | None  # cost per token unrounded; None off the cost scale (no price, or self-hosted)
    cost: ModelCost | None
    score: float = 0.0
    parts: ScoreParts = field(default_factory=lambda: ScoreParts(None, None, 0.0))
    recommendations: list[str] = field(default_factory=list)

    def typed(self) -> ModelEfficiency:
        return ModelEfficiency(
            self.model,
            self.provider,
            self.self_hosted,
            self.metrics,
            self.score,
            self.parts,
            tuple(self.recommendations),
        )


def _minmax(value: float, lo: float, hi: float) -> float:
    return 10.0 if hi == lo else 10.0 * (hi - value) / (hi - lo)


def model_entries(groups: dict[tuple, Sums]) -> list[ModelEntry]:
    """One entry per (provider, model) from sums keyed by MODEL_DIMS, in (provider, model) order."""
    all_: dict[tuple, Sums] = {}
    priced: dict[tuple, Sums] = {}
    for (p, m, status), s in groups.items():
        all_.setdefault((p, m), Sums()).add(s)
        if status != "unpriced":
            priced.setdefault((p, m), Sums()).add(s)
    costs = model_costs(groups, MODEL_DIMS)
    out = []
    for key in sorted(all_):
        r, pr, c = all_[key], priced.get(key), costs.get(key)
        jobs = r.jobs
        cpt = pr.total_cost / pr.total_tokens if pr is not None and pr.total_tokens else None
        self_hosted = c is not None and c.self_hosted
        metrics = Metrics(
            average(r.total_cost, jobs),
            avg_seconds(r.execution_ms, r.timed_jobs),
            round(r.success_sum / jobs, 3) if jobs else 0.0,
            round(r.total_tokens / jobs) if jobs else 0,
            cpt,
            jobs,
            r.total_cost,
            jobs - (pr.jobs if pr is not None else 0),
        )
        # A self-hosted model's $0 is no price: it stays off the cost scale.
        out.append(
            ModelEntry(key[1], key[0], self_hosted, metrics, None if self_hosted or cpt is None else float(cpt), c)
        )
    return out


def score_models(models: list[ModelEntry]) -> None:
    """Sets each entry's score and its parts (the scale is over the models given)."""
    cpts = [m.exact_cpt for m in models if m.exact_cpt is not None]
    times = [m.metrics.avg_execution_time for m in models if m.metrics.avg_execution_time is not None]
    for m in models:
        met = m.metrics
        parts = {
            "cost": None if m.exact_cpt is None else _minmax(m.exact_cpt, min(cpts), max(cpts)),
            "speed": None
            if met.avg_execution_time is None
            else _minmax(met.avg_execution_time, min(times), max(times)),
            "quality": 10.0 * met.success_rate,
        }
        # A part that cannot be judged (no price, no timed call) is left out and the others keep their ratio.
        known = {k: v for k, v in parts.items() if v is not None}
        m.score = round(sum(WEIGHTS[k] * v for k, v in known.items()) / sum(WEIGHTS[k] for k in known), 1)
        m.parts = ScoreParts(*(None if v is None else round(v, 1) for v in parts.values()))
