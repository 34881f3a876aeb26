"""The columnar ingest (core/ingest/frames.py) stores exactly what the row path stores, refuses exactly what it
refuses with the same messages, and keeps the rollup equal — for random batches, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, text

from core.errors import InvalidRecord
from core.ingest.checks import validate_record
from core.ingest.frames import ingest_frame, ingest_frames
from core.ingest.record import get_or_create_brand, get_or_create_company, ingest, record_usage
from core.limits.budgets import set_price
from core.storage.db import get_engine, session_scope
from core.storage.models import AIJobUsage
from tests.helpers.db import empty

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("OpenAI", "gpt-4o"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("gemini", "gemini-1.5-pro"),
    ("ollama", "llama3.1:8b"),
    ("acme", "custom-1"),
    ("mistral", "tuned-x"),
]

DUMP = text(
    "SELECT j.job_id, j.fingerprint, j.status, c.name, b.name, j.operation, j.description, j.job_type, j.source,"
    " j.created_at, u.input_tokens, u.output_tokens, u.total_tokens, u.cached_tokens, u.cache_write_tokens,"
    " u.reasoning_tokens, u.cost_input, u.cost_output, u.total_cost, u.pricing_status, u.execution_ms,"
    " u.memory_usage_mb, u.provider_name, u.model_name, u.success_rate, u.error_count, u.created_at"
    " FROM ai_jobs j JOIN ai_job_usage u ON u.ai_job_id = j.id JOIN companies c ON c.id = j.company_id"
    " JOIN brands b ON b.id = j.brand_id ORDER BY j.job_id"
)
DAILY = text(
    "SELECT d.day, c.name, d.provider_name, d.model_name, d.operation, d.job_status, d.pricing_status,"
    " d.jobs, d.input_tokens, d.total_tokens, d.cost_input, d.cost_output, d.total_cost, d.execution_ms,"
    " d.success_sum, d.error_count, d.timed_jobs, d.memory_mb, d.memory_jobs"
    " FROM usage_daily d JOIN companies c ON c.id = d.company_id"
    " ORDER BY 1, 2, 3, 4, 5, 6, 7"
)


def snapshot():
    with session_scope() as s:
        return s.execute(DUMP).all(), s.execute(DAILY).all()


def row_path(records, now=NOW):
    """What validating each record and calling `ingest` gives: (refused, inserted, duplicates, conflicts)."""
    good, refused = [], []
    for i, r in enumerate(records):
        try:
            good.append((i, validate_record(r, now=now)))
        except InvalidRecord as e:
            refused.append((i, str(e)))
    with session_scope() as s:
        res = ingest(s, [rec for _, rec in good], source="import")
    return refused, res.inserted, res.duplicates, sorted((good[p][0], j) for p, j in res.conflicts)


def frame_path(records, now=NOW):
    with session_scope() as s:
        res = ingest_frame(s, pd.DataFrame.from_records(records), now=now, raw=records)
    return res.refused, res.inserted, res.duplicates, res.conflicts


count = st.one_of(
    st.integers(0, 3_000_000),
    st.integers(-5, 5),
    st.just(None),
    st.just(True),
    st.floats(0, 1e6),
    st.sampled_from([float("nan"), float("inf"), 12.0, 12.5]),
    st.sampled_from(["12", " 7", "1e3", "x", ""]),
)
stamp = st.one_of(
    st.integers(0, 60 * 24 * 30).map(lambda m: NOW - timedelta(minutes=m)),
    st.integers(0, 60 * 24 * 30).map(lambda m: (NOW - timedelta(minutes=m, microseconds=m % 7)).isoformat()),
    st.integers(0, 60 * 24 * 30).map(lambda m: (NOW - timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%SZ")),
    st.sampled_from(
        [
            "2026-03-01T10:00:00+02:00",
            "2026-03-10T12:30:00Z",
            "2026-02-30T10:00:00",
            "yesterday",
            " 2026-03-01T10:00:00",
            None,
        ]
    ),
)
record = st.fixed_dictionaries(
    {
        "job_id": st.one_of(st.integers(0, 40).map(lambda i: f"job-{i}"), st.sampled_from(["", " pad ", None, 7])),
        "created_at": stamp,
        "provider_model": st.sampled_from(MODELS + [(None, "gpt-4o"), ("openai", None)]),
        "input_tokens": count,
        "output_tokens": count,
        "cached_tokens": st.one_of(st.just(None), st.integers(0, 500), st.just(-1)),
        "cache_write_tokens": st.one_of(st.just(None), st.integers(0, 300)),
        "reasoning_tokens": st.one_of(st.just(None), st.integers(0, 100)),
        "status": st.sampled_from([None, "completed", "failed", "FAILED", "timeout", "done"]),
        "execution_time_seconds": st.one_of(
            st.just(None), st.floats(0, 100, allow_nan=False), st.just(1.0005), st.just(-1), st.just("2.5")
        ),
        "company": st.sampled_from([None, "Acme", "Beta", "Ünïcode Co"]),
        "operation": st.sampled_from([None, "chat", "summary", "a\x01b"]),
        "description": st.sampled_from([None, "", "hello", "x" * 2001]),  # 2001: too long
        "cost_input": st.one_of(st.just(None), st.decimals(0, 5, places=7).map(str), st.floats(0, 2), st.just(-1)),
        "memory_usage_mb": st.one_of(st.just(None), st.integers(0, 4096)),
    }
)


def _flatten(r: dict) -> dict:
    r = dict(r)
    r["provider"], r["model"] = r.pop("provider_model")
    return r


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(batch=st.lists(record, min_size=1, max_size=60))
def test_columnar_equals_row_path(db, batch):
    records = [_flatten(r) for r in batch]
    empty(db)
    set_price(
        "acme",
        "custom-*",
        input_per_million="0.3",
        output_per_million="1.2",
        allow_new_provider=True,
        effective_from=NOW - timedelta(days=400),
    )
    # An override starting in the middle of a day: rows of that day are priced on either side of it.
    set_price(
        "openai",
        "gpt-4o",
        input_per_million="1.1",
        output_per_million="3.3",
        cached_input_per_million="0.55",
        effective_from=NOW - timedelta(days=3, hours=5),
    )
    expected = row_path(records)
    want = snapshot()
    empty(db)
    set_price(
        "acme",
        "custom-*",
        input_per_million="0.3",
        output_per_million="1.2",
        allow_new_provider=True,
        effective_from=NOW - timedelta(days=400),
    )
    set_price(
        "openai",
        "gpt-4o",
        input_per_million="1.1",
        output_per_million="3.3",
        cached_input_per_million="0.55",
        effective_from=NOW - timedelta(days=3, hours=5),
    )
    assert frame_path(records) == expected
    assert snapshot() == want


def _rec(i, **kw):
    base = {
        "job_id": f"j{i}",
        "created_at": (NOW - timedelta(hours=i)).isoformat(),
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 1000 + i,
        "output_tokens": 100,
        "cached_tokens": 200,
        "company": "Acme",
    }
    return base | kw


def test_published_prices_exact_in_micro_dollars(db):
    # gpt-4o-mini: $0.15 / $0.60 per million, cached input at half price.
    with session_scope() as s:
        res = ingest_frame(
            s, pd.DataFrame([_rec(0, input_tokens=1_000_000, cached_tokens=400_000, output_tokens=1_000_000)]), now=NOW
        )
    assert res.inserted == 1
    with session_scope() as s:
        u = s.scalars(select(AIJobUsage)).one()
        ci, co, total, status = u.cost_input, u.cost_output, u.total_cost, u.pricing_status
    assert (Decimal(ci), Decimal(co), Decimal(total), status) == (
        Decimal("0.12"),
        Decimal("0.6"),
        Decimal("0.72"),
        "catalog",
    )


def test_replays_are_duplicates_and_changes_are_conflicts(db):
    records = [_rec(i) for i in range(100)]
    with session_scope() as s:
        assert ingest_frame(s, pd.DataFrame(records), now=NOW).inserted == 100
    changed = records[:50] + [r | {"output_tokens": 7} for r in records[50:60]] + [_rec(500)]
    with session_scope() as s:
        res = ingest_frame(s, pd.DataFrame(changed), now=NOW)
    assert (res.inserted, res.duplicates) == (1, 50)
    assert res.conflicts == [(50 + i, f"j{50 + i}") for i in range(10)]
    # The row path recognises what the columnar path stored (same fingerprint): a replay is a duplicate.
    again = records[3]
    stored = record_usage(
        job_id=again["job_id"],
        created_at=datetime.fromisoformat(again["created_at"]),
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=again["input_tokens"],
        output_tokens=100,
        cached_tokens=200,
        company="Acme",
        now=NOW,
    )
    assert stored.input_tokens == again["input_tokens"]
    with session_scope() as s:
        assert s.execute(text("SELECT count(*) FROM ai_jobs")).scalar() == 101
        assert (
            s.execute(
                text(
                    "SELECT output_tokens FROM ai_job_usage u JOIN ai_jobs j ON j.id = u.ai_job_id "
                    "WHERE j.job_id = 'j55'"
                )
            ).scalar()
            == 100
        )


def test_batches_in_flight_keep_the_earlier_record(db):
    """Two batches written at once: the same job_id in both keeps the first batch's content."""
    first = [_rec(i) for i in range(300)]
    second = [_rec(i + 300) for i in range(299)] + [_rec(0, output_tokens=999)]
    results = dict(ingest_frames([(pd.DataFrame(first), None, 1), (pd.DataFrame(second), None, 2)], workers=2, now=NOW))
    assert (results[1].inserted, results[1].conflicts) == (300, [])
    assert (results[2].inserted, results[2].conflicts) == (299, [(299, "j0")])
    with session_scope() as s:
        assert (
            s.execute(
                text(
                    "SELECT u.output_tokens FROM ai_job_usage u JOIN ai_jobs j ON j.id = u.ai_job_id "
                    "WHERE j.job_id = 'j0'"
                )
            ).scalar()
            == 100
        )


def test_new_company_is_committed_before_its_batch(pg_db):
    """A batch in flight with another must not wait for the other's uncommitted insert of a new company or
    brand (that serialised two in-flight batches of a new company): new names are committed on their own."""
    with session_scope() as s:
        ingest_frame(s, pd.DataFrame([_rec(0, company="Newco", brand="Site A")]), now=NOW)
        with session_scope() as other:  # the batch is not committed yet; its names are
            assert other.execute(text("SELECT count(*) FROM ai_jobs")).scalar() == 0
            assert other.execute(
                text(
                    "SELECT c.name, b.name FROM brands b JOIN companies c ON c.id = b.company_id WHERE c.name = 'Newco'"
                )
            ).all() == [("Newco", "Site A")]
    with session_scope() as s:
        assert s.execute(text("SELECT count(*) FROM ai_jobs")).scalar() == 1


def test_a_name_this_transaction_created_is_not_created_again_on_the_side(pg_db):
    """A brand the batch's own transaction created earlier (uncommitted) is found there: creating it in a
    transaction of its own would wait for this one forever (a 3 s lock_timeout turns that into an error)."""
    engine = get_engine(pg_db)

    @event.listens_for(engine, "connect")
    def _lock_timeout(dbapi, _record):
        with dbapi.cursor() as cur:
            cur.execute("SET lock_timeout = '3s'")

    engine.dispose()
    with session_scope() as s:
        get_or_create_brand(s, get_or_create_company(s, "Acme"), "b1")
    with session_scope() as s:
        get_or_create_brand(s, get_or_create_company(s, "Acme"), "b2")  # earlier work of the same transaction
        res = ingest_frame(s, pd.DataFrame([_rec(0, brand="b1"), _rec(1, brand="b2")]), now=NOW)
    assert (res.inserted, res.refused) == (2, [])
    with session_scope() as s:
        assert s.execute(text("SELECT count(*) FROM brands")).scalar() == 2


def test_one_rollup_write_per_transaction(db, monkeypatch):
    """Every writer updates the rollups once per transaction (rollup.apply's lock order then holds across
    writers: no deadlock): a row-path ingest over several chunks, and a batch mixing columnar and row-path rows."""
    import core.ingest.record as usage_mod
    from core.storage import rollup_frames
    from core.storage import rollups as rollup

    calls = []
    for module, name in ((rollup, "apply"), (rollup_frames, "apply_frame")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name: (calls.append(_name), _real(*a))[1])
    monkeypatch.setattr(usage_mod, "CHUNK", 3)
    with session_scope() as s:  # 10 records, 4 chunks, 10 hours
        ingest(s, [validate_record(_rec(i), now=NOW) for i in range(10)])
    assert len(calls) == 1
    calls.clear()
    odd = _rec(11, input_tokens="1200")  # a string count: validated by the scalar path, stored by the row path
    with session_scope() as s:
        res = ingest_frame(s, pd.DataFrame([_rec(10), odd, _rec(12)]), now=NOW, raw=[_rec(10), odd, _rec(12)])
    assert res.inserted == 3 and len(calls) == 1
    with session_scope() as s:
        assert s.execute(text("SELECT sum(jobs) FROM usage_hourly")).scalar() == 13
    calls.clear()  # a reprice subtracts the old costs and adds the new ones: one update too
    result = set_price("openai", "gpt-4o-mini", "1", "2", effective_from=NOW - timedelta(days=2), reprice=True)
    assert result["repriced"] == 13 and len(calls) == 1


def test_unmeasured_time_and_memory_are_stored_null_and_left_out_of_the_measured_counts(db):
    """A batch of 300 (the columnar path; on PostgreSQL the COPY writer and the Arrow rollup update): a missing
    execution time or memory is NULL in the ledger, and each rollup counts only the jobs that have the value."""
    records = [
        _rec(
            i,
            execution_time_seconds=None if i % 3 else i / 10,
            memory_usage_mb=None if i % 4 else 64,
            status="failed" if i % 7 == 0 else "completed",
        )
        for i in range(300)
    ]
    with session_scope() as s:
        res = ingest_frame(s, pd.DataFrame.from_records(records), now=NOW)
    assert (res.inserted, res.refused) == (300, [])
    with session_scope() as s:
        stored = dict(
            (
                (j, (ms, mb))
                for j, ms, mb in s.execute(
                    text(
                        "SELECT j.job_id, u.execution_ms, u.memory_usage_mb FROM ai_jobs j "
                        "JOIN ai_job_usage u ON u.ai_job_id = j.id"
                    )
                ).all()
            )
        )
        sums = {
            t: s.execute(
                text(f"SELECT sum(jobs), sum(timed_jobs), sum(execution_ms), sum(memory_jobs), sum(memory_mb) FROM {t}")
            ).one()
            for t in ("usage_hourly", "usage_daily", "usage_daily_model", "usage_daily_scope")
        }
        per_day = s.execute(
            text("SELECT day, jobs, timed_jobs, memory_jobs FROM usage_daily_model ORDER BY day, job_status")
        ).all()
    assert stored == {f"j{i}": (None if i % 3 else i * 100, None if i % 4 else 64) for i in range(300)}
    timed_ms = sum(i * 100 for i in range(0, 300, 3))
    assert {tuple(int(v) for v in row) for row in sums.values()} == {(300, 100, timed_ms, 75, 75 * 64)}
    expected: dict = {}
    for i in range(300):
        key = ((NOW - timedelta(hours=i)).date(), "failed" if i % 7 == 0 else "completed")
        acc = expected.setdefault(key, [0, 0, 0])
        acc[0], acc[1], acc[2] = acc[0] + 1, acc[1] + (i % 3 == 0), acc[2] + (i % 4 == 0)
    assert [(str(d)[:10], jobs, timed, mem) for d, jobs, timed, mem in per_day] == [
        (d.isoformat(), *v) for (d, _), v in sorted(expected.items())
    ]


def test_shuffled_batch_is_written_in_time_order(pg_db):
    """PostgreSQL writes a batch sorted by time (ids rising with it), each job still with its own usage row."""
    records = [_rec(i, input_tokens=1000 + i) for i in (5, 0, 9, 3, 7, 1, 8, 2, 6, 4)]  # hours before NOW
    with session_scope() as s:
        assert ingest_frame(s, pd.DataFrame(records), now=NOW).inserted == 10
    with session_scope() as s:
        rows = s.execute(
            text(
                "SELECT j.job_id, u.input_tokens, j.created_at = u.created_at FROM ai_jobs j "
                "JOIN ai_job_usage u ON u.ai_job_id = j.id ORDER BY j.id"
            )
        ).all()
    assert rows == [(f"j{i}", 1000 + i, True) for i in range(9, -1, -1)]  # oldest first


def test_timestamps_stored_in_utc_whatever_the_session_zone(db):
    with session_scope() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SET TIME ZONE 'America/New_York'"))
        ingest_frame(
            s,
            pd.DataFrame(
                [_rec(0, created_at="2026-03-01T10:00:00Z"), _rec(1, created_at="2026-03-01T10:00:00.250000+02:00")]
            ),
            now=NOW,
        )
    with session_scope() as s:
        got = [
            r[0]
            for r in s.execute(
                text("SELECT u.created_at FROM ai_job_usage u JOIN ai_jobs j ON j.id = u.ai_job_id ORDER BY j.job_id")
            )
        ]
    wanted = [datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 1, 8, 0, 0, 250000, tzinfo=UTC)]
    if isinstance(got[0], str):  # SQLite: the stored text
        assert got == ["2026-03-01 10:00:00.000000", "2026-03-01 08:00:00.250000"]
    else:
        assert got == wanted


@pytest.mark.parametrize("size", [1, 49, 2500])
def test_any_batch_size_round_trips(db, size):
    records = [_rec(i, created_at=(NOW - timedelta(minutes=i)).isoformat()) for i in range(size)]
    with session_scope() as s:
        assert ingest_frame(s, pd.DataFrame(records), now=NOW).inserted == size
    with session_scope() as s:
        jobs, tokens = s.execute(text("SELECT sum(jobs), sum(input_tokens) FROM usage_daily")).one()
    assert (int(jobs), int(tokens)) == (size, sum(1000 + i for i in range(size)))
