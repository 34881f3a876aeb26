"""`grouped`: every grouping set of every range, read in one statement, equals the sums of the raw records — for any
range (cut days read from hourly rows and raw records, added or subtracted), filter, set and measures; ranges in
one statement sharing their cut days' reads. And the typed views hold Decimal money the pages format as is."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core import analytics
from core.ingest.checks import validate_record
from core.ingest.record import ingest
from core.queries.grouping import MEASURES, VOLUME, Ask, Sums, grouped
from core.storage.db import read_scope, session_scope
from core.storage.models import AIJobUsage, Brand
from tests.helpers.ledger import NOW as FIXTURE_NOW
from tests.helpers.ledger import load, make_records

NOW = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
PROVIDERS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022"), ("acme", "custom-1")]
SETS = {
    "total": (),
    "provider": ("provider_name",),
    "day_model": ("day", "provider_name", "model_name"),
    "status": ("job_status",),
    "brand_op": ("brand_id", "operation"),
    "unpriced": ("pricing_status", "model_name"),
}
SOURCE = {
    "jobs": None,
    "total_tokens": "total_tokens",
    "execution_ms": "execution_ms",
    "error_count": "error_count",
    "success_sum": "success_rate",
    "total_cost": "total_cost",
}


def make(i, ts, provider, model, tokens, status, company, op):
    return validate_record(
        {
            "job_id": f"g{i}",
            "created_at": ts,
            "provider": provider,
            "model": model,
            "input_tokens": tokens,
            "output_tokens": tokens // 3,
            "status": status,
            "execution_time_seconds": f"{tokens % 97}.{tokens % 1000:03d}" if tokens % 5 else None,
            "company": company,
            "operation": op,
            "brand": "b1" if tokens % 2 else "b2",
        },
        now=NOW,
    )


def expected(rows, ask: Ask) -> dict:
    """The ask's sets summed in Python from the raw records."""
    out = {name: {} for name in ask.sets}
    for u in rows:
        if (ask.start and u.created_at < ask.start) or (ask.end and u.created_at >= ask.end):
            continue
        if any(
            v is not None and getattr(u, k) not in (v if isinstance(v, list) else [v]) for k, v in ask.filters.items()
        ):
            continue
        values = {
            "day": u.created_at.astimezone(UTC).date(),
            "provider_name": u.provider_name,
            "model_name": u.model_name,
            "job_status": u.job_status,
            "brand_id": u.brand_id,
            "operation": u.operation,
            "pricing_status": u.pricing_status,
        }
        for name, dims in ask.sets.items():
            s = out[name].setdefault(tuple(values[d] for d in dims), Sums())
            s.jobs += 1
            for m in ask.measures:
                if m in ("jobs", "timed_jobs"):
                    continue
                v = getattr(u, SOURCE[m])
                setattr(s, m, getattr(s, m) + (v or 0))
            if "timed_jobs" in ask.measures:
                s.timed_jobs += u.execution_ms is not None
    return out


record = st.tuples(
    st.integers(0, 24 * 60 * 6),
    st.sampled_from(PROVIDERS),
    st.integers(1, 50_000),
    st.sampled_from(["completed", "failed", "timeout"]),
    st.sampled_from(["Acme", "Beta"]),
    st.sampled_from(["chat", "summary"]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(record, min_size=1, max_size=30),
    late=st.lists(record, max_size=8),
    start_min=st.none() | st.integers(0, 24 * 60 * 6),
    span_min=st.none() | st.integers(1, 24 * 60 * 6),
    provider=st.sampled_from([None, "openai", "acme"]),
    brand=st.sampled_from([None, "b1"]),
    measures=st.sampled_from([MEASURES, VOLUME, ("jobs",)]),
)
def test_every_set_of_every_range_equals_the_raw_records(
    db, first, late, start_min, span_min, provider, brand, measures
):
    from tests.helpers.db import empty

    empty(db)
    base = NOW - timedelta(days=6)
    with session_scope() as s:
        ingest(
            s,
            [
                make(i, base + timedelta(minutes=m), *pm, t, stt, c, op)
                for i, (m, pm, t, stt, c, op) in enumerate(first)
            ],
        )
    with session_scope() as s:  # late records land in days already rolled up
        ingest(
            s,
            [
                make(500 + i, base + timedelta(minutes=m), *pm, t, stt, c, op)
                for i, (m, pm, t, stt, c, op) in enumerate(late)
            ],
        )
    start = None if start_min is None else base + timedelta(minutes=start_min)
    end = None if span_min is None else (start or base) + timedelta(minutes=span_min)
    with session_scope() as s:
        rows = list(s.scalars(select(AIJobUsage)))
        brand_ids = list(s.scalars(select(Brand.id).where(Brand.name == brand))) if brand else None
    filters = {"provider_name": provider, "brand_id": brand_ids}
    # The window, its previous period (sharing the cut day between them) and the window again on other sets.
    asks = {"window": Ask(start, end, SETS, filters, measures)}
    if start is not None and end is not None:
        asks["previous"] = Ask(start - (end - start), start, {"total": (), "day": ("day",)}, filters, measures)
    asks["narrow"] = Ask(start, end, {"models": ("provider_name", "model_name", "job_status")}, filters, measures)
    # By brand and operation only: read from the daily rollup by (company, brand, operation).
    asks["scope"] = Ask(start, end, {"brand_op": ("brand_id", "operation"), "day": ("day",)}, {"brand_id": brand_ids})
    with read_scope() as s:
        got = grouped(s, asks)
    for name, ask in asks.items():
        want = expected(rows, ask)
        for set_name in ask.sets:
            assert got[name][set_name].keys() == want[set_name].keys(), (name, set_name)
            for key, s in want[set_name].items():
                g = got[name][set_name][key]
                assert (g.jobs, g.total_tokens, g.total_cost, g.execution_ms, g.timed_jobs, g.error_count) == (
                    s.jobs,
                    s.total_tokens,
                    s.total_cost,
                    s.execution_ms,
                    s.timed_jobs,
                    s.error_count,
                ), (name, key)
                assert abs(g.success_sum - s.success_sum) < 1e-9
                assert isinstance(g.total_cost, Decimal)


def test_typed_views_hold_decimal_money_and_give_the_usage_spec_dicts(db):
    load(make_records())
    o = analytics.overview(days=30, now=FIXTURE_NOW)
    assert o.to_dict() == analytics.get_usage_dashboard(days=30, now=FIXTURE_NOW)
    assert isinstance(o.totals.cost, Decimal) and o.totals.cost == sum((p.cost for p in o.by_provider), Decimal(0))
    assert [p.cost for p in o.by_provider] == sorted((p.cost for p in o.by_provider), reverse=True)
    assert all(isinstance(j.cost, Decimal) and j.created_at.tzinfo for j in o.top_costly_jobs)
    c = analytics.cost_breakdown(now=FIXTURE_NOW)
    assert c.to_dict() == analytics.get_cost_breakdown(now=FIXTURE_NOW)
    assert sum((w.cost for w in c.weeks), Decimal(0)) == c.total_cost
    e = analytics.model_efficiency(now=FIXTURE_NOW)
    assert e.to_dict() == analytics.get_efficiency(now=FIXTURE_NOW)
    assert all(m.metrics.cost_per_token is None or isinstance(m.metrics.cost_per_token, Decimal) for m in e.models)
    assert analytics.usage_stats(now=FIXTURE_NOW).to_dict() == analytics.get_usage_stats(now=FIXTURE_NOW)
    t = analytics.usage_trends(metric="cost", now=FIXTURE_NOW)
    assert t.to_dict() == analytics.get_usage_trends(metric="cost", now=FIXTURE_NOW)
    assert all(isinstance(p.value, Decimal) for p in t.points)
    assert analytics.budget_status(now=FIXTURE_NOW).to_dict() == analytics.get_budget_status(now=FIXTURE_NOW)


def test_each_range_reads_the_smallest_rollup_that_holds_its_sets_and_filters(db):
    """By model: usage_daily_model; by brand and operation: usage_daily_scope; by both: usage_daily."""
    from sqlalchemy import event

    from core.storage.db import get_engine

    load(make_records(40))
    seen: list[str] = []

    def keep(conn, cursor, statement, *_):
        seen.append(statement)

    start, end = FIXTURE_NOW - timedelta(days=20), FIXTURE_NOW
    cases = {
        "usage_daily_model": {"m": ("provider_name", "model_name")},
        "usage_daily_scope": {"b": ("brand_id", "operation")},
        "usage_daily": {"mb": ("model_name", "brand_id")},
    }
    event.listen(get_engine(), "before_cursor_execute", keep)
    try:
        for table, sets in cases.items():
            seen.clear()
            with read_scope() as s:
                grouped(s, {"r": Ask(start, end, sets)})
            assert set(re.findall(r"(usage_daily\w*)\.jobs", seen[-1])) == {table}, seen[-1]
    finally:
        event.remove(get_engine(), "before_cursor_execute", keep)
