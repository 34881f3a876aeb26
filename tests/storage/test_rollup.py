"""The daily rollups (usage_daily and the narrow usage_daily_model) stay equal to the raw ledger: on insert, for
late records, after repricing and deletes, and through `aggregate`'s split between whole days (rollup) and
partial days (raw)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text

from core.ingest.checks import validate_record
from core.ingest.frames import ingest_frame
from core.ingest.record import ingest, record_usage
from core.limits.budgets import set_price
from core.queries.aggregate import aggregate
from core.storage import rollups as rollup
from core.storage.db import get_session, session_scope
from core.storage.models import AIJob, AIJobUsage, UsageDaily, UsageDailyModel, UsageDailyScope, UsageHourly
from core.storage.rollup_rebuild import rebuild
from tests.helpers.db import empty

NOW = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
PROVIDERS = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("ollama", "llama3.1:8b"),
    ("acme", "custom-1"),
]


def raw_figures(session, start, end, provider=None):
    rows = session.scalars(select(AIJobUsage)).all()
    picked = [
        u
        for u in rows
        if (start is None or u.created_at >= start)
        and (end is None or u.created_at < end)
        and (provider is None or u.provider_name == provider)
    ]
    return (
        len(picked),
        sum(u.total_tokens for u in picked),
        sum((u.total_cost for u in picked), Decimal(0)),
        sum(u.execution_ms or 0 for u in picked),
        sum(1 for u in picked if u.pricing_status == "unpriced"),
        sum(u.execution_ms is not None for u in picked),
    )


def agg_figures(session, start, end, provider=None):
    df = aggregate(
        session,
        start=start,
        end=end,
        dims=["pricing_status"],
        filters={"provider_name": provider} if provider else None,
    )
    if df.empty:
        return (0, 0, Decimal(0), 0, 0, 0)
    return (
        int(df["jobs"].sum()),
        int(df["total_tokens"].sum()),
        sum(df["total_cost"], Decimal(0)),
        int(df["execution_ms"].sum()),
        int(df.loc[df.pricing_status == "unpriced", "jobs"].sum()),
        int(df["timed_jobs"].sum()),
    )


def make(i, ts, provider, model, tokens, status="completed"):
    # One record in five is not timed (NULL): it adds nothing to execution_ms nor to timed_jobs.
    return validate_record(
        {
            "job_id": f"r{i}",
            "created_at": ts,
            "provider": provider,
            "model": model,
            "input_tokens": tokens,
            "output_tokens": tokens // 3,
            "status": status,
            "execution_time_seconds": f"{tokens % 97}.{tokens % 1000:03d}" if tokens % 5 else None,
            "company": "Acme" if i % 3 else "Beta",
        },
        now=NOW,
    )


record_strategy = st.tuples(
    st.integers(0, 24 * 60 * 40),
    st.sampled_from(PROVIDERS),
    st.integers(1, 50_000),
    st.sampled_from(["completed", "failed", "timeout"]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(record_strategy, min_size=1, max_size=40),
    late=st.lists(record_strategy, max_size=10),
    start_min=st.integers(0, 24 * 60 * 40),
    span_min=st.integers(1, 24 * 60 * 40),
    provider=st.sampled_from([None, "openai", "ollama", "acme"]),
)
def test_aggregate_equals_raw_for_random_ledgers(db, first, late, start_min, span_min, provider):
    empty(db)
    base = NOW - timedelta(days=40)
    with session_scope() as s:
        ingest(
            s, [make(i, base + timedelta(minutes=m), p, mdl, t, stt) for i, (m, (p, mdl), t, stt) in enumerate(first)]
        )
    with session_scope() as s:  # late records land in past days already rolled up
        ingest(
            s,
            [
                make(1000 + i, base + timedelta(minutes=m), p, mdl, t, stt)
                for i, (m, (p, mdl), t, stt) in enumerate(late)
            ],
        )
    start = base + timedelta(minutes=start_min)
    end = start + timedelta(minutes=span_min)
    s = get_session(db)
    try:
        assert agg_figures(s, start, end, provider) == raw_figures(s, start, end, provider)
        assert agg_figures(s, None, None, provider) == raw_figures(s, None, None, provider)
    finally:
        s.close()


def test_rebuild_reproduces_the_incremental_rollup(db):
    for i in range(30):
        record_usage(
            job_id=f"x{i}",
            created_at=NOW - timedelta(hours=7 * i),
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=100 + i,
            output_tokens=10,
            company="Acme",
            execution_time_seconds=1.25,
        )
    s = get_session(db)

    def snapshot():
        return sorted(
            (r.day, r.jobs, r.total_tokens, r.total_cost, r.execution_ms) for r in s.scalars(select(UsageDaily))
        )

    incremental = snapshot()
    rebuild(s)
    s.commit()
    assert snapshot() == incremental
    assert len(incremental) > 5
    s.close()


def test_reprice_moves_figures_between_pricing_statuses(db):
    for i in range(4):
        record_usage(
            job_id=f"u{i}",
            created_at=NOW - timedelta(days=i),
            provider_name="acme",
            model_name="custom-1",
            input_tokens=1_000_000,
            output_tokens=0,
        )
    s = get_session(db)
    assert agg_figures(s, None, None)[4] == 4
    s.close()
    result = set_price("acme", "custom-1", "2", "4", effective_from=NOW - timedelta(days=1, hours=12), reprice=True)
    assert result["repriced"] == 2
    s = get_session(db)
    assert agg_figures(s, None, None) == raw_figures(s, None, None)
    assert agg_figures(s, None, None)[2] == Decimal("4")
    assert agg_figures(s, None, None)[4] == 2
    s.close()


# -- the four rollups (usage_daily, the narrow usage_daily_model and usage_daily_scope, usage_hourly) equal the raw
# ledger ---------------------------------------------------------------------------------------------------------

FIGURES = (
    "jobs",
    "input_tokens",
    "total_tokens",
    "total_cost",
    "execution_ms",
    "error_count",
    "memory_mb",
    "timed_jobs",
    "memory_jobs",
)


def raw_rollup(session, keys):
    """The raw records summed per rollup key: {key: (FIGURES...)} as the rollup tables should hold them."""
    out: dict = {}
    for u in session.scalars(select(AIJobUsage)):
        utc = u.created_at.astimezone(UTC)
        row = {"day": utc.date(), "hour": utc.hour, **{k: getattr(u, k) for k in keys if k not in ("day", "hour")}}
        acc = out.setdefault(tuple(row[k] for k in keys), [0, 0, 0, Decimal(0), 0, 0, 0, 0, 0])
        for i, v in enumerate(
            (
                1,
                u.input_tokens,
                u.total_tokens,
                u.total_cost,
                u.execution_ms or 0,
                u.error_count,
                u.memory_usage_mb or 0,
                u.execution_ms is not None,
                u.memory_usage_mb is not None,
            )
        ):
            acc[i] += v
    return {k: tuple(v) for k, v in out.items()}


def table_rollup(session, model, keys):
    return {
        tuple(getattr(r, k) for k in keys): tuple(getattr(r, f) for f in FIGURES)
        for r in session.scalars(select(model))
    }


def assert_rollups_equal_raw(s):
    assert table_rollup(s, UsageDaily, rollup.KEYS) == raw_rollup(s, rollup.KEYS)
    assert table_rollup(s, UsageDailyModel, rollup.NARROW_KEYS) == raw_rollup(s, rollup.NARROW_KEYS)
    assert table_rollup(s, UsageDailyScope, rollup.SCOPE_KEYS) == raw_rollup(s, rollup.SCOPE_KEYS)
    assert table_rollup(s, UsageHourly, rollup.HOUR_KEYS) == raw_rollup(s, rollup.HOUR_KEYS)


def raw_record(i, ts, provider, model, tokens, status, op):
    # Some records lack the execution time or the memory (stored NULL, not counted as measured).
    return {
        "job_id": f"n{i}",
        "created_at": ts.isoformat(),
        "provider": provider,
        "model": model,
        "input_tokens": tokens,
        "output_tokens": tokens // 3,
        "status": status,
        "execution_time_seconds": f"{tokens % 97}.{tokens % 1000:03d}" if tokens % 4 else None,
        "company": "Acme" if i % 3 else "Beta",
        "brand": f"b{tokens % 3}",
        "operation": op,
        "memory_usage_mb": tokens % 50 if tokens % 7 else None,
    }


narrow_record = st.tuples(
    st.integers(0, 24 * 60 * 10),
    st.sampled_from(PROVIDERS),
    st.integers(1, 50_000),
    st.sampled_from(["completed", "failed"]),
    st.sampled_from(["chat", "embed", "summarise"]),
)


def _delete_records(s, ids):
    """Delete records as a re-sync does (core/providers/openai_sync.py): subtract them from the rollup, then the
    rows."""
    old = list(s.scalars(select(AIJobUsage).where(AIJobUsage.id.in_(ids))))
    rollup.add_rows(s, [rollup.usage_row(u) for u in old], sign=-1)
    s.execute(delete(AIJobUsage).where(AIJobUsage.id.in_(ids)))
    s.execute(delete(AIJob).where(AIJob.id.in_([u.ai_job_id for u in old])))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(narrow_record, min_size=1, max_size=30),
    late=st.lists(narrow_record, max_size=15),
    reprice_days=st.none() | st.integers(0, 10),
    deleted=st.sets(st.integers(0, 44), max_size=12),
)
def test_both_rollups_equal_raw_after_inserts_late_records_reprices_and_deletes(db, first, late, reprice_days, deleted):
    empty(db)
    base = NOW - timedelta(days=10)
    with session_scope() as s:  # the row path (rollup.apply with dict deltas)
        ingest(
            s,
            [
                validate_record(raw_record(i, base + timedelta(minutes=m), *pm, t, stt, op), now=NOW)
                for i, (m, pm, t, stt, op) in enumerate(first)
            ],
        )
    with session_scope() as s:  # late records, the columnar path
        records = [
            raw_record(100 + i, base + timedelta(minutes=m), *pm, t, stt, op)
            for i, (m, pm, t, stt, op) in enumerate(late)
        ]
        if records:
            assert ingest_frame(s, pd.DataFrame.from_records(records), now=NOW).inserted == len(records)
    if reprice_days is not None:  # acme records become priced from that day: they move between pricing statuses
        set_price(
            "acme",
            "custom-1",
            "2",
            "4",
            effective_from=base + timedelta(days=reprice_days),
            reprice=True,
            allow_new_provider=True,
        )  # the generated records may hold no acme usage
    with session_scope() as s:
        ids = sorted(s.scalars(select(AIJobUsage.id)))
        _delete_records(s, [ids[i] for i in deleted if i < len(ids)])
    s = get_session(db)
    try:
        assert_rollups_equal_raw(s)
        for model in (UsageDaily, UsageDailyModel, UsageDailyScope, UsageHourly):
            assert s.scalar(select(func.count()).select_from(model).where(model.jobs <= 0)) == 0
    finally:
        s.close()


def test_many_keys_at_once_update_both_rollups(db):
    """Over 200 keys: PostgreSQL goes through the temporary table, the narrow sums grouped in SQL; then a
    subtraction of as many keys (rows emptied are removed from both tables)."""
    records = [
        raw_record(i, NOW - timedelta(hours=i), *PROVIDERS[i % 4], 100 + i, "completed", f"op{i % 7}")
        for i in range(260)
    ]
    with session_scope() as s:
        ingest(s, [validate_record(r, now=NOW) for r in records])
    s = get_session(db)
    try:
        assert len(table_rollup(s, UsageDaily, rollup.KEYS)) > 200
        assert_rollups_equal_raw(s)
        ids = sorted(s.scalars(select(AIJobUsage.id)))
        _delete_records(s, ids[::2] + ids[1:40:2])
        s.commit()
        assert_rollups_equal_raw(s)
        _delete_records(s, ids[41::2])
        s.commit()
        assert s.scalar(select(func.count()).select_from(UsageDaily)) == 0
        assert s.scalar(select(func.count()).select_from(UsageDailyModel)) == 0
        assert s.scalar(select(func.count()).select_from(UsageDailyScope)) == 0
        assert s.scalar(select(func.count()).select_from(UsageHourly)) == 0
    finally:
        s.close()


def test_rebuild_reproduces_both_rollups(db):
    with session_scope() as s:
        ingest(
            s,
            [
                validate_record(
                    raw_record(
                        i,
                        NOW - timedelta(hours=5 * i),
                        *PROVIDERS[i % 4],
                        100 + 7 * i,
                        ["completed", "failed"][i % 5 == 0],
                        ["chat", "embed"][i % 2],
                    ),
                    now=NOW,
                )
                for i in range(80)
            ],
        )
    s = get_session(db)
    try:
        wide, narrow_ = table_rollup(s, UsageDaily, rollup.KEYS), table_rollup(s, UsageDailyModel, rollup.NARROW_KEYS)
        scope = table_rollup(s, UsageDailyScope, rollup.SCOPE_KEYS)
        hourly = table_rollup(s, UsageHourly, rollup.HOUR_KEYS)
        assert len(hourly) >= len(wide) > len(narrow_) > 10  # brand and operation do split the narrow rows
        assert len(wide) >= len(scope) > 10  # provider, model and status may split the scope rows
        # A range, then everything: both tables come back row for row (and the days outside a range stay).
        rebuild(s, (NOW - timedelta(days=8)).date(), (NOW - timedelta(days=3)).date())
        s.commit()
        assert table_rollup(s, UsageDaily, rollup.KEYS) == wide
        assert table_rollup(s, UsageDailyModel, rollup.NARROW_KEYS) == narrow_
        assert table_rollup(s, UsageDailyScope, rollup.SCOPE_KEYS) == scope
        assert table_rollup(s, UsageHourly, rollup.HOUR_KEYS) == hourly
        s.execute(delete(UsageDailyModel))  # lost rollup rows are repaired by a full rebuild
        s.execute(delete(UsageDailyScope))
        s.execute(delete(UsageHourly))
        rebuild(s)
        s.commit()
        assert table_rollup(s, UsageDaily, rollup.KEYS) == wide
        assert table_rollup(s, UsageDailyModel, rollup.NARROW_KEYS) == narrow_
        assert table_rollup(s, UsageDailyScope, rollup.SCOPE_KEYS) == scope
        assert table_rollup(s, UsageHourly, rollup.HOUR_KEYS) == hourly
        assert_rollups_equal_raw(s)
    finally:
        s.close()


def test_one_record_at_a_time_keeps_the_four_rollups(db):
    """A single key's deltas (record_usage, a one-record correction) take one statement on PostgreSQL: a new
    row, an addition to it, a subtraction, and the row's removal when its last record goes."""
    records = [raw_record(i, NOW - timedelta(minutes=5 * i), *PROVIDERS[0], 100, "completed", "chat") for i in range(2)]
    for r in records:  # same hour, same key: the second adds to the first's rows
        with session_scope() as s:
            ingest(s, [validate_record(r | {"company": "Acme", "brand": "b1"}, now=NOW)])
    s = get_session(db)
    try:
        assert len(table_rollup(s, UsageHourly, rollup.HOUR_KEYS)) == 1
        assert next(iter(table_rollup(s, UsageDaily, rollup.KEYS).values()))[:2] == (2, 200)
        assert_rollups_equal_raw(s)
        ids = sorted(s.scalars(select(AIJobUsage.id)))
        _delete_records(s, ids[:1])
        s.commit()
        assert_rollups_equal_raw(s)
        _delete_records(s, ids[1:])
        s.commit()
        for model in (UsageHourly, UsageDaily, UsageDailyModel, UsageDailyScope):
            assert s.scalar(select(func.count()).select_from(model)) == 0
    finally:
        s.close()


def test_a_large_batch_over_days_rolled_up_already_and_new_ones(db):
    """Over 200 records in one batch (PostgreSQL: its deltas as one Arrow COPY), partly on (company, day)s that
    have rollup rows already (added to them), partly on new ones (written as they are): the four rollups equal
    the raw ledger, and the write guard's totals their sums."""
    with session_scope() as s:
        ingest(
            s,
            [
                validate_record(
                    raw_record(i, NOW - timedelta(hours=3 * i), *PROVIDERS[i % 4], 100 + i, "completed", "chat"),
                    now=NOW,
                )
                for i in range(40)
            ],
        )
    late = [
        raw_record(
            1000 + i,
            NOW - timedelta(hours=2 * i),
            *PROVIDERS[i % 3],
            50 + i,
            ["completed", "failed"][i % 4 == 0],
            f"op{i % 3}",
        )
        for i in range(300)
    ]
    with session_scope() as s:
        assert ingest_frame(s, pd.DataFrame.from_records(late), now=NOW).inserted == 300
    s = get_session(db)
    try:
        assert_rollups_equal_raw(s)
        days = {k[0] for k in table_rollup(s, UsageDaily, rollup.KEYS)}
        assert len(days) > 20
        totals = s.execute(text("SELECT total_tokens, error_count FROM ledger_totals")).one()
        assert tuple(totals) == (
            s.scalar(select(func.sum(AIJobUsage.total_tokens))),
            s.scalar(select(func.sum(AIJobUsage.error_count))),
        )
    finally:
        s.close()
