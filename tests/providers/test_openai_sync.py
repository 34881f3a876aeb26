"""OpenAI organization Usage/Costs sync against a fake admin API on loopback: the spec's page shapes, paging,
billed costs, idempotent re-sync (rollup exact), injected failures and the command line."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core import config
from core.cli import main as cli_main
from core.providers.openai_sync import SyncError, parse_line_item, sync_openai
from core.storage.db import get_session
from core.storage.models import AIJob, AIJobUsage, ProviderCost, UsageDaily
from core.usage import record_usage
from tests.fakes.openai_admin_server import FakeOpenAIAdmin, cost_result, days_between, usage_result
from tests.helpers import DATA

NOW = datetime(2024, 11, 10, 12, 0, tzinfo=UTC)
DAY1 = date(2024, 11, 1)


@pytest.fixture
def admin(monkeypatch):
    with FakeOpenAIAdmin(page_size=2) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_ADMIN_KEY", fake.admin_key)
        config.reset_settings()
        yield fake
    config.reset_settings()


def ledger(url):
    s = get_session(url)
    try:
        rows = s.execute(
            select(
                AIJob.job_id,
                AIJob.source,
                AIJobUsage.model_name,
                AIJobUsage.input_tokens,
                AIJobUsage.output_tokens,
                AIJobUsage.cached_tokens,
                AIJobUsage.cache_write_tokens,
                AIJobUsage.cost_input,
                AIJobUsage.cost_output,
                AIJobUsage.pricing_status,
                AIJobUsage.created_at,
            )
            .join(AIJobUsage, AIJobUsage.ai_job_id == AIJob.id)
            .order_by(AIJob.job_id)
        ).all()
        rolled = s.execute(
            select(
                func.coalesce(func.sum(UsageDaily.jobs), 0),
                func.coalesce(func.sum(UsageDaily.input_tokens), 0),
                func.sum(UsageDaily.total_cost),
            )
        ).one()
        raw = s.execute(
            select(func.count(), func.coalesce(func.sum(AIJobUsage.input_tokens), 0), func.sum(AIJobUsage.total_cost))
        ).one()
        costs = s.execute(
            select(
                ProviderCost.day,
                ProviderCost.line_item,
                ProviderCost.model,
                ProviderCost.cost_kind,
                ProviderCost.amount,
            ).order_by(ProviderCost.day, ProviderCost.line_item)
        ).all()
        return rows, tuple(rolled), tuple(raw), costs
    finally:
        s.close()


def test_spec_pages_are_read(db, admin):
    usage_page = json.loads((DATA / "openai_usage_completions_page.json").read_text())
    cost_page = json.loads((DATA / "openai_costs_page.json").read_text(), parse_float=Decimal)
    admin.usage[DAY1] = usage_page["data"][0]["results"]
    admin.costs[DAY1] = cost_page["data"][0]["results"]
    summary = sync_openai(DAY1, DAY1, now=NOW)
    assert summary | {"company": None} == {
        "company": None,
        "since": "2024-11-01",
        "until": "2024-11-01",
        "days": 1,
        "usage_pages": 1,
        "cost_pages": 1,
        "removed_rows": 0,
        "usage_rows": 1,
        "cost_lines": 1,
        "billed_rows": 0,
        "billed_usd": "0.060000",
        "refused": [],
    }
    rows, rolled, raw, costs = ledger(db)
    [r] = rows
    assert (r.source, r.model_name, r.input_tokens, r.output_tokens, r.cached_tokens, r.cache_write_tokens) == (
        "provider_bill",
        "unknown",
        1000,
        500,
        400,
        100,
    )
    assert r.created_at == datetime(2024, 11, 1, tzinfo=UTC)
    assert costs == [(DAY1, "", "", "other", Decimal("0.060000"))]
    assert rolled[:2] == raw[:2] == (1, 1000)


def _fill(admin, days, tokens=1000):
    for i, d in enumerate(days):
        admin.usage[d] = [
            usage_result("gpt-4o-mini-2024-07-18", "proj_A", tokens + i, 200, cached=100, requests=3),
            usage_result("gpt-4o-2024-08-06", "proj_B", 500, 50, requests=1),
        ]
        admin.costs[d] = [
            cost_result("0.000165", "gpt-4o-mini-2024-07-18, input", "proj_A"),
            cost_result("0.00012", "gpt-4o-mini-2024-07-18, output", "proj_A"),
            cost_result("0.25", "web search tool calls", "proj_B"),
        ]


def test_paging_billed_costs_and_requests(db, admin):
    days = days_between(DAY1, 5)
    _fill(admin, days)
    s = sync_openai(DAY1, date(2024, 11, 5), now=NOW)
    assert (s["usage_pages"], s["cost_pages"], s["usage_rows"], s["cost_lines"]) == (3, 3, 10, 15)
    assert s["billed_usd"] == str(Decimal("0.250285") * 5)
    usage_reqs = [r for r in admin.requests if r["path"].endswith("/usage/completions")]
    assert len(usage_reqs) == 3 and "page" not in usage_reqs[0]["query"]
    assert usage_reqs[1]["query"]["page"] and usage_reqs[0]["query"]["group_by"] == ["model", "project_id"]
    assert usage_reqs[0]["query"]["bucket_width"] == ["1d"]
    assert usage_reqs[0]["query"]["start_time"] == [str(int(datetime(2024, 11, 1, tzinfo=UTC).timestamp()))]
    cost_reqs = [r for r in admin.requests if r["path"].endswith("/costs")]
    assert cost_reqs[0]["query"]["group_by"] == ["line_item", "project_id"]
    assert {r["authorization"] for r in admin.requests} == {f"Bearer {admin.admin_key}"}
    rows, rolled, raw, costs = ledger(db)
    mini = [r for r in rows if r.model_name.startswith("gpt-4o-mini")]
    assert len(mini) == 5 and all(r.pricing_status == "billed" for r in mini)
    assert {(r.cost_input, r.cost_output) for r in mini} == {(Decimal("0.000165"), Decimal("0.000120"))}
    big = [r for r in rows if r.model_name.startswith("gpt-4o-2024")]
    assert {r.pricing_status for r in big} == {"catalog"}, "no cost line for that model: our catalog prices it"
    assert mini[0].job_id == "openai-usage:default:2024-11-01:proj_A:gpt-4o-mini-2024-07-18"
    assert rolled == raw and rolled[0] == 10
    assert ("web search tool calls", "web search tool calls", "other") in {(c[1], c[2], c[3]) for c in costs}


def test_resync_replaces_days_and_keeps_rollup_exact(db, admin):
    days = days_between(DAY1, 4)
    _fill(admin, days)
    record_usage(
        job_id="tracked-1",
        created_at="2024-11-02T10:00:00Z",
        company="default",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        now=NOW,
    )
    sync_openai(DAY1, date(2024, 11, 4), now=NOW)
    first = ledger(db)
    again = sync_openai(DAY1, date(2024, 11, 4), now=NOW)
    assert again["removed_rows"] == 8 and again["usage_rows"] == 8
    assert ledger(db) == first, "a re-sync of the same data changes nothing"
    # The provider's figures for Nov 3 changed, Nov 4 lost its usage; re-syncing Nov 3..4 only.
    admin.usage[date(2024, 11, 3)] = [usage_result("gpt-4o-mini-2024-07-18", "proj_A", 7777, 1, requests=9)]
    del admin.usage[date(2024, 11, 4)]
    s = sync_openai(date(2024, 11, 3), date(2024, 11, 4), now=NOW)
    assert (s["removed_rows"], s["usage_rows"]) == (4, 1)
    rows, rolled, raw, costs = ledger(db)
    assert rolled == raw and raw[0] == 4 + 1 + 1  # Nov 1-2 (4 rows), Nov 3 (1), the tracked call
    assert [r.input_tokens for r in rows if r.created_at.date() == date(2024, 11, 3)] == [7777]
    assert "tracked-1" in {r.job_id for r in rows}, "our own records are never touched by a sync"
    assert len(costs) == len(first[3]), "cost lines replaced, not doubled"


def test_transient_failures_are_retried(db, admin, monkeypatch):
    monkeypatch.setattr("core.providers.bill_sync.RETRY_DELAY_SECONDS", 0)
    _fill(admin, days_between(DAY1, 3))
    admin.fail_pages[("costs", 1)] = 500
    admin.failures.extend([429])
    s = sync_openai(DAY1, date(2024, 11, 3), now=NOW)
    assert (s["usage_rows"], s["cost_lines"]) == (6, 9)


def test_persistent_failure_writes_nothing_and_keeps_previous_data(db, admin, monkeypatch):
    monkeypatch.setattr("core.providers.bill_sync.RETRY_DELAY_SECONDS", 0)
    _fill(admin, days_between(DAY1, 3))
    sync_openai(DAY1, date(2024, 11, 3), now=NOW)
    before = ledger(db)
    _fill(admin, days_between(DAY1, 3), tokens=5000)
    original = admin.page

    def always_fail_second_cost_page(endpoint, query):  # every attempt at costs page 2 fails
        if endpoint == "costs" and query.get("page"):
            return 500, {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
        return original(endpoint, query)

    admin.page = always_fail_second_cost_page
    with pytest.raises(SyncError) as ei:
        sync_openai(DAY1, date(2024, 11, 3), now=NOW)
    assert "gave up after 3 attempts" in str(ei.value)
    assert ledger(db) == before


def test_wrong_admin_key_fails_without_showing_it(db, admin, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-WRONGKEYabcdefghijklmnop")
    config.reset_settings()
    with pytest.raises(SyncError) as ei:
        sync_openai(DAY1, DAY1, now=NOW)
    assert "401" in str(ei.value) and "WRONGKEY" not in str(ei.value)
    assert len(admin.requests) == 1, "an auth error is not retried"
    monkeypatch.delenv("OPENAI_ADMIN_KEY")
    config.reset_settings()
    with pytest.raises(SyncError, match="OPENAI_ADMIN_KEY"):
        sync_openai(DAY1, DAY1, now=NOW)


def test_line_items_and_window():
    assert parse_line_item("gpt-4o-mini-2024-07-18, input") == ("gpt-4o-mini-2024-07-18", "input")
    assert parse_line_item("gpt-5-nano, input_tokens") == ("gpt-5-nano", "input")
    assert parse_line_item("gpt-4o, cached input") == ("gpt-4o", "input")
    assert parse_line_item("o3, output") == ("o3", "output")
    assert parse_line_item(None) == ("", "other")
    with pytest.raises(ValueError):
        sync_openai(date(2024, 11, 12), date(2024, 11, 13), now=NOW)


def test_cli_sync_openai(db, admin, capsys):
    _fill(admin, days_between(DAY1, 2))
    code = cli_main(["sync", "openai", "--since", "2024-11-01", "--until", "2024-11-02", "--company", "Acme"])
    out = capsys.readouterr().out
    assert code == 0 and "4 usage rows" in out and "company 'Acme'" in out
    rows = ledger(db)[0]
    assert {r.job_id.split(":")[1] for r in rows} == {"Acme"}
    admin.failures.extend([401])
    assert cli_main(["sync", "openai", "--since", "2024-11-01", "--until", "2024-11-02"]) == 1
    assert "nothing written" in capsys.readouterr().err


def test_cli_sync_help(cli):
    r = cli("sync", "openai", "--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "--since" in out and "--until" in out and "--company" in out and "OPENAI_ADMIN_KEY" in out


def test_unreachable_api_is_a_sync_error(db, admin, monkeypatch):
    from tests.helpers.llm import closed_port_url

    monkeypatch.setattr("core.providers.bill_sync.RETRY_DELAY_SECONDS", 0)
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url())
    config.reset_settings()
    with pytest.raises(SyncError, match="gave up after 3 attempts"):
        sync_openai(DAY1, DAY1, now=NOW)
    assert ledger(db)[0] == []
