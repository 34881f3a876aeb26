"""The daily rollup stays equal to the raw ledger: on insert, for late records, after repricing, and through
`aggregate`'s split between whole days (rollup) and partial days (raw)."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core import rollup
from core.aggregate import aggregate
from core.db import get_session, session_scope
from core.limits import set_price
from core.models import AIJobUsage, UsageDaily
from core.usage import ingest, record_usage
from core.validation import validate_record

NOW = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
PROVIDERS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022"), ("ollama", "llama3.1:8b"),
             ("acme", "custom-1")]


def raw_figures(session, start, end, provider=None):
    rows = session.scalars(select(AIJobUsage)).all()
    picked = [u for u in rows if (start is None or u.created_at >= start) and (end is None or u.created_at < end)
              and (provider is None or u.provider_name == provider)]
    return (len(picked), sum(u.total_tokens for u in picked), sum((u.total_cost for u in picked), Decimal(0)),
            sum(u.execution_ms for u in picked), sum(1 for u in picked if u.pricing_status == "unpriced"))


def agg_figures(session, start, end, provider=None):
    df = aggregate(session, start=start, end=end, dims=["pricing_status"],
                   filters={"provider_name": provider} if provider else None)
    if df.empty:
        return (0, 0, Decimal(0), 0, 0)
    return (int(df["jobs"].sum()), int(df["total_tokens"].sum()), sum(df["total_cost"], Decimal(0)),
            int(df["execution_ms"].sum()), int(df.loc[df.pricing_status == "unpriced", "jobs"].sum()))


def make(i, ts, provider, model, tokens, status="completed"):
    return validate_record({"job_id": f"r{i}", "created_at": ts, "provider": provider, "model": model,
                            "input_tokens": tokens, "output_tokens": tokens // 3, "status": status,
                            "execution_time_seconds": f"{tokens % 97}.{tokens % 1000:03d}",
                            "company": "Acme" if i % 3 else "Beta"}, now=NOW)


record_strategy = st.tuples(st.integers(0, 24 * 60 * 40), st.sampled_from(PROVIDERS), st.integers(1, 50_000),
                            st.sampled_from(["completed", "failed", "timeout"]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(record_strategy, min_size=1, max_size=40),
       late=st.lists(record_strategy, max_size=10),
       start_min=st.integers(0, 24 * 60 * 40), span_min=st.integers(1, 24 * 60 * 40),
       provider=st.sampled_from([None, "openai", "ollama", "acme"]))
def test_aggregate_equals_raw_for_random_ledgers(db, first, late, start_min, span_min, provider):
    from tests.conftest import _empty
    _empty(db)
    base = NOW - timedelta(days=40)
    with session_scope() as s:
        ingest(s, [make(i, base + timedelta(minutes=m), p, mdl, t, stt) for i, (m, (p, mdl), t, stt)
                   in enumerate(first)])
    with session_scope() as s:  # late records land in past days already rolled up
        ingest(s, [make(1000 + i, base + timedelta(minutes=m), p, mdl, t, stt) for i, (m, (p, mdl), t, stt)
                   in enumerate(late)])
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
        record_usage(job_id=f"x{i}", created_at=NOW - timedelta(hours=7 * i), provider_name="openai",
                     model_name="gpt-4o-mini", input_tokens=100 + i, output_tokens=10, company="Acme",
                     execution_time_seconds=1.25)
    s = get_session(db)
    def snapshot():
        return sorted((r.day, r.jobs, r.total_tokens, r.total_cost, r.execution_ms)
                      for r in s.scalars(select(UsageDaily)))
    incremental = snapshot()
    rollup.rebuild(s)
    s.commit()
    assert snapshot() == incremental
    assert len(incremental) > 5
    s.close()


def test_reprice_moves_figures_between_pricing_statuses(db):
    for i in range(4):
        record_usage(job_id=f"u{i}", created_at=NOW - timedelta(days=i), provider_name="acme",
                     model_name="custom-1", input_tokens=1_000_000, output_tokens=0)
    s = get_session(db)
    assert agg_figures(s, None, None)[4] == 4
    s.close()
    result = set_price("acme", "custom-1", "2", "4", effective_from=NOW - timedelta(days=1, hours=12),
                       reprice=True)
    assert result["repriced"] == 2
    s = get_session(db)
    assert agg_figures(s, None, None) == raw_figures(s, None, None)
    assert agg_figures(s, None, None)[2] == Decimal("4")
    assert agg_figures(s, None, None)[4] == 2
    s.close()
