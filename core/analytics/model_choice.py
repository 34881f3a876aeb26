"""Which models can be compared on cost, and which one is the cheapest: one definition for Stats and Efficiency.

- Self-hosted: a model of a self-hosted provider (`core.pricing.catalog.SELF_HOSTED`: Ollama, vLLM…) whose calls cost
  $0 in the ledger. That $0 is not a price (the hardware and power are paid elsewhere), so such a model is
  labelled self-hosted, ranked apart and never named the cheapest. A price override that gives it a cost makes
  it a priced model like any other.
- Priced: any other model with calls that carry a price (catalog, override or billed). Its calls without a price
  are left out of its cost average: they carry no cost, and counting them would make it look cheaper.
- Cheapest: the lowest average cost per job among priced models with at least MIN_JOBS priced jobs in the
  period; ties go to the model with more jobs, then to the name. Below MIN_JOBS a handful of short calls would
  win on luck, so the model is not ranked.
- Reliability: the share of a model's calls that succeeded (the ledger's success rate), over all its calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.pricing.catalog import SELF_HOSTED
from core.queries.grouping import Sums

MIN_JOBS = 20  # priced jobs a model needs in the period before it is ranked on cost
RELIABLE = 0.95  # reliability a model needs to be proposed in place of another (the high_failure_rate rule's 5 %)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class ModelCost:
    provider: str
    model: str
    jobs: int  # every call
    priced_jobs: int  # calls with a price
    priced_cost: Decimal  # exact sum of the priced calls' cost
    success_sum: float  # sum of the calls' success rate (1 per success)

    @property
    def self_hosted(self) -> bool:
        return is_self_hosted(self.provider, self.priced_cost)

    @property
    def priced(self) -> bool:
        return self.priced_jobs > 0 and not self.self_hosted

    @property
    def avg_cost_per_job(self) -> Decimal | None:
        """Exact average over the priced calls; None for a self-hosted or unpriced model."""
        return self.priced_cost / self.priced_jobs if self.priced else None

    @property
    def reliability(self) -> float:
        return self.success_sum / self.jobs if self.jobs else 0.0

    def is_reliable(self) -> bool:
        return self.jobs > 0 and self.success_sum >= RELIABLE * self.jobs


def is_self_hosted(provider: str, priced_cost: Decimal) -> bool:
    """A self-hosted provider's model that nobody priced: its calls cost $0."""
    return str(provider or "").strip().lower() in SELF_HOSTED and priced_cost == 0


def model_costs(
    groups: Mapping[tuple, Sums], dims: Sequence[str], keys: Sequence[str] = ("provider_name", "model_name")
) -> dict[tuple, ModelCost]:
    """Per group of `keys` (which include provider_name and model_name) from grouped sums whose `dims` (the
    order of their keys) also hold pricing_status; money stays exact."""
    at = [dims.index(k) for k in keys]
    provider, model, status = (dims.index(d) for d in ("provider_name", "model_name", "pricing_status"))
    acc: dict[tuple, list] = {}
    for key, s in groups.items():
        cur = acc.setdefault(tuple(key[i] for i in at), [key[provider], key[model], 0, 0, _ZERO, 0.0])
        cur[2] += s.jobs
        cur[5] += s.success_sum
        if key[status] != "unpriced":
            cur[3] += s.jobs
            cur[4] += s.total_cost
    return {k: ModelCost(*v) for k, v in acc.items() if v[2] > 0}


def cheapest(costs: Iterable[ModelCost], min_jobs: int = MIN_JOBS) -> ModelCost | None:
    """The cheapest priced model (see the module's definition), or None when no model qualifies."""
    ranked = [c for c in costs if c.priced and c.priced_jobs >= min_jobs]
    if not ranked:
        return None
    return min(ranked, key=lambda c: (c.avg_cost_per_job, -c.priced_jobs, c.model, c.provider))
