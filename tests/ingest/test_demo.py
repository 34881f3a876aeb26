"""Demo data: deterministic, marked as demo, and rich enough for every view and alert rule."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.ingest.demo import generate, has_demo_data, ledger_is_empty, load_demo
from core.storage.db import get_session, session_scope
from core.storage.models import AIJob, AIJobUsage

NOW = datetime(2025, 11, 20, 15, 0, tzinfo=UTC)


def test_generation_is_deterministic_and_varied():
    a = list(generate(seed=7, days=30, now=NOW))
    b = list(generate(seed=7, days=30, now=NOW))
    c = list(generate(seed=8, days=30, now=NOW))
    assert [r.fingerprint for r in a] == [r.fingerprint for r in b]
    assert [r.fingerprint for r in a] != [r.fingerprint for r in c]
    assert {r.provider for r in a} == {"openai", "anthropic", "gemini", "mistral", "ollama"}
    assert len({r.company for r in a}) >= 3 and len({(r.company, r.brand) for r in a}) >= 5
    assert all(r.created_at <= NOW for r in a)


def test_weekday_weekend_rhythm_bursts_spike_and_slow_model():
    recs = list(generate(seed=42, days=120, now=NOW))
    per_day = {}
    for r in recs:
        per_day.setdefault(r.created_at.date(), []).append(r)
    weekday = [len(v) for d, v in per_day.items() if d.weekday() < 5]
    weekend = [len(v) for d, v in per_day.items() if d.weekday() >= 5]
    assert sum(weekend) / len(weekend) < 0.6 * sum(weekday) / len(weekday)
    failure_days = [d for d, v in per_day.items() if sum(r.status != "completed" for r in v) / len(v) > 0.05]
    assert 1 <= len(failure_days) <= 6
    big = [r for r in recs if "batch" in (r.description or "")]
    assert len(big) >= 200
    by_model = {}
    for r in recs:
        by_model.setdefault(r.model, []).append(r.execution_ms)
    slowest = max(by_model, key=lambda m: sum(by_model[m]) / len(by_model[m]))
    assert slowest == "llama3.1:8b" and sum(by_model[slowest]) / len(by_model[slowest]) > 30_000


def test_load_marks_demo_and_sets_limits(db):
    with session_scope() as s:
        assert ledger_is_empty(s) and not has_demo_data(s)
    result = load_demo(seed=1, days=10, now=NOW)
    s = get_session(db)
    try:
        assert result["inserted"] == s.scalar(select(func.count()).select_from(AIJobUsage)) > 500
        assert s.scalar(select(func.count()).where(AIJob.is_demo.is_(False))) == 0
        assert has_demo_data(s)
        assert s.scalar(select(func.count()).where(AIJobUsage.pricing_status == "unpriced")) > 0
    finally:
        s.close()
    from core.limits.budgets import list_budgets, list_quotas

    assert {b["company"] for b in list_budgets()} == {"Humari", "Qadhya", "Northwind Labs"}
    assert list_quotas()
    with pytest.raises(ValueError, match="already loaded"):
        load_demo(seed=1, days=10, now=NOW)


def test_demo_has_an_openai_bill_to_reconcile(db):
    from datetime import timedelta

    from core.ingest.demo import BILL_GAPS, clear_demo
    from core.providers.reconcile import reconcile
    from core.storage.models import ProviderCost

    result = load_demo(seed=1, days=25, now=NOW)
    assert result["bill_lines"] > 0
    s = get_session(db)
    try:
        lines = s.scalars(select(ProviderCost)).all()
        assert len(lines) == result["bill_lines"]
        # As the OpenAI sync keeps them: one line per day, project, model snapshot and input/output, in USD.
        assert all(
            x.provider == "openai"
            and x.currency == "usd"
            and x.cost_kind in ("input", "output")
            and x.line_item == f"{x.model}, {x.cost_kind}"
            and x.project_id.startswith("proj_demo_")
            for x in lines
        )
        assert {x.model for x in lines} == {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "o3-mini-2025-01-31"}
    finally:
        s.close()
    first = NOW.date() - timedelta(days=24)
    r = reconcile(first, NOW.date(), now=NOW)
    assert len(r["days"]) == 25 and all(d["synced"] for d in r["days"])
    # Within the 5 % tolerance every day but the few on which the bill was made to differ.
    assert r["days_over_tolerance"] == sorted((NOW.date() - timedelta(days=k)).isoformat() for k in BILL_GAPS)
    assert all(abs(d["difference_pct"]) <= 1.0 for d in r["days"] if not d["over_tolerance"])
    assert reconcile(first, NOW.date(), company="Qadhya", now=NOW)["days_over_tolerance"] == []
    # Loading again replaces the bill; clearing the demo removes it.
    load_demo(seed=1, days=25, now=NOW, replace=True)
    assert reconcile(first, NOW.date(), now=NOW) == r
    with session_scope() as s:
        clear_demo(s)
    s = get_session(db)
    try:
        assert s.scalar(select(func.count()).select_from(ProviderCost)) == 0
    finally:
        s.close()
