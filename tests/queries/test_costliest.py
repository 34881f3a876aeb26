"""The costliest rows of a range, read day by day on PostgreSQL, equal a plain sort of the whole range."""

from datetime import UTC, datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from core.ingest.frames import ingest_frame
from core.queries import costliest
from core.queries.costliest import costliest_ids
from core.storage.db import session_scope
from core.storage.models import AIJobUsage

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _load(n: int) -> None:
    records = [
        {
            "job_id": f"c{i}",
            "created_at": (NOW - timedelta(minutes=97 * i)).isoformat(),
            "provider": ["openai", "anthropic", "ollama"][i % 3],
            "model": ["gpt-4o-mini", "claude-3-5-haiku-20241022", "llama3.1:8b"][i % 3],
            "input_tokens": (i * 7919) % 5000,
            "output_tokens": (i * 104729) % 700,
            "company": "Acme" if i % 4 else "Beta",
        }
        for i in range(n)
    ]
    with session_scope() as s:
        assert ingest_frame(s, pd.DataFrame(records), now=NOW).inserted == n


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start_min=st.integers(0, 60 * 24 * 12),
    span_min=st.integers(1, 60 * 24 * 12),
    provider=st.sampled_from([None, "openai", "anthropic", "ollama"]),
    limit=st.integers(1, 15),
    offset=st.integers(0, 30),
    walk=st.sampled_from([3, 40, 2000]),
)
def test_day_by_day_equals_a_plain_sort(db, start_min, span_min, provider, limit, offset, walk):
    # walk: how far SQLite walks its cost index before a narrow range sorts itself (both ways are exact).
    saved, costliest.WALK_ROWS = costliest.WALK_ROWS, walk
    try:
        _check_against_a_plain_sort(start_min, span_min, provider, limit, offset)
    finally:
        costliest.WALK_ROWS = saved


def _check_against_a_plain_sort(start_min, span_min, provider, limit, offset):
    with session_scope() as s:
        if not s.scalar(select(AIJobUsage.id).limit(1)):
            _load(160)  # ~10 days of rows, many sharing a cost (ties broken by id)
        start = NOW - timedelta(days=11) + timedelta(minutes=start_min)
        end = start + timedelta(minutes=span_min)
        conds = [AIJobUsage.provider_name == provider] if provider else []
        rows = s.execute(select(AIJobUsage.id, AIJobUsage.total_cost, AIJobUsage.created_at).where(*conds)).all()
        picked = sorted(
            (r for r in rows if start <= r.created_at < end), key=lambda r: (r.total_cost, r.id), reverse=True
        )
        assert costliest_ids(s, start, end, conds, limit, offset) == [r.id for r in picked[offset : offset + limit]]


def test_sqlite_walks_the_cost_index_for_a_wide_range(sqlite_db):
    """The planner alone takes the created_at index and sorts the whole window; the walk reads the top."""
    _load(300)
    statements: list[str] = []

    def grab(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    with session_scope() as s:
        engine = s.get_bind()
        event.listen(engine, "before_cursor_execute", grab)
        try:
            ids = costliest_ids(s, NOW - timedelta(days=10), NOW, [], 10)
        finally:
            event.remove(engine, "before_cursor_execute", grab)
        expected = list(
            s.scalars(
                select(AIJobUsage.id)
                .where(AIJobUsage.created_at >= NOW - timedelta(days=10))
                .order_by(AIJobUsage.total_cost.desc(), AIJobUsage.id.desc())
                .limit(10)
            )
        )
    usage_reads = [q for q in statements if "ai_job_usage.total_cost" in q]
    assert ids == expected
    # Two reads of costs, both on the cost index: its floor, then the walk; no sort of the window.
    assert len(usage_reads) == 2 and all("INDEXED BY ix_usage_total_cost" in q for q in usage_reads), usage_reads
