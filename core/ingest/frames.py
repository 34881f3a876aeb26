"""Columnar ingest: a batch of raw records as a pandas frame, validated (core/ingest/column_checks.py), priced
(core/pricing/columns.py) and written (core/storage/column_writer.py) a column at a time, with the rollup updated in the same
transaction. Same outcome as the row path (`core.ingest.record.ingest`), several times faster: see bench/ingest.py.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa

from core.storage import row_writer as bulk
from core.storage import headroom
from core.storage import rollups as rollup
from core.storage import column_writer as writers
from core.ingest.column_checks import check_frame
from core.pricing.columns import ColumnPrices, factorize
from core.storage.db import get_engine, session_scope
from core.pricing.catalog import Pricer
from core.ingest.record import IngestResult, _Names, ingest
from core.errors import InvalidRecord
from core.ingest.checks import UsageRecord, validate_record



@dataclass
class FrameResult:
    inserted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (position in the frame, job_id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (position in the frame, reason)


def _take(c: dict, idx: np.ndarray) -> dict:
    out = {}
    for k, v in c.items():
        if isinstance(v, pa.Array):
            out[k] = v.take(pa.array(idx, pa.int64()))
        elif isinstance(v, np.ndarray):
            out[k] = v[idx]
        elif isinstance(v, list):
            out[k] = [v[i] for i in idx]
        else:
            out[k] = v
    return out


def ingest_frame(session, frame: pd.DataFrame, *, source: str = "import", is_demo: bool = False,
                 now: datetime | None = None, default_company: str | None = None,
                 pricer: Pricer | None = None, raw: list | None = None) -> FrameResult:
    """Validate, price and store a batch of raw records (columns named as the import fields). The caller commits.

    Same outcome as validating each row and calling `ingest`: valid rows stored once, replays counted as
    duplicates, same job_id with other content reported as a conflict, invalid rows refused with the reason.
    `raw`, when given, holds the records the frame was built from: refusals then quote the values as given
    (a frame turns 11 into 11.0 in a column with gaps).
    """
    now = now or datetime.now(UTC)
    frame = frame.reset_index(drop=True)
    result = FrameResult()
    if frame.empty:
        return result
    pricer = pricer or Pricer(session)
    cols, bad = check_frame(frame, now, default_company)
    slow: list[tuple[int, UsageRecord]] = []
    if bad.any():
        where = np.flatnonzero(bad).tolist()
        records = [raw[i] for i in where] if raw is not None else [
            {k: (None if _is_na(v) else v) for k, v in r.items()} for r in frame.iloc[where].to_dict("records")]
        for pos, rec in zip(where, records):
            try:
                slow.append((pos, validate_record(rec, now=now, default_company=default_company)))
            except InvalidRecord as e:
                result.refused.append((pos, str(e)))
    good = np.flatnonzero(~bad)
    # The same job_id twice in the frame: the first (fast or slow) wins, the rest are duplicates or conflicts.
    pos_all = np.concatenate([good, np.array([p for p, _ in slow], dtype=np.int64)])
    job_ids = cols["job_id"].to_pylist()
    ids_all = [job_ids[i] for i in good] + [r.job_id for _, r in slow]
    fps_all = [cols["fingerprint"][i] for i in good] + [r.fingerprint for _, r in slow]
    order = np.argsort(pos_all, kind="stable")
    keep = np.ones(len(pos_all), dtype=bool)
    dup_mask = pd.Series([ids_all[i] for i in order]).duplicated(keep="first").to_numpy()
    if dup_mask.any():
        first_fp: dict[str, str] = {}
        for j, i in enumerate(order):
            if not dup_mask[j]:
                first_fp.setdefault(ids_all[i], fps_all[i])
            else:
                keep[i] = False
                if fps_all[i] == first_fp[ids_all[i]]:
                    result.duplicates += 1
                else:
                    result.conflicts.append((int(pos_all[i]), ids_all[i]))
    fast_idx = good[keep[:len(good)]]
    slow_kept = [s for s, k in zip(slow, keep[len(good):]) if k]
    stored = None
    written = headroom.Written()
    if len(fast_idx):
        stored = _store(session, _take(cols, fast_idx), fast_idx, source, is_demo, pricer, result)
    if stored is not None:
        written.add(stored["position"], stored["job_id"], {
            m: stored[headroom.RECORD_FIELDS.get(m, m)] for m in headroom.GUARDED})
    slow_deltas: dict = {}
    if slow_kept:
        slow_written = headroom.Written()
        res: IngestResult = ingest(session, (r for _, r in slow_kept), source=source, is_demo=is_demo, pricer=pricer,
                                   rollup_deltas=slow_deltas, written=slow_written)
        result.inserted += res.inserted
        result.duplicates += res.duplicates
        result.conflicts.extend((slow_kept[p][0], jid) for p, jid in res.conflicts)
        written.extend(slow_written, lambda p: slow_kept[p][0])
    refusals = headroom.check(session, written)  # before the rollups: no sum may pass what storage holds
    if refusals:
        stored = _remove(session, refusals, stored, slow_deltas, result)
    # One rollup update for the batch (see rollup.apply).
    _apply_deltas(session, None if stored is None else _deltas(stored), slow_deltas)
    result.conflicts.sort()
    result.refused.sort()
    return result


def _remove(session, refusals: list[headroom.Refusal], stored: dict | None, slow_deltas: dict,
            result: FrameResult) -> dict | None:
    """Take refused records out again: from the ledger, from the frame's written rows (`stored`, returned) and,
    for rows that took the row path, from their rollup deltas."""
    removed = bulk.remove_jobs(session, [r.job_id for r in refusals])
    gone = {r.job_id for r in refusals}
    result.inserted -= len(refusals)
    result.refused.extend((r.key, str(r.error)) for r in refusals)
    fast: set = set()
    if stored is not None:
        job_ids = stored["job_id"].to_pylist()
        fast = gone.intersection(job_ids)
        keep = np.flatnonzero([j not in gone for j in job_ids])
        stored = _take(stored, keep) if len(keep) else None
    rollup.add_into(slow_deltas, rollup.accumulate([r for r in removed if r["job_id"] not in fast], sign=-1))
    return stored


def _is_na(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _store(session, c: dict, positions: np.ndarray, source: str, is_demo: bool, pricer: Pricer,
           result: FrameResult) -> dict | None:
    """Write the rows of `c` not stored yet; returns their columns, with their frame positions as "position"
    (None if none was written)."""
    # PostgreSQL runs two batches at once: a new company or brand is committed on its own (see _Names).
    names = _Names(session, commit_new=session.get_bind().dialect.name == "postgresql")
    pairs, _, pair_codes = factorize(c["company"], c["brand"])
    ids = np.array([names.ids(co, br) for co, br in pairs], dtype=np.int64).reshape(-1, 2)
    c["company_id"], c["brand_id"] = ids[pair_codes, 0], ids[pair_codes, 1]
    c["cost_input"], c["cost_output"], c["pricing_status"] = ColumnPrices(pricer).costs(c)
    c["total_cost"] = c["cost_input"] + c["cost_output"]
    c["total_tokens"] = c["input_tokens"] + c["output_tokens"]
    c["source"], c["is_demo"] = source, is_demo
    for _ in range(3):
        stored = writers.write(session, c)
        if stored is None:
            break
        # Some job_ids were already there: classify them, store the rest.
        job_ids = c["job_id"].to_pylist()
        known = np.array([j in stored for j in job_ids], dtype=bool)
        for i in np.flatnonzero(known):
            if stored[job_ids[i]] == c["fingerprint"][i]:
                result.duplicates += 1
            else:
                result.conflicts.append((int(positions[i]), job_ids[i]))
        keep = np.flatnonzero(~known)
        c, positions = _take(c, keep), positions[keep]
        if not len(c["job_id"]):
            return None
    else:
        raise RuntimeError("ingest: a concurrent writer keeps storing the same job_ids; run the import again")
    result.inserted += len(c["job_id"])
    c["position"] = positions
    return c


def _np(arr: pa.Array) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _deltas(c: dict) -> pd.DataFrame:
    """The rollup additions of these rows, one row per hourly rollup key (money summed in micro-dollars, exact)."""
    day = c["created_at"].astype("datetime64[D]")
    hour = (c["created_at"].astype("datetime64[h]") - day).astype(np.int64)
    df = pd.DataFrame({
        "day": day, "hour": hour, "company_id": c["company_id"], "brand_id": c["brand_id"],
        "provider_name": _np(c["provider"]), "model_name": _np(c["model"]), "operation": _np(c["operation"]),
        "job_status": _np(c["status"]), "pricing_status": c["pricing_status"], "jobs": 1,
        "input_tokens": c["input_tokens"], "output_tokens": c["output_tokens"], "total_tokens": c["total_tokens"],
        "cached_tokens": c["cached_tokens"], "cache_write_tokens": c["cache_write_tokens"],
        "reasoning_tokens": c["reasoning_tokens"], "execution_ms": c["execution_ms"],
        "error_count": c["error_count"], "memory_mb": c["memory_usage_mb"], "cost_input": c["cost_input"],
        "cost_output": c["cost_output"], "total_cost": c["total_cost"], "success_sum": c["success_rate"],
        # A value not measured is 0 in its column: the counts say how many jobs each sum is over.
        "timed_jobs": c["timed"].astype(np.int64), "memory_jobs": c["memory_measured"].astype(np.int64)})
    return df.groupby(list(rollup.HOUR_KEYS), sort=False).sum().reset_index()


def _apply_deltas(session, sums: pd.DataFrame | None, extra: dict) -> None:
    """One rollup update for the batch: the frame's deltas, plus `extra` (dict deltas of rows that took the row
    path). PostgreSQL takes a frame alone as one Arrow COPY."""
    if sums is not None and not extra and session.get_bind().dialect.name != "sqlite":
        rollup.apply_frame(session, sums)
        return
    money = set(rollup.MONEY_MEASURES)
    out: dict[tuple, dict] = {}
    for row in ([] if sums is None else sums.to_dict("records")):
        key = (row["day"].date(), int(row["hour"]), int(row["company_id"]), int(row["brand_id"]),
               *(row[k] for k in rollup.HOUR_KEYS[4:]))
        out[key] = {m: (Decimal(int(row[m])).scaleb(-6) if m in money else float(row[m]) if m == "success_sum"
                        else int(row[m])) for m in rollup.MEASURES}
    rollup.apply(session, rollup.add_into(out, extra))


def _job_id_keys(frame: pd.DataFrame) -> set:
    if "job_id" not in frame.columns:
        return set()
    return set(frame["job_id"].dropna().astype("str").str.strip().tolist())


def ingest_frames(batches: Iterable[tuple[pd.DataFrame, list | None, object]], *, workers: int | None = None,
                  source: str = "import", is_demo: bool = False, now: datetime | None = None,
                  default_company: str | None = None) -> Iterator[tuple[object, FrameResult]]:
    """Ingest (frame, raw, tag) batches, each in its own transaction; yields (tag, result) in batch order.

    On PostgreSQL two batches are in flight: while one waits on the server (COPY, index upkeep), the other is
    validated and priced — the two halves of the work run on two cores. A batch sharing a job_id with one still
    in flight waits for it, so the earlier record always wins, as in a sequential import.
    """
    if workers is None:
        workers = 1 if get_engine().dialect.name == "sqlite" else 2  # SQLite has one writer at a time

    def one(frame: pd.DataFrame, raw: list | None) -> FrameResult:
        with session_scope() as s:
            return ingest_frame(s, frame, source=source, is_demo=is_demo, now=now,
                                default_company=default_company, raw=raw)

    if workers <= 1:
        for frame, raw, tag in batches:
            yield tag, one(frame, raw)
        return
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        for frame, raw, tag in batches:
            keys = _job_id_keys(frame)
            while pending and (len(pending) >= workers or any(keys & p_keys for p_keys, _, _ in pending)):
                _, p_tag, fut = pending.popleft()
                yield p_tag, fut.result()
            pending.append((keys, tag, pool.submit(one, frame, raw)))
        while pending:
            _, p_tag, fut = pending.popleft()
            yield p_tag, fut.result()
