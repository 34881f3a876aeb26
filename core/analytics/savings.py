"""Savings a finance lead can act on: per operation, what moving its calls from one model to a cheaper one that
already serves that operation reliably would save in a month.

For each operation of a company and each priced model A serving it, the proposed model B is the cheapest one of
that operation (`core.analytics.model_choice.cheapest`: lowest average cost per job, at least MIN_JOBS priced jobs on the
operation) among those with a reliability of 95 % or more on it, when B costs less per job than A:

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
from decimal import Decimal

import pandas as pd

from core.analytics.common import money
from core.analytics.model_choice import ModelCost, cheapest, model_costs
from core.storage.models import NO_OPERATION

SAVINGS_DAYS = 30
DIMS = ["company_id", "operation", "provider_name", "model_name", "pricing_status"]


def _item(company: str | None, op: str, a: ModelCost, b: ModelCost) -> dict:
    # calls_A x (cost_A / calls_A - cost_B / jobs_B), with a single division so nothing is rounded on the way.
    saving = (a.priced_cost * b.priced_jobs - a.priced_jobs * b.priced_cost) / b.priced_jobs
    return {"company": company, "operation": op, "from_model": a.model, "from_provider": a.provider,
            "to_model": b.model, "to_provider": b.provider, "calls_30d": a.priced_jobs,
            "from_avg_cost_per_job": money(a.avg_cost_per_job), "to_avg_cost_per_job": money(b.avg_cost_per_job),
            "to_jobs_30d": b.priced_jobs, "to_reliability": round(b.reliability, 3),
            "saving_usd_month": money(saving)}


def savings(df: pd.DataFrame, company_names: dict[int, str]) -> list[dict]:
    """Proposals from a frame over the last SAVINGS_DAYS days grouped by DIMS (see the module's rule)."""
    per_op: dict[tuple[int, str], list[ModelCost]] = defaultdict(list)
    for (cid, op, _, _), c in model_costs(df, ("company_id", "operation", "provider_name", "model_name")).items():
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
                if item["saving_usd_month"] != money(0):
                    out.append(item)
    out.sort(key=lambda s: (-Decimal(s["saving_usd_month"]), s["company"] or "", s["operation"], s["from_model"],
                            s["from_provider"]))
    return out
