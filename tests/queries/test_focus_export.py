"""The FOCUS export read back with the csv module: its columns, one row per day x company x brand x operation x
provider x model x price x token kind, BilledCost summing to the ledger's total for the scope (month, company) to
the micro-dollar, billed rows carrying the bill and estimated rows the catalog's price, list prices; the command
line and the Costs page's download."""

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import streamlit as st
from sqlalchemy import func, select

from core import config
from core.cli import main as cli_main
from core.limits.budgets import set_price
from core.providers.anthropic_sync import sync_anthropic
from core.queries.focus_export import (
    COLUMNS,
    export_focus,
    export_focus_text,
    split_input,
)
from core.storage.db import get_session
from core.storage.models import AIJobUsage, Company
from core.usage import record_usage
from tests.fakes.anthropic_admin_server import (
    FakeAnthropicAdmin,
    cost_result,
    usage_result,
)

NOW = datetime(2025, 4, 20, 12, 0, tzinfo=UTC)
HAIKU = "claude-3-5-haiku-20241022"
SONNET = "claude-sonnet-4-20250514"


def call(job_id, when, provider, model, inp, out, *, company="Acme", brand="web", cached=0, write=0, **kw):
    record_usage(
        job_id=job_id,
        created_at=when,
        company=company,
        brand=brand,
        provider=provider,
        model=model,
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=cached,
        cache_write_tokens=write,
        operation=kw.pop("operation", "chat"),
        now=NOW,
        **kw,
    )


@pytest.fixture
def ledger(db, monkeypatch):
    """March 2025 for Acme (catalog, cache, self-hosted, unpriced, override, imported-billed and Anthropic's synced
    bill), one April record, and another company."""
    set_price("openai", "custom-*", "2.5", "10", effective_from="2025-01-01")
    call("h1", "2025-03-01T09:00:00Z", "anthropic", HAIKU, 3500, 300, cached=2000, write=500)
    call("h2", "2025-03-01T15:30:00Z", "anthropic", HAIKU, 1000, 100, operation="summarise")
    call("o1", "2025-03-02T10:00:00Z", "openai", "gpt-4o-mini-2024-07-18", 1200, 80, cached=1000)
    call("l1", "2025-03-02T11:00:00Z", "ollama", "llama3.1:8b", 900, 90)
    call("u1", "2025-03-03T12:00:00Z", "openai", "mystery-1", 77, 7)
    call("c1", "2025-03-03T13:00:00Z", "openai", "custom-7b", 1_000_000, 100_000)
    call("b1", "2025-03-04T08:00:00Z", "openai", "gpt-4o", 5000, 500, cost_input="0.0123", cost_output="0.0456")
    call("a1", "2025-04-01T00:00:00Z", "anthropic", HAIKU, 10, 10)
    call("x1", "2025-03-01T09:00:00Z", "anthropic", HAIKU, 100, 10, company="Other", brand="=HYPERLINK(1)")
    monkeypatch.setattr("core.providers.bill_sync.RETRY_DELAY_SECONDS", 0)
    with FakeAnthropicAdmin(page_size=5) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", fake.admin_key)
        config.reset_settings()
        for d in (date(2025, 3, 1), date(2025, 3, 2)):
            fake.usage[d] = [
                usage_result(SONNET, "wrkspc_A", uncached=1000, output=500, cache_read=4000, write_5m=300, write_1h=200)
            ]
            fake.costs[d] = [
                cost_result("0.3", "wrkspc_A", SONNET, "uncached_input_tokens"),
                cost_result("0.12", "wrkspc_A", SONNET, "cache_read_input_tokens"),
                cost_result("0.2325", "wrkspc_A", SONNET, "cache_creation.ephemeral_5m_input_tokens"),
                cost_result("150", "wrkspc_A", SONNET, "output_tokens"),
            ]
        sync_anthropic(date(2025, 3, 1), date(2025, 3, 2), now=NOW, company="Acme")
    config.reset_settings()
    return db


def ledger_total(url, company=None, start="2025-03-01", end="2025-04-01") -> Decimal:
    s = get_session(url)
    try:
        q = (
            select(func.coalesce(func.sum(AIJobUsage.total_cost), 0))
            .join(Company, Company.id == AIJobUsage.company_id)
            .where(
                AIJobUsage.created_at >= datetime.fromisoformat(start + "T00:00:00+00:00"),
                AIJobUsage.created_at < datetime.fromisoformat(end + "T00:00:00+00:00"),
            )
        )
        if company:
            q = q.where(Company.name == company)
        return Decimal(s.scalar(q))
    finally:
        s.close()


def read(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == COLUMNS
    return list(reader)


def details(row: dict) -> dict:
    return json.loads(row["SkuPriceDetails"])


def test_billed_cost_sums_to_the_ledger_for_each_scope(ledger):
    for month, company, start, end in (
        ("2025-03", "Acme", "2025-03-01", "2025-04-01"),
        ("2025-03", None, "2025-03-01", "2025-04-01"),
        ("2025-04", "Acme", "2025-04-01", "2025-05-01"),
        (None, None, "2000-01-01", "2100-01-01"),
    ):
        buf = io.StringIO()
        done = export_focus(buf, month=month, company=company)
        rows = read(buf.getvalue())
        total = sum(Decimal(r["BilledCost"]) for r in rows)
        assert total == ledger_total(ledger, company, start, end) > 0, (month, company)
        assert done == {"rows": len(rows), "billed_cost": str(total.quantize(Decimal("0.000001")))}
        for r in rows:
            assert r["EffectiveCost"] == r["ContractedCost"] == r["BilledCost"]
    assert read(export_focus_text(month="2025-03", company="Nobody")) == []


def test_one_row_per_day_company_brand_operation_provider_model_price_and_token_kind(ledger):
    rows = read(export_focus_text(month="2025-03"))
    keys = Counter(
        (
            r["ChargePeriodStart"],
            r["x_Company"],
            r["x_Brand"],
            r["x_Operation"],
            r["ServiceProviderName"],
            details(r)["ModelId"],
            r["SkuPriceId"],
            details(r)["TokenDirection"],
            details(r).get("TokenCacheAction"),
        )
        for r in rows
    )
    assert max(keys.values()) == 1
    for r in rows:
        assert (r["BillingCurrency"], r["ChargeCategory"], r["ConsumedUnit"], r["PricingUnit"]) == (
            "USD",
            "Usage",
            "Tokens",
            "1000000 Tokens",
        )
        assert (r["ServiceCategory"], r["ServiceSubcategory"]) == ("AI and Machine Learning", "Generative AI")
        assert r["ChargePeriodStart"].endswith("T00:00:00Z") and r["ChargePeriodEnd"] > r["ChargePeriodStart"]
        assert Decimal(r["PricingQuantity"]) * 1_000_000 == int(r["ConsumedQuantity"])
        d = details(r)
        if d["TokenDirection"] == "Output":  # the specification omits the cache action on response tokens
            assert set(d) == {"ModelId", "TokenDirection"} and r["SkuId"].endswith("-output")
        else:
            assert set(d) == {"ModelId", "TokenDirection", "TokenCacheAction"}
            assert d["TokenCacheAction"] in ("Uncached", "Read", "Write")
        if r["ListUnitPrice"]:
            assert Decimal(r["ListUnitPrice"]) * Decimal(r["PricingQuantity"]) == Decimal(r["ListCost"])
        else:
            assert r["ListCost"] == r["BilledCost"]
    other = [r for r in rows if r["x_Company"] == "Other"]
    assert {r["x_Brand"] for r in other} == {"'=HYPERLINK(1)"}, "a brand never leaves as a spreadsheet formula"


def test_estimated_rows_carry_the_catalog_price_split_by_cache_action(ledger):
    rows = read(export_focus_text(month="2025-03", company="Acme"))
    h1 = {
        (details(r)["TokenDirection"], details(r).get("TokenCacheAction")): r
        for r in rows
        if details(r)["ModelId"] == HAIKU and r["x_Operation"] == "chat"
    }
    # Haiku 3.5: $0.80 input, $0.08 cache read, $1 cache write, $4 output per million tokens.
    assert {k: (r["ConsumedQuantity"], r["ListUnitPrice"], r["BilledCost"], r["ListCost"]) for k, r in h1.items()} == {
        ("Input", "Uncached"): ("1000", "0.8", "0.000800", "0.0008"),
        ("Input", "Read"): ("2000", "0.08", "0.000160", "0.00016"),
        ("Input", "Write"): ("500", "1", "0.000500", "0.0005"),
        ("Output", None): ("300", "4", "0.001200", "0.0012"),
    }
    r = h1[("Input", "Read")]
    assert (r["SkuId"], r["SkuPriceId"], r["ServiceProviderName"], r["ServiceName"]) == (
        f"{HAIKU}-cache-read",
        f"{HAIKU}-cache-read-catalog",
        "Anthropic",
        "Anthropic API",
    )
    assert r["ChargeDescription"] == f"Cache read input tokens for {HAIKU} (estimated at the catalog's list price)"
    assert (r["x_Company"], r["x_Brand"], r["x_Operation"]) == ("Acme", "web", "chat")
    by_model = {details(r)["ModelId"]: r for r in rows if details(r)["TokenDirection"] == "Output"}
    assert (by_model["llama3.1:8b"]["BilledCost"], by_model["llama3.1:8b"]["ListUnitPrice"]) == ("0.000000", "0")
    unpriced = by_model["mystery-1"]
    assert (unpriced["BilledCost"], unpriced["ListUnitPrice"], unpriced["ListCost"]) == ("0.000000", "", "0.000000")
    assert unpriced["SkuPriceId"] == "mystery-1-output-unpriced"
    custom = by_model["custom-7b"]  # the override's price is what was billed; the catalog has no list price
    assert (custom["BilledCost"], custom["ListUnitPrice"], custom["SkuPriceId"]) == (
        "1.000000",
        "",
        "custom-7b-output-override",
    )
    imported = [r for r in rows if details(r)["ModelId"] == "gpt-4o"]
    assert {r["BilledCost"] for r in imported} == {"0.012300", "0.045600"}
    assert all(r["SkuPriceId"].endswith("-billed") and "(billed by OpenAI)" in r["ChargeDescription"] for r in imported)
    assert {Decimal(r["ListCost"]) for r in imported} == {Decimal("0.0125"), Decimal("0.005")}, "gpt-4o's list price"


def test_billed_rows_carry_the_bill(ledger):
    rows = read(export_focus_text(month="2025-03", company="Acme"))
    billed = [r for r in rows if details(r)["ModelId"] == SONNET]
    assert {r["x_Brand"] for r in billed} == {"wrkspc_A"} and {r["x_Operation"] for r in billed} == {
        "anthropic-usage-report"
    }
    assert all(
        r["SkuPriceId"].endswith("-billed") and "(billed by Anthropic)" in r["ChargeDescription"] for r in billed
    )
    for day in ("2025-03-01", "2025-03-02"):
        mine = [r for r in billed if r["ChargePeriodStart"].startswith(day)]
        # The bill: $0.006525 of input and $1.50 of output (cents in the cost report).
        assert sum(Decimal(r["BilledCost"]) for r in mine) == Decimal("1.506525")
        out = next(r for r in mine if details(r)["TokenDirection"] == "Output")
        assert (out["BilledCost"], out["ConsumedQuantity"], out["ListCost"]) == ("1.500000", "500", "0.0075")
        kinds = {details(r).get("TokenCacheAction"): int(r["ConsumedQuantity"]) for r in mine}
        assert kinds == {"Uncached": 1000, "Read": 4000, "Write": 500, None: 500}


def test_split_input_adds_up_exactly():
    assert split_input(Decimal("0.000001"), [0, 1, 1], [Decimal(3), Decimal("0.3"), Decimal("3.75")]) == [
        Decimal(0),
        Decimal(0),
        Decimal("0.000001"),
    ]
    parts = split_input(Decimal("1.000000"), [1, 1, 1], None)
    assert sum(parts) == Decimal("1.000000") and parts == [
        Decimal("0.333334"),
        Decimal("0.333333"),
        Decimal("0.333333"),
    ]
    assert split_input(Decimal("0.5"), [0, 0, 0], None) == [Decimal("0.5"), 0, 0]


def test_cli_export_focus(ledger, tmp_path, capsys):
    out = tmp_path / "focus.csv"
    assert (
        cli_main(["export", "--format", "focus", "--month", "2025-03", "--company", "Acme", "--output", str(out)]) == 0
    )
    err = capsys.readouterr().err
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "for FinOps tools: no byte order mark"
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    total = sum(Decimal(r["BilledCost"]) for r in rows)
    assert total == ledger_total(ledger, "Acme")
    assert f"exported {len(rows)} FOCUS rows (FOCUS 1.5, BilledCost total ${total}) to {out}" in err
    assert cli_main(["export", "--format", "focus", "--month", "2025-04"]) == 0
    assert len(read(capsys.readouterr().out)) == 2  # the April record's input and output
    assert cli_main(["export", "--format", "focus", "--month", "2025-13"]) == 2
    assert "month" in capsys.readouterr().err
    assert cli_main(["export", "--format", "focus", "--provider-name", "openai"]) == 2
    assert "--format focus takes --month and --company only" in capsys.readouterr().err


def test_cli_export_csv_stays_the_default(ledger, capsys):
    assert cli_main(["export", "--company", "Acme", "--month", "2025-04"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["job_id"] for r in rows] == ["a1"] and "BilledCost" not in rows[0]
    assert cli_main(["export", "--month", "2025-04", "--created-at--gte", "2025-04-02"]) == 2


@pytest.fixture
def clear_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def test_costs_page_downloads_the_month_as_focus(sqlite_db, monkeypatch, clear_cache):
    from streamlit.runtime.media_file_manager import MediaFileManager

    from tests.helpers.apptest import app_test

    now = datetime.now(UTC).replace(microsecond=0)
    record_usage(
        job_id="p1",
        created_at=now.replace(day=1, hour=0).isoformat(),
        company="Acme",
        provider="anthropic",
        model=HAIKU,
        input_tokens=5000,
        output_tokens=700,
        cached_tokens=1000,
    )
    captured = []
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, *args, **kwargs):
        captured.append(data_callable)
        return original(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    at = app_test("costs")
    assert not at.exception
    [button] = [b for b in at.get("download_button") if "FOCUS" in b.proto.label]
    assert button.proto.label == f"Download {now:%Y-%m} as FOCUS"
    rows = read(captured[-1]())
    assert len(rows) == 3 and sum(Decimal(r["BilledCost"]) for r in rows) == ledger_total(
        sqlite_db, start=now.replace(day=1).date().isoformat(), end="2100-01-01"
    )
