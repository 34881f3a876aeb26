"""Recording usage: one record (`record_usage`) or many (`ingest`), idempotent on job_id.

A replay of the same record (same job_id, same content) counts once; the same job_id with other content is a
conflict and the stored row is left as it was. Rollups are updated in the same transaction as the ledger.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from core.storage import row_writer as bulk
from core.storage import headroom
from core.storage import rollups as rollup
from core.storage.names import brand_id, company_id, dialect_insert, get_or_create_brand, get_or_create_company
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage, Brand, Company
from core.pricing.catalog import Pricer, billed_cost
from core.errors import InvalidRecord, UsageConflict
from core.ingest.checks import UsageRecord, validate_record

__all__ = ["record_usage", "ingest", "IngestResult", "InvalidRecord", "UsageConflict",
           "validate_record", "get_or_create_company", "get_or_create_brand"]

CHUNK = 5000
BULK_MIN = 50  # below this, the plain INSERT … ON CONFLICT path is as fast and needs no lock


@dataclass
class IngestResult:
    inserted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (position, job_id)
    inserted_ids: list[int] = field(default_factory=list)  # ai_jobs.id of new records
    # (position, why): records the write guard refused (core/storage/headroom.py), not stored
    refused: list[tuple[int, InvalidRecord]] = field(default_factory=list)


_ID_OF = {get_or_create_company: company_id, get_or_create_brand: brand_id}


class _Names:
    """Company and brand ids by name, created on first sight, cached for one ingest.

    `commit_new`: a new name is created and committed in a transaction of its own. Batches in flight together
    (core.ingest.frames.ingest_frames) would otherwise queue behind the first one's uncommitted insert of the same
    name, for that whole batch (measured: half the time of a 500k-record import of a new company). A name whose
    batch then fails stays, with no record: harmless, as a budget set for a new company leaves it too.
    """

    def __init__(self, session: Session, *, commit_new: bool = False):
        self.session = session
        self.commit_new = commit_new
        self.companies: dict[str, int] = {}
        self.brands: dict[tuple[int, str], int] = {}

    def ids(self, company: str, brand: str) -> tuple[int, int]:
        if company not in self.companies:
            # Both ids in one round trip when they exist (the common case).
            row = self.session.execute(select(Company.id, Brand.id).outerjoin(
                Brand, (Brand.company_id == Company.id) & (Brand.name == brand)).where(Company.name == company)).first()
            if row is not None:
                self.companies[company] = row[0]
                if row[1] is not None:
                    self.brands[(row[0], brand)] = row[1]
        cid = self.companies.get(company)
        if cid is None:
            cid = self.companies[company] = self._create(get_or_create_company, company)
        bid = self.brands.get((cid, brand))
        if bid is None:
            bid = self.brands[(cid, brand)] = self._create(get_or_create_brand, cid, brand)
        return cid, bid

    def _create(self, get_or_create, *args) -> int:
        if not self.commit_new:
            return get_or_create(self.session, *args)
        # This transaction may hold the name uncommitted (created earlier in it): then it is found here, and the
        # own transaction below, which would wait for this one forever, is not opened.
        found = _ID_OF[get_or_create](self.session, *args)
        if found is not None:
            return found
        with Session(bind=self.session.get_bind()) as own, own.begin():  # same database as the batch
            return get_or_create(own, *args)


def ingest(session: Session, records: Iterable[UsageRecord], *, source: str = "api", is_demo: bool = False,
           pricer: Pricer | None = None, rollup_deltas: dict | None = None,
           written: headroom.Written | None = None) -> IngestResult:
    """Store validated records in chunks (many rows per statement). The caller commits.

    The rollups are updated once, after the last chunk (one `rollup.apply` per transaction); a caller with other
    rollup changes in the same transaction passes `rollup_deltas`, receives this ingest's deltas there, and
    applies them all itself. Before that, the write guard (core/storage/headroom.py) refuses the records that would take
    a lifetime total past what storage holds (in `result.refused`); a caller that guards its whole transaction
    passes `written`, receives the records there (keyed by position), and checks and removes them itself.
    """
    result = IngestResult()
    pricer = pricer or Pricer(session)
    names = _Names(session)
    deltas = {} if rollup_deltas is None else rollup_deltas
    mine = headroom.Written() if written is None else written
    chunk: list[tuple[int, UsageRecord]] = []
    for pos, rec in enumerate(records):
        chunk.append((pos, rec))
        if len(chunk) >= CHUNK:
            _ingest_chunk(session, chunk, source, is_demo, pricer, names, result, deltas, mine)
            chunk = []
    if chunk:
        _ingest_chunk(session, chunk, source, is_demo, pricer, names, result, deltas, mine)
    if written is None:
        _refuse_overflow(session, mine, result, deltas)
    if rollup_deltas is None:
        rollup.apply(session, deltas)
    return result


def _refuse_overflow(session: Session, written: headroom.Written, result: IngestResult, deltas: dict) -> None:
    refusals = headroom.check(session, written)
    if not refusals:
        return
    removed = bulk.remove_jobs(session, [r.job_id for r in refusals])
    rollup.add_into(deltas, rollup.accumulate(removed, sign=-1))
    gone = {r["ai_job_id"] for r in removed}
    result.inserted -= len(refusals)
    result.inserted_ids = [i for i in result.inserted_ids if i not in gone]
    result.refused.extend((r.key, r.error) for r in refusals)


def _ingest_chunk(session, chunk, source, is_demo, pricer, names, result: IngestResult, deltas: dict,
                  written: headroom.Written) -> None:
    # Same job_id twice inside the chunk: the first wins, the rest are duplicates or conflicts.
    first: dict[str, tuple[int, UsageRecord]] = {}
    for pos, rec in chunk:
        seen = first.get(rec.job_id)
        if seen is None:
            first[rec.job_id] = (pos, rec)
        elif seen[1].fingerprint == rec.fingerprint:
            result.duplicates += 1
        else:
            result.conflicts.append((pos, rec.job_id))
    if len(first) >= BULK_MIN:
        bulk.lock_for_write(session)
        stored = bulk.existing_fingerprints(session, list(first))
        jobs = [_job_row(rec, names, source, is_demo) for jid, (_, rec) in first.items() if jid not in stored]
        new_ids = bulk.insert_jobs(session, jobs)
        if new_ids is None:  # a concurrent writer stored some of these job_ids meanwhile
            new_ids, stored = _insert_jobs_on_conflict(session, jobs), None
    else:
        jobs = [_job_row(rec, names, source, is_demo) for _, rec in first.values()]
        new_ids, stored = _insert_jobs_on_conflict(session, jobs), None
    existing = [jid for jid in first if jid not in new_ids]
    if existing:
        if stored is None:
            stored = bulk.existing_fingerprints(session, existing)
        for jid in existing:
            if stored.get(jid) == first[jid][1].fingerprint:
                result.duplicates += 1
            else:
                result.conflicts.append((first[jid][0], jid))
    job_index = {j["job_id"]: j for j in jobs}
    rows = [_usage_row(first[jid][1], job_index[jid], ai_job_id, pricer) for jid, ai_job_id in new_ids.items()]
    written.add_rows([first[jid][0] for jid in new_ids], list(new_ids), rows)
    if rows:
        if len(rows) >= BULK_MIN:
            bulk.insert_usage(session, rows)
        else:
            session.connection().execute(AIJobUsage.__table__.insert(), rows[0] if len(rows) == 1 else rows)
        rollup.add_into(deltas, rollup.accumulate(rows))
    result.inserted += len(rows)
    result.inserted_ids.extend(new_ids.values())


def _job_row(rec: UsageRecord, names: _Names, source: str, is_demo: bool) -> dict:
    cid, bid = names.ids(rec.company, rec.brand)
    return {"job_id": rec.job_id, "company_id": cid, "brand_id": bid, "job_type": rec.job_type,
            "status": rec.status, "operation": rec.operation, "description": rec.description, "source": source,
            "is_demo": is_demo, "request_id": rec.request_id, "fingerprint": rec.fingerprint,
            "created_at": rec.created_at}


def _insert_jobs_on_conflict(session: Session, jobs: list[dict]) -> dict[str, int]:
    """Row-wise path, correct under any concurrency: a job_id stored meanwhile is simply not returned."""
    if not jobs:
        return {}
    table = AIJob.__table__
    stmt = (dialect_insert(session)(table).on_conflict_do_nothing(index_elements=["job_id"])
            .returning(table.c.id, table.c.job_id))
    # A single row goes as one statement, not through executemany (which costs extra round trips).
    rows = session.connection().execute(stmt, jobs[0] if len(jobs) == 1 else jobs).all()
    return {job_id: id_ for id_, job_id in rows}


def _usage_row(rec: UsageRecord, job: dict, ai_job_id: int, pricer: Pricer) -> dict:
    if rec.cost_input is not None or rec.cost_output is not None:
        cost = billed_cost(rec.cost_input, rec.cost_output)
    else:
        cost = pricer.price(provider=rec.provider, model=rec.model, at=rec.created_at,
                            input_tokens=rec.input_tokens, output_tokens=rec.output_tokens,
                            cached_tokens=rec.cached_tokens, cache_write_tokens=rec.cache_write_tokens)
    return {
        "ai_job_id": ai_job_id, "company_id": job["company_id"], "brand_id": job["brand_id"],
        "job_status": rec.status, "operation": rec.operation, "created_at": rec.created_at,
        "input_tokens": rec.input_tokens, "output_tokens": rec.output_tokens,
        "total_tokens": rec.input_tokens + rec.output_tokens, "cached_tokens": rec.cached_tokens,
        "cache_write_tokens": rec.cache_write_tokens, "reasoning_tokens": rec.reasoning_tokens,
        "cost_input": cost.cost_input, "cost_output": cost.cost_output, "total_cost": cost.total_cost,
        "pricing_status": cost.pricing_status, "execution_ms": rec.execution_ms,
        "memory_usage_mb": rec.memory_usage_mb, "provider_name": rec.provider, "model_name": rec.model,
        "success_rate": rec.success_rate, "error_count": rec.error_count, "error_class": rec.error_class,
    }


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


def record_usage(*, session: Session | None = None, source: str = "api", is_demo: bool = False,
                 now: datetime | None = None, **kwargs) -> AIJobUsage:
    """Record one AI call and return its usage row (with its job loaded).

    Keyword arguments as the usage API names them (input_tokens, output_tokens, cost_input, cost_output,
    execution_time_seconds, memory_usage_mb, provider_name, model_name, success_rate, error_count) plus
    job_id, created_at, company, brand, job_type, status, operation, description, cached_tokens,
    cache_write_tokens, reasoning_tokens. Raises InvalidRecord (field and value named) or UsageConflict.
    """
    rec = validate_record(_record_fields(kwargs), now=now)
    with session_scope(session) as s:
        result = ingest(s, [rec], source=source, is_demo=is_demo)
        if result.conflicts:
            raise UsageConflict(rec.job_id)
        if result.refused:
            raise result.refused[0][1]
        # One round trip for the row, its job, brand and company (the caller gets them loaded).
        job = joinedload(AIJobUsage.ai_job, innerjoin=True)
        return s.scalar(select(AIJobUsage).join(AIJob, AIJob.id == AIJobUsage.ai_job_id)
                        .where(AIJob.job_id == rec.job_id)
                        .options(job.joinedload(AIJob.brand, innerjoin=True),
                                 job.joinedload(AIJob.company, innerjoin=True)))
