"""Property: 10,000 malformed records mixed with 10,000 valid ones — exactly the valid ones are stored, every
malformed one is refused with a reason naming its field, and nothing else in the database changes."""

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.ingest.files import import_file
from core.limits.budgets import set_budget
from core.storage.db import get_session
from core.storage.models import AIJobUsage, Budget, UsageDaily
from tests.helpers.db import empty

NOW = datetime.now(UTC)

# (field, bad value) pairs; each must be refused by the validator.
BAD = [
    ("input_tokens", -1),
    ("input_tokens", 1.5),
    ("input_tokens", "NaN"),
    ("output_tokens", "inf"),
    ("output_tokens", None),
    ("status", "exploded"),
    ("provider", ""),
    ("model", None),
    ("job_id", ""),
    ("created_at", "not a date"),
    ("created_at", (NOW + timedelta(days=2)).isoformat()),
    ("cached_tokens", 10**9),
    ("reasoning_tokens", 10**9),
    ("cost_input", "-2"),
    ("cost_output", "abc"),
    ("execution_time_seconds", -3),
    ("memory_usage_mb", 2.5),
    ("error_count", "x"),
    ("provider", "a" * 300),
    ("description", "bad\x00byte"),
]


def valid(i: int, rng: random.Random) -> dict:
    rec = {
        "job_id": f"v-{i}",
        "created_at": (NOW - timedelta(minutes=rng.randrange(60 * 24 * 60))).isoformat(),
        "company": rng.choice(["Acme", "Beta"]),
        "brand": "Web",
        "provider": rng.choice(["openai", "ollama"]),
        "model": rng.choice(["gpt-4o-mini", "llama3.1:8b"]),
        "status": "completed",
        "input_tokens": rng.randrange(1, 5000),
        "output_tokens": rng.randrange(0, 500),
    }
    if rng.random() < 0.5:  # the others were not timed: NULL, and not among the rollups' timed jobs
        rec["execution_time_seconds"] = rng.randrange(0, 60_000) / 1000
    if rng.random() < 0.3:
        rec["memory_usage_mb"] = rng.randrange(0, 4096)
    return rec


@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(seed=st.integers(0, 10**6))
def test_ten_thousand_malformed_among_ten_thousand_valid(db, tmp_path_factory, seed):
    empty(db)
    set_budget("Acme", "100")  # something else in the database that must not change
    rng = random.Random(seed)
    lines, expected_bad = [], {}
    for i in range(10_000):
        lines.append(json.dumps(valid(i, rng)))
        field, value = rng.choice(BAD)
        bad = valid(100_000 + i, rng) | {field: value}
        expected_bad[len(lines) + 1] = field
        lines.append(json.dumps(bad))
    order = list(range(len(lines)))
    rng.shuffle(order)
    shuffled = [lines[k] for k in order]
    line_of = {k: n + 1 for n, k in enumerate(order)}
    expected_bad = {line_of[old - 1]: field for old, field in expected_bad.items()}
    path = tmp_path_factory.mktemp("prop") / "mixed.jsonl"
    path.write_text("\n".join(shuffled) + "\n")

    result = import_file(path)

    assert result.imported == 10_000
    assert len(result.refused) == 10_000
    assert {line for line, _ in result.refused} == set(expected_bad)
    for line, reason in result.refused:
        assert reason.startswith(expected_bad[line] + "="), (line, reason)
    s = get_session(db)
    try:
        assert s.scalar(select(func.count()).select_from(AIJobUsage)) == 10_000
        assert s.scalar(select(func.count()).select_from(AIJobUsage).where(AIJobUsage.ai_job_id.is_(None))) == 0
        assert s.scalar(select(func.sum(UsageDaily.jobs))) == 10_000
        # The measured-job counts and sums of the rollup are those of the stored values (NULL: not measured).
        u, d = AIJobUsage, UsageDaily
        assert (
            s.execute(
                select(func.sum(d.timed_jobs), func.sum(d.execution_ms), func.sum(d.memory_jobs), func.sum(d.memory_mb))
            ).one()
            == s.execute(
                select(
                    func.count(u.execution_ms),
                    func.coalesce(func.sum(u.execution_ms), 0),
                    func.count(u.memory_usage_mb),
                    func.coalesce(func.sum(u.memory_usage_mb), 0),
                )
            ).one()
        )
        assert 0 < s.scalar(select(func.count(u.execution_ms))) < 10_000
        assert [(b.monthly_usd) for b in s.scalars(select(Budget))] == [Decimal("100")]
    finally:
        s.close()
