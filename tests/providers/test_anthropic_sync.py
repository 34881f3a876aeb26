"""Anthropic usage and cost report sync against a fake Admin API on loopback: both cache-creation shapes, paging,
amounts in cents, a 429 then success, a day re-synced with a changed amount (rollup exact), refused lines, the
command line and the worker's daily job."""

import io
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import config
from core.cli import main as cli_main
from core.providers.anthropic_sync import sync_anthropic
from core.providers.bill_sync import SyncError
from core.providers.reconcile import reconcile
from core.storage.db import get_session
from core.storage.models import AIJob, AIJobUsage, Brand, ProviderCost, UsageDaily
from core.usage import record_usage
from core.worker.jobs import sync_job
from tests.fakes.anthropic_admin_server import (
    COST_PATH,
    USAGE_PATH,
    FakeAnthropicAdmin,
    cost_result,
    usage_result,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
D1, D2, D3, D4 = (date(2025, 3, d) for d in (1, 2, 3, 4))
SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-3-5-haiku-20241022"


@pytest.fixture
def admin(monkeypatch):
    monkeypatch.setattr("core.providers.bill_sync.RETRY_DELAY_SECONDS", 0)
    with FakeAnthropicAdmin(page_size=2) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", fake.admin_key)
        monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
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
                Brand.name.label("brand"),
                AIJobUsage.input_tokens,
                AIJobUsage.output_tokens,
                AIJobUsage.cached_tokens,
                AIJobUsage.cache_write_tokens,
                AIJobUsage.cost_input,
                AIJobUsage.cost_output,
                AIJobUsage.pricing_status,
                AIJobUsage.created_at,
                AIJob.description,
            )
            .join(AIJobUsage, AIJobUsage.ai_job_id == AIJob.id)
            .join(Brand, Brand.id == AIJob.brand_id)
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
                ProviderCost.provider,
                ProviderCost.day,
                ProviderCost.project_id,
                ProviderCost.line_item,
                ProviderCost.model,
                ProviderCost.cost_kind,
                ProviderCost.amount,
                ProviderCost.currency,
            ).order_by(ProviderCost.day, ProviderCost.project_id, ProviderCost.line_item)
        ).all()
        return rows, tuple(rolled), tuple(raw), costs
    finally:
        s.close()


def fill(admin, amount_out="150"):
    """Four days, one cache-creation shape a day (nested, flat total, flat split, nested again)."""
    for day, shape in ((D1, "nested"), (D2, "flat"), (D3, "flat_split"), (D4, "nested")):
        admin.usage[day] = [
            usage_result(
                SONNET,
                "wrkspc_A",
                uncached=1000,
                output=500,
                cache_read=4000,
                write_5m=300,
                write_1h=200,
                shape=shape,
                web_searches=2,
            ),
            usage_result(HAIKU, None, uncached=200, output=100, shape=shape),
        ]
        admin.costs[day] = [
            cost_result("0.3", "wrkspc_A", SONNET, "uncached_input_tokens"),  # $0.003
            cost_result("0.12", "wrkspc_A", SONNET, "cache_read_input_tokens"),
            cost_result("0.1125", "wrkspc_A", SONNET, "cache_creation.ephemeral_5m_input_tokens"),
            cost_result("0.12", "wrkspc_A", SONNET, "cache_creation.ephemeral_1h_input_tokens"),
            cost_result(amount_out, "wrkspc_A", SONNET, "output_tokens"),  # $1.50
            cost_result("2", "wrkspc_A", None, None, cost_type="web_search", description="Web search"),
        ]


def test_both_cache_shapes_paging_and_cents(db, admin):
    fill(admin)
    s = sync_anthropic(D1, D4, now=NOW)
    assert (s["usage_pages"], s["cost_pages"], s["usage_rows"], s["cost_lines"], s["billed_rows"]) == (2, 2, 8, 24, 4)
    # A day: $0.006525 of input, $1.50 of output, $0.02 of web search (amounts in cents).
    assert s["billed_usd"] == "6.106100" and s["refused"] == []
    rows, rolled, raw, costs = ledger(db)
    sonnet = [r for r in rows if r.model_name == SONNET]
    assert len(sonnet) == 4
    for r in sonnet:  # every shape: input = uncached + cache reads + cache writes (5m + 1h)
        assert (r.input_tokens, r.cached_tokens, r.cache_write_tokens, r.output_tokens) == (5500, 4000, 500, 500)
        assert (r.brand, r.source, r.pricing_status) == ("wrkspc_A", "provider_bill", "billed")
        assert (r.cost_input, r.cost_output) == (Decimal("0.006525"), Decimal("1.500000"))
        assert r.description == "Anthropic usage report in workspace wrkspc_A: 2 web searches"
    assert sonnet[0].job_id == f"anthropic-usage:default:2025-03-01:wrkspc_A:{SONNET}"
    assert sonnet[0].created_at == datetime(2025, 3, 1, tzinfo=UTC)
    haiku = [r for r in rows if r.model_name == HAIKU]
    assert {(r.brand, r.input_tokens, r.pricing_status) for r in haiku} == {("default", 200, "catalog")}, (
        "the default workspace (null) is the default brand; no cost line: our catalog prices it"
    )
    assert rolled == raw and rolled[0] == 8
    assert ("anthropic", D1, "wrkspc_A", "Web search", "Web search", "other", Decimal("0.020000"), "usd") in costs
    assert {c.cost_kind for c in costs if c.model == SONNET} == {"input", "output"}
    usage_reqs = [r for r in admin.requests if r["path"] == USAGE_PATH]
    assert len(usage_reqs) == 2 and "page" not in usage_reqs[0]["query"] and usage_reqs[1]["query"]["page"]
    q = usage_reqs[0]["query"]
    assert (q["group_by[]"], q["bucket_width"], q["starting_at"], q["ending_at"]) == (
        ["model", "workspace_id"],
        ["1d"],
        ["2025-03-01T00:00:00Z"],
        ["2025-03-05T00:00:00Z"],
    )
    assert next(r["query"]["group_by[]"] for r in admin.requests if r["path"] == COST_PATH) == [
        "workspace_id",
        "description",
    ]
    assert {(r["api_key"], r["version"], r["authorization"]) for r in admin.requests} == {
        (admin.admin_key, "2023-06-01", None)
    }


def test_rate_limit_then_success(db, admin):
    fill(admin)
    admin.failures.extend([429, 529])
    s = sync_anthropic(D1, D2, now=NOW)
    assert (s["usage_rows"], s["cost_lines"]) == (4, 12)
    assert len(admin.requests) == 2 + 1 + 1, "two refused attempts, then one page of usage and one of costs"


def test_resync_with_a_changed_amount_replaces_the_day(db, admin):
    fill(admin)
    record_usage(
        job_id="tracked-1",
        created_at="2025-03-02T10:00:00Z",
        company="default",
        provider="anthropic",
        model=SONNET,
        input_tokens=100,
        output_tokens=10,
        now=NOW,
    )
    sync_anthropic(D1, D4, now=NOW)
    first = ledger(db)
    assert sync_anthropic(D1, D4, now=NOW)["removed_rows"] == 8
    assert ledger(db) == first, "a re-sync of the same data changes nothing"
    # Anthropic's figures for Mar 3 changed (output billed $2.50 instead of $1.50); Mar 4 lost its usage.
    admin.costs[D3] = [cost_result("250", "wrkspc_A", SONNET, "output_tokens")]
    admin.usage[D3] = [usage_result(SONNET, "wrkspc_A", uncached=7777, output=1, shape="flat")]
    del admin.usage[D4], admin.costs[D4]
    s = sync_anthropic(D3, D4, now=NOW)
    assert (s["removed_rows"], s["usage_rows"], s["cost_lines"], s["billed_usd"]) == (4, 1, 1, "2.500000")
    rows, rolled, raw, costs = ledger(db)
    assert rolled == raw and raw[0] == 4 + 1 + 1  # Mar 1-2 (4 rows), Mar 3 (1), the tracked call
    [mar3] = [r for r in rows if r.created_at.date() == D3]
    assert (mar3.input_tokens, mar3.cost_input, mar3.cost_output) == (7777, Decimal("0E-6"), Decimal("2.500000"))
    assert "tracked-1" in {r.job_id for r in rows}, "our own records are never touched by a sync"
    assert [c.amount for c in costs if c.day == D3] == [Decimal("2.500000")] and not [c for c in costs if c.day == D4]
    r = reconcile(D3, D3, provider="anthropic", now=NOW)
    assert r["totals"]["billed"] == "2.500000"


def test_refused_lines_cost_only_themselves(db, admin):
    fill(admin)
    admin.costs[D1].append(cost_result("12,5", "wrkspc_A", SONNET, "output_tokens", description="bad"))
    admin.usage[D2].append(usage_result("claude-opus-4-1", "wrkspc_B", uncached=-3, output=1))
    s = sync_anthropic(D1, D2, now=NOW)
    assert s["refused"] == [
        "2025-03-02: uncached_input_tokens=-3: not a token count",
        "2025-03-01: amount='12,5': not a decimal amount",
    ]
    assert (s["usage_rows"], s["cost_lines"]) == (4, 12)


def test_wrong_key_fails_without_showing_it(db, admin, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-WRONGKEYabcdefghijklmnop")
    config.reset_settings()
    with pytest.raises(SyncError) as ei:
        sync_anthropic(D1, D1, now=NOW)
    assert "401" in str(ei.value) and "invalid x-api-key" in str(ei.value) and "WRONGKEY" not in str(ei.value)
    assert len(admin.requests) == 1, "an auth error is not retried"
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    config.reset_settings()
    with pytest.raises(SyncError, match="ANTHROPIC_ADMIN_KEY"):
        sync_anthropic(D1, D1, now=NOW)
    assert ledger(db)[0] == []


def test_persistent_overload_writes_nothing(db, admin):
    fill(admin)
    sync_anthropic(D1, D2, now=NOW)
    before = ledger(db)
    fill(admin, amount_out="999")
    admin.failures.extend([0, 529, 529, 529])  # the usage page passes (0: no failure); every cost attempt fails
    with pytest.raises(SyncError, match="gave up after 3 attempts"):
        sync_anthropic(D1, D2, now=NOW)
    assert ledger(db) == before


def test_cli_sync_anthropic(db, admin, capsys):
    fill(admin)
    code = cli_main(["sync", "anthropic", "--since", "2025-03-01", "--until", "2025-03-02", "--company", "Acme"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("Anthropic sync 2025-03-01 .. 2025-03-02 (2 days) for company 'Acme'")
    assert "4 usage rows" in out and "12 cost lines" in out
    assert {r.job_id.split(":")[1] for r in ledger(db)[0]} == {"Acme"}
    admin.failures.extend([401])
    assert cli_main(["sync", "anthropic", "--since", "2025-03-01", "--until", "2025-03-02"]) == 1
    assert "Anthropic sync failed, nothing written" in capsys.readouterr().err


def test_cli_sync_help(cli):
    out = cli("sync", "anthropic", "--help").stdout
    assert "--since" in out and "--until" in out and "--company" in out and "ANTHROPIC_ADMIN_KEY" in out


def test_worker_daily_job_syncs_each_configured_bill(db, admin, monkeypatch):
    today = datetime.now(UTC).date()
    admin.usage[today] = [usage_result(SONNET, "wrkspc_A", uncached=10, output=5)]
    monkeypatch.setenv("ANTHROPIC_SYNC_COMPANY", "Billing")
    # OpenAI's admin API is unreachable: its failure is logged and Anthropic's sync still runs.
    from tests.helpers.llm import closed_port_url

    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-UNREACHABLE0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", closed_port_url())
    config.reset_settings()
    out = sync_job()
    assert out.ran and out.details[0].startswith("openai: failed") and out.details[1].startswith("anthropic: ")
    assert "UNREACHABLE" not in " ".join(out.details)
    rows = ledger(db)[0]
    assert [(r.job_id.split(":")[1], r.input_tokens) for r in rows] == [("Billing", 10)]
    sys.path.insert(0, str(ROOT))
    import worker as worker_module

    w = worker_module.Worker(out=io.StringIO())
    w.setup()
    assert len(w.scheduler.get_jobs()) == 3, "the daily bill sync is scheduled with either admin key"


def test_only_an_admin_of_the_company_syncs(sqlite_db, admin):
    from core.access.users import User

    fill(admin)
    with pytest.raises(PermissionError, match="no longer has access"):
        sync_anthropic(D1, D1, now=NOW, actor=User("mallory", "admin", ("*",)))  # not in the users file
    assert admin.requests == [] and ledger(sqlite_db)[0] == []
