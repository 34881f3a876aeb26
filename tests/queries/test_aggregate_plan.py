"""How `aggregate` splits a range between the rollup and the raw ledger, and that every split gives the figures
of the raw records: a partial day read directly or as its whole day minus the rest, raw reads shared through a
memo, and the usage list's count taken from the rollup."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

import core.queries.aggregate as agg_mod
from core.ingest.checks import validate_record
from core.ingest.frames import ingest_frame
from core.ingest.record import ingest
from core.queries.aggregate import HOURLY, RAW, aggregate, plan, snapshot_memo
from core.queries.usage_list import list_usage
from core.storage.db import get_session, read_scope, session_scope
from core.storage.models import AIJobUsage, Brand, Company, UsageDaily, UsageDailyModel
from tests.helpers.db import empty

NOW = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
DAY = timedelta(days=1)
PROVIDERS = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("ollama", "llama3.1:8b"),
    ("acme", "custom-1"),
]


def midnight(d):
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


# -- the plan (no database) ---------------------------------------------------------------------------------


def test_today_up_to_now_is_the_whole_day_minus_the_empty_rest_of_it():
    start = datetime(2025, 10, 21, 21, 0, tzinfo=UTC)  # a 30-day window opened at 21:00
    r0, r1, pieces = plan(start, NOW, horizon=NOW + timedelta(minutes=5))
    # First day: its last three hours from the hourly rollup; today: the whole day minus [now, midnight), raw.
    assert pieces == [(1, start, midnight(start.date() + DAY), HOURLY), (-1, NOW, midnight(NOW.date() + DAY), RAW)]
    assert (r0, r1) == (start.date() + DAY, NOW.date() + DAY)


def test_a_window_opened_early_in_the_day_subtracts_the_hours_before_it():
    start = datetime(2025, 10, 21, 3, 0, tzinfo=UTC)
    r0, r1, pieces = plan(start, midnight(NOW.date()), horizon=NOW)
    assert pieces == [(-1, midnight(start.date()), start, HOURLY)]
    assert (r0, r1) == (start.date(), NOW.date())


def test_a_window_opened_at_noon_reads_no_raw_record():
    start = datetime(2025, 10, 21, 12, 0, tzinfo=UTC)
    r0, r1, pieces = plan(start, midnight(NOW.date()), horizon=NOW)
    assert pieces == [(1, start, midnight(start.date() + DAY), HOURLY)]
    assert (r0, r1) == (start.date() + DAY, NOW.date())


def test_a_window_opened_mid_hour_reads_at_most_half_an_hour_raw():
    d0 = datetime(2025, 10, 21, tzinfo=UTC)
    at = lambda h, m=0: d0 + timedelta(hours=h, minutes=m)  # noqa: E731
    # 12:34: the 26 minutes to 13:00 raw, then the hours to midnight.
    assert plan(at(12, 34), midnight(NOW.date()), horizon=NOW)[2] == [
        (1, at(13), at(24), HOURLY),
        (1, at(12, 34), at(13), RAW),
    ]
    # 12:20: the whole hour 12 minus its first 20 minutes (shorter than the 40 minutes after).
    assert plan(at(12, 20), midnight(NOW.date()), horizon=NOW)[2] == [
        (1, at(12), at(24), HOURLY),
        (-1, at(12), at(12, 20), RAW),
    ]
    for minute in range(0, 60, 7):
        pieces = plan(at(12, minute), midnight(NOW.date()), horizon=NOW)[2]
        raw = sum((hi - lo for _, lo, hi, kind in pieces if kind == RAW), timedelta(0))
        assert raw <= timedelta(minutes=30)


def test_whole_days_need_no_raw_read():
    assert plan(midnight(NOW.date()) - 30 * DAY, midnight(NOW.date()), horizon=NOW) == (
        NOW.date() - 30 * DAY,
        NOW.date(),
        [],
    )
    assert plan(None, None, horizon=NOW) == (None, None, [])


def test_a_range_inside_one_day_reads_the_shorter_side():
    d0 = midnight(NOW.date())
    assert plan(d0 + timedelta(hours=10), d0 + timedelta(hours=11), horizon=NOW)[2] == [
        (1, d0 + timedelta(hours=10), d0 + timedelta(hours=11), HOURLY)
    ]
    r0, r1, pieces = plan(d0 + timedelta(hours=1), d0 + timedelta(hours=23), horizon=d0 + 2 * DAY)
    assert (r0, r1) == (NOW.date(), NOW.date() + DAY)
    assert pieces == [(-1, d0, d0 + timedelta(hours=1), HOURLY), (-1, d0 + timedelta(hours=23), d0 + DAY, HOURLY)]


# -- every plan gives the raw figures -----------------------------------------------------------------------


def make(i, ts, provider, model, tokens, status, company):
    return validate_record(
        {
            "job_id": f"p{i}",
            "created_at": ts,
            "provider": provider,
            "model": model,
            "input_tokens": tokens,
            "output_tokens": tokens // 3,
            "status": status,
            "execution_time_seconds": f"{tokens % 97}.{tokens % 1000:03d}" if tokens % 5 else None,
            "company": company,
            "brand": "b1" if tokens % 2 else "b2",
        },
        now=NOW,
    )


def raw_groups(session, start, end, provider=None, status=None, brand_ids=None):
    """(day, provider, status) -> [jobs, tokens, cost, execution_ms, error_count, timed_jobs] from the raw
    records (an untimed one adds to neither execution_ms nor timed_jobs)."""
    out: dict = {}
    for u in session.scalars(select(AIJobUsage)):
        if (start and u.created_at < start) or (end and u.created_at >= end):
            continue
        if (provider and u.provider_name != provider) or (status and u.job_status != status):
            continue
        if brand_ids is not None and u.brand_id not in brand_ids:
            continue
        acc = out.setdefault(
            (u.created_at.astimezone(UTC).date(), u.provider_name, u.job_status), [0, 0, Decimal(0), 0, 0, 0]
        )
        for i, v in enumerate(
            (1, u.total_tokens, u.total_cost, u.execution_ms or 0, u.error_count, u.execution_ms is not None)
        ):
            acc[i] += v
    return out


def agg_groups(df):
    return {
        (r.day, r.provider_name, r.job_status): [
            int(r.jobs),
            int(r.total_tokens),
            r.total_cost,
            int(r.execution_ms),
            int(r.error_count),
            int(r.timed_jobs),
        ]
        for r in df.itertuples()
    }


record = st.tuples(
    st.integers(0, 24 * 60 * 6),
    st.sampled_from(PROVIDERS),
    st.integers(1, 50_000),
    st.sampled_from(["completed", "failed", "timeout"]),
    st.sampled_from(["Acme", "Beta"]),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(record, min_size=1, max_size=30),
    late=st.lists(record, max_size=8),
    start_min=st.none() | st.integers(0, 24 * 60 * 6),
    span_min=st.none() | st.integers(1, 24 * 60 * 6),
    provider=st.sampled_from([None, "openai", "ollama"]),
    status=st.sampled_from([None, "completed", "failed"]),
    prefer=st.sampled_from(["shorter", "longer"]),
    brand=st.sampled_from([None, "b1", "b2"]),
)
def test_every_split_equals_the_raw_records(db, first, late, start_min, span_min, provider, status, prefer, brand):
    empty(db)
    base = NOW - timedelta(days=6)
    with session_scope() as s:
        ingest(s, [make(i, base + timedelta(minutes=m), *pm, t, stt, c) for i, (m, pm, t, stt, c) in enumerate(first)])
    with session_scope() as s:  # late records land in days already rolled up
        ingest(
            s, [make(500 + i, base + timedelta(minutes=m), *pm, t, stt, c) for i, (m, pm, t, stt, c) in enumerate(late)]
        )
    start = None if start_min is None else base + timedelta(minutes=start_min)
    end = None if span_min is None else (start or base) + timedelta(minutes=span_min)
    real_cost = agg_mod._cost
    # "longer" reads the other side of every cut day: the whole day from the rollup minus the rest, raw.
    cost = real_cost if prefer == "shorter" else (lambda lo, hi, horizon: -real_cost(lo, hi, hi + DAY))
    filters = {"provider_name": provider, "job_status": status}
    s = get_session(db)
    try:
        # A brand filter is outside the narrow rollup's key: those calls read usage_daily, the others its
        # narrow sibling; both must give the raw figures.
        brand_ids = None if brand is None else set(s.scalars(select(Brand.id).where(Brand.name == brand)))
        if brand is not None:
            filters["brand_id"] = sorted(brand_ids)
        dims = ["day", "provider_name", "job_status"]
        assert agg_mod.rollup_table(dims, filters) is (UsageDaily if brand else UsageDailyModel)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(agg_mod, "_cost", cost)
            df = aggregate(s, start=start, end=end, dims=["day", "provider_name", "job_status"], filters=filters)
            memo: dict = {}
            shared = aggregate(
                s,
                start=start,
                end=end,
                dims=["provider_name"],
                filters=filters,
                memo=memo,
                raw_dims=["day", "provider_name", "job_status", "operation"],
            )
            again = aggregate(
                s,
                start=start,
                end=end,
                dims=["day", "provider_name", "job_status"],
                filters=filters,
                memo=memo,
                raw_dims=["day", "provider_name", "job_status", "operation"],
            )
        expected = raw_groups(s, start, end, provider, status, brand_ids)
        assert agg_groups(df) == expected
        assert agg_groups(again) == expected
        by_provider = {}
        for (_, p, _), v in expected.items():
            by_provider[p] = by_provider.get(p, 0) + v[0]
        assert {r.provider_name: int(r.jobs) for r in shared.itertuples()} == by_provider
    finally:
        s.close()


def _statements(session) -> list[str]:
    """The SQL text of every statement `session` runs from now on (listening on its connection only)."""
    statements: list[str] = []
    event.listen(session.connection(), "before_cursor_execute", lambda *a: statements.append(a[2]))
    return statements


@pytest.mark.parametrize(
    ("dims", "filters", "table"),
    [
        (["day", "provider_name", "model_name", "job_status", "pricing_status"], {}, "usage_daily_model"),
        (["provider_name"], {"company_id": "beta", "brand_id": None}, "usage_daily_model"),  # None: no filter
        (["pricing_status"], {"brand_id": "b1"}, "usage_daily"),
        (["operation"], {"provider_name": "openai"}, "usage_daily"),
        (["brand_id", "day"], {}, "usage_daily_scope"),
        (["operation", "brand_id"], {"company_id": "beta"}, "usage_daily_scope"),
        (["day"], {"brand_id": "b1"}, "usage_daily_scope"),
    ],
)
def test_each_rollup_table_gives_the_raw_figures(db, dims, filters, table):
    """Dims and filters within the narrow key read usage_daily_model, those within (day, company, brand,
    operation) usage_daily_scope, the others usage_daily: same figures."""
    with session_scope() as s:
        ingest(
            s,
            [
                make(
                    i,
                    NOW - timedelta(minutes=131 * i),
                    *PROVIDERS[i % 4],
                    100 + 37 * i,
                    ["completed", "failed"][i % 3 == 0],
                    ["Acme", "Beta"][i // 4 % 2],
                )
                for i in range(120)
            ],
        )
    s = get_session(db)
    try:
        statements = _statements(s)
        ids = {
            "beta": [s.scalar(select(Company.id).where(Company.name == "Beta"))],
            "b1": list(s.scalars(select(Brand.id).where(Brand.name == "b1"))),
        }
        filters = {k: ids.get(v, v) for k, v in filters.items()}
        start, end = NOW - timedelta(days=6, hours=7), NOW - timedelta(hours=3)
        statements.clear()
        df = aggregate(s, start=start, end=end, dims=dims, filters=filters)
        sql = statements[-1]
        others = {"usage_daily", "usage_daily_model", "usage_daily_scope"} - {table}
        rollup_part, *cut_parts = sql.split("UNION ALL")
        assert re.search(rf"FROM {table}\b", rollup_part)
        assert not any(re.search(rf"FROM {other}\b", rollup_part) for other in others)
        # The cut days: whole hours from usage_hourly, the partial hours raw.
        hourly = [p for p in cut_parts if re.search(r"FROM usage_hourly\b", p)]
        raw_parts = [p for p in cut_parts if p not in hourly]
        assert hourly and raw_parts and all("FROM ai_job_usage" in p for p in raw_parts)
        # PostgreSQL: without a company or provider filter, a raw part names the day's companies, so the
        # (company_id, created_at) B-tree bounds it (the time index there is a BRIN, loose after parallel imports).
        listed = [
            bool(re.search(r"company_id = any\(array\(\(SELECT DISTINCT usage_daily_model.company_id", p))
            for p in raw_parts
        ]
        named = any(filters.get(k) is not None for k in ("company_id", "provider_name"))
        assert all(listed) == (db.startswith("postgresql") and not named) and any(listed) == all(listed)
        expected: dict = {}
        for u in s.scalars(select(AIJobUsage).where(AIJobUsage.created_at >= start, AIJobUsage.created_at < end)):
            if any(
                v is not None and getattr(u, k) not in (v if isinstance(v, list) else [v]) for k, v in filters.items()
            ):
                continue
            key = tuple(u.created_at.astimezone(UTC).date() if d == "day" else getattr(u, d) for d in dims)
            acc = expected.setdefault(key, [0, 0, Decimal(0)])
            for i, v in enumerate((1, u.total_tokens, u.total_cost)):
                acc[i] += v
        got = {
            tuple(getattr(r, d) for d in dims): [int(r.jobs), int(r.total_tokens), r.total_cost]
            for r in df.itertuples()
        }
        assert got == expected and expected  # make() sets no operation: that grouping has one row
    finally:
        s.close()


def test_memo_reads_each_raw_range_once(db):
    with session_scope() as s:
        ingest(
            s,
            [
                make(i, NOW - timedelta(hours=5 * i), "openai", "gpt-4o-mini", 100 + i, "completed", "Acme")
                for i in range(20)
            ],
        )
    s = get_session(db)
    try:
        statements = _statements(s)
        start = NOW - timedelta(days=2, hours=3)
        memo: dict = {}
        first = aggregate(s, start=start, end=NOW, dims=["day"], memo=memo, raw_dims=["day", "brand_id"])
        n = len(statements)
        # The previous period ends where the window starts: its cut day is the same raw range, from the memo
        # (read grouped by day and brand, summed here by brand); its first day is read grouped by brand alone.
        prev = aggregate(s, start=start - (NOW - start), end=start, dims=["brand_id"], memo=memo)
        expected = sum(1 for i in range(20) if start <= NOW - timedelta(hours=5 * i) < NOW)
        assert sum(int(j) for j in first["jobs"]) == expected == 10
        assert len(statements) == n + 1
        assert statements[-1].count("FROM ai_job_usage") == 1  # one raw range (the other cut day), not two
        plain = aggregate(s, start=start - (NOW - start), end=start, dims=["brand_id"])
        assert sorted(map(tuple, prev[["brand_id", "jobs"]].values.tolist())) == sorted(
            map(tuple, plain[["brand_id", "jobs"]].values.tolist())
        )
        assert int(plain["jobs"].sum()) == sum(
            1 for i in range(20) if start - (NOW - start) <= NOW - timedelta(hours=5 * i) < start
        )
    finally:
        s.close()


def test_snapshot_memo_only_on_a_single_snapshot(db):
    with read_scope() as s:
        memo = snapshot_memo(s)
        assert (memo == {}) if s.get_bind().dialect.name == "postgresql" else memo is None
    with session_scope() as s:  # READ COMMITTED: each statement sees its own moment, nothing may be shared
        assert snapshot_memo(s) is None


# -- the usage list's count ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"provider_name": "openai"},
        {"ai_job__status": "failed"},
        {"ai_job__brand": "b1"},
        {"created_at__gte": "2025-11-17"},
        {"created_at__gte": "2025-11-16T13:20:00Z", "created_at__lt": "2025-11-19"},
        {
            "created_at__gte": "2025-11-18T02:00:00Z",
            "provider_name": "anthropic",
            "model_name": "claude-3-5-haiku-20241022",
        },
        {"pricing_status": "unpriced"},
        {"total_cost__gte": "0.0001"},
        {"execution_time_seconds__gte": "40"},
    ],
)
@pytest.mark.parametrize("company", [None, "Beta", "Nobody"])
def test_list_count_equals_the_matching_records(db, filters, company):
    with session_scope() as s:
        ingest(
            s,
            [
                make(
                    i,
                    NOW - timedelta(minutes=97 * i),
                    *PROVIDERS[i % 4],
                    100 + 37 * i,
                    ["completed", "failed", "timeout"][i % 3],
                    ["Acme", "Beta"][i // 4 % 2],
                )
                for i in range(91)
            ],
        )
    page = list_usage(page_size=500, company=company, **filters)
    assert page["count"] == len(page["results"])  # every match fits on the page: the rows are the reference
    s = get_session(db)
    try:
        cid = s.scalar(select(Company.id).where(Company.name == company)) if company else None
        brand_ids = set(s.scalars(select(Brand.id).where(Brand.name == filters.get("ai_job__brand", "-"))))
        u_all = s.scalars(select(AIJobUsage)).all()
    finally:
        s.close()

    def match(u):
        gte, lt = filters.get("created_at__gte"), filters.get("created_at__lt")
        return (
            (company is None or u.company_id == cid)
            and filters.get("provider_name", u.provider_name) == u.provider_name
            and filters.get("model_name", u.model_name) == u.model_name
            and filters.get("ai_job__status", u.job_status) == u.job_status
            and filters.get("pricing_status", u.pricing_status) == u.pricing_status
            and ("ai_job__brand" not in filters or u.brand_id in brand_ids)
            and (gte is None or u.created_at >= _ts(gte))
            and (lt is None or u.created_at < _ts(lt))
            and u.total_cost >= Decimal(filters.get("total_cost__gte", "0"))
            # An untimed record (NULL) has no duration to compare: no minimum duration selects it.
            and (
                "execution_time_seconds__gte" not in filters
                or u.execution_ms is not None
                and u.execution_ms >= int(Decimal(filters["execution_time_seconds__gte"]) * 1000)
            )
        )

    assert page["count"] == sum(1 for u in u_all if match(u))
    if company != "Nobody" and not set(filters) & {"total_cost__gte", "execution_time_seconds__gte"}:
        assert page["count"] > 0


def _ts(text):
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


# -- the usage list's pages: read from a time window or day by day, the same rows as a plain sort ---------------


@pytest.mark.parametrize("ordering", ["-created_at", "created_at", "-total_cost", "-total_tokens"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"provider_name": "openai"},
        {"total_cost__gte": "0.0003"},
        {"created_at__gte": "2025-11-15T10:00:00Z"},
        {"created_at__lt": "2025-11-18T20:00:00Z", "ai_job__status": "completed"},
    ],
)
def test_every_page_holds_the_rows_of_a_plain_sort(db, ordering, filters):
    # Uneven days (one empty), timestamps shared by several records (the id decides), records arriving late.
    stamps = [NOW - timedelta(hours=h) for h in (0.5, 1, 1, 2, 3, 7, 20, 26, 27, 27, 50, 75, 76, 140, 141, 190)]
    records = [
        make(
            i,
            stamps[i % len(stamps)] - timedelta(minutes=i // len(stamps)),
            *PROVIDERS[i % 4],
            50 + (i * 7919) % 4000,
            ["completed", "failed"][i % 5 == 0],
            ["Acme", "Beta"][i // 3 % 2],
        )
        for i in range(120)
    ]
    with session_scope() as s:
        ingest(s, records[:100])
    with session_scope() as s:
        ingest(s, records[100:])
    s = get_session(db)
    try:
        rows = s.scalars(select(AIJobUsage)).all()
    finally:
        s.close()
    gte, lt = filters.get("created_at__gte"), filters.get("created_at__lt")
    match = [
        u
        for u in rows
        if filters.get("provider_name", u.provider_name) == u.provider_name
        and filters.get("ai_job__status", u.job_status) == u.job_status
        and u.total_cost >= Decimal(filters.get("total_cost__gte", "0"))
        and (gte is None or u.created_at >= _ts(gte))
        and (lt is None or u.created_at < _ts(lt))
    ]
    key = {
        "-created_at": lambda u: (u.created_at, u.id),
        "created_at": lambda u: (u.created_at, u.id),
        "-total_cost": lambda u: (u.total_cost, u.id),
        "-total_tokens": lambda u: (u.total_tokens, u.id),
    }[ordering]
    expected = [u.id for u in sorted(match, key=key, reverse=ordering.startswith("-"))]
    got, page = [], 1
    while True:
        result = list_usage(page=page, page_size=7, ordering=ordering, **filters)
        assert result["count"] == len(expected)
        got += [r["id"] for r in result["results"]]
        if not result["next"]:
            break
        page += 1
    assert got == expected
    assert len(expected) >= 7 * 2  # several pages, so windows and offsets were exercised


# -- hour and day edges, to the microsecond, on both write paths ------------------------------------------------

_D0 = datetime(2025, 11, 17, tzinfo=UTC)
_US = timedelta(microseconds=1)
EDGES = sorted(
    {_D0 + timedelta(hours=h) + d for h in range(0, 49) for d in (-_US, timedelta(0), _US)}
    | {_D0 + timedelta(hours=h, minutes=m) for h in range(0, 48, 5) for m in (17, 29, 31, 44)}
)


def _edge_record(i, ts):
    return {
        "job_id": f"x{i}",
        "created_at": ts.isoformat(),
        "provider": ["openai", "acme"][i % 3 == 0],
        "model": "m",
        "input_tokens": 10 + i,
        "output_tokens": 1,
        "status": "completed",
        "company": ["Acme", "Beta"][i % 2],
        "brand": "b",
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    times=st.lists(st.sampled_from(EDGES), min_size=1, max_size=40),
    a=st.sampled_from(EDGES + [None]),
    b=st.sampled_from(EDGES + [None]),
    columnar=st.booleans(),
    longer=st.booleans(),
)
def test_hour_and_day_edges_to_the_microsecond(db, times, a, b, columnar, longer):
    """Records and range ends on either side of an hour or midnight (±1 µs), written by either path, either side
    of each cut read: the figures are the raw records' (whole hours, partial hours and days all line up)."""
    empty(db)
    records = [_edge_record(i, t) for i, t in enumerate(times)]
    with session_scope() as s:
        if columnar:
            assert ingest_frame(s, pd.DataFrame(records), now=NOW).inserted == len(records)
        else:
            ingest(s, [validate_record(r, now=NOW) for r in records])
    if a is not None and b is not None and a > b:
        a, b = b, a
    if a is not None and a == b:
        return
    real_cost = agg_mod._cost
    cost = real_cost if not longer else (lambda lo, hi, horizon: -real_cost(lo, hi, hi + DAY))
    s = get_session(db)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(agg_mod, "_cost", cost)
            df = aggregate(s, start=a, end=b, dims=["day", "provider_name"])
        got = {(r.day, r.provider_name): [int(r.jobs), int(r.input_tokens)] for r in df.itertuples()}
        expected: dict = {}
        for u in s.scalars(select(AIJobUsage)):
            if (a is None or u.created_at >= a) and (b is None or u.created_at < b):
                acc = expected.setdefault((u.created_at.astimezone(UTC).date(), u.provider_name), [0, 0])
                acc[0] += 1
                acc[1] += u.input_tokens
        assert got == expected, (a, b, agg_mod.plan(a, b))
    finally:
        s.close()
