"""The write-side guard of core/storage/bounds.py: no sum the ledger keeps or computes can pass what storage holds.

Every measure is non-negative, so every rollup row and every total a view reads is at most the ledger's lifetime
total of that measure. `ledger_totals` keeps those lifetime totals in one row (money in micro-dollars), changed in
the same transaction as the rollups (`rollups_changed`, called by every rollup change). A batch writes its records,
then reads the totals, locking the row (`lifetime_totals`): writers take the check, the rollup update and the
commit in turn, as the row lock lasts until the commit. It admits its records in order while each total stays
within its column; the rest are refused, each named, and removed again by the writer. A priced record above the
per-record maximum is refused the same way (a billed one never gets this far: the validator refuses it).

One record on PostgreSQL takes the row in the statement that writes it (`admit_one_sql`): added only if it fits.
The row is created from usage_daily_model when missing (a database emptied by hand, the tests' fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.display import usd_exact
from core.errors import InvalidRecord
from core.money import exact, from_micros
from core.storage.bounds import COUNT_MAX, MAX_RECORD_COST, MAX_RECORD_COST_MICROS, MONEY_MAX, MONEY_MAX_MICROS
from core.storage.db import is_sqlite, lock_for_write

# The rollup measures that bound all others: input, output, cached, cache-write and reasoning tokens are each at
# most total_tokens, cost_input and cost_output at most total_cost, jobs at most the number of records.
GUARDED = ("total_tokens", "total_cost", "execution_ms", "error_count", "memory_mb")
BOUNDS = {m: MONEY_MAX_MICROS if m == "total_cost" else COUNT_MAX for m in GUARDED}
RECORD_FIELDS = {"memory_mb": "memory_usage_mb"}  # the record's name of a rollup measure, where they differ
_HELD = "core.storage.headroom.totals"  # session.info key: (transaction, the totals it holds the lock on)
_COLS = ", ".join(GUARDED)
_READ = text(f"SELECT {_COLS} FROM ledger_totals WHERE id = 1")
_READ_LOCKED = text(f"SELECT {_COLS} FROM ledger_totals WHERE id = 1 FOR UPDATE")
_CREATE = text(
    f"INSERT INTO ledger_totals (id, {_COLS}) VALUES (1, {', '.join(f':{m}' for m in GUARDED)}) "
    "ON CONFLICT (id) DO NOTHING"
)
_WRITE = text(f"UPDATE ledger_totals SET {', '.join(f'{m} = :{m}' for m in GUARDED)} WHERE id = 1")
_SCAN = text("SELECT " + ", ".join(f"COALESCE(SUM({m}), 0)" for m in GUARDED) + " FROM usage_daily_model")


@dataclass
class Refusal:
    key: int
    index: int  # in the arrays `check` was given
    error: InvalidRecord


def _bound_text(m: str) -> str:
    return usd_exact(MONEY_MAX) if m == "total_cost" else f"{COUNT_MAX:,}"


def _value_text(m: str, v: int) -> str:
    return exact(from_micros(v)) if m == "total_cost" else str(v)


def _scan(session: Session) -> dict[str, int]:
    row = session.connection().execute(_SCAN).one()
    money_scale = 0 if is_sqlite(session) else 6  # SQLite holds micro-dollars
    return {m: int(Decimal(v).scaleb(money_scale)) if m == "total_cost" else int(v) for m, v in zip(GUARDED, row)}


def lifetime_totals(session: Session) -> dict[str, int]:
    """The ledger's lifetime total of each guarded measure (money in micro-dollars), this transaction's own
    rollup changes included. Locks them: no other writer changes them until this one commits."""
    tx = session.get_transaction()
    held = session.info.get(_HELD)
    if held is not None and held[0] is tx:
        return dict(held[1])
    conn = session.connection()
    lock_for_write(session)  # SQLite: its write lock stands for the row lock
    read = _READ if is_sqlite(session) else _READ_LOCKED
    row = conn.execute(read).first()
    if row is None:
        conn.execute(_CREATE, _scan(session))
        row = conn.execute(read).one()  # ours, or that of a writer who created it first
    totals = {m: int(v) for m, v in zip(GUARDED, row)}
    session.info[_HELD] = (tx, totals)
    return dict(totals)


def _store(session: Session, totals: Mapping[str, int]) -> None:
    session.connection().execute(_WRITE, dict(totals))
    session.info[_HELD] = (session.get_transaction(), dict(totals))


def rollups_changed(session: Session, net: Mapping[str, int]) -> None:
    """Every rollup change calls this in its transaction (core.storage.rollups; a rebuild calls `recount`): the
    totals move with it. `net`: the change of each guarded measure's lifetime total (money in micro-dollars). A
    change that would take a total past its bound (a reprice to a higher price, say) raises InvalidRecord; an
    ingest never does: `check` admitted its records."""
    totals = lifetime_totals(session)
    over = next((m for m in GUARDED if net[m] > 0 and totals[m] + net[m] > BOUNDS[m]), None)
    if over is not None:
        raise InvalidRecord(
            RECORD_FIELDS.get(over, over),
            _value_text(over, net[over]),
            f"this change would take the ledger's lifetime total past {_bound_text(over)}, the most the database holds",
        )
    _store(session, {m: totals[m] + int(net[m]) for m in GUARDED})


def recount(session: Session) -> None:
    """Sum the lifetime totals again from usage_daily_model (after a rebuild of the rollups, or rows deleted by
    hand)."""
    lifetime_totals(session)  # the lock first
    _store(session, _scan(session))


def admit_one_sql(gate: str) -> str:
    """PostgreSQL: an UPDATE (for a WITH clause) that adds one record's guarded measures (parameters `g_<measure>`)
    to the totals when `gate` holds and every total stays within its bound (parameters `room_<measure>`: the
    bound less the record's value, so that no sum is computed past the column). RETURNING 1 when it did."""
    adds = ", ".join(f"{m} = {m} + %(g_{m})s" for m in GUARDED)
    fits = " AND ".join(f"{m} <= %(room_{m})s" for m in GUARDED)
    return f"UPDATE ledger_totals SET {adds} WHERE id = 1 AND {fits} AND {gate} RETURNING 1"


def admit_one_params(values: Mapping[str, int]) -> dict[str, int]:
    """The parameters of `admit_one_sql` for one record's guarded measures (money in micro-dollars)."""
    return {**{f"g_{m}": int(values[m]) for m in GUARDED}, **{f"room_{m}": BOUNDS[m] - int(values[m]) for m in GUARDED}}


def changed_elsewhere(session: Session) -> None:
    """The totals row was changed by a statement of this transaction that did not go through here."""
    session.info.pop(_HELD, None)


def check(
    session: Session, keys: np.ndarray, values: Mapping[str, np.ndarray], job_id: Callable[[int], str]
) -> list[Refusal]:
    """The written records to refuse (ordered by key): priced above the per-record maximum, or past a lifetime
    bound. `values`: each guarded measure per record (money in micro-dollars, 0 for a value not measured);
    `job_id(i)`: the job_id of record i, read only for a refused one. Records are admitted in key order; a
    refused one takes nothing, so a later smaller one may fit."""
    if not len(keys):
        return []
    room = {m: BOUNDS[m] - total for m, total in lifetime_totals(session).items()}
    priced_over = values["total_cost"] > MAX_RECORD_COST_MICROS
    if not priced_over.any() and all(float(np.sum(values[m], dtype=np.float64)) < room[m] * 0.999999 for m in GUARDED):
        return []  # the common case, decided without a loop (float sums: no int64 wrap, error far below 1e-6)
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
        refused.append(
            Refusal(
                int(keys[i]),
                i,
                InvalidRecord(
                    RECORD_FIELDS.get(over, over),
                    _value_text(over, row[over]),
                    f"{why}; job_id {job_id(i)!r} not recorded",
                ),
            )
        )
    return refused
