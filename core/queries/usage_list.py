"""Raw ledger reads: the filtered usage list (`/ai/usage/`) and one usage (CSV export: core.queries.usage_export).

Filters are an allow-list of the usage list's query parameters, bound as SQL parameters; pages are keyed by
offset for the list and by id for exports, so nothing loads the whole ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import iso_z, midnight, parse_utc
from core.errors import InvalidRecord
from core.queries.aggregate import aggregate, filter_conds
from core.queries.costliest import costliest_ids
from core.queries.list_filters import FILTERS
from core.queries.values import MAX_BIG_ID, brand_ref, day_in_range, name_value, whole_id
from core.redact import redact
from core.storage.db import read_scope, session_scope
from core.storage.models import JOB_STATUSES, AIJob, AIJobUsage, Brand, Company, UsageDaily, UsageHourly

ORDERINGS = {
    "-created_at": (AIJobUsage.created_at.desc(), AIJobUsage.id.desc()),
    "created_at": (AIJobUsage.created_at.asc(), AIJobUsage.id.asc()),
    "-total_cost": (AIJobUsage.total_cost.desc(), AIJobUsage.id.desc()),
    "total_cost": (AIJobUsage.total_cost.asc(), AIJobUsage.id.asc()),
    "-execution_time_seconds": (AIJobUsage.execution_ms.desc().nulls_last(), AIJobUsage.id.desc()),  # untimed last
    "-total_tokens": (AIJobUsage.total_tokens.desc(), AIJobUsage.id.desc()),
}
MAX_PAGE_SIZE = 500


def _date_or_ts(name: str, value) -> datetime:
    if isinstance(value, date):  # a datetime too
        return parse_utc(value)
    try:
        ts = parse_utc(value)
    except ValueError:
        raise InvalidRecord(name, value, "must be a date (YYYY-MM-DD) or ISO 8601 timestamp") from None
    return day_in_range(name, ts, value)


def _decimal(name: str, value) -> Decimal:
    try:
        d = Decimal(str(value).strip())
    except ArithmeticError:  # decimal.InvalidOperation: not a number
        raise InvalidRecord(name, value, "must be a number") from None
    if not d.is_finite():
        raise InvalidRecord(name, value, "must be a finite number")
    if abs(d) > Decimal("1e12"):
        raise InvalidRecord(name, value, "is out of range")
    return d


def usage_conditions(session: Session, filters: dict, company: str | None = None) -> list:
    """WHERE clauses for the allow-listed filters; unknown filter names are an error, not SQL."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRecord(name, filters[name], f"unknown filter; allowed: {', '.join(FILTERS)}")
    u = AIJobUsage
    conds = []
    for name, value in filters.items():
        if value is None or value == "":
            continue
        if name == "provider_name":
            conds.append(u.provider_name == name_value(name, value).lower())
        elif name == "model_name":
            conds.append(u.model_name == name_value(name, value))
        elif name == "total_cost__gte":
            conds.append(u.total_cost >= _decimal(name, value))
        elif name == "execution_time_seconds__gte":
            conds.append(u.execution_ms >= int(_decimal(name, value) * 1000))
        elif name == "success_rate__lt":
            conds.append(u.success_rate < float(_decimal(name, value)))
        elif name == "created_at__gte":
            conds.append(u.created_at >= _date_or_ts(name, value))
        elif name == "created_at__lt":
            conds.append(u.created_at < _date_or_ts(name, value))
        elif name == "ai_job__brand":
            ref = brand_ref(name, value)
            if isinstance(ref, int):
                conds.append(u.brand_id == ref)
            else:
                conds.append(u.brand_id.in_(select(Brand.id).where(Brand.name == ref)))
        elif name == "ai_job__status":
            status = str(value).strip().lower()
            if status not in JOB_STATUSES:
                raise InvalidRecord(name, value, f"must be one of {', '.join(JOB_STATUSES)}")
            conds.append(u.job_status == status)
        elif name == "pricing_status":
            conds.append(u.pricing_status == name_value(name, value))
    if company:
        company = name_value("company", company)
        conds.append(u.company_id == select(Company.id).where(Company.name == company).scalar_subquery())
    return conds


# Filters the daily rollup can answer a count for (rollup dimension or time range); the others need the raw rows.
_ROLLUP_FILTERS = {
    "provider_name",
    "model_name",
    "ai_job__status",
    "ai_job__brand",
    "pricing_status",
    "created_at__gte",
    "created_at__lt",
}


def _given(filters: dict) -> dict:
    return {k: v for k, v in filters.items() if v is not None and v != ""}


def _time_range(filters: dict) -> tuple[datetime | None, datetime | None]:
    given = _given(filters)
    start = _date_or_ts("created_at__gte", given["created_at__gte"]) if "created_at__gte" in given else None
    end = _date_or_ts("created_at__lt", given["created_at__lt"]) if "created_at__lt" in given else None
    return start, end


def _rollup_filters(session: Session, filters: dict, company: str | None) -> dict | None:
    """The filters as rollup dimensions, or None when one of them (cost, duration, success rate) is not one."""
    given = _given(filters)
    if not set(given) <= _ROLLUP_FILTERS:
        return None
    dims: dict = {}
    if company:
        dims["company_id"] = list(session.scalars(select(Company.id).where(Company.name == company)))
    for name, value in given.items():
        if name == "provider_name":
            dims["provider_name"] = str(value).strip().lower()
        elif name == "model_name":
            dims["model_name"] = str(value).strip()
        elif name == "ai_job__status":
            dims["job_status"] = str(value).strip().lower()
        elif name == "pricing_status":
            dims["pricing_status"] = str(value).strip()
        elif name == "ai_job__brand":
            ref = brand_ref(name, value)
            dims["brand_id"] = (
                [ref] if isinstance(ref, int) else list(session.scalars(select(Brand.id).where(Brand.name == ref)))
            )
    return dims


def _day_counts(session: Session, filters: dict, company: str | None) -> tuple[dict | None, list[tuple[date, int]]]:
    """(the filters as rollup dimensions, [(day, records)]) from the rollup. The counts are exact when every filter
    is a rollup dimension or time (the dimensions are then given); with a cost, duration or success-rate filter
    (None), the counts of the company's records bound the matches from above."""
    dims = _rollup_filters(session, filters, company)
    start, end = _time_range(filters)
    scope = dims if dims is not None else _rollup_filters(session, {}, company)
    df = aggregate(session, start=start, end=end, dims=["day"], filters=scope)
    return dims, sorted((r.day, int(r.jobs)) for r in df.itertuples())


def count_usage(
    session: Session, filters: dict, company: str | None = None, day_counts: tuple[dict | None, list] | None = None
) -> int:
    """Records matching the filters (validated by `usage_conditions` first).

    Filters on rollup dimensions and time are counted from the rollups (`aggregate`: whole days from a daily
    rollup, cut days from usage_hourly and the raw ledger), exact since they are written with every record; a cost,
    duration or success-rate filter counts the raw rows.
    """
    conds = usage_conditions(session, filters, company)
    dims, per_day = day_counts or _day_counts(session, filters, company)
    if dims is not None:
        return sum(n for _, n in per_day)
    return session.scalar(select(func.count()).select_from(AIJobUsage).where(*conds)) or 0


def _hour_counts(session: Session, dims: dict, day: date) -> list[tuple[int, int]]:
    """(hour, records) of one day from usage_hourly, for filters that are all rollup dimensions (`_rollup_filters`)."""
    h = UsageHourly
    q = select(h.hour, func.sum(h.jobs)).where(h.day == day, *filter_conds(h, dims)).group_by(h.hour)
    return sorted((int(hour), int(n)) for hour, n in session.execute(q))


def _hour_bound(hours: list[tuple[int, int]], want: int, newest_first: bool, d0: datetime) -> datetime | None:
    """The hour of the day where `want` records, counted from the day's end (newest first) or start, are reached:
    the window's bound, or None when the day's hours hold fewer."""
    seen = 0
    for hour, n in reversed(hours) if newest_first else hours:
        seen += n
        if seen >= want:
            return d0 + timedelta(hours=hour if newest_first else hour + 1)
    return None


def _data_days(session: Session) -> tuple[date, date] | None:
    """First and last day holding records (the rollup's primary key starts with the day: two index probes)."""
    first = session.scalar(select(func.min(UsageDaily.day)))
    return None if first is None else (first, session.scalar(select(func.max(UsageDaily.day))))


def _by_time_ids(
    session: Session,
    conds: list,
    per_day: list[tuple[date, int]],
    exact: bool,
    newest_first: bool,
    limit: int,
    offset: int,
    expected: int,
    hours: Callable[[date], list[tuple[int, int]]] | None = None,
) -> list[int]:
    """One page of ids in time order, reading only the rows of a time window that holds the page.

    The rollup's records per day tell which day the page reaches back to (`exact` counts), and `hours` (that day's
    records per hour, from usage_hourly) which hour: the window stops there, then at the day itself if it fell
    short (a time filter cutting the day: its hours count records outside it). Without `hours`, the window first
    stops at estimates inside the day. With upper bounds only (a cost, duration or success-rate filter) the window
    doubles until the page is full. Rows outside the window all sort after the page, so the page is the same as
    without a window.
    """
    u = AIJobUsage
    order = (u.created_at.desc(), u.id.desc()) if newest_first else (u.created_at.asc(), u.id.asc())

    def page(bound: datetime | None) -> list[int]:
        extra = [] if bound is None else [u.created_at >= bound if newest_first else u.created_at < bound]
        # The window's bound first: given two bounds on created_at, SQLite walks the index from the first one. With
        # the filter's first, a window holding less than a page walked every record since the filter's start.
        return list(session.scalars(select(u.id).where(*extra, *conds).order_by(*order).limit(limit).offset(offset)))

    days = per_day[::-1] if newest_first else per_day
    need, seen = offset + limit, 0
    clock = datetime.now(UTC) + timedelta(minutes=5)
    for i, (day, jobs) in enumerate(days):
        d0, d1 = midnight(day), midnight(day + timedelta(days=1))
        if not exact:
            if (i + 1) & i == 0 or i + 1 == len(days):  # 1, 2, 4, 8… days
                ids = page(d0 if newest_first else d1)
                if len(ids) >= expected:
                    return ids
            continue
        if seen + jobs >= need:
            if hours is not None:
                bound = _hour_bound(hours(day), need - seen, newest_first, d0)
                ids = [] if bound is None else page(bound)
                return ids if len(ids) >= expected else page(d0 if newest_first else d1)
            # Guess where in the day the page ends (records spread evenly), then eight times wider, then the day.
            share = 2.0 * (need - seen) / jobs + 0.01
            hi = min(d1, clock)
            for guess in (share, 8 * share):
                if guess >= 1 or hi <= d0:
                    break
                ids = page(hi - (hi - d0) * guess if newest_first else d0 + (d1 - d0) * guess)
                if len(ids) >= expected:
                    return ids
            return page(d0 if newest_first else d1)
        seen += jobs
    return page(None)


def _page_ids(
    session: Session,
    conds: list,
    filters: dict,
    company: str | None,
    ordering: str,
    limit: int,
    offset: int,
    count: int,
    day_counts: tuple[dict | None, list] | None,
) -> list[int]:
    """Ids of one page, from ai_job_usage alone (the joins come after, for these rows only)."""
    expected = min(limit, max(0, count - offset))
    if expected == 0:
        return []
    if ordering in ("-created_at", "created_at"):
        dims, per_day = day_counts or _day_counts(session, filters, company)
        hours = None if dims is None else (lambda day: _hour_counts(session, dims, day))
        newest_first = ordering == "-created_at"
        return _by_time_ids(session, conds, per_day, dims is not None, newest_first, limit, offset, expected, hours)
    if ordering == "-total_cost":
        span = _data_days(session)
        if span is None:
            return []
        start, end = _time_range(filters)
        first, after = midnight(span[0]), midnight(span[1] + timedelta(days=1))
        start, end = max(start or first, first), min(end or after, after)
        return costliest_ids(session, start, end, conds, limit, offset) if start < end else []
    q = select(AIJobUsage.id).where(*conds).order_by(*ORDERINGS[ordering]).limit(limit).offset(offset)
    return list(session.scalars(q))


def serialize_usage(u: AIJobUsage, job: AIJob, brand: Brand, company: Company) -> dict:
    return {
        "id": u.id,
        "ai_job": {
            "id": job.id,
            "job_id": job.job_id,
            "job_type": job.job_type,
            "status": job.status,
            "brand": {"id": brand.id, "name": brand.name},
            "operation": job.operation,
            "description": None if job.description is None else redact(job.description),
            "source": job.source,
            "request_id": job.request_id,
        },
        "company": {"id": company.id, "name": company.name},
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "cached_tokens": u.cached_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "cost_input": str(u.cost_input),
        "cost_output": str(u.cost_output),
        "total_cost": str(u.total_cost),
        "pricing_status": u.pricing_status,
        "execution_time_seconds": u.execution_time_seconds,
        "memory_usage_mb": u.memory_usage_mb,
        "provider_name": u.provider_name,
        "model_name": u.model_name,
        "success_rate": u.success_rate,
        "error_count": u.error_count,
        "error_class": u.error_class,
        "created_at": iso_z(u.created_at),
        "cost_per_token": u.cost_per_token,
    }


def joined():
    """The usage rows with their job, brand and company."""
    return (
        select(AIJobUsage, AIJob, Brand, Company)
        .join(AIJob, AIJob.id == AIJobUsage.ai_job_id)
        .join(Brand, Brand.id == AIJobUsage.brand_id)
        .join(Company, Company.id == AIJobUsage.company_id)
    )


def list_usage(
    page: int = 1,
    page_size: int = 50,
    *,
    company: str | None = None,
    ordering: str = "-created_at",
    session: Session | None = None,
    **filters,
) -> dict:
    """The paginated usage list: {count, next, previous, results}."""
    try:
        page, page_size = int(page), int(page_size)
    except (TypeError, ValueError):
        raise InvalidRecord("page", page, "must be a whole number") from None
    if page < 1:
        raise InvalidRecord("page", page, "must be 1 or more")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidRecord("page_size", page_size, f"must be between 1 and {MAX_PAGE_SIZE}")
    if ordering not in ORDERINGS:
        raise InvalidRecord("ordering", ordering, f"must be one of {', '.join(ORDERINGS)}")
    with read_scope(session) as s:
        conds = usage_conditions(s, filters, company)
        day_counts = _day_counts(s, filters, company)
        count = count_usage(s, filters, company, day_counts)
        ids = _page_ids(s, conds, filters, company, ordering, page_size, (page - 1) * page_size, count, day_counts)
        rows = {row[0].id: row for row in s.execute(joined().where(AIJobUsage.id.in_(ids)))} if ids else {}
        results = [serialize_usage(*rows[i]) for i in ids if i in rows]
    params = {k: v for k, v in filters.items() if v not in (None, "")}
    if ordering != "-created_at":
        params["ordering"] = ordering

    def link(p: int) -> str:
        return "?" + urlencode({"page": p, **params})

    return {
        "count": count,
        "next": link(page + 1) if page * page_size < count else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": results,
    }


def get_usage(usage_id: int, *, company: str | None = None, session: Session | None = None) -> dict | None:
    """One usage with its job (`/ai/usage/{id}/`), or None."""
    usage_id = whole_id("id", usage_id, maximum=MAX_BIG_ID)
    if company:
        company = name_value("company", company)
    with session_scope(session) as s:
        q = joined().where(AIJobUsage.id == usage_id)
        if company:
            q = q.where(Company.name == company)
        row = s.execute(q).first()
        return serialize_usage(*row) if row else None
