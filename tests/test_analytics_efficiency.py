"""get_efficiency: per-model metrics from the raw records, the stated score formula, derived recommendations."""
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core import analytics
from tests.dashboard_fixtures import NOW, csum, load, make_records, money, raw_rows


@pytest.fixture
def ledger(db):
    load(make_records())
    return raw_rows(db)


def test_metrics_and_score_match_raw_records(ledger):
    d = analytics.get_efficiency(now=NOW)
    rows = [r for r in ledger if NOW - timedelta(days=30) <= r.created_at <= NOW]
    groups = defaultdict(list)
    for r in rows:
        groups[(r.provider, r.model)].append(r)
    got = {(m["provider"], m["model"]): m for m in d["models_comparison"]}
    assert set(got) == set(groups)
    cpt, secs = {}, {}
    for key, rs in groups.items():
        met = got[key]["metrics"]
        n = len(rs)
        assert met["jobs_count"] == n
        assert Decimal(met["avg_cost_per_job"]) == (csum(rs) / n).quantize(Decimal("0.000001"))
        assert met["avg_execution_time"] == pytest.approx(sum(r.execution_ms for r in rs) / n / 1000, abs=0.005)
        assert met["success_rate"] == pytest.approx(sum(r.success_rate for r in rs) / n, abs=0.0005)
        assert met["avg_tokens"] == round(sum(r.tokens for r in rs) / n)
        priced = [r for r in rs if r.pricing_status != "unpriced"]
        if priced:
            cpt[key] = float(csum(priced) / sum(r.tokens for r in priced))
            assert met["cost_per_token"] == pytest.approx(cpt[key], rel=1e-3)
        else:
            assert met["cost_per_token"] is None and met["unpriced_jobs"] == n
        secs[key] = met["avg_execution_time"]
    # The README formula, recomputed.
    lo_c, hi_c, lo_t, hi_t = min(cpt.values()), max(cpt.values()), min(secs.values()), max(secs.values())
    for key, m in got.items():
        speed = 10 if hi_t == lo_t else 10 * (hi_t - secs[key]) / (hi_t - lo_t)
        quality = 10 * m["metrics"]["success_rate"]
        if key in cpt:
            cost = 10 if hi_c == lo_c else 10 * (hi_c - cpt[key]) / (hi_c - lo_c)
            score = 0.4 * cost + 0.3 * speed + 0.3 * quality
        else:
            score = 0.5 * speed + 0.5 * quality
        assert m["efficiency_score"] == pytest.approx(score, abs=0.051)
        assert 0 <= m["efficiency_score"] <= 10 and m["recommendations"]
    ins = d["overall_insights"]
    assert ins["most_cost_effective"] == min(cpt, key=cpt.get)[1]
    assert ins["fastest"] == min(secs, key=secs.get)[1]
    assert ins["highest_quality"] == max(got.values(), key=lambda m: (m["metrics"]["success_rate"],
                                                                     m["metrics"]["jobs_count"]))["model"]
    assert any("custom-1" in r and "price set" in r for r in ins["recommendations"])
    assert [m["efficiency_score"] for m in d["models_comparison"]] == sorted(
        (m["efficiency_score"] for m in d["models_comparison"]), reverse=True)


def test_recommendations_follow_the_figures(db):
    t0 = datetime(2025, 11, 10, tzinfo=UTC)
    recs = []
    for i in range(20):
        # cheap-fast: cheap and quick, always succeeds; pricey: 20x the cost per token, slow, 80 % success.
        recs.append({"job_id": f"c{i}", "created_at": t0 + timedelta(hours=i), "provider": "openai",
                     "model": "cheap-fast", "input_tokens": 900, "output_tokens": 100, "cost_input": "0.001",
                     "cost_output": "0", "execution_time_seconds": "1"})
        recs.append({"job_id": f"p{i}", "created_at": t0 + timedelta(hours=i), "provider": "openai",
                     "model": "pricey", "input_tokens": 900, "output_tokens": 100, "cost_input": "0.020",
                     "cost_output": "0", "execution_time_seconds": "40",
                     "status": "failed" if i % 5 == 0 else "completed"})
    load(recs)
    d = analytics.get_efficiency(now=NOW)
    m = {x["model"]: x for x in d["models_comparison"]}
    assert m["cheap-fast"]["efficiency_score"] == 10.0
    assert m["pricey"]["efficiency_score"] == pytest.approx(0.3 * 10 * 0.8, abs=0.051)
    assert any(r.startswith("Lowest cost per token") for r in m["cheap-fast"]["recommendations"])
    assert any("20.0x" in r for r in m["pricey"]["recommendations"])
    assert any("Success rate 80.0%" in r for r in m["pricey"]["recommendations"])
    assert any("Slow: 40.0 s" in r for r in m["pricey"]["recommendations"])
    ins = d["overall_insights"]
    assert (ins["most_cost_effective"], ins["fastest"], ins["highest_quality"]) == ("cheap-fast",) * 3
    assert "Investigate pricey: success rate 80.0%" in ins["recommendations"]
    assert ins["recommended_for_simple_tasks"] == "cheap-fast"
    assert d["total_cost"] == money(Decimal("0.001") * 20 + Decimal("0.020") * 20)


def test_single_model_and_empty(db):
    assert analytics.get_efficiency(now=NOW)["models_comparison"] == []
    load([{"job_id": "one", "created_at": NOW - timedelta(days=1), "provider": "openai", "model": "gpt-4o",
           "input_tokens": 10, "output_tokens": 5, "cost_input": "0.5", "cost_output": "0"}])
    d = analytics.get_efficiency(now=NOW)
    assert len(d["models_comparison"]) == 1
    assert d["models_comparison"][0]["efficiency_score"] == 10.0
    assert d["overall_insights"]["most_cost_effective"] == "gpt-4o"
    assert analytics.get_efficiency(now=NOW, company="Nobody")["models_comparison"] == []
