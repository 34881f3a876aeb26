"""Columnar ingest: a batch of raw records as a pandas frame, validated (core/ingest/column_checks.py) and priced
(core/pricing/columns.py) a column at a time, then written by the ledger's one writer (core/storage/writer.py),
rollups included, in the caller's transaction. Rows the column checks cannot vouch for are judged by the scalar
validator, as `core.ingest.record` does, and written in the same batch: same outcome, several times faster (see
bench/ingest.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from core.errors import InvalidRecord
from core.ingest.checks import validate_record
from core.ingest.column_checks import check_frame
from core.ingest.record import priced_row
from core.pricing.catalog import Pricer
from core.pricing.columns import ColumnPrices
from core.storage import writer
from core.storage.columns import concat, take
from core.storage.db import get_engine, session_scope


@dataclass
class FrameResult:
    inserted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (position in the frame, job_id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (position in the frame, reason)


def ingest_frame(
    session,
    frame: pd.DataFrame,
    *,
    source: str = "import",
    is_demo: bool = False,
    now: datetime | None = None,
    default_company: str | None = None,
    pricer: Pricer | None = None,
    raw: list | None = None,
) -> FrameResult:
    """Validate, price and store a batch of raw records (columns named as the import fields). The caller commits.

    Same outcome as validating each row and calling `ingest`: valid rows stored once, replays counted as
    duplicates, same job_id with other content reported as a conflict, invalid rows refused with the reason.
    `raw`, when given, holds the records the frame was built from: refusals then quote the values as given
    (a frame turns 11 into 11.0 in a column with gaps).
    """
    batch, refused = _prepare(
        frame,
        now or datetime.now(UTC),
        default_company,
        raw,
        pricer if pricer is not None or frame.empty else Pricer(session),
    )
    return _store(session, batch, refused, source, is_demo)


def _prepare(
    frame: pd.DataFrame, now: datetime, default_company: str | None, raw: list | None, pricer: Pricer | None
) -> tuple[dict | None, list[tuple[int, str]]]:
    """A frame's valid rows, priced, as a batch for the ledger writer (None if none), and its refused rows
    (position, reason). Reads nothing from the database."""
    frame = frame.reset_index(drop=True)
    refused: list[tuple[int, str]] = []
    if frame.empty:
        return None, refused
    cols, bad = check_frame(frame, now, default_company)
    batch = None
    good = np.flatnonzero(~bad)
    if len(good):
        c = take(cols, good) if len(good) < len(frame) else cols  # all valid (the rule in bulk): nothing to select
        c["cost_input"], c["cost_output"], c["pricing_status"] = ColumnPrices(pricer).costs(c)
        n = len(good)
        batch = {
            **{k: c[k] for k in writer.BATCH if k in c},
            "position": good,
            "error_class": pa.nulls(n, pa.string()),
            "request_id": pa.nulls(n, pa.string()),
        }
    if bad.any():
        where = np.flatnonzero(bad).tolist()
        records = (
            [raw[i] for i in where]
            if raw is not None
            else [{k: (None if _is_na(v) else v) for k, v in r.items()} for r in frame.iloc[where].to_dict("records")]
        )
        rows, positions = [], []
        for pos, rec in zip(where, records):
            try:
                rows.append(priced_row(validate_record(rec, now=now, default_company=default_company), pricer))
                positions.append(pos)
            except InvalidRecord as e:
                refused.append((pos, str(e)))
        if rows:
            part = writer.from_rows(rows, positions)
            batch = part if batch is None else concat(batch, part)
    return batch, refused


def _store(session, batch: dict | None, refused: list[tuple[int, str]], source: str, is_demo: bool) -> FrameResult:
    result = FrameResult(refused=list(refused))
    if batch is not None:
        # PostgreSQL runs two batches at once: a new company or brand is committed on its own (see NameIds).
        out = writer.write(session, batch, source=source, is_demo=is_demo, names_apart=True)
        result.inserted, result.duplicates, result.conflicts = out.inserted, out.duplicates, out.conflicts
        result.refused.extend((pos, str(e)) for pos, e in out.refused)
    result.refused.sort()
    return result


def _is_na(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _job_id_keys(frame: pd.DataFrame) -> set:
    if "job_id" not in frame.columns:
        return set()
    return set(frame["job_id"].dropna().astype("str").str.strip().tolist())


def ingest_frames(
    batches: Iterable[tuple[pd.DataFrame, list | None, object]],
    *,
    workers: int | None = None,
    source: str = "import",
    is_demo: bool = False,
    now: datetime | None = None,
    default_company: str | None = None,
) -> Iterator[tuple[object, FrameResult]]:
    """Ingest (frame, raw, tag) batches, each in its own transaction; yields (tag, result) in batch order.

    On PostgreSQL `workers` (2) batches are written at once while the next ones are validated and priced, in a
    thread of their own, so that the server always has COPYs to run: started together, the batches went through
    validation together (fighting for one interpreter) and left the server idle meanwhile (a third of the time).
    A batch sharing a job_id with one still in flight waits for it, so the earlier record always wins, as in a
    sequential import.
    """
    if workers is None:
        workers = 1 if get_engine().dialect.name == "sqlite" else 2  # SQLite has one writer at a time
    now = now or datetime.now(UTC)

    def prepare(frame: pd.DataFrame, raw: list | None):
        if frame.empty:
            return None, []
        with session_scope() as s:
            pricer = Pricer(s)  # the price overrides as they are now
        return _prepare(frame, now, default_company, raw, pricer)

    def store(prepared) -> FrameResult:
        batch, refused = prepared.result() if hasattr(prepared, "result") else prepared
        with session_scope() as s:
            return _store(s, batch, refused, source, is_demo)

    if workers <= 1:
        for frame, raw, tag in batches:
            yield tag, store(prepare(frame, raw))
        return
    pending: deque = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as ahead,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool,
    ):
        for frame, raw, tag in batches:
            keys = _job_id_keys(frame)
            # `workers` batches written, two more prepared meanwhile: one for each writer as it is freed.
            while pending and (len(pending) >= workers + 2 or any(keys & p_keys for p_keys, _, _ in pending)):
                _, p_tag, fut = pending.popleft()
                yield p_tag, fut.result()
            pending.append((keys, tag, pool.submit(store, ahead.submit(prepare, frame, raw))))
        while pending:
            _, p_tag, fut = pending.popleft()
            yield p_tag, fut.result()
