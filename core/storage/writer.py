"""The ledger's one write path: a batch of priced records into ai_jobs and ai_job_usage, past the write guard
(core/storage/headroom.py), and its rollup deltas (core/storage/rollups.py), in the caller's transaction.

Every record comes in here: one call (`record_usage`), the batches of applications and syncs, the import. A
batch is columns (see BATCH); `from_rows` makes one from records as dicts. Writing it:
- the same job_id twice in the batch: the first (by position) is written, each other one is a duplicate (same
  fingerprint) or a conflict; a job_id already stored is a duplicate or a conflict too, the stored row untouched;
- company and brand ids by name, created on first sight;
- the write guard refuses the records that would take a lifetime total past what storage holds: written, then
  removed again, each named;
- the rollups get the batch's deltas in one update (one `rollups.apply` per transaction: see there).

The rows go in by core/storage/batch_insert.py. PostgreSQL writes optimistically: COPY in a savepoint, the unique
index on job_id as the check, so a bulk load of new records pays no look-up; on a clash, the stored job_ids are
looked up and classified and the rest written again. Ids are taken up front (a sequence batch), so no RETURNING per
row. SQLite looks first, under its write lock, which also keeps the ids it picks (MAX(id) + 1…) free. One record on
PostgreSQL is one statement (`write_one`): the job, its usage row, the guard and the three rollups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pyarrow.compute as pc
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.storage import headroom, one_record, rollup_frames, rollups
from core.storage.batch_insert import LOOKUP_CHUNK, Outcome, insert_pg, insert_sqlite, measured_list
from core.storage.bounds import MAX_RECORD_COST_MICROS
from core.storage.columns import factorize, pylist, take
from core.storage.columns import text as text_array
from core.storage.db import is_sqlite
from core.storage.names import NameIds

# A batch, column by column: TEXT as Arrow strings (None: NULL); COUNTS and MONEY (micro-dollars) as int64, with
# execution_ms and memory_usage_mb 0 where `timed` / `memory_measured` (bool) say not measured (stored NULL);
# created_at as datetime64[us] (UTC); success_rate as float64; position (int64): the caller's key of each record,
# which orders the records (the first of a job_id wins; the guard admits in order) and names them in the Outcome.
TEXT = (
    "job_id",
    "company",
    "brand",
    "job_type",
    "status",
    "operation",
    "description",
    "provider",
    "model",
    "pricing_status",
    "fingerprint",
    "error_class",
    "request_id",
)
COUNTS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "execution_ms",
    "memory_usage_mb",
    "error_count",
)
MONEY = ("cost_input", "cost_output")
BATCH = TEXT + COUNTS + MONEY + ("timed", "memory_measured", "created_at", "success_rate", "position")
SMALL = 200  # up to this many records, rollup deltas are summed in Python, not by Arrow


def _naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def from_rows(rows: Sequence[Mapping], positions: Sequence[int] | None = None) -> dict:
    """A batch from records as dicts keyed as its columns: money as Decimal, created_at a datetime, None for a time
    or memory not measured."""
    c: dict = {k: text_array([r.get(k) for r in rows]) for k in TEXT}
    for k in COUNTS:
        c[k] = np.array([r[k] or 0 for r in rows], dtype=np.int64)
    for k in MONEY:
        c[k] = np.array([int(r[k].scaleb(6)) for r in rows], dtype=np.int64)
    c["timed"] = np.array([r["execution_ms"] is not None for r in rows], dtype=bool)
    c["memory_measured"] = np.array([r["memory_usage_mb"] is not None for r in rows], dtype=bool)
    c["created_at"] = np.array([_naive_utc(r["created_at"]) for r in rows], dtype="datetime64[us]")
    c["success_rate"] = np.array([r["success_rate"] for r in rows], dtype=np.float64)
    c["position"] = np.arange(len(rows), dtype=np.int64) if positions is None else np.asarray(positions, np.int64)
    return c


def write(
    session: Session,
    c: dict,
    *,
    source: str = "api",
    is_demo: bool = False,
    names_apart: bool = False,
    extra_deltas: dict | None = None,
) -> Outcome:
    """Store a batch (see BATCH) and add it to the rollups. `names_apart`: create new company and brand names in
    transactions of their own (see NameIds). `extra_deltas`: rollup changes of the same transaction (hourly deltas,
    as rollups.accumulate gives them), applied with this batch's in the one update."""
    out = Outcome()
    stored = sums = None
    if len(c["position"]):
        c = {**c, **{k: text_array(c[k]) for k in TEXT}}
        c = _first_of_each(c, out)
        _name_ids(session, c, names_apart)
        c["total_tokens"] = c["input_tokens"] + c["output_tokens"]
        c["total_cost"] = c["cost_input"] + c["cost_output"]
        # Summed before the guard's lock (taken by `_guard`, held to the commit): the other batch in flight waits
        # only for this one's rollup upsert, not for its sums too.
        sums = _sums(c)
        stored = (insert_sqlite if is_sqlite(session) else insert_pg)(session, c, out, source, is_demo)
        if stored is not None:
            stored = _guard(session, stored, out)
        out.inserted = 0 if stored is None else len(stored["position"])
        if out.inserted != len(c["position"]):  # some were stored already, or refused by the guard
            sums = _sums(stored)
    _apply_rollups(session, stored, sums, extra_deltas)
    out.conflicts.sort()
    out.refused.sort(key=lambda r: r[0])
    return out


def _first_of_each(c: dict, out: Outcome) -> dict:
    """The batch without its repeated job_ids: the first (by position) stays, the others are counted."""
    if len(pc.unique(c["job_id"])) == len(c["job_id"]):  # the rule: found in C (half the time of count_distinct)
        return c
    job_ids = pylist(c["job_id"])
    first: dict[str, str] = {}
    keep = np.zeros(len(job_ids), dtype=bool)
    fingerprints = pylist(c["fingerprint"])
    for i in np.argsort(c["position"], kind="stable").tolist():
        seen = first.get(job_ids[i])
        if seen is None:
            first[job_ids[i]] = fingerprints[i]
            keep[i] = True
        elif seen == fingerprints[i]:
            out.duplicates += 1
        else:
            out.conflicts.append((int(c["position"][i]), job_ids[i]))
    return take(c, np.flatnonzero(keep))


def _name_ids(session: Session, c: dict, names_apart: bool) -> None:
    names = NameIds(session, commit_new=names_apart and not is_sqlite(session))
    pairs, _, codes = factorize(c["company"], c["brand"])
    ids = np.array([names.ids(co, br) for co, br in pairs], dtype=np.int64).reshape(-1, 2)
    c["company_id"], c["brand_id"] = ids[codes, 0], ids[codes, 1]


def _guard(session: Session, c: dict, out: Outcome) -> dict | None:
    """The stored rows the write guard admits; the others are deleted again and reported."""
    values = {m: c[headroom.RECORD_FIELDS.get(m, m)] for m in headroom.GUARDED}
    job_ids: list = []

    def job_id(i: int) -> str:
        if not job_ids:
            job_ids.extend(pylist(c["job_id"]))
        return job_ids[i]

    refusals = headroom.check(session, c["position"], values, job_id)
    if not refusals:
        return c
    gone = np.array([r.index for r in refusals], dtype=np.int64)
    ids = c["id"][gone].tolist()
    for i in range(0, len(ids), LOOKUP_CHUNK):
        part = ids[i : i + LOOKUP_CHUNK]
        marks = ", ".join(str(int(v)) for v in part)  # integers we chose
        session.execute(text(f"DELETE FROM ai_job_usage WHERE ai_job_id IN ({marks})"))
        session.execute(text(f"DELETE FROM ai_jobs WHERE id IN ({marks})"))
    out.refused.extend((r.key, r.error) for r in refusals)
    keep = np.setdiff1d(np.arange(len(c["position"])), gone)
    return take(c, keep) if len(keep) else None


def _sums(c: dict | None):
    """A large batch's rollup deltas as columns (rollup_frames.column_sums); None for a small one (summed in Python
    by `_apply_rollups`) or no batch."""
    return rollup_frames.column_sums(c) if c is not None and len(c["position"]) > SMALL else None


def _apply_rollups(session: Session, c: dict | None, sums, extra: dict | None) -> None:
    """One rollup update for the batch (`sums`: its deltas as columns, when large) and `extra` (see
    rollups.apply). PostgreSQL takes a large batch alone as one Arrow COPY of its deltas."""
    deltas = {} if extra is None else extra
    if sums is not None:
        if not deltas and not is_sqlite(session):
            rollup_frames.apply_frame(session, sums)
            return
        rollups.add_into(deltas, rollup_frames.frame_deltas(sums))
    elif c is not None:
        rollups.add_into(deltas, rollups.accumulate(_usage_rows(c)))
    rollups.apply(session, deltas)


def _usage_rows(c: dict) -> list[dict]:
    """A small batch as usage rows (the ledger's column names), for rollups.accumulate."""
    n = len(c["position"])
    money = {k: [Decimal(v).scaleb(-6) for v in c[k].tolist()] for k in ("cost_input", "cost_output", "total_cost")}
    cols = {
        "created_at": c["created_at"].astype(object).tolist(),
        "company_id": c["company_id"].tolist(),
        "brand_id": c["brand_id"].tolist(),
        "provider_name": pylist(c["provider"]),
        "model_name": pylist(c["model"]),
        "operation": pylist(c["operation"]),
        "job_status": pylist(c["status"]),
        "pricing_status": pylist(c["pricing_status"]),
        **{
            k: c[k].tolist()
            for k in (
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "cached_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "error_count",
            )
        },
        "execution_ms": measured_list(c["execution_ms"], c["timed"]),
        "memory_usage_mb": measured_list(c["memory_usage_mb"], c["memory_measured"]),
        "success_rate": c["success_rate"].tolist(),
        **money,
    }
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def write_one(
    session: Session, row: Mapping, *, source: str = "api", is_demo: bool = False, prices: str | None = None
) -> Outcome | None:
    """One record (a dict as `from_rows` takes). On PostgreSQL, when its company and brand exist, its job_id is new
    and it fits under the guard, in one statement (core/storage/one_record.py); otherwise, and on SQLite, as a batch
    of one. `prices`: the digest of the price overrides the record was priced with (PostgreSQL), checked in that
    statement: None returned, nothing written, when they changed since (price it again, without a digest)."""
    if not is_sqlite(session) and (row["cost_input"] + row["cost_output"]).scaleb(6) <= MAX_RECORD_COST_MICROS:
        got = one_record.STATEMENT.run(session, one_record.params(row, source, is_demo, prices))[0]
        written = dict(zip(one_record.RESULT, got))
        if not written["prices_current"]:
            return None
        if written["admitted"]:
            headroom.changed_elsewhere(session)
            return Outcome(inserted=1, written=written)
        if written["job"] is not None:  # the guard's totals refused it (or have no row yet): the batch path says why
            session.execute(text("DELETE FROM ai_jobs WHERE id = :id"), {"id": written["job"]})
    return write(session, from_rows([row]), source=source, is_demo=is_demo)
