"""The daily probe against fake OpenAI, Ollama and Gemini servers on loopback (real HTTP, real openai client):
the probe report, the ledger record of each call, failures named with their class, the fallback chain walked."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.alerts import active_alerts, check_alerts, list_alerts
from core.limits.budgets import set_budget, set_quota
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage, ProbeRun
from core.worker.jobs import probe_job
from core.worker.probe import last_success, run_probe
from core.worker.probe_call import probe_chain
from tests.fakes.provider_server import FakeProvider
from tests.helpers import free_port
from tests.helpers.alerts import NOW, spend

KEY = "sk-proj-SECRETprobeKEY1234567890"


@pytest.fixture
def providers(env):
    with (
        FakeProvider("openai", "gpt-4o-mini", prompt_tokens=12, completion_tokens=5) as o,
        FakeProvider("ollama", "llama3.1:8b", prompt_tokens=20, completion_tokens=3) as ol,
        FakeProvider("gemini", "gemini-2.0-flash", prompt_tokens=8, completion_tokens=2) as g,
    ):
        env(
            OPENAI_BASE_URL=o.base_url,
            OPENAI_API_KEY=KEY,
            OLLAMA_BASE_URL=ol.base_url,
            GEMINI_BASE_URL=g.base_url,
            GEMINI_API_KEY="AIzaSyFAKEgeminiKEY0123456789abcdef",
            PROBE_TIMEOUT_SECONDS="1",
            OPERATIONS_FILE="/nonexistent/operations.toml",
        )
        yield {"openai": o, "ollama": ol, "gemini": g}


def probe_rows():
    with session_scope() as s:
        rows = s.execute(
            select(AIJobUsage, AIJob).join(AIJob, AIJob.id == AIJobUsage.ai_job_id).order_by(AIJobUsage.id)
        ).all()
        return [
            (u.provider_name, u.job_status, u.operation, j.source, u.error_class, u.total_tokens, u.company_id)
            for u, j in rows
        ]


def test_all_providers_ok_prints_the_seed_report(db, providers):
    set_budget("default", "10", provider="openai")
    spend("0.18", when=NOW - timedelta(days=3), company="default", tokens=(40000, 5230))
    report = run_probe(now=NOW)
    text = report.text
    assert not report.alert and report.served_by == "openai"
    for line in [
        "2026-02-12 15:00:00",
        "✅ OpenAI accessible",
        "Model: gpt-4o-mini",
        "Tokens: 17",
        "✅ Ollama accessible",
        "✅ Gemini accessible",
        "📊 OpenAI usage this month:",
        "Calls: 2",
        "Tokens: 45,247",
        "Estimated cost: $0.1800",
        "Period: 01/02/2026 - today",
        "Total budget: $10.00",
        "Consumed: $0.1800",
        "Remaining: $9.82",
        "✅ Monitoring OK",
    ]:
        assert line in text, line
    assert text.index("OpenAI accessible") < text.index("Ollama accessible") < text.index("Gemini accessible")
    for fake in providers.values():
        assert fake.calls == 1
        body = fake.requests[0]["body"]
        assert body["max_tokens"] <= 5 and body["model"] == fake.model
    rows = [r for r in probe_rows() if r[2] == "probe"]
    assert sorted(r[0] for r in rows) == ["gemini", "ollama", "openai"]
    assert all(r[1] == "completed" and r[3] == "probe" for r in rows)
    assert last_success() == NOW


@pytest.mark.parametrize(
    "mode, kind, error_class",
    [
        ("429_quota", "quota exhausted", "RateLimitError"),
        ("401", "authentication refused", "AuthenticationError"),
        ("500", "provider server error", "InternalServerError"),
        ("hang", "no answer before the timeout", "APITimeoutError"),
    ],
)
def test_a_failing_provider_is_named_with_its_class_and_the_chain_serves(db, providers, mode, kind, error_class):
    providers["openai"].mode = mode
    providers["openai"].hang_seconds = 3
    report = run_probe(now=NOW)
    text = report.text
    assert report.alert and report.served_by == "ollama"
    assert "❌ OpenAI not accessible" in text and kind in text and f"({error_class})" in text
    assert "now served by Ollama" in text and "🚨 ALERT: OpenAI unavailable" in text
    assert "Monitoring OK" not in text
    assert providers["openai"].calls == 1  # no client retries: the failure is seen at once
    assert KEY not in text and "SECRETprobe" not in text
    rows = {r[0]: r for r in probe_rows()}
    assert rows["openai"][1] == ("timeout" if mode == "hang" else "failed")
    assert rows["openai"][4] == error_class
    with session_scope() as s:
        run = s.scalar(select(ProbeRun).where(ProbeRun.provider == "openai"))
        assert not run.ok and run.error_class == error_class and run.served_by == "ollama"


def test_connection_refused_and_everything_down(db, providers, env):
    env(OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    providers["ollama"].mode = "500"
    providers["gemini"].mode = "429_quota"
    report = run_probe(now=NOW)
    assert "connection failed (APIConnectionError)" in report.text
    assert "no provider in the fallback chain answered" in report.text
    assert report.served_by is None and report.alert


def test_probe_chain_follows_the_operation(db, providers, env, tmp_path):
    ops = tmp_path / "operations.toml"
    ops.write_text(
        '[operations.probe]\nprimary = "gemini"\nfallback = ["openai"]\nmodels = { gemini = "gemini-2.5-flash" }\n'
    )
    env(OPERATIONS_FILE=str(ops))
    assert probe_chain() == ["gemini", "openai"]
    providers["gemini"].mode = "401"
    report = run_probe(now=NOW)
    assert report.chain[:2] == ["gemini", "openai"]
    assert providers["gemini"].requests[0]["body"]["model"] == "gemini-2.5-flash"
    assert "Fallback: Gemini → OpenAI (now served by OpenAI)" in report.text


def test_budget_under_five_dollars_is_an_alert(db, providers):
    set_budget("default", "10", provider="openai")
    spend("5.5", when=NOW - timedelta(days=1), company="default")
    report = run_probe(now=NOW)
    assert "Remaining: $4.50" in report.text and "🚨 ALERT: budget default / OpenAI: $4.50 remaining" in report.text


def test_probe_job_opens_provider_unavailable_then_resolves_it(db, providers):
    providers["openai"].mode = "429_quota"
    outcome = probe_job(now=NOW)
    assert outcome.alert
    alert = list_alerts(alert_type="provider_unavailable")["results"][0]
    assert alert["severity"] == "critical" and alert["provider_name"] == "openai"
    assert "RateLimitError" in alert["message"] and "now served by Ollama" in alert["message"]
    assert KEY not in alert["message"]
    # Failing again the next day: still one alert.
    assert not probe_job(now=NOW + timedelta(days=1)).check["new_alerts_created"]
    assert list_alerts(alert_type="provider_unavailable")["results"][0]["current_value"] == "2.00"
    providers["openai"].mode = "ok"
    outcome = probe_job(now=NOW + timedelta(days=2))
    assert not outcome.alert
    alert = list_alerts(alert_type="provider_unavailable")["results"][0]
    assert alert["is_resolved"] and "condition cleared" in alert["resolution_note"]


def test_nothing_probed_is_not_ok_and_says_how_to_configure(db, env):
    report = run_probe(now=NOW)
    text = report.text
    assert "Monitoring OK" not in text
    assert "No provider configured: nothing was probed." in text
    assert "⛔ Monitoring NOT OK: nothing was probed, no provider is configured" in text
    for name in ("OPENAI_API_KEY", "OLLAMA_BASE_URL", "GEMINI_API_KEY"):
        assert name in text
    assert (report.verdict, report.exit_code) == ("NOT OK", 2) and report.nothing_probed and report.alert
    outcome = probe_job(now=NOW)
    assert outcome.nothing_probed and outcome.exit_code == 2 and "Monitoring NOT OK" in outcome.report


def quota_blown(now):
    """An OpenAI quota of Acme past 100 % and the check that opens its critical quota_exceeded alert."""
    set_quota("Acme", "openai", monthly_usd="10")
    spend("12.5", when=now - timedelta(hours=2), company="Acme")
    check = check_alerts(now=now)
    assert [a["type"] for a in check["alerts"]] == ["quota_exceeded"]
    return active_alerts()["alerts"][0]


def test_an_open_critical_alert_makes_the_verdict_alert(db, providers):
    alert = quota_blown(NOW)
    report = run_probe(now=NOW)
    text = report.text
    assert "✅ OpenAI accessible" in text and "Monitoring OK" not in text
    assert "🚨 Critical alerts open (1):" in text
    assert f"• quota_exceeded · Acme / OpenAI: {alert['message']} (since 2026-02-12 15:00 UTC)" in text
    assert "🚨 ALERT: 1 critical alert open (listed above)" in text
    assert (report.verdict, report.exit_code) == ("ALERT", 1)
    outcome = probe_job(now=NOW + timedelta(minutes=1))  # the check runs again: nothing new, still open
    assert outcome.check["new_alerts_created"] == 0 and outcome.exit_code == 1
    assert "quota_exceeded · Acme / OpenAI" in outcome.report


def test_a_critical_alert_that_cleared_no_longer_counts(db, providers):
    quota_blown(NOW)
    set_quota("Acme", "openai", monthly_usd="100")  # the condition clears: the next check resolves it
    outcome = probe_job(now=NOW + timedelta(minutes=1))
    assert outcome.check["auto_resolved"] == 1
    assert "Critical alerts open" not in outcome.report and "✅ Monitoring OK" in outcome.report
    assert outcome.exit_code == 0


def test_probe_command_line(db, env, providers, cli):
    r = cli("probe")
    assert r.returncode == 0, r.stderr
    assert "✅ Monitoring OK" in r.stdout and "Period: 01/" in r.stdout
    providers["gemini"].mode = "500"
    r = cli("probe", "--no-check")
    assert r.returncode == 1 and "❌ Gemini not accessible" in r.stdout and "InternalServerError" in r.stdout
    assert KEY not in r.stdout + r.stderr
    # Nothing configured: the monitor itself is misconfigured, exit 2 (as worker.py --once probe).
    env(OPENAI_API_KEY=None, GEMINI_API_KEY=None, OLLAMA_BASE_URL=None)
    for args in (["probe"], ["probe", "--no-check"]):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
