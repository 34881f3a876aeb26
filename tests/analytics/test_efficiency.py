"""get_efficiency: per-model metrics from the raw records, the stated score formula, derived recommendations."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core import analytics
from tests.helpers.ledger import NOW, csum, load, make_records, money, raw_rows


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
    # The manual's formula (docs/dashboard/formulas.md), recomputed.
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
    # The shared rule: lowest average cost per priced job among priced models with at least 20 priced jobs.
    per_job = {}
    for key, rs in groups.items():
        priced = [r for r in rs if r.pricing_status != "unpriced"]
        if len(priced) >= 20:
            per_job[key] = csum(priced) / len(priced)
    assert ins["most_cost_effective"] == (min(per_job, key=per_job.get)[1] if per_job else None)
    assert ins["fastest"] == min(secs, key=secs.get)[1]
    assert (
        ins["highest_quality"]
        == max(got.values(), key=lambda m: (m["metrics"]["success_rate"], m["metrics"]["jobs_count"]))["model"]
    )
    assert any("custom-1" in r and "price set" in r for r in ins["recommendations"])
    assert [m["efficiency_score"] for m in d["models_comparison"]] == sorted(
        (m["efficiency_score"] for m in d["models_comparison"]), reverse=True
    )


def test_recommendations_follow_the_figures(db):
    t0 = datetime(2025, 11, 10, tzinfo=UTC)
    recs = []
    for i in range(20):
        # cheap-fast: cheap and quick, always succeeds; pricey: 20x the cost per token, slow, 80 % success.
        recs.append(
            {
                "job_id": f"c{i}",
                "created_at": t0 + timedelta(hours=i),
                "provider": "openai",
                "model": "cheap-fast",
                "input_tokens": 900,
                "output_tokens": 100,
                "cost_input": "0.001",
                "cost_output": "0",
                "execution_time_seconds": "1",
            }
        )
        recs.append(
            {
                "job_id": f"p{i}",
                "created_at": t0 + timedelta(hours=i),
                "provider": "openai",
                "model": "pricey",
                "input_tokens": 900,
                "output_tokens": 100,
                "cost_input": "0.020",
                "cost_output": "0",
                "execution_time_seconds": "40",
                "status": "failed" if i % 5 == 0 else "completed",
            }
        )
    load(recs)
    d = analytics.get_efficiency(now=NOW)
    m = {x["model"]: x for x in d["models_comparison"]}
    assert m["cheap-fast"]["efficiency_score"] == 10.0
    assert m["pricey"]["efficiency_score"] == pytest.approx(0.3 * 10 * 0.8, abs=0.051)
    assert any(r.startswith("Cheapest priced model: $0.0010 per job") for r in m["cheap-fast"]["recommendations"])
    assert any("20.0x" in r for r in m["pricey"]["recommendations"])
    assert any("Reliability 80.0%" in r for r in m["pricey"]["recommendations"])
    assert any("Slow: 40.00 s" in r for r in m["pricey"]["recommendations"])
    ins = d["overall_insights"]
    assert (ins["most_cost_effective"], ins["fastest"], ins["highest_quality"]) == ("cheap-fast",) * 3
    assert "Investigate pricey: reliability 80.0%" in ins["recommendations"]
    assert ins["recommended_for_simple_tasks"] == "cheap-fast"
    assert d["total_cost"] == money(Decimal("0.001") * 20 + Decimal("0.020") * 20)


def test_single_model_and_empty(db):
    assert analytics.get_efficiency(now=NOW)["models_comparison"] == []
    load(
        [
            {
                "job_id": "one",
                "created_at": NOW - timedelta(days=1),
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 10,
                "output_tokens": 5,
                "cost_input": "0.5",
                "cost_output": "0",
            }
        ]
    )
    d = analytics.get_efficiency(now=NOW)
    assert len(d["models_comparison"]) == 1
    assert d["models_comparison"][0]["efficiency_score"] == 10.0
    # One job is too few to call a model the cheapest (core.analytics.model_choice.MIN_JOBS).
    assert d["overall_insights"]["most_cost_effective"] is None
    assert any("Only 1 call in the period (fewer than 20)" in r for r in d["models_comparison"][0]["recommendations"])
    assert analytics.get_efficiency(now=NOW, company="Nobody")["models_comparison"] == []


# -- self-hosted models, one "cheapest", and the savings per operation -----------------------------------------
def calls(
    prefix,
    n,
    model,
    cost,
    *,
    provider="openai",
    operation="document-summary",
    company="Acme",
    failed=0,
    start=NOW - timedelta(days=20),
    tokens=(900, 100),
    seconds="2",
):
    """n calls of one model, `failed` of them failed; `cost` billed per call (None: priced by the catalog)."""
    out = []
    for i in range(n):
        rec = {
            "job_id": f"{prefix}-{i}",
            "created_at": start + timedelta(minutes=7 * i),
            "company": company,
            "provider": provider,
            "model": model,
            "operation": operation,
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "execution_time_seconds": seconds,
            "status": "failed" if i < failed else "completed",
        }
        if cost is not None:
            rec |= {"cost_input": str(cost), "cost_output": "0"}
        out.append(rec)
    return out


def test_self_hosted_model_is_labelled_and_never_the_cheapest(db):
    # The reproduction: a $0 Ollama model that never fails, beside two priced models.
    load(
        calls("llama", 40, "llama3.1:8b", None, provider="ollama", seconds="38")
        + calls("mini", 30, "gpt-4o-mini", "0.01", failed=1)
        + calls("big", 30, "gpt-4o", "0.05", failed=1)
    )
    d = analytics.get_efficiency(now=NOW)
    m = {x["model"]: x for x in d["models_comparison"]}
    assert m["llama3.1:8b"]["metrics"]["total_cost"] == "0.000000"
    assert [x["self_hosted"] for x in d["models_comparison"]] == [False, False, True], "ranked apart, after"
    assert m["llama3.1:8b"]["score_parts"]["cost"] is None
    assert any(r.startswith("Self-hosted: $0 per call") for r in m["llama3.1:8b"]["recommendations"])
    ins = d["overall_insights"]
    assert ins["most_cost_effective"] == "gpt-4o-mini"
    assert ins["recommended_for_simple_tasks"] == "gpt-4o-mini"
    assert ins["best_overall"] != "llama3.1:8b"
    assert ins["highest_quality"] == "llama3.1:8b"  # a fact about it, not a reason to send it harder work
    texts = ins["recommendations"] + [r for x in d["models_comparison"] for r in x["recommendations"]]
    assert not [t for t in texts if "complex" in t.lower() or "success rate" in t.lower()], texts
    assert analytics.get_usage_stats(now=NOW)["top_performers"]["most_efficient_model"] == "gpt-4o-mini"


def test_stats_and_efficiency_name_the_same_cheapest_model(db):
    # big-prompt: cheapest per token but dearest per job; per-job: cheapest per job; few: cheaper still, but
    # only 5 jobs; llama: self-hosted, $0.
    load(
        calls("big", 25, "big-prompt", "0.002", tokens=(9000, 1000))
        + calls("job", 25, "per-job", "0.0005", tokens=(90, 10))
        + calls("few", 5, "few", "0.0001", tokens=(90, 10))
        + calls("llama", 40, "llama3.1:8b", None, provider="ollama")
    )
    eff = analytics.get_efficiency(now=NOW)["overall_insights"]["most_cost_effective"]
    stats = analytics.get_usage_stats(now=NOW)["top_performers"]["most_efficient_model"]
    assert eff == stats == "per-job"


def test_demo_data_gets_one_cheapest_model_and_savings(db):
    from core.ingest.demo import load_demo

    load_demo(seed=42, days=30, now=NOW)
    d = analytics.get_efficiency(now=NOW)
    cheapest = d["overall_insights"]["most_cost_effective"]
    assert cheapest == analytics.get_usage_stats(now=NOW)["top_performers"]["most_efficient_model"]
    assert cheapest not in {m["model"] for m in d["models_comparison"] if m["self_hosted"]}
    assert {m["model"] for m in d["models_comparison"] if m["self_hosted"]} == {"llama3.1:8b", "qwen2.5:7b"}
    assert d["savings"] and all(
        Decimal(s["saving_usd_month"]) > 0 and s["to_reliability"] >= 0.95 for s in d["savings"]
    )
    assert not any("complex" in r for r in d["overall_insights"]["recommendations"])


def test_savings_are_exact_per_operation(db):
    load(
        calls("a", 100, "gpt-4o", "0.05")
        + calls("b", 50, "gpt-4o-mini", "0.01")
        # Older than 30 days: not in the month's volume.
        + calls("old", 40, "gpt-4o", "0.05", start=NOW - timedelta(days=45))
        # translation: the cheaper model's average is 1/30 of a dollar, a repeating decimal.
        + calls("t", 7, "claude-3-5-sonnet-20241022", "0.1", provider="anthropic", operation="translation")
        + calls("u", 10, "claude-3-5-haiku-20241022", "0.05", provider="anthropic", operation="translation")
        + calls(
            "v",
            20,
            "claude-3-5-haiku-20241022",
            "0.025",
            provider="anthropic",
            operation="translation",
            start=NOW - timedelta(days=10),
        )
    )
    d = analytics.get_efficiency(now=NOW)
    assert d["savings"] == [
        {
            "company": "Acme",
            "operation": "document-summary",
            "from_model": "gpt-4o",
            "from_provider": "openai",
            "to_model": "gpt-4o-mini",
            "to_provider": "openai",
            "calls_30d": 100,
            "from_avg_cost_per_job": "0.050000",
            "to_avg_cost_per_job": "0.010000",
            "to_jobs_30d": 50,
            "to_reliability": 1.0,
            "saving_usd_month": "4.000000",
        },  # 100 x (0.05 - 0.01)
        {
            "company": "Acme",
            "operation": "translation",
            "from_model": "claude-3-5-sonnet-20241022",
            "from_provider": "anthropic",
            "to_model": "claude-3-5-haiku-20241022",
            "to_provider": "anthropic",
            "calls_30d": 7,
            "from_avg_cost_per_job": "0.100000",
            "to_avg_cost_per_job": "0.033333",
            "to_jobs_30d": 30,
            "to_reliability": 1.0,
            # 7 x (0.1 - 1/30) = 0.4666..., not 7 x (0.1 - 0.033333) = 0.466669
            "saving_usd_month": "0.466667",
        },
    ]
    recs = d["overall_insights"]["recommendations"]
    assert recs[0].startswith("Acme · document-summary: gpt-4o → gpt-4o-mini saves ≈ $4.00/month (100 calls")
    # The month is the last 30 days whatever period the page shows.
    assert analytics.get_efficiency(now=NOW, days=7)["savings"] == d["savings"]
    m = {x["model"]: x for x in d["models_comparison"]}
    assert any("saves ≈ $4.00/month" in r for r in m["gpt-4o"]["recommendations"])


def test_savings_need_a_reliable_cheaper_model_with_enough_jobs(db):
    load(
        calls("a1", 100, "gpt-4o", "0.05", operation="flaky")
        + calls("b1", 50, "gpt-4o-mini", "0.01", operation="flaky", failed=3)  # 94 %: not proposed
        + calls("a2", 100, "gpt-4o", "0.05", operation="rare")
        + calls("b2", 19, "gpt-4o-mini", "0.01", operation="rare")  # 19 jobs: not proposed
        + calls("a3", 100, "gpt-4o", "0.05", operation="edge")
        + calls("b3", 20, "gpt-4o-mini", "0.01", operation="edge", failed=1)  # 20 jobs, 95 %: proposed
        + calls("a4", 100, "gpt-4o", "0.05", operation="local")
        + calls("b4", 50, "llama3.1:8b", None, provider="ollama", operation="local")  # self-hosted: not a price
        + calls("a5", 100, "gpt-4o", "0.05", operation="shared")
        + calls("b5", 50, "gpt-4o-mini", "0.01", operation="shared", company="Beta")  # another company's
        + calls("a6", 100, "gpt-4o", "0.05", operation=None)
        + calls("b6", 50, "gpt-4o-mini", "0.01", operation=None)
    )  # no operation: unrelated calls
    d = analytics.get_efficiency(now=NOW)
    assert [
        (s["company"], s["operation"], s["calls_30d"], s["to_jobs_30d"], s["to_reliability"], s["saving_usd_month"])
        for s in d["savings"]
    ] == [("Acme", "edge", 100, 20, 0.95, "4.000000")]
    assert analytics.get_efficiency(now=NOW, company="Beta")["savings"] == []


def test_model_choice_rules():
    from core.analytics.model_choice import ModelCost, cheapest, is_self_hosted

    assert is_self_hosted("ollama", Decimal(0)) and is_self_hosted("vLLM", Decimal(0))
    assert not is_self_hosted("ollama", Decimal("0.5")), "an override that prices it makes it a priced model"
    assert not is_self_hosted("openai", Decimal(0))
    a = ModelCost("openai", "a", 20, 20, Decimal("0.2"), 20.0)
    b = ModelCost("openai", "b", 30, 30, Decimal("0.3"), 30.0)  # same average, more jobs: wins the tie
    c = ModelCost("openai", "c", 19, 19, Decimal("0.01"), 19.0)  # too few jobs
    assert cheapest([a, b, c]) is b
    assert cheapest([c]) is None
