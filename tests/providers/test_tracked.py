"""The tracked client against real HTTP fake providers: fallback per failure kind, budget-aware skips,
streaming, the operations file and the instrumented openai.OpenAI client."""

from decimal import Decimal

import openai
import pytest

from core.limits.budgets import set_budget, set_quota
from core.pricing.catalog import price_usage
from core.providers import tracked as llm
from tests.helpers.llm import GEMINI_KEY, OPENAI_KEY, attempts, closed_port_url, providers

MSG = [{"role": "user", "content": "Analyse ce texte court."}]


def test_success_records_tokens_cost_latency(db, monkeypatch, tmp_path):
    with providers(
        monkeypatch, tmp_path, prompt_tokens=1200, completion_tokens=300, cached_tokens=1024, reasoning_tokens=128
    ) as (oa, ol, ge):
        t = llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme", brand="Web", temperature=0)
    assert t.provider == "openai" and t.response.choices[0].message.content == "OK"
    assert oa.calls == 1 and ol.calls == 0
    assert oa.requests[0]["body"]["temperature"] == 0 and oa.requests[0]["body"]["model"] == "gpt-4o-mini"
    assert oa.requests[0]["authorization"] == f"Bearer {OPENAI_KEY}"
    [row] = attempts(db)
    expected = price_usage(
        provider="openai",
        model="gpt-4o-mini",
        at=row["created_at"],
        input_tokens=1200,
        output_tokens=300,
        cached_tokens=1024,
    )
    assert row | {"created_at": None, "execution_ms": None, "job_id": None} == {
        "job_id": None,
        "request_id": t.request_id,
        "source": "api",
        "operation": "kb-quality-analysis-short",
        "description": None,
        "status": "completed",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input": 1200,
        "output": 300,
        "cached": 1024,
        "reasoning": 128,
        "cost": expected.total_cost,
        "pricing": "catalog",
        "error_class": None,
        "execution_ms": None,
        "company": "Acme",
        "brand": "Web",
        "created_at": None,
    }
    assert expected.total_cost > 0
    assert row["execution_ms"] >= 0


FALLBACK_CASES = [
    ("401", "AuthenticationError", "failed"),
    ("429_quota", "RateLimitError", "failed"),
    ("429_rate", "RateLimitError", "failed"),
    ("500", "InternalServerError", "failed"),
    ("hang", "APITimeoutError", "timeout"),
]


@pytest.mark.parametrize("mode,error_class,status", FALLBACK_CASES)
def test_failure_kinds_fall_back_to_next_provider(db, monkeypatch, tmp_path, mode, error_class, status):
    with providers(monkeypatch, tmp_path, timeout=0.5) as (oa, ol, ge):
        oa.mode = mode
        oa.hang_seconds = 3
        t = llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme")
    assert t.provider == "ollama" and t.response.choices[0].message.content == "OK"
    assert oa.calls == 1, "no hidden retries: the quota/rate error must be seen at once"
    assert ol.calls == 1 and ge.calls == 0
    rows = attempts(db, t.request_id)
    assert [(r["provider"], r["status"], r["error_class"]) for r in rows] == [
        ("openai", status, error_class),
        ("ollama", "completed", None),
    ]
    assert rows[0]["input"] == 0 and rows[0]["cost"] == Decimal("0")
    assert rows[1]["model"] == "llama3.1:8b" and rows[1]["cost"] == Decimal("0") and rows[1]["pricing"] == "catalog"
    assert len({r["job_id"] for r in rows}) == 2
    kind = {"401": "auth", "429_quota": "quota", "429_rate": "rate_limit", "500": "server", "hang": "timeout"}[mode]
    assert rows[0]["description"].startswith(kind + ":")


def test_connection_refused_falls_back(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url())
        from core import config

        config.reset_settings()
        t = llm.complete_traced("kb-quality-analysis-short", MSG)
    assert t.provider == "ollama" and oa.calls == 0
    rows = attempts(db, t.request_id)
    assert [(r["provider"], r["error_class"]) for r in rows] == [("openai", "APIConnectionError"), ("ollama", None)]
    assert rows[0]["company"] == "default"


def test_callers_own_bad_request_is_raised_at_once(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        oa.mode = "400"
        with pytest.raises(openai.BadRequestError):
            llm.complete("kb-quality-analysis-short", MSG, company="Acme")
        assert ol.calls == 0 and ge.calls == 0
    [row] = attempts(db)
    assert (row["provider"], row["status"], row["error_class"]) == ("openai", "failed", "BadRequestError")
    assert row["description"].startswith("bad_request:")


def test_every_provider_failing_raises_with_all_attempts_recorded(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        oa.mode, ol.mode, ge.mode = "429_quota", "500", "401"
        with pytest.raises(llm.AllProvidersFailed) as ei:
            llm.complete("kb-quality-analysis-short", MSG, company="Acme")
    err = ei.value
    assert [(a.provider, a.error_kind) for a in err.attempts] == [
        ("openai", "quota"),
        ("ollama", "server"),
        ("gemini", "auth"),
    ]
    rows = attempts(db, err.request_id)
    assert [r["error_class"] for r in rows] == ["RateLimitError", "InternalServerError", "AuthenticationError"]
    text = str(err) + "".join(str(r) for r in rows)
    assert OPENAI_KEY not in text and GEMINI_KEY not in text


def test_next_call_goes_back_to_primary_once_it_recovers(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        oa.script.extend(["500"])
        first = llm.complete_traced("kb-quality-analysis-short", MSG)
        second = llm.complete_traced("kb-quality-analysis-short", MSG)
    assert (first.provider, second.provider) == ("ollama", "openai")
    assert first.request_id != second.request_id


def test_exhausted_provider_budget_is_skipped_before_calling(db, monkeypatch, tmp_path):
    set_budget("Acme", "0.000001", provider="openai")
    with providers(monkeypatch, tmp_path, prompt_tokens=1000, completion_tokens=500) as (oa, ol, ge):
        first = llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme")
        second = llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme")
        other = llm.complete_traced("kb-quality-analysis-short", MSG, company="Other")
    assert first.provider == "openai", "budget not used up before the first call"
    assert second.provider == "ollama" and oa.calls == 2, "the second Acme call never reached OpenAI"
    assert other.provider == "openai", "another company's budget is its own"
    rows = attempts(db, second.request_id)
    assert [(r["provider"], r["status"], r["error_class"], r["input"], r["cost"]) for r in rows] == [
        ("openai", "failed", "BudgetExhausted", 0, Decimal("0")),
        ("ollama", "completed", None, 1000, Decimal("0")),
    ]
    assert "budget exhausted" in rows[0]["description"]
    assert second.attempts[0].outcome == "skipped"


def test_a_skipped_attempt_has_no_execution_time(db, monkeypatch, tmp_path):
    """A provider skipped before calling was never timed: its attempt stores NULL, not 0 s; the call that served
    has its measured time."""
    set_budget("Acme", "0.000001", provider="openai")
    with providers(monkeypatch, tmp_path, prompt_tokens=1000, completion_tokens=500) as (oa, ol, ge):
        llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme")
        second = llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme")
    skipped, served = attempts(db, second.request_id)
    assert (skipped["error_class"], skipped["execution_ms"]) == ("BudgetExhausted", None)
    assert served["status"] == "completed" and isinstance(served["execution_ms"], int)


def test_token_quota_exhausted_is_skipped(db, monkeypatch, tmp_path):
    set_quota("Acme", "openai", monthly_tokens=100)
    with providers(monkeypatch, tmp_path, prompt_tokens=80, completion_tokens=20) as (oa, ol, ge):
        a = llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme")
        b = llm.complete_traced("kb-quality-analysis-short", MSG, company="Acme")
    assert (a.provider, b.provider) == ("openai", "ollama")
    assert "quota_tokens exhausted" in attempts(db, b.request_id)[0]["description"]


def test_company_wide_budget_skips_paid_providers_only(db, monkeypatch, tmp_path):
    set_budget("Acme", "0.000001")
    ops = '[operations.cloud-first]\nchain = ["gemini", "openai", "ollama"]\n'
    with providers(monkeypatch, tmp_path, operations=ops) as (oa, ol, ge):
        llm.complete("cloud-first", MSG, company="Acme")  # spends: the budget is now used up
        t = llm.complete_traced("cloud-first", MSG, company="Acme")
        assert t.provider == "ollama" and ge.calls == 1 and oa.calls == 0
        ol.mode = "500"
        with pytest.raises(llm.AllProvidersFailed) as ei:
            llm.complete("cloud-first", MSG, company="Acme")
    assert [a.outcome for a in ei.value.attempts] == ["skipped", "skipped", "failed"]
    rows = attempts(db, t.request_id)
    assert [(r["provider"], r["error_class"]) for r in rows] == [
        ("gemini", "BudgetExhausted"),
        ("openai", "BudgetExhausted"),
        ("ollama", None),
    ]
    assert "company-wide" in rows[0]["description"]


def test_operations_file_sets_chain_and_models(db, monkeypatch, tmp_path):
    ops = (
        '[operations.summarise]\nprimary = "gemini"\nfallback = ["openai"]\n'
        'models = { gemini = "gemini-2.5-flash", openai = "gpt-4.1-mini" }\n'
    )
    with providers(monkeypatch, tmp_path, operations=ops) as (oa, ol, ge):
        ge.mode = "500"
        t = llm.complete_traced("summarise", MSG)
        assert ge.requests[0]["body"]["model"] == "gemini-2.5-flash"
        assert oa.requests[0]["body"]["model"] == "gpt-4.1-mini"
        assert ol.calls == 0, "ollama is not in this chain"
        # An operation not in the file takes the built-in chain openai -> ollama -> gemini.
        oa.mode = "401"
        u = llm.complete_traced("not-listed", MSG)
    assert t.provider == "openai" and t.model == "gpt-4.1-mini"
    assert u.provider == "ollama"


def test_unconfigured_provider_is_passed_over_without_a_ledger_row(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        monkeypatch.delenv("OPENAI_API_KEY")
        from core import config

        config.reset_settings()
        t = llm.complete_traced("kb-quality-analysis-short", MSG)
    assert t.provider == "ollama" and oa.calls == 0
    assert t.attempts[0].outcome == "not_configured"
    assert [r["provider"] for r in attempts(db)] == ["ollama"]


def test_streaming_is_recorded_with_usage(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path, prompt_tokens=53, completion_tokens=15) as (oa, ol, ge):
        oa.mode = "429_quota"
        stream = llm.complete("kb-quality-analysis-short", MSG, company="Acme", stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "OK"
    assert ol.requests[0]["body"]["stream_options"] == {"include_usage": True}
    rows = attempts(db)
    assert [(r["provider"], r["status"], r["input"], r["output"], r["error_class"]) for r in rows] == [
        ("openai", "failed", 0, 0, "RateLimitError"),
        ("ollama", "completed", 53, 15, None),
    ]


def test_stream_closed_early_is_still_recorded(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path), llm.complete("kb-quality-analysis-short", MSG, stream=True) as stream:
        next(iter(stream))
    [row] = attempts(db)
    assert (row["provider"], row["status"], row["error_class"]) == ("openai", "completed", "IncompleteStream")


def test_instrumented_client_records_and_falls_back(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path, prompt_tokens=40, completion_tokens=10, reasoning_tokens=4) as (oa, ol, ge):
        client = openai.OpenAI(base_url=oa.base_url, api_key=OPENAI_KEY)
        tracked = llm.instrument(client, provider="openai", company="Acme", operation="kb-quality-analysis-short")
        r1 = tracked.chat.completions.create(model="gpt-4o", messages=MSG)
        oa.mode = "429_quota"
        r2 = tracked.chat.completions.create(model="gpt-4o", messages=MSG, brand="Mobile")
        chunks = list(tracked.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))
        models = tracked.models.list()  # everything else passes through to the real client
    assert r1.model == "gpt-4o" and r2.choices[0].message.content == "OK" and chunks
    assert [m.id for m in models.data] == ["gpt-4o-mini"]
    assert oa.calls == 3, "quota errors are not retried by the wrapped client"
    rows = attempts(db)
    assert [(r["provider"], r["model"], r["status"], r["output"], r["reasoning"]) for r in rows] == [
        ("openai", "gpt-4o", "completed", 10, 4),
        ("openai", "gpt-4o", "failed", 0, 0),
        ("ollama", "llama3.1:8b", "completed", 10, 4),
        ("openai", "gpt-4o", "failed", 0, 0),
        ("ollama", "llama3.1:8b", "completed", 10, 4),
    ]
    assert rows[1]["request_id"] == rows[2]["request_id"] != rows[0]["request_id"]
    assert {r["company"] for r in rows} == {"Acme"} and rows[2]["brand"] == "Mobile"
    assert {r["operation"] for r in rows} == {"kb-quality-analysis-short"}


def test_instrumented_client_without_fallback_raises(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        tracked = llm.instrument(
            openai.OpenAI(base_url=oa.base_url, api_key=OPENAI_KEY, max_retries=0), company="Acme", fallback=False
        )
        oa.mode = "500"
        with pytest.raises(openai.InternalServerError):
            tracked.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert ol.calls == 0
    assert [r["error_class"] for r in attempts(db)] == ["InternalServerError"]


def test_logs_never_carry_keys(db, monkeypatch, tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="core")
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        oa.mode, ol.mode, ge.mode = "401", "500", "429_quota"
        with pytest.raises(llm.AllProvidersFailed):
            llm.complete("kb-quality-analysis-short", MSG)
    assert "trying the next provider" in caplog.text
    assert OPENAI_KEY not in caplog.text and GEMINI_KEY not in caplog.text
