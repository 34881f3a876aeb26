"""Savings a finance lead can act on: per operation, what moving its calls from one model to a cheaper one that
already serves that operation reliably would save in a month.

For each operation of a company and each priced model A serving it, the proposed model B is the cheapest one of
that operation (`core.analytics.model_choice.cheapest`: lowest average cost per job, at least MIN_JOBS priced jobs
on the operation) among those with a reliability of 95 % or more on it, when B costs less per job than A:

    saving_usd_month = calls of A on the operation × (A's average cost per job − B's)

all over the last SAVINGS_DAYS (30) days: the month is the last 30 days' volume, not an extrapolation. Exact in
Decimal from the rollups (rounded to 6 places only at the end). A's calls and averages count its priced calls only
(an unpriced call's cost is unknown). Self-hosted models are neither A (nothing to save on $0) nor B (their $0 is no
price). An operation is one company's: two companies' "document-summary" are different prompts, so B must serve
it in the same company. Calls without an operation are left out: they are unrelated tasks, not one job to move.
Largest saving first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.analytics.common import ZERO, micro, money
from core.analytics.model_choice import ModelCost, cheapest, model_costs
from core.queries.grouping import Sums
from core.storage.models import NO_OPERATION

SAVINGS_DAYS = 30
DIMS = ("company_id", "operation", "provider_name", "model_name", "pricing_status")


@dataclass(frozen=True, slots=True)
class Saving:
    company: str | None
    operation: str
    from_model: str
    from_provider: str
    to_model: str
    to_provider: str
    calls_30d: int
    from_avg_cost_per_job: Decimal  # to the micro-dollar
    to_avg_cost_per_job: Decimal
    to_jobs_30d: int
    to_reliability: float
    saving_usd_month: Decimal

    def to_dict(self) -> dict:
        return {
            "company": self.company,
            "operation": self.operation,
            "from_model": self.from_model,
            "from_provider": self.from_provider,
            "to_model": self.to_model,
            "to_provider": self.to_provider,
            "calls_30d": self.calls_30d,
            "from_avg_cost_per_job": money(self.from_avg_cost_per_job),
            "to_avg_cost_per_job": money(self.to_avg_cost_per_job),
            "to_jobs_30d": self.to_jobs_30d,
            "to_reliability": self.to_reliability,
            "saving_usd_month": money(self.saving_usd_month),
        }


def _item(company: str | None, op: str, a: ModelCost, b: ModelCost) -> Saving:
    # calls_A x (cost_A / calls_A - cost_B / jobs_B), with a single division so nothing is rounded on the way.
    saving = (a.priced_cost * b.priced_jobs - a.priced_jobs * b.priced_cost) / b.priced_jobs
    return Saving(
        company,
        op,
        a.model,
        a.provider,
        b.model,
        b.provider,
        a.priced_jobs,
        micro(a.avg_cost_per_job),
        micro(b.avg_cost_per_job),
        b.priced_jobs,
        round(b.reliability, 3),
        micro(saving),
    )


def savings(groups: Mapping[tuple, Sums], company_names: dict[int, str]) -> list[Saving]:
    """Proposals from sums over the last SAVINGS_DAYS days keyed by DIMS (see the module's rule)."""
    per_op: dict[tuple[int, str], list[ModelCost]] = defaultdict(list)
    for (cid, op, _, _), c in model_costs(groups, DIMS, DIMS[:4]).items():
        if op and op != NO_OPERATION and c.priced:
            per_op[(cid, op)].append(c)
    out = []
    for (cid, op), costs in per_op.items():
        best = cheapest(c for c in costs if c.is_reliable())
        if best is None:
            continue
        for a in costs:
            if a is not best and a.avg_cost_per_job > best.avg_cost_per_job:
                item = _item(company_names.get(cid), op, a, best)
                if item.saving_usd_month != ZERO:
                    out.append(item)
    out.sort(key=lambda s: (-s.saving_usd_month, s.company or "", s.operation, s.from_model, s.from_provider))
    return out
