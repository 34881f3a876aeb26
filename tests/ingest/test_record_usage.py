"""record_usage: stored exactly, timestamps in UTC, idempotent on job_id (also concurrently)."""

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from core.storage.db import get_session
from core.storage.models import AIJob, AIJobUsage, PriceOverride, UsageDaily
from core.usage import InvalidRecord, UsageConflict, record_usage

TS = datetime(2025, 11, 3, 14, 35, tzinfo=UTC)


def base(**kw):
    return (
        dict(
            job_id="ai_job_abc123",
            created_at=TS,
            company="Humari",
            brand="Humari",
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=125,
            output_tokens=275,
            execution_time_seconds=3,
            memory_usage_mb=64,
        )
        | kw
    )


def counts(url):
    s = get_session(url)
    try:
        return (
            s.scalar(select(func.count()).select_from(AIJob)),
            s.scalar(select(func.count()).select_from(AIJobUsage)),
            s.scalar(select(func.coalesce(func.sum(UsageDaily.jobs), 0))),
        )
    finally:
        s.close()


def test_seed_keywords_are_recorded(db):
    u = record_usage(**base(cost_input=Decimal("0.000625"), cost_output=Decimal("0.004125")))
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (125, 275, 400)
    assert u.total_cost == Decimal("0.004750")
    assert u.execution_time_seconds == 3.0 and u.memory_usage_mb == 64
    assert (u.provider_name, u.model_name, u.success_rate, u.error_count) == ("openai", "gpt-4o-mini", 1.0, 0)
    assert u.ai_job.job_id == "ai_job_abc123" and u.ai_job.brand.name == "Humari"
    assert u.cost_per_token == pytest.approx(0.004750 / 400)


def test_timestamps_come_back_aware_utc(db):
    paris = timezone(timedelta(hours=1))
    u = record_usage(**base(created_at=datetime(2025, 11, 3, 15, 35, tzinfo=paris)))
    s = get_session(db)
    stored = s.scalar(select(AIJobUsage.created_at).where(AIJobUsage.id == u.id))
    s.close()
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == TS


def test_money_is_exact_decimal_in_aggregates(db):
    # 0.1 + 0.2 style sums must stay exact on both databases.
    for i in range(10):
        record_usage(**base(job_id=f"j{i}", cost_input=Decimal("0.100001"), cost_output=Decimal("0.200002")))
    s = get_session(db)
    total = s.scalar(select(func.sum(AIJobUsage.total_cost)))
    rolled = s.scalar(select(func.sum(UsageDaily.total_cost)))
    s.close()
    assert total == Decimal("3.000030") and rolled == total
    assert isinstance(total, Decimal)


def test_replay_counts_once(db):
    first = record_usage(**base())
    again = record_usage(**base())
    assert again.id == first.id
    assert counts(db) == (1, 1, 1)


def test_same_job_id_other_content_is_a_conflict_and_nothing_changes(db):
    record_usage(**base())
    with pytest.raises(UsageConflict, match="ai_job_abc123"):
        record_usage(**base(output_tokens=999))
    s = get_session(db)
    assert s.scalar(select(AIJobUsage.output_tokens)) == 275
    s.close()
    assert counts(db) == (1, 1, 1)


def test_concurrent_replays_count_once(db):
    errors = []

    def worker():
        try:
            record_usage(**base())
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts(db) == (1, 1, 1)


def test_job_id_is_generated_when_missing(db):
    a = record_usage(**base(job_id=None))
    b = record_usage(**base(job_id=None))
    assert a.ai_job.job_id != b.ai_job.job_id
    assert counts(db)[0] == 2


def test_failed_job_defaults(db):
    u = record_usage(**base(status="failed", output_tokens=0, error_class="InternalServerError"))
    assert (u.success_rate, u.error_count, u.error_class, u.ai_job.status) == (0.0, 1, "InternalServerError", "failed")


def test_total_tokens_must_match(db):
    with pytest.raises(InvalidRecord, match="total_tokens"):
        record_usage(**base(total_tokens=10))
    assert counts(db) == (0, 0, 0)


def test_retry_without_timestamp_is_a_duplicate(db):
    # The usage spec's own example passes no created_at: a retry of the same call must count once.
    kw = dict(
        job_id="retry-1",
        input_tokens=125,
        output_tokens=275,
        cost_input=Decimal("0.000625"),
        cost_output=Decimal("0.004125"),
        execution_time_seconds=3,
        provider_name="openai",
        model_name="gpt-4o",
    )
    first = record_usage(**kw)
    again = record_usage(**kw)
    assert again.id == first.id
    assert counts(db) == (1, 1, 1)


def _columns(obj) -> dict:
    return {a.key: (getattr(obj, a.key), type(getattr(obj, a.key))) for a in obj.__mapper__.column_attrs}


def test_the_row_handed_back_is_the_stored_one(db):
    """The row comes back from the write itself, not read again (PostgreSQL, company and brand known): every
    column of it, its job, brand and company, values and types, as a query loads them."""
    record_usage(**base(job_id="first"))  # the company and brand exist from here on
    u = record_usage(
        **base(
            job_id="second",
            cost_input=Decimal("0.000625"),
            cost_output=Decimal("0.004125"),
            execution_time_seconds=None,
            memory_usage_mb=None,
            status="failed",
            error_class="Timeout",
            description="a test call",
            request_id="req-1",
            created_at=datetime(2025, 11, 3, 15, 35, tzinfo=timezone(timedelta(hours=1))),
        )
    )
    s = get_session(db)
    job = joinedload(AIJobUsage.ai_job)
    stored = s.scalar(
        select(AIJobUsage)
        .where(AIJobUsage.id == u.id)
        .options(job.joinedload(AIJob.brand), job.joinedload(AIJob.company))
    )
    s.close()
    assert _columns(u) == _columns(stored)
    assert _columns(u.ai_job) == _columns(stored.ai_job)
    assert _columns(u.ai_job.brand) == _columns(stored.ai_job.brand)
    assert _columns(u.ai_job.company) == _columns(stored.ai_job.company)
    assert u.execution_time_seconds is None


def test_a_price_set_by_another_process_prices_the_next_call(db):
    """Each process keeps the price overrides it read; the write checks them in its own statement, so an override
    set elsewhere meanwhile prices the very next call."""
    assert record_usage(**base(job_id="before")).pricing_status == "catalog"
    s = get_session(db)  # another process: nothing this one keeps hears of it
    s.add(
        PriceOverride(
            provider="openai",
            model_pattern="gpt-4o-mini",
            input_per_million=Decimal("1000"),
            output_per_million=Decimal("0"),
            effective_from=TS - timedelta(days=1),
            created_at=TS,
        )
    )
    s.commit()
    s.close()
    u = record_usage(**base(job_id="after"))
    assert (u.pricing_status, u.cost_input, u.cost_output) == ("override", Decimal("0.125000"), Decimal("0.000000"))
    assert record_usage(**base(job_id="again")).pricing_status == "override"
