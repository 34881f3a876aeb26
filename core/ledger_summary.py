"""Lifetime ledger totals, from the rollup (cheap at any size)."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from core.aggregate import aggregate
from core.db import session_scope
from core.demo import has_demo_data


def ledger_totals(session: Session | None = None) -> dict:
    with session_scope(session) as s:
        df = aggregate(s, dims=["pricing_status"])
        demo = has_demo_data(s)
    unpriced = int(df.loc[df["pricing_status"] == "unpriced", "jobs"].sum()) if len(df) else 0
    return {"jobs": int(df["jobs"].sum()) if len(df) else 0,
            "tokens": int(df["total_tokens"].sum()) if len(df) else 0,
            "cost": str(sum(df["total_cost"], start=Decimal("0.000000"))),
            "unpriced_jobs": unpriced, "is_demo": demo}
