"""Money and counts stay within what storage holds: per-record maximums in the validator and the columnar checks,
and a write guard that refuses (naming them) the records that would take a lifetime total past the columns' bound,
so no rollup row, lifetime total or dashboard figure ever wraps or aborts an import."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import func, insert, select, text

from core.analytics import get_usage_dashboard, get_usage_stats
from core.ingest.checks import validate_record
from core.ingest.formats import import_any
from core.ingest.frames import ingest_frame
from core.ingest.record import InvalidRecord, get_or_create_brand, get_or_create_company, ingest, record_usage
from core.limits.budgets import list_prices, set_price
from core.storage import headroom
from core.storage.bounds import MAX_RECORD_COST, MONEY_MAX
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage, UsageDaily, UsageDailyModel, UsageDailyScope, UsageHourly
from core.storage.rollup_rebuild import rebuild
from tests.helpers.records import rec, write_jsonl

NOW = datetime(2025, 10, 3, 12, tzinfo=UTC)
TS = datetime(2025, 10, 2, 8, tzinfo=UTC)
OLD_MAX = "999999999.999999"  # what a cost field took before the limits were derived from storage
LEGACY_COST = Decimal(OLD_MAX) * 2  # a record with both cost fields at that maximum


def legacy_ledger(n: int) -> Decimal:
    """A ledger written by an earlier version, which stored records up to LEGACY_COST: n such records, and the
    rollups rebuilt from them. Returns its lifetime total."""
    with session_scope() as s:
        cid = get_or_create_company(s, "Legacy")
        bid = get_or_create_brand(s, cid, "default")
        s.execute(
            insert(AIJob),
            [
                {
                    "job_id": f"legacy-{i}",
                    "company_id": cid,
                    "brand_id": bid,
                    "job_type": "chat_completion",
                    "status": "completed",
                    "operation": "unspecified",
                    "source": "import",
                    "is_demo": False,
                    "fingerprint": "0" * 64,
                    "created_at": TS,
                }
                for i in range(n)
            ],
        )
        ids = s.scalars(select(AIJob.id).where(AIJob.job_id.like("legacy-%"))).all()
        s.execute(
            insert(AIJobUsage),
            [
                {
                    "ai_job_id": i,
                    "company_id": cid,
                    "brand_id": bid,
                    "job_status": "completed",
                    "operation": "unspecified",
                    "created_at": TS,
                    "input_tokens": 10,
                    "output_tokens": 5,
                    "total_tokens": 15,
                    "cached_tokens": 0,
                    "cache_write_tokens": 0,
                    "reasoning_tokens": 0,
                    "cost_input": Decimal(OLD_MAX),
                    "cost_output": Decimal(OLD_MAX),
                    "total_cost": LEGACY_COST,
                    "pricing_status": "billed",
                    "execution_ms": 0,
                    "memory_usage_mb": 0,
                    "provider_name": "openai",
                    "model_name": "gpt-4o",
                    "success_rate": 1.0,
                    "error_count": 0,
                }
                for i in ids
            ],
        )
        rebuild(s)
    return LEGACY_COST * n


def totals():
    """(raw ledger sum, each rollup's sum, lifetime total_cost of the stats view)."""
    with session_scope() as s:
        sums = [
            s.scalar(select(func.sum(m.total_cost)))
            for m in (AIJobUsage, UsageHourly, UsageDaily, UsageDailyModel, UsageDailyScope)
        ]
    return sums, Decimal(get_usage_stats(now=NOW)["lifetime"]["total_cost"])


def test_a_cost_at_the_old_maximum_is_refused_naming_field_value_and_line(db, tmp_path):
    rows = [
        rec(1),
        rec(2, cost_input=float(OLD_MAX), cost_output=0),
        rec(3),
        rec(4, cost_input="1000000", cost_output="0.000001"),
        rec(5, cost_input="1000000", cost_output=0),
    ]
    result = import_any(write_jsonl(tmp_path / "u.jsonl", rows), now=NOW)
    assert result.imported == 3
    assert result.refused == [
        (2, f"cost_input={OLD_MAX}: is more than the per-record maximum ($1,000,000)"),
        (4, "cost_output='0.000001': cost_input + cost_output is more than the per-record maximum ($1,000,000)"),
    ]
    assert totals() == ([Decimal("1000000.000420")] * 5, Decimal("1000000.000420"))


def test_counts_past_their_column_are_refused_not_an_aborted_import(db, tmp_path):
    # memory_usage_mb and error_count are INTEGER columns: 3e9 aborted a PostgreSQL import before.
    rows = [rec(1), rec(2, memory_usage_mb=3_000_000_000), rec(3, input_tokens=10**13, output_tokens=1), rec(4)]
    result = import_any(write_jsonl(tmp_path / "u.jsonl", rows), now=NOW)
    assert result.imported == 2
    assert result.refused == [
        (2, "memory_usage_mb=3000000000: is more than the per-record maximum (1,000,000,000)"),
        (3, "input_tokens=10000000000000: is more than the per-record maximum (1,000,000,000,000)"),
    ]


def test_a_priced_cost_above_the_record_maximum_is_refused_on_both_write_paths(db, tmp_path):
    # 10^12 input tokens of gpt-4o at $2.50 per million: $2,500,000, above the per-record maximum.
    huge = {"input_tokens": 10**12, "output_tokens": 0, "model": "gpt-4o"}
    result = import_any(write_jsonl(tmp_path / "u.jsonl", [rec(1), rec(2, **huge), rec(3)]), now=NOW)
    assert result.imported == 2
    assert result.refused == [
        (
            2,
            "total_cost='2500000.000000': priced above the per-record maximum ($1,000,000); "
            "job_id 'imp-2' not recorded",
        )
    ]
    with pytest.raises(InvalidRecord) as exc:
        record_usage(job_id="one", created_at=TS, provider="openai", now=NOW, **huge)
    assert exc.value.field == "total_cost" and "priced above the per-record maximum" in str(exc.value)
    with session_scope() as s:
        assert sorted(s.scalars(select(AIJob.job_id))) == ["imp-1", "imp-3"]
        assert s.scalar(select(func.sum(UsageDaily.jobs))) == 2


@pytest.mark.parametrize("path", ["columnar", "row"])
def test_records_that_would_pass_the_storage_bound_are_refused_and_the_rest_kept(db, tmp_path, path):
    before = legacy_ledger(499)  # $998 billion less a thousandth of a cent: $2 billion of room left
    room = MONEY_MAX - before
    assert room == Decimal("2000000000.000997")
    # 2,000 records at the per-record maximum fill the room to $0.000997; three more do not fit; a small one does.
    records = [rec(i, cost_input=str(MAX_RECORD_COST), cost_output="0", company="Big") for i in range(2003)]
    records.append(rec(2003, cost_input="0.000500", cost_output="0", company="Big"))
    if path == "columnar":
        result = import_any(write_jsonl(tmp_path / "u.jsonl", records), now=NOW)
        refused, imported = result.refused, result.imported
    else:  # the row path (record batches of applications, the demo, the OpenAI sync), one transaction
        with session_scope() as s:
            res = ingest(s, [validate_record(r, now=NOW) for r in records], source="import")
        refused, imported = [(pos + 1, str(e)) for pos, e in res.refused], res.inserted
    assert imported == 2001
    assert [line for line, _ in refused] == [2001, 2002, 2003]
    assert refused[0][1] == (
        "total_cost='1000000.000000': would take the ledger's lifetime total past "
        "$999,999,999,999.999999, the most the database holds; job_id 'imp-2000' not recorded"
    )
    expected = before + 2000 * MAX_RECORD_COST + Decimal("0.000500")
    assert expected == Decimal("999999999999.999502")
    assert totals() == ([expected] * 5, expected)
    assert Decimal(get_usage_dashboard(days=30, now=NOW)["totals"]["cost"]) == expected
    with session_scope() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(AIJob).where(AIJob.job_id.in_(["imp-2000", "imp-2001", "imp-2002"]))
            )
            == 0
        )
        assert s.scalar(select(func.min(UsageDailyModel.total_cost))) >= 0
    # One more record, even a dollar, has no room left: record_usage refuses it naming the field.
    with pytest.raises(InvalidRecord) as exc:
        record_usage(
            job_id="one-more",
            created_at=TS,
            provider="openai",
            model="gpt-4o",
            input_tokens=1,
            output_tokens=1,
            cost_input="1",
            cost_output="0",
            now=NOW,
        )
    assert exc.value.field == "total_cost" and "lifetime total past" in str(exc.value)
    assert totals() == ([expected] * 5, expected)


def test_a_frame_mixing_both_paths_past_the_bound(db):
    """ingest_frame (applications' batches): rows judged by the column checks and rows the scalar validator
    took (here an integer in a text column) are admitted together in frame order."""
    before = legacy_ledger(499)
    rows = [rec(i, cost_input=str(MAX_RECORD_COST), cost_output="0") for i in range(2003)]
    rows[2001]["brand"] = 7  # the row path
    rows[1999]["brand"] = 8
    with session_scope() as s:
        result = ingest_frame(s, pd.DataFrame(rows), now=NOW)
    assert result.inserted == 2000
    assert [pos for pos, _ in result.refused] == [2000, 2001, 2002]
    expected = before + 2000 * MAX_RECORD_COST
    assert totals() == ([expected] * 5, expected)


def test_cli_reports_overflow_refusals_with_their_lines(db, tmp_path, cli):
    legacy_ledger(499)
    f = write_jsonl(
        tmp_path / "u.jsonl", [json.dumps(rec(i, cost_input="1000000", cost_output="0")) for i in range(2001)]
    )
    proc = cli("import", f, "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "imported 2000, duplicates 0, refused 1" in proc.stdout
    assert "line 2001: total_cost='1000000.000000': would take the ledger's lifetime total past" in proc.stdout


def test_a_reprice_that_would_pass_the_bound_is_refused_and_changes_nothing(db, tmp_path):
    before = legacy_ledger(499)  # $2 billion of room
    # 2,100 calls of a model without a price (stored at $0), 10 million input tokens each.
    rows = [rec(i, provider="acme", model="custom-1", input_tokens=10_000_000, output_tokens=0) for i in range(2100)]
    assert import_any(write_jsonl(tmp_path / "u.jsonl", rows), now=NOW).imported == 2100
    # $100,000 per million tokens makes each $1,000,000: $2.1 billion more than the ledger holds.
    with pytest.raises(InvalidRecord) as exc:
        set_price("acme", "custom-1", "100000", "0", effective_from="2025-10-01", reprice=True)
    assert str(exc.value) == (
        "total_cost='2100000000.000000': this change would take the ledger's lifetime total "
        "past $999,999,999,999.999999, the most the database holds"
    )
    assert totals() == ([before] * 5, before)
    assert list_prices() == []


def test_the_lifetime_totals_follow_every_write_in_one_transaction(db):
    """The write guard's totals row moves with the rollups whichever way records come in, several in one
    transaction: a batch (which reads and locks the totals), a call written in one statement (PostgreSQL), another
    batch, a reprice; and a rebuild sums them again."""

    def check(s):
        kept = s.execute(text(f"SELECT {', '.join(headroom.GUARDED)} FROM ledger_totals")).one()
        summed = s.execute(
            text("SELECT " + ", ".join(f"COALESCE(SUM({m}), 0)" for m in headroom.GUARDED) + " FROM usage_daily_model")
        ).one()
        scale = 0 if s.get_bind().dialect.name == "sqlite" else 6
        assert dict(zip(headroom.GUARDED, map(int, kept))) == {
            m: int(Decimal(v).scaleb(scale)) if m == "total_cost" else int(v) for m, v in zip(headroom.GUARDED, summed)
        }
        assert kept[0] > 0

    with session_scope() as s:
        ingest(s, [validate_record(rec(i), now=NOW) for i in range(3)])
        record_usage(session=s, now=NOW, **rec(10, execution_time_seconds=2, memory_usage_mb=5))
        ingest(s, [validate_record(rec(i), now=NOW) for i in range(20, 23)])
        check(s)
    set_price("openai", "gpt-4o-mini", "3", "4", effective_from="2025-09-01", reprice=True)
    record_usage(now=NOW, **rec(11))
    with session_scope() as s:
        check(s)
        s.execute(text("UPDATE ledger_totals SET total_tokens = 0"))
        rebuild(s)
        check(s)
