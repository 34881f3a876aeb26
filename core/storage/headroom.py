"""The write-side guard of core/storage/bounds.py: no sum the ledger keeps or computes can pass what storage holds.

Every measure is non-negative, so every rollup row and every total a view reads is at most the ledger's lifetime
total of that measure. An ingest writes its records, then, before adding them to the rollups, reads the lifetime
totals (from usage_daily_model, the smallest rollup: it sums every record) and admits its records in order while
each total stays within its column; the rest are refused, each named, and removed again by the caller. A priced
record above the per-record maximum is refused the same way (a billed one never gets this far: the validator
refuses it).

PostgreSQL writers take the check in turn: a transaction advisory lock, taken once the records are written, so
that only the check, the rollup update and the commit wait for another writer; every rollup change takes it too
(`rollups_changed`). SQLite writers hold its one write lock (taken before the read if not yet held).

Reading the lifetime totals is a scan of usage_daily_model (a few ms at a year of data): each process keeps the
totals it last read or wrote, with the token that every rollup change writes anew (in worker_state, in the same
transaction). The scan runs again only when another writer changed the rollups since; a transaction that rolls
back leaves the old token, which no longer matches the kept one.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from core.storage import row_writer as bulk
from core.display import usd_exact
from core.money import exact, from_micros
from core.storage.bounds import COUNT_MAX, MAX_RECORD_COST, MAX_RECORD_COST_MICROS, MONEY_MAX, MONEY_MAX_MICROS
from core.storage.db import is_sqlite
from core.storage.types import UTCDateTime
from core.errors import InvalidRecord

# The rollup measures that bound all others: input, output, cached, cache-write and reasoning tokens are each at
# most total_tokens, cost_input and cost_output at most total_cost, jobs at most the number of records.
GUARDED = ("total_tokens", "total_cost", "execution_ms", "error_count", "memory_mb")
BOUNDS = {m: MONEY_MAX_MICROS if m == "total_cost" else COUNT_MAX for m in GUARDED}
RECORD_FIELDS = {"memory_mb": "memory_usage_mb"}  # the record's name of a rollup measure, where they differ
LOCK_KEY = 0x6C65646765  # pg_advisory_xact_lock key of this check
TOKEN_KEY = "rollup_version"  # worker_state key: a new random token at every rollup change
_kept: dict[str, tuple[str, dict[str, int]]] = {}  # database URL -> (token, lifetime totals)
_SEEN = "core.storage.headroom.token"  # session.info key: (transaction, the token it sees)
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_READ = text("SELECT value FROM worker_state WHERE key = :key")
_WRITE = text("INSERT INTO worker_state (key, value, updated_at) VALUES (:key, :value, :now) ON CONFLICT (key) "
              "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
              ).bindparams(bindparam("now", type_=UTCDateTime()))
_SCAN = text("SELECT " + ", ".join(f"COALESCE(SUM({m}), 0)" for m in GUARDED) + " FROM usage_daily_model")


class Written:
    """Records written in this transaction whose rollup additions are not applied yet: for each, a key that orders
    them (earlier records are admitted first) and names them to the caller, its job_id and its guarded measures
    (money in micro-dollars). Held as the arrays the writers have, joined only by `check`."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._job_ids: list = []  # lists, or Arrow arrays (read only when a record is refused)
        self._values: list[dict[str, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(k) for k in self._keys)

    def add(self, keys, job_ids, values: Mapping[str, Iterable[int]]) -> None:
        self._keys.append(np.asarray(keys, dtype=np.int64))
        self._job_ids.append(job_ids)
        self._values.append({m: np.asarray(values[m], dtype=np.int64) for m in GUARDED})

    def add_rows(self, keys: list[int], job_ids: list[str], rows: list[Mapping]) -> None:
        """Usage rows as `core.ingest.record` builds them (AIJobUsage column names, money as Decimal; None for a measure
        not taken, which adds nothing)."""
        self.add(keys, job_ids, {
            m: [int(r["total_cost"].scaleb(6)) if m == "total_cost" else r[RECORD_FIELDS.get(m, m)] or 0
                for r in rows]
            for m in GUARDED})

    def extend(self, other: Written, key: Callable[[int], int]) -> None:
        """Add another part's records, their keys mapped into this one's."""
        for keys, job_ids, values in zip(other._keys, other._job_ids, other._values):
            self.add([key(int(k)) for k in keys], job_ids, values)

    def arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        keys = np.concatenate(self._keys) if self._keys else np.zeros(0, dtype=np.int64)
        return keys, {m: np.concatenate([v[m] for v in self._values]) if self._values else keys for m in GUARDED}

    def all_job_ids(self) -> list[str]:
        return [j for part in self._job_ids for j in (part.to_pylist() if hasattr(part, "to_pylist") else part)]


@dataclass
class Refusal:
    key: int
    job_id: str
    error: InvalidRecord


def _bound_text(m: str) -> str:
    return usd_exact(MONEY_MAX) if m == "total_cost" else f"{COUNT_MAX:,}"


def _value_text(m: str, v: int) -> str:
    return exact(from_micros(v)) if m == "total_cost" else str(v)


def _lock(session: Session) -> None:
    if not is_sqlite(session):
        session.connection().execute(_LOCK, {"key": LOCK_KEY})
    else:
        bulk.lock_for_write(session)  # SQLite's write lock before the read: no other writer commits in between


def _token(session: Session) -> str | None:
    """The rollups' token, as this transaction sees it once it holds the lock (read once per transaction: only
    this transaction can change it then)."""
    tx = session.get_transaction()
    seen = session.info.get(_SEEN)
    if seen is not None and seen[0] is tx:
        return seen[1]
    _lock(session)
    token = session.connection().execute(_READ, {"key": TOKEN_KEY}).scalar()
    session.info[_SEEN] = (tx, token)
    return token


def _scan(session: Session) -> dict[str, int]:
    row = session.connection().execute(_SCAN).one()
    money_scale = 0 if is_sqlite(session) else 6  # SQLite holds micro-dollars
    return {m: int(Decimal(v).scaleb(money_scale)) if m == "total_cost" else int(v) for m, v in zip(GUARDED, row)}


def lifetime_totals(session: Session) -> dict[str, int]:
    """The ledger's lifetime total of each guarded measure (money in micro-dollars), this transaction's own
    rollup changes included. Takes the check's lock: no other writer changes them until this one commits."""
    token = _token(session)
    url = session.get_bind().url.render_as_string()
    kept = _kept.get(url)
    if token is not None and kept is not None and kept[0] == token:
        return dict(kept[1])
    totals = _scan(session)
    if token is not None:
        _kept[url] = (token, totals)
    return dict(totals)


def rollups_changed(session: Session, net: Mapping[str, int] | None) -> None:
    """Every rollup change calls this in its transaction (core.storage.rollups): the lock, and a new token. `net`: the
    change of each guarded measure's lifetime total (money in micro-dollars), None when not known (a rebuild).
    A change that would take a total past its bound (a reprice to a higher price, say) raises InvalidRecord;
    an ingest never does: `check` admitted its records."""
    if net is not None and any(v > 0 for v in net.values()):
        totals = lifetime_totals(session)
        over = next((m for m in GUARDED if totals[m] + net[m] > BOUNDS[m]), None)
        if over is not None:
            raise InvalidRecord(RECORD_FIELDS.get(over, over), _value_text(over, net[over]),
                                f"this change would take the ledger's lifetime total past {_bound_text(over)}, "
                                "the most the database holds")
    old, new = _token(session), uuid.uuid4().hex
    session.connection().execute(_WRITE, {"key": TOKEN_KEY, "value": new, "now": datetime.now(UTC)})
    session.info[_SEEN] = (session.get_transaction(), new)
    url = session.get_bind().url.render_as_string()
    kept = _kept.pop(url, None)
    if net is not None and old is not None and kept is not None and kept[0] == old:
        _kept[url] = (new, {m: kept[1][m] + int(net[m]) for m in GUARDED})


def check(session: Session, written: Written) -> list[Refusal]:
    """The written records to refuse (ordered by key): priced above the per-record maximum, or past a lifetime
    bound. Records are admitted in key order; a refused one takes nothing, so a later smaller one may fit."""
    if not len(written):
        return []
    room = {m: BOUNDS[m] - total for m, total in lifetime_totals(session).items()}
    keys, values = written.arrays()
    priced_over = values["total_cost"] > MAX_RECORD_COST_MICROS
    if not priced_over.any() and all(float(np.sum(values[m], dtype=np.float64)) < room[m] * 0.999999
                                     for m in GUARDED):
        return []  # the common case, decided without a loop (float sums: no int64 wrap, error far below 1e-6)
    job_ids = written.all_job_ids()
    refused: list[Refusal] = []
    for i in np.argsort(keys, kind="stable").tolist():
        row = {m: int(values[m][i]) for m in GUARDED}
        if priced_over[i]:
            over, why = "total_cost", f"priced above the per-record maximum ({usd_exact(MAX_RECORD_COST)})"
        else:
            over = next((m for m in GUARDED if row[m] > room[m]), None)
            why = f"would take the ledger's lifetime total past {_bound_text(over)}, the most the database holds"
        if over is None:
            for m in GUARDED:
                room[m] -= row[m]
            continue
        refused.append(Refusal(int(keys[i]), job_ids[i], InvalidRecord(
            RECORD_FIELDS.get(over, over), _value_text(over, row[over]),
            f"{why}; job_id {job_ids[i]!r} not recorded")))
    return refused
