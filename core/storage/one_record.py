"""One record on PostgreSQL in one statement: its job (company and brand looked up by name), the write guard's
totals, its usage row and the three rollups — the whole of `core.storage.writer.write_one`'s common case, one round
trip instead of ten. Nothing is written when the company or brand is new, the job_id is already stored, or the
price overrides changed since the record was priced (the caller's digest); the writer then takes its batch path.
Only the guard can refuse after the job is written (the totals have no room): the writer deletes the job again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

from core.storage import headroom, rollups
from core.storage.db import NativeStatement

JOB_COLS = (
    "job_id",
    "company_id",
    "brand_id",
    "job_type",
    "status",
    "operation",
    "description",
    "source",
    "is_demo",
    "request_id",
    "fingerprint",
    "created_at",
)
USAGE_COLS = (
    "ai_job_id",
    "company_id",
    "brand_id",
    "job_status",
    "operation",
    "created_at",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_input",
    "cost_output",
    "total_cost",
    "pricing_status",
    "execution_ms",
    "memory_usage_mb",
    "provider_name",
    "model_name",
    "success_rate",
    "error_count",
    "error_class",
)
# The price overrides as one text: any change to the table changes it (PostgreSQL).
PRICES_DIGEST = "SELECT md5(COALESCE(json_agg(p ORDER BY p.id)::text, '')) FROM price_overrides p"
RESULT = ("prices_current", "job", "admitted", "usage", "company_id", "brand_id", "company_created_at")


def _p(name: str, cast: str | None = None) -> str:
    return f"%({name})s" if cast is None else f"CAST(%({name})s AS {cast})"


def _sql() -> str:
    job = {
        "company_id": "n.company_id",
        "brand_id": "n.brand_id",
        "description": _p("description", "TEXT"),
        "is_demo": _p("is_demo", "BOOLEAN"),
        "request_id": _p("request_id", "VARCHAR"),
        "created_at": _p("created_at", "TIMESTAMPTZ"),
    }
    usage = {
        "ai_job_id": "j.id",
        "company_id": "j.company_id",
        "brand_id": "j.brand_id",
        "execution_ms": _p("ledger_execution_ms", "BIGINT"),
        "memory_usage_mb": _p("memory_usage_mb", "INTEGER"),
        "error_class": _p("error_class", "VARCHAR"),
        "created_at": _p("created_at", "TIMESTAMPTZ"),
    }
    prices_current = f"({_p('prices', 'TEXT')} IS NULL OR ({PRICES_DIGEST}) = {_p('prices', 'TEXT')})"
    return (
        f"WITH v AS (SELECT {prices_current} AS current), "
        "n AS (SELECT c.id AS company_id, b.id AS brand_id, c.created_at FROM companies c JOIN brands b "
        "ON b.company_id = c.id AND b.name = %(brand)s WHERE c.name = %(company)s AND (SELECT current FROM v)), "
        f"j AS (INSERT INTO ai_jobs ({', '.join(JOB_COLS)}) SELECT {', '.join(job.get(c, _p(c)) for c in JOB_COLS)} "
        "FROM n ON CONFLICT (job_id) DO NOTHING RETURNING id, company_id, brand_id), "
        f"t AS ({headroom.admit_one_sql('EXISTS (SELECT FROM j)')}), "
        f"u AS (INSERT INTO ai_job_usage ({', '.join(USAGE_COLS)}) "
        f"SELECT {', '.join(usage.get(c, _p(c)) for c in USAGE_COLS)} FROM j, t RETURNING id), "
        f"{rollups.add_one_sql('j, t', {'company_id': 'j.company_id', 'brand_id': 'j.brand_id'})} "
        "SELECT (SELECT current FROM v), (SELECT id FROM j), EXISTS (SELECT FROM t), (SELECT id FROM u), "
        "(SELECT company_id FROM n), (SELECT brand_id FROM n), (SELECT created_at FROM n), "
        "(SELECT count(*) FROM m)"
    )


STATEMENT = NativeStatement(_sql())


def params(r: Mapping, source: str, is_demo: bool, prices: str | None) -> dict:
    """The statement's parameters for one record (keys as core.storage.writer.from_rows takes)."""
    created = r["created_at"].astimezone(UTC)
    ms, mb = r["execution_ms"], r["memory_usage_mb"]
    total_cost = r["cost_input"] + r["cost_output"]
    total_tokens = r["input_tokens"] + r["output_tokens"]
    return {
        **{
            k: r.get(k)
            for k in (
                "job_id",
                "company",
                "brand",
                "job_type",
                "status",
                "operation",
                "description",
                "pricing_status",
                "fingerprint",
                "error_class",
                "request_id",
            )
        },
        "source": source,
        "is_demo": is_demo,
        "prices": prices,
        "created_at": created,
        "job_status": r["status"],
        "provider_name": r["provider"],
        "model_name": r["model"],
        **{
            k: r[k]
            for k in (
                "input_tokens",
                "output_tokens",
                "cached_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "error_count",
            )
        },
        "ledger_execution_ms": ms,
        "memory_usage_mb": mb,
        "success_rate": r["success_rate"],
        "cost_input": r["cost_input"],
        "cost_output": r["cost_output"],
        "total_cost": total_cost,
        "total_tokens": total_tokens,
        # its rollup deltas
        "day": created.date(),
        "hour": created.hour,
        "jobs": 1,
        "execution_ms": ms or 0,
        "timed_jobs": int(ms is not None),
        "memory_mb": mb or 0,
        "memory_jobs": int(mb is not None),
        "success_sum": r["success_rate"],
        **headroom.admit_one_params(
            {
                "total_tokens": total_tokens,
                "total_cost": int(total_cost.scaleb(6)),
                "execution_ms": ms or 0,
                "error_count": r["error_count"],
                "memory_mb": mb or 0,
            }
        ),
    }
