"""The analytics views' figures in one statement: for each asked time range, the sums per group of each grouping
set (by provider, by day, the total...), added up by the database, never by Python.

Each range is planned as `core.queries.aggregate.plan` plans it (whole days from a daily rollup, the whole hours
of a cut day from usage_hourly, raw records for what is left, each part added or subtracted); the parts of a range
are one CTE, and each grouping set is a GROUP BY over it. Raw records read for the same time range and filters
(the window's first day is also the previous period's last) are read once, grouped by every dimension any range
needs. Everything is one statement, so every figure comes from one snapshot, and a view gets back a few hundred
rows however many records the ledger holds. The statement is built once per shape (which sets, which filters,
which kinds of part) and then only executed with new parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    SmallInteger,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from core.queries.aggregate import DIMS, HOURLY, plan, rollup_table
from core.storage.models import AIJobUsage, UsageDaily, UsageDailyModel, UsageDailyScope, UsageHourly
from core.storage.rollups import day_expr, raw_sum
from core.storage.types import UTCDateTime

ZERO = Decimal("0.000000")
_HOUR = timedelta(hours=1)
# What the views show: counts, tokens, time, reliability and money (MEASURES' order is irrelevant here).
MEASURES = ("jobs", "total_tokens", "execution_ms", "timed_jobs", "success_sum", "error_count", "total_cost")
VOLUME = ("jobs", "total_tokens", "total_cost")  # what most breakdowns show
TIMING = ("execution_ms", "timed_jobs")  # an average execution time
_INTS = frozenset(("jobs", "total_tokens", "execution_ms", "timed_jobs", "error_count"))


@dataclass(slots=True)
class Sums:
    """The figures of one group; money exact."""

    jobs: int = 0
    total_tokens: int = 0
    execution_ms: int = 0
    timed_jobs: int = 0
    success_sum: float = 0.0
    error_count: int = 0
    total_cost: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.total_cost == 0:  # a measure not read comes as 0: money stays a Decimal to the micro-dollar
            self.total_cost = ZERO

    def add(self, other: Sums) -> Sums:
        """Add `other` in place (returns self)."""
        self.jobs += other.jobs
        self.total_tokens += other.total_tokens
        self.execution_ms += other.execution_ms
        self.timed_jobs += other.timed_jobs
        self.success_sum += other.success_sum
        self.error_count += other.error_count
        self.total_cost += other.total_cost
        return self


def regroup(groups: Mapping[tuple, Sums], dims: tuple[str, ...], keep: tuple[str, ...]) -> dict[tuple, Sums]:
    """A set's sums (keyed by `dims`) by fewer dims `keep`. For a set of a few dozen groups this costs less in
    Python than one more grouping set in the database, which hashes every rollup row of the range once more."""
    at = [dims.index(d) for d in keep]
    out: dict[tuple, Sums] = {}
    for key, s in groups.items():
        k = tuple([key[i] for i in at])
        cur = out.get(k)
        if cur is None:
            out[k] = Sums().add(s)
        else:
            cur.add(s)
    return out


def total(groups: Mapping) -> Sums:
    """The sum of every group of a set."""
    out = Sums()
    for s in groups.values():
        out.add(s)
    return out


@dataclass(frozen=True)
class Ask:
    """One time range [start, end) (None: unbounded) with its filters (as `aggregate` takes them), its grouping
    sets (name -> dims; () is the total) and the measures it needs ("jobs" always)."""

    start: datetime | None
    end: datetime | None
    sets: Mapping[str, tuple[str, ...]]
    filters: Mapping = field(default_factory=dict)
    measures: tuple[str, ...] = MEASURES  # the sums read (the others stay zero): each costs time per rollup row


Figures = dict[str, dict[str, dict[tuple, Sums]]]  # range name -> set name -> group key -> sums


def grouped(session: Session, asks: Mapping[str, Ask]) -> Figures:
    """Sums per group of each set of each range, from one statement (see the module's docstring). A group whose
    parts net to no job is left out, as in `aggregate`."""
    out: Figures = {name: {s: {} for s in ask.sets} for name, ask in asks.items()}
    layout, params = _layout(session, asks)
    if not layout[1]:
        return out
    # Where each row goes, worked out once per set: its dict, the positions of its key and of the sums read.
    names = list(asks)
    first = 2 + len(DIMS)
    sqlite = layout[0] == "sqlite"
    targets = {}
    for i, _, dims, sets, *_, measures in layout[1]:
        sums = tuple(first + MEASURES.index(m) if m in measures else None for m in MEASURES)
        for name, set_dims in sets:
            keys = tuple(2 + DIMS.index(d) for d in set_dims)
            targets[(i, name if sqlite else grouping_mask(dims, set_dims))] = (out[names[i]][name], keys, sums)
    for row in session.execute(_statement(layout), params):
        groups, keys, sums = targets[row[:2]]
        groups[tuple([row[k] for k in keys])] = Sums(*[0 if at is None else row[at] for at in sums])
    return out


# -- layout: everything but the values; the statement is cached by it --------------------------------------------


def _filters(filters: Mapping) -> tuple[tuple[str, bool], ...]:
    """(dim, is a list) of the filters that apply (None: no filter)."""
    bad = [d for d in filters if d not in DIMS or d == "day"]
    if bad:
        raise ValueError(f"cannot filter on {bad[0]!r}")
    return tuple(
        (d, isinstance(v, list | tuple | set | frozenset)) for d, v in sorted(filters.items()) if v is not None
    )


def _layout(session: Session, asks: Mapping[str, Ask]) -> tuple[tuple, dict]:
    sqlite = session.get_bind().dialect.name == "sqlite"
    params: dict = {}
    edges: dict[tuple, list] = {}  # (kind, lo, hi, filters) -> [index, dims, filters, filter layout]
    ask_layouts = []
    for i, ask in enumerate(asks.values()):
        filters = {k: v for k, v in ask.filters.items() if v is not None}
        flayout = _filters(filters)
        dims = tuple(d for d in DIMS if any(d in s for s in ask.sets.values()))
        unknown = [d for s in ask.sets.values() for d in s if d not in DIMS]
        if unknown:
            raise ValueError(f"unknown dimension {unknown[0]!r}")
        start = None if ask.start is None else ask.start.astimezone(UTC)
        end = None if ask.end is None else ask.end.astimezone(UTC)
        if start is not None and end is not None and start >= end:
            continue
        r0, r1, pieces = plan(start, end)
        table = rollup_table(dims, filters).__tablename__  # the smallest daily rollup that holds them
        for d, v in filters.items():
            params[f"a{i}_{d}"] = list(v) if isinstance(v, list | tuple | set | frozenset) else v
        rollup = None
        if r0 is None or r1 is None or r0 < r1:
            rollup = (r0 is not None, r1 is not None)
            params |= {f"a{i}_r0": r0, f"a{i}_r1": r1}
        parts = []
        fkey = repr(sorted(filters.items(), key=lambda kv: kv[0]))
        for sign, lo, hi, kind in pieces:
            edge = edges.setdefault((kind, lo, hi, fkey), [len(edges), set(), filters, flayout])
            edge[1] |= set(dims)
            parts.append((sign, edge[0]))
        sets = tuple((name, tuple(s)) for name, s in ask.sets.items())
        measures = tuple(m for m in MEASURES if m in ask.measures or m == "jobs")
        ask_layouts.append((i, table, dims, sets, flayout, rollup, tuple(parts), measures))
    edge_layouts = []
    for (kind, lo, hi, _), (k, dims, filters, flayout) in sorted(edges.items(), key=lambda kv: kv[1][0]):
        params |= {
            f"r{k}_{d}": (list(v) if isinstance(v, list | tuple | set | frozenset) else v) for d, v in filters.items()
        }
        by_company = (
            kind != HOURLY
            and not sqlite
            and not any(filters.get(d) is not None for d in ("company_id", "provider_name"))
        )
        if kind == HOURLY:
            params |= {f"r{k}_day": lo.date(), f"r{k}_h0": lo.hour, f"r{k}_h1": lo.hour + (hi - lo) // _HOUR}
        else:
            params |= {f"r{k}_lo": lo, f"r{k}_hi": hi}
        if by_company:
            params |= {f"r{k}_d0": lo.date(), f"r{k}_d1": (hi - timedelta(microseconds=1)).date()}
        edge_layouts.append((k, kind, tuple(d for d in DIMS if d in dims), flayout, by_company))
    return ("sqlite" if sqlite else "postgresql", tuple(ask_layouts), tuple(edge_layouts)), params


# -- the statement --------------------------------------------------------------------------------------------

_ROLLUPS = {t.__tablename__: t for t in (UsageDaily, UsageDailyModel, UsageDailyScope)}
_CACHE: dict[tuple, object] = {}
_CACHE_SIZE = 256


def _statement(layout: tuple):
    stmt = _CACHE.get(layout)
    if stmt is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        stmt = _CACHE[layout] = _build(*layout)
    return stmt


def _conds(table, prefix: str, flayout) -> list:
    return [
        getattr(table, d).in_(bindparam(f"{prefix}_{d}", expanding=True))
        if is_list
        else getattr(table, d) == bindparam(f"{prefix}_{d}")
        for d, is_list in flayout
    ]


def _edge_cte(dialect: str, k: int, kind: str, dims: tuple, flayout, by_company: bool):
    """The hours (usage_hourly) or raw records of a cut day that some ranges add or subtract, read once."""
    if kind == HOURLY:
        t = UsageHourly
        cols = [getattr(t, d).label(d) for d in dims]
        q = select(*cols, *_sums(t, 1)).where(
            t.day == bindparam(f"r{k}_day", type_=Date),
            t.hour >= bindparam(f"r{k}_h0", type_=SmallInteger),
            t.hour < bindparam(f"r{k}_h1", type_=SmallInteger),
            *_conds(t, f"r{k}", flayout),
        )
        return (q.group_by(*[getattr(t, d) for d in dims]) if dims else q).cte(f"edge{k}")
    u = AIJobUsage
    day = type_coerce(day_expr(dialect), Date)
    cols = [day.label("day") if d == "day" else getattr(u, d).label(d) for d in dims]
    sums = [(cast(raw_sum(m), BigInteger) if m in _INTS else raw_sum(m)).label(m) for m in MEASURES]
    conds = [
        u.created_at >= bindparam(f"r{k}_lo", type_=UTCDateTime()),
        u.created_at < bindparam(f"r{k}_hi", type_=UTCDateTime()),
        *_conds(u, f"r{k}", flayout),
    ]
    if by_company:  # see core.queries.aggregate._companies_of: the (company_id, created_at) index, exactly
        n = UsageDailyModel
        ids = (
            select(n.company_id)
            .where(n.day >= bindparam(f"r{k}_d0", type_=Date), n.day <= bindparam(f"r{k}_d1", type_=Date))
            .distinct()
        )
        conds.append(u.company_id == func.any(func.array(ids.scalar_subquery())))
    q = select(*cols, *sums).where(*conds)
    return (q.group_by(*cols) if cols else q).cte(f"edge{k}")


def _sums(table, sign: int, measures: tuple = MEASURES) -> list:
    """Measures of a rollup table summed (counts cast back to BIGINT: PostgreSQL sums them as NUMERIC)."""
    out = []
    for m in measures:
        col = getattr(table, m) if sign > 0 else -getattr(table, m)
        out.append((cast(func.sum(col), BigInteger) if m in _INTS else func.sum(col)).label(m))
    return out


def _typed_null(d: str):
    return cast(null(), getattr(UsageDaily, d).type)


def _parts(i: int, table: str, dims: tuple, flayout, rollup, parts, edges: dict, pre_group: bool, wanted: tuple):
    """The range's parts (rollup days, then the hours and raw records of its cut days, the subtracted ones negated)
    as one UNION ALL. `pre_group`: rollup rows summed by `dims` first (SQLite: a set's few dozen groups then, not
    the thousands of rollup rows they come from)."""

    def summed(q, t):
        return q.group_by(*[getattr(t, d) for d in dims]) if pre_group and dims else q

    def measures(t, sign: int) -> list:
        if pre_group:
            return _sums(t, sign, wanted)
        return [(getattr(t, m) if sign > 0 else -getattr(t, m)).label(m) for m in wanted]

    selects = []
    if rollup is not None:
        t = _ROLLUPS[table]
        q = select(*[getattr(t, d).label(d) for d in dims], *measures(t, 1)).where(*_conds(t, f"a{i}", flayout))
        if rollup[0]:
            q = q.where(t.day >= bindparam(f"a{i}_r0", type_=Date))
        if rollup[1]:
            q = q.where(t.day < bindparam(f"a{i}_r1", type_=Date))
        selects.append(summed(q, t))
    for sign, ref in parts:
        t = edges[ref]
        selects.append(
            select(*[t.c[d].label(d) for d in dims], *[(t.c[m] if sign > 0 else -t.c[m]).label(m) for m in wanted])
        )
    return selects[0] if len(selects) == 1 else union_all(*selects)


def _summed(src, measures: tuple) -> list:
    """Every measure's column of the output: the sum of those read, a typed NULL for the others."""
    return [
        (
            (cast(func.sum(src.c[m]), BigInteger) if m in _INTS else func.sum(src.c[m]))
            if m in measures
            else cast(null(), getattr(UsageDaily, m).type)
        ).label(m)
        for m in MEASURES
    ]


def grouping_mask(dims: tuple, set_dims: tuple) -> int:
    """PostgreSQL's GROUPING(dims...) of a grouping set: a bit per dim left out, the first dim highest."""
    return sum(1 << (len(dims) - 1 - j) for j, d in enumerate(dims) if d not in set_dims)


def _build(dialect: str, asks: tuple, edge_layouts: tuple):
    edges = {
        k: _edge_cte(dialect, k, kind, dims, flayout, by_company) for k, kind, dims, flayout, by_company in edge_layouts
    }
    outer = []
    for i, table, dims, sets, flayout, rollup, parts, measures in asks:
        if dialect == "sqlite":
            # No GROUPING SETS, and no hash aggregation: SQLite groups by sorting. Each set reads its range from the
            # smallest rollup that holds it, summed by its own dims at once: one sort of the rollup rows per set
            # costs less than one sort by every dim of the range, materialized, then sorted again per set (1M
            # records, the Overview over 120 days: 86 -> 50 ms).
            used = {d: True for d, _ in flayout}
            for j, (name, set_dims) in enumerate(sets):
                own = rollup_table(set_dims, used).__tablename__
                keys = tuple(d for d in dims if d in set_dims)
                sub = _parts(i, own, keys, flayout, rollup, parts, edges, True, measures).subquery(f"ask{i}_{j}")
                cols = [sub.c[d].label(d) if d in set_dims else _typed_null(d).label(d) for d in DIMS]
                q = select(literal(i, Integer).label("ask"), literal(name).label("set"), *cols, *_summed(sub, measures))
                q = q.select_from(sub).having(func.sum(sub.c.jobs) != 0)
                outer.append(q.group_by(*[sub.c[d] for d in set_dims]) if set_dims else q)
            continue
        body = _parts(i, table, dims, flayout, rollup, parts, edges, False, measures)
        # PostgreSQL: one pass over the range's rows for every set; GROUPING() tells the sets apart.
        sub = body.subquery(f"ask{i}")
        cols = [sub.c[d].label(d) if d in dims else _typed_null(d).label(d) for d in DIMS]
        mask = func.grouping(*[sub.c[d] for d in dims]) if dims else literal(0, Integer)
        spec = ", ".join("(" + ", ".join(f"{sub.name}.{d}" for d in set_dims) + ")" for _, set_dims in sets)
        q = select(literal(i, Integer).label("ask"), mask.label("set"), *cols, *_summed(sub, measures))
        q = q.select_from(sub)
        outer.append(q.group_by(text(f"GROUPING SETS ({spec})")).having(func.sum(sub.c.jobs) != 0))
    return outer[0] if len(outer) == 1 else union_all(*outer)


def day_of(value) -> date:
    """A group's day (a date on both databases)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
