"""The usage explorer through AppTest: the usage list's filters change the rows, pages move, the detail view shows one
usage with its job and cost per token, and the export holds exactly the filtered rows."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.apptest import dashboard
from tests.helpers.ledger import load, make_records, money, raw_rows

pytestmark = pytest.mark.usefixtures("navigation_mode")


@pytest.fixture
def ledger(db):
    load(make_records(n=120, now=datetime.now(UTC) - timedelta(minutes=1)))
    return raw_rows(db)


def usage_app(**params) -> AppTest:
    at = dashboard("usage", **params).run()  # starts on the page, like opening its URL
    assert not at.exception
    return at


def shown_count(at) -> int:
    head = next(s.value for s in at.subheader if re.fullmatch(r"[\d,]+ matching usage records?", s.value))
    return int(head.split()[0].replace(",", ""))


def test_filters_change_rows(ledger):
    at = usage_app()
    assert shown_count(at) == len(ledger)
    assert len(at.dataframe[0].value) == 50  # one page, never the whole ledger
    at.selectbox(key="qp_ai_job__status").set_value("failed").run()
    assert shown_count(at) == sum(r.status == "failed" for r in ledger)
    assert at.query_params["ai_job__status"] in ("failed", ["failed"])
    at.text_input(key="qp_total_cost__gte").set_value("0.5").run()
    assert shown_count(at) == sum(r.status == "failed" and r.cost >= Decimal("0.5") for r in ledger)
    at.text_input(key="qp_total_cost__gte").set_value("lots").run()
    assert any("total_cost__gte" in e.value for e in at.error)


def test_every_seed_filter_from_the_url(ledger):
    since = (datetime.now(UTC) - timedelta(days=20)).date()
    bid = next(r.brand_id for r in ledger if r.brand == "Web")
    at = usage_app(
        provider="openai",
        model_name="gpt-4o",
        execution_time_seconds__gte="5",
        success_rate__lt="1.0",
        created_at__gte=since.isoformat(),
        brand=str(bid),
        ai_job__status="completed",
        total_cost__gte="0",
    )
    expected = [
        r
        for r in ledger
        if r.provider == "openai"
        and r.model == "gpt-4o"
        and r.execution_ms >= 5000
        and r.success_rate < 1.0
        and r.created_at.date() >= since
        and r.brand_id == bid
        and r.status == "completed"
    ]
    assert shown_count(at) == len(expected)
    at = usage_app(
        provider="openai",
        model_name="gpt-4o",
        execution_time_seconds__gte="5",
        created_at__gte=since.isoformat(),
        brand=str(bid),
    )
    expected = [
        r
        for r in ledger
        if r.provider == "openai"
        and r.model == "gpt-4o"
        and r.execution_ms >= 5000
        and r.created_at.date() >= since
        and r.brand_id == bid
    ]
    assert shown_count(at) == len(expected) > 0
    assert set(at.dataframe[0].value["Job"]) == {r.job_id for r in expected}


def test_pagination(ledger):
    at = usage_app(page_size="25")
    first = list(at.dataframe[0].value["id"])
    assert any(m.value == f"Page **1** of **{-(-len(ledger) // 25)}**" for m in at.markdown)
    at.button[1].click().run()  # Next
    second = list(at.dataframe[0].value["id"])
    assert len(second) == 25 and not set(first) & set(second)
    assert at.query_params["page"] in ("2", ["2"])
    newest = sorted(ledger, key=lambda r: (r.created_at, r.id), reverse=True)
    assert second == [r.id for r in newest[25:50]]


def test_detail_view(ledger):
    row = max(ledger, key=lambda r: r.cost)
    at = usage_app(id=str(row.id))
    assert any(s.value == "Usage detail" for s in at.subheader)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Total cost"] == f"${row.cost.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"  # over a dollar
    per_million = row.cost * 1_000_000 / row.tokens  # cost per token reads as a long decimal: per 1M tokens
    assert metrics["Cost per 1M tokens"] == f"${per_million.quantize(Decimal('0.01'), ROUND_HALF_UP):,} / 1M tokens"
    when = row.created_at.astimezone(UTC)
    assert f" · {when:%Y-%m-%d %H:%M} UTC · " in at.caption[0].value.replace("\\", "")
    assert row.job_id.replace("-", "\\-") in at.markdown[0].value
    at = usage_app(id="999999")
    assert any("No usage with id" in w.value for w in at.warning)


def test_export_returns_the_filtered_rows(ledger, monkeypatch):
    # Capture the download button's deferred data callable (Streamlit runs it when the user clicks).
    from streamlit.runtime.media_file_manager import MediaFileManager

    captured = []
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, *args, **kwargs):
        captured.append(data_callable)
        return original(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    at = usage_app(provider="anthropic", ai_job__status="completed", ordering="-total_cost")
    picked = [r for r in ledger if r.provider == "anthropic" and r.status == "completed"]
    expected = {r.job_id for r in picked}
    assert at.get("download_button")[0].proto.label == f"Export the {len(expected)} filtered rows as CSV"
    text = captured[-1]()
    assert text.startswith("\ufeffid,")  # the UTF-8 byte order mark: a spreadsheet reads accents right
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert {r["job_id"] for r in rows} == expected and len(rows) == len(expected)
    # In the list's order ("Costliest first"), not the ledger's.
    assert [r["job_id"] for r in rows] == [r.job_id for r in sorted(picked, key=lambda r: (r.cost, r.id), reverse=True)]
    assert [r["job_id"] for r in rows[: len(at.dataframe[0].value)]] == list(at.dataframe[0].value["Job"])
    costs = {r.job_id: money(r.cost) for r in ledger}
    assert all(r["provider_name"] == "anthropic" and r["total_cost"] == costs[r["job_id"]] for r in rows)


def test_empty_database(db):
    at = usage_app()
    assert shown_count(at) == 0
    assert any("No AI usage recorded yet" in i.value for i in at.info)
    at = usage_app(provider="nobody")
    assert any("No usage matches these filters" in i.value for i in at.info)
