"""Recording usage: one record (`record_usage`) or many (`ingest`), idempotent on job_id.

A replay of the same record (same job_id, same content) counts once; the same job_id with other content is a
conflict and the stored row is left as it was. Records are validated (core/ingest/checks.py), priced here and
written by the ledger's one writer (core/storage/writer.py), rollups included, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached

from core.errors import InvalidRecord, UsageConflict
from core.ingest.checks import UsageRecord, validate_record
from core.pricing.catalog import Pricer, billed_cost
from core.storage import writer
from core.storage.batch_insert import Outcome
from core.storage.columns import concat
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage, Brand, Company
from core.storage.names import get_or_create_brand, get_or_create_company

__all__ = [
    "record_usage",
    "ingest",
    "priced_row",
    "IngestResult",
    "InvalidRecord",
    "UsageConflict",
    "validate_record",
    "get_or_create_company",
    "get_or_create_brand",
]

CHUNK = 5000  # records turned into columns at a time: a long iterable is never held as dicts
# What `ingest` did: inserted, duplicates, conflicts [(position, job_id)], refused [(position, InvalidRecord)]
# (the write guard's refusals, core/storage/headroom.py).
IngestResult = Outcome


def priced_row(rec: UsageRecord, pricer: Pricer) -> dict:
    """A validated record with its cost, as the ledger writer takes it (core.storage.writer.from_rows)."""
    if rec.cost_input is not None or rec.cost_output is not None:
        cost = billed_cost(rec.cost_input, rec.cost_output)
    else:
        cost = pricer.price(
            provider=rec.provider,
            model=rec.model,
            at=rec.created_at,
            input_tokens=rec.input_tokens,
            output_tokens=rec.output_tokens,
            cached_tokens=rec.cached_tokens,
            cache_write_tokens=rec.cache_write_tokens,
        )
    return {
        "job_id": rec.job_id,
        "company": rec.company,
        "brand": rec.brand,
        "job_type": rec.job_type,
        "status": rec.status,
        "operation": rec.operation,
        "description": rec.description,
        "provider": rec.provider,
        "model": rec.model,
        "pricing_status": cost.pricing_status,
        "fingerprint": rec.fingerprint,
        "error_class": rec.error_class,
        "request_id": rec.request_id,
        "input_tokens": rec.input_tokens,
        "output_tokens": rec.output_tokens,
        "cached_tokens": rec.cached_tokens,
        "cache_write_tokens": rec.cache_write_tokens,
        "reasoning_tokens": rec.reasoning_tokens,
        "execution_ms": rec.execution_ms,
        "memory_usage_mb": rec.memory_usage_mb,
        "error_count": rec.error_count,
        "cost_input": cost.cost_input,
        "cost_output": cost.cost_output,
        "created_at": rec.created_at,
        "success_rate": rec.success_rate,
    }


def ingest(
    session: Session,
    records: Iterable[UsageRecord],
    *,
    source: str = "api",
    is_demo: bool = False,
    pricer: Pricer | None = None,
    extra_deltas: dict | None = None,
) -> IngestResult:
    """Store validated records (positions: their order in `records`) in one batch. The caller commits.

    A caller with other rollup changes in the same transaction (the removal of rows it replaces) passes them as
    `extra_deltas`: they are applied with this batch's, in the transaction's one rollup update.
    """
    pricer = pricer or Pricer(session)
    batch: dict | None = None
    rows: list[dict] = []
    done = 0
    for rec in records:
        rows.append(priced_row(rec, pricer))
        if len(rows) >= CHUNK:
            part = writer.from_rows(rows, range(done, done + len(rows)))
            batch, done, rows = part if batch is None else concat(batch, part), done + len(rows), []
    if batch is None and len(rows) == 1 and not extra_deltas:
        return writer.write_one(session, rows[0], source=source, is_demo=is_demo)
    if rows or batch is None:
        part = writer.from_rows(rows, range(done, done + len(rows)))
        batch = part if batch is None else concat(batch, part)
    return writer.write(session, batch, source=source, is_demo=is_demo, extra_deltas=extra_deltas)


def _record_fields(kwargs: Mapping) -> dict:
    """Accept the usage API's keyword names (provider_name, model_name, ai_job) besides our own."""
    raw = dict(kwargs)
    if "provider_name" in raw:
        raw.setdefault("provider", raw.pop("provider_name"))
    if "model_name" in raw:
        raw.setdefault("model", raw.pop("model_name"))
    job = raw.pop("ai_job", None)
    if isinstance(job, Mapping):
        for key in ("job_id", "job_type", "status", "brand", "company", "operation", "description"):
            if key in job:
                raw.setdefault(key, job[key])
    elif isinstance(job, str):
        raw.setdefault("job_id", job)
    if "operation_name" in raw:
        raw.setdefault("operation", raw.pop("operation_name"))
    total = raw.pop("total_tokens", None)
    if total is not None and raw.get("input_tokens") is not None and raw.get("output_tokens") is not None:
        try:
            consistent = int(total) == int(raw["input_tokens"]) + int(raw["output_tokens"])
        except (TypeError, ValueError):
            consistent = False
        if not consistent:
            raise InvalidRecord("total_tokens", total, "must equal input_tokens + output_tokens")
    if not raw.get("job_id"):
        raw["job_id"] = f"job_{uuid.uuid4().hex}"
    return raw


def record_usage(
    *, session: Session | None = None, source: str = "api", is_demo: bool = False, now: datetime | None = None, **kwargs
) -> AIJobUsage:
    """Record one AI call and return its usage row (with its job, brand and company loaded).

    Keyword arguments as the usage API names them (input_tokens, output_tokens, cost_input, cost_output,
    execution_time_seconds, memory_usage_mb, provider_name, model_name, success_rate, error_count) plus
    job_id, created_at, company, brand, job_type, status, operation, description, cached_tokens,
    cache_write_tokens, reasoning_tokens. Raises InvalidRecord (field and value named) or UsageConflict.
    """
    rec = validate_record(_record_fields(kwargs), now=now)
    with session_scope(session) as s:
        pricer = Pricer.kept(s)
        row = priced_row(rec, pricer)
        result = writer.write_one(s, row, source=source, is_demo=is_demo, prices=pricer.digest)
        if result is None:  # the price overrides changed since this process read them
            row = priced_row(rec, Pricer.read(s))
            result = writer.write_one(s, row, source=source, is_demo=is_demo)
        if result.conflicts:
            raise UsageConflict(rec.job_id)
        if result.refused:
            raise result.refused[0][1]
        if result.written is not None and session is None:
            return _as_stored(row, result.written, source, is_demo)
        # One round trip for the row, its job, brand and company (the caller gets them loaded).
        job = joinedload(AIJobUsage.ai_job, innerjoin=True)
        return s.scalar(
            select(AIJobUsage)
            .join(AIJob, AIJob.id == AIJobUsage.ai_job_id)
            .where(AIJob.job_id == rec.job_id)
            .options(job.joinedload(AIJob.brand, innerjoin=True), job.joinedload(AIJob.company, innerjoin=True))
        )


def _loaded(model, **values):
    """An instance as a query loads it (no __init__, no change history), detached."""
    obj = model.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    return obj


def _as_stored(row: dict, ids: dict, source: str, is_demo: bool) -> AIJobUsage:
    """The usage row, job, brand and company just written, as loading them back would give them (detached, as
    when the session that loads them closes): the values are the ones written, the ids the statement's."""
    created = row["created_at"].astimezone(UTC)
    cid, bid = ids["company_id"], ids["brand_id"]
    company = _loaded(Company, id=cid, name=row["company"], created_at=ids["company_created_at"].astimezone(UTC))
    brand = _loaded(Brand, id=bid, company_id=cid, name=row["brand"], company=company)
    job = _loaded(
        AIJob,
        id=ids["job"],
        job_id=row["job_id"],
        company_id=cid,
        brand_id=bid,
        source=source,
        is_demo=is_demo,
        created_at=created,
        brand=brand,
        company=company,
        **{k: row[k] for k in ("job_type", "status", "operation", "description", "request_id", "fingerprint")},
    )
    usage = _loaded(
        AIJobUsage,
        id=ids["usage"],
        ai_job_id=ids["job"],
        company_id=cid,
        brand_id=bid,
        job_status=row["status"],
        operation=row["operation"],
        created_at=created,
        total_tokens=row["input_tokens"] + row["output_tokens"],
        total_cost=row["cost_input"] + row["cost_output"],
        provider_name=row["provider"],
        model_name=row["model"],
        ai_job=job,
        **{
            k: row[k]
            for k in (
                "input_tokens",
                "output_tokens",
                "cached_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "cost_input",
                "cost_output",
                "pricing_status",
                "execution_ms",
                "memory_usage_mb",
                "success_rate",
                "error_count",
                "error_class",
            )
        },
    )
    return usage
