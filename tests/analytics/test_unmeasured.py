"""A value that was not measured is NULL, never 0: records without execution time or memory store NULL, and every
average is over the jobs that have the value (dashboard, daily breakdown, efficiency, stats), on SQLite and
PostgreSQL, through the import (columnar) path and record_usage (row path)."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.analytics import get_efficiency, get_usage_dashboard, get_usage_stats
from core.ingest.files import import_file
from core.storage.db import get_session
from core.storage.models import AIJob, AIJobUsage, UsageDaily, UsageDailyModel, UsageDailyScope, UsageHourly
from core.usage import record_usage

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
DAY_A, DAY_B, DAY_C = NOW - timedelta(days=3), NOW - timedelta(hours=2), NOW - timedelta(days=5)


def _import(tmp_path, records) -> None:
    path = tmp_path / "five.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = import_file(path, now=NOW)
    assert (result.imported, result.refused) == (len(records), [])


def _record(job_id, when, **kw) -> dict:
    return {
        "job_id": job_id,
        "created_at": when.isoformat(),
        "company": "Acme",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 20,
    } | kw


FIVE = [  # two timed (1.4 s and 3.2 s), three without execution_time_seconds; two with memory
    _record("a-timed", DAY_A, execution_time_seconds=1.4, memory_usage_mb=100),
    _record("a-untimed", DAY_A),
    _record("b-timed", DAY_B, execution_time_seconds="3.2", memory_usage_mb=300),
    _record("b-untimed", DAY_B, execution_time_seconds=""),
    _record("c-untimed", DAY_C),
]


def _stored(url) -> dict:
    s = get_session(url)
    try:
        return {
            j: (ms, mb)
            for j, ms, mb in s.execute(
                select(AIJob.job_id, AIJobUsage.execution_ms, AIJobUsage.memory_usage_mb).join(
                    AIJobUsage, AIJobUsage.ai_job_id == AIJob.id
                )
            )
        }
    finally:
        s.close()


def _counts(url) -> dict:
    """(jobs, timed_jobs, execution_ms, memory_jobs, memory_mb) summed over each rollup table."""
    s = get_session(url)
    try:
        return {
            m.__tablename__: tuple(
                sum(getattr(r, f) for r in s.scalars(select(m)))
                for f in ("jobs", "timed_jobs", "execution_ms", "memory_jobs", "memory_mb")
            )
            for m in (UsageHourly, UsageDaily, UsageDailyModel, UsageDailyScope)
        }
    finally:
        s.close()


def test_import_without_execution_time_stores_null_and_averages_over_timed_jobs(db, tmp_path):
    _import(tmp_path, FIVE)
    assert _stored(db) == {
        "a-timed": (1400, 100),
        "a-untimed": (None, None),
        "b-timed": (3200, 300),
        "b-untimed": (None, None),
        "c-untimed": (None, None),
    }
    assert set(_counts(db).values()) == {(5, 2, 4600, 2, 400)}

    d = get_usage_dashboard(days=30, now=NOW)
    assert d["totals"]["jobs"] == 5
    assert d["totals"]["avg_execution_time"] == 2.3  # (1.4 + 3.2) / 2, not / 5
    assert d["quality_metrics"]["avg_execution_time"] == 2.3
    assert {x["date"]: x["avg_execution_time"] for x in d["daily_breakdown"]} == {
        DAY_A.date().isoformat(): 1.4,
        DAY_B.date().isoformat(): 3.2,
        DAY_C.date().isoformat(): None,
    }
    # Nothing in the previous period: no average to compare with.
    assert d["comparison"]["previous_period"]["avg_execution_time"] is None
    assert d["comparison"]["change"]["avg_execution_time_percentage"] is None

    [model] = get_efficiency(now=NOW)["models_comparison"]
    assert model["metrics"]["avg_execution_time"] == 2.3 and model["metrics"]["jobs_count"] == 5

    stats = get_usage_stats(now=NOW)
    assert stats["efficiency"]["avg_execution_time"] == 2.3
    assert stats["top_performers"]["fastest_model"] == "gpt-4o-mini"


def test_a_period_with_no_timed_job_has_no_average(db, tmp_path):
    _import(
        tmp_path,
        [
            FIVE[1],
            FIVE[4],
            _record("gem", DAY_C, provider="gemini", model="gemini-2.0-flash", execution_time_seconds=0.5),
        ],
    )
    d = get_usage_dashboard(days=30, now=NOW, provider="openai")
    assert d["totals"]["jobs"] == 2
    assert d["totals"]["avg_execution_time"] is None and d["quality_metrics"]["avg_execution_time"] is None
    assert [x["avg_execution_time"] for x in d["daily_breakdown"]] == [None, None]

    eff = get_efficiency(now=NOW)
    by_model = {m["model"]: m for m in eff["models_comparison"]}
    assert by_model["gpt-4o-mini"]["metrics"]["avg_execution_time"] is None
    assert by_model["gpt-4o-mini"]["score_parts"]["speed"] is None  # no speed score rather than the fastest's
    assert by_model["gemini-2.0-flash"]["metrics"]["avg_execution_time"] == 0.5
    assert eff["overall_insights"]["fastest"] == "gemini-2.0-flash"  # an untimed model is not "fastest"

    only_openai = get_efficiency(now=NOW, provider="openai")
    assert only_openai["overall_insights"]["fastest"] is None
    assert get_usage_stats(now=NOW, provider="openai")["efficiency"]["avg_execution_time"] is None
    assert get_usage_stats(now=NOW, provider="openai")["top_performers"]["fastest_model"] is None


def test_record_usage_without_timing_stores_null(db):
    untimed = record_usage(
        job_id="r-untimed",
        created_at=DAY_A,
        company="Acme",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        now=NOW,
    )
    zero = record_usage(
        job_id="r-zero",
        created_at=DAY_A,
        company="Acme",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        execution_time_seconds=0,
        memory_usage_mb=0,
        now=NOW,
    )
    assert (untimed.execution_ms, untimed.execution_time_seconds, untimed.memory_usage_mb) == (None, None, None)
    assert (zero.execution_ms, zero.memory_usage_mb) == (0, 0)  # a measured 0 is a value
    assert _stored(db) == {"r-untimed": (None, None), "r-zero": (0, 0)}
    assert set(_counts(db).values()) == {(2, 1, 0, 1, 0)}
    # A replay of the untimed record is a duplicate (same content), not a conflict.
    again = record_usage(
        job_id="r-untimed",
        created_at=DAY_A,
        company="Acme",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        now=NOW,
    )
    assert again.id == untimed.id
    assert get_usage_dashboard(days=30, now=NOW)["totals"]["avg_execution_time"] == 0.0
