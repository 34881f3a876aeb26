"""Import of OpenAI's usage export CSV and LiteLLM spend logs (CSV and JSON) besides our own format.

tests/data/openai_completions_usage_export.csv uses the export's observed header and its real sample row;
tests/data/litellm_spend_logs.* use every LiteLLM_SpendLogs column of LiteLLM's schema.prisma.
"""

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.cli import main as cli_main
from core.ingest.formats import FormatError, detect_format, import_any
from core.pricing.catalog import price_usage
from core.storage.db import get_session
from core.storage.models import AIJob, AIJobUsage, UsageDaily
from tests.helpers import DATA

NOW = datetime(2025, 11, 1, tzinfo=UTC)


def rows(url):
    s = get_session(url)
    try:
        out = {}
        for job, u in s.execute(select(AIJob, AIJobUsage).join(AIJobUsage, AIJobUsage.ai_job_id == AIJob.id)):
            out[job.job_id] = {
                "source": job.source,
                "company": job.company.name,
                "brand": job.brand.name,
                "operation": job.operation,
                "job_type": job.job_type,
                "description": job.description,
                "status": u.job_status,
                "provider": u.provider_name,
                "model": u.model_name,
                "input": u.input_tokens,
                "output": u.output_tokens,
                "cached": u.cached_tokens,
                "cost_input": u.cost_input,
                "cost_output": u.cost_output,
                "cost": u.total_cost,
                "pricing": u.pricing_status,
                "execution_ms": u.execution_ms,
                "error_class": u.error_class,
                "created_at": u.created_at,
            }
        rolled = s.scalar(select(func.coalesce(func.sum(UsageDaily.jobs), 0)))
        return out, rolled
    finally:
        s.close()


def test_detection():
    assert detect_format(DATA / "openai_completions_usage_export.csv") == "openai-csv"
    assert detect_format(DATA / "openai_cost_export.csv") == "openai-cost-csv"
    assert detect_format(DATA / "litellm_spend_logs.csv") == "litellm"
    assert detect_format(DATA / "litellm_spend_logs.json") == "litellm"


def test_openai_usage_export_csv(db):
    result = import_any(DATA / "openai_completions_usage_export.csv", company="Acme", now=NOW)
    assert (result.imported, result.duplicates) == (2, 0)
    assert [line for line, _ in result.refused] == [5, 6]  # the empty bucket (line 4) is skipped, not refused
    assert "cached_tokens" in dict(result.refused)[5] and "output_tokens='abc'" in dict(result.refused)[6]
    got, rolled = rows(db)
    assert rolled == 2
    big = next(r for r in got.values() if r["model"] == "gpt-4o-2024-08-06")
    assert big | {"cost": None, "cost_input": None, "cost_output": None, "execution_ms": None} == {
        "source": "provider_bill",
        "company": "Acme",
        "brand": "proj_4BhNtYH0z7dWbBtzhibxa65W",
        "operation": "openai-usage-export",
        "job_type": "usage_bucket",
        "description": "OpenAI usage export: 10 requests in project proj_4BhNtYH0z7dWbBtzhibxa65W",
        "status": "completed",
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "input": 59200,
        "output": 10646,
        "cached": 5760,
        "cost": None,
        "cost_input": None,
        "cost_output": None,
        "pricing": "catalog",
        "execution_ms": None,
        "error_class": None,
        "created_at": datetime(2025, 10, 5, tzinfo=UTC),
    }
    expected = price_usage(
        provider="openai",
        model="gpt-4o-2024-08-06",
        at=big["created_at"],
        input_tokens=59200,
        output_tokens=10646,
        cached_tokens=5760,
    )
    assert big["cost"] == expected.total_cost > 0
    again = import_any(DATA / "openai_completions_usage_export.csv", company="Acme", now=NOW)
    assert (again.imported, again.duplicates) == (0, 2), "deterministic job_ids: a re-import stores nothing twice"


def test_litellm_spend_logs_csv(db):
    result = import_any(DATA / "litellm_spend_logs.csv", fmt="litellm", company="Acme", now=NOW)
    assert result.imported == 4 and result.refused == [(6, "request_id: is required")]
    got, rolled = rows(db)
    assert rolled == 4
    a = got["litellm:chatcmpl-1"]
    assert (a["provider"], a["model"], a["input"], a["output"], a["status"]) == (
        "openai",
        "gpt-4o-mini",
        1500,
        40,
        "completed",
    )
    assert (a["cost"], a["pricing"], a["execution_ms"]) == (Decimal("0.000420"), "billed", 2500)
    assert (a["brand"], a["operation"], a["job_type"], a["source"]) == (
        "team-kb",
        "kb-quality-analysis-short",
        "acompletion",
        "import",
    )
    g = got["litellm:chatcmpl-2"]
    assert (g["provider"], g["model"], g["pricing"], g["execution_ms"]) == (
        "gemini",
        "gemini-2.0-flash",
        "catalog",
        850,
    )
    assert (
        g["cost"]
        == price_usage(
            provider="gemini", model="gemini-2.0-flash", at=g["created_at"], input_tokens=100, output_tokens=30
        ).total_cost
    )
    f = got["litellm:chatcmpl-3"]
    assert (f["status"], f["error_class"], f["input"]) == ("failed", "RateLimitError", 0)
    c = got["litellm:chatcmpl-4"]
    assert (c["cost"], c["pricing"], c["description"]) == (Decimal("0"), "billed", "LiteLLM cache hit")
    text = json.dumps({k: {kk: str(vv) for kk, vv in v.items()} for k, v in got.items()})
    assert "SECRET" not in text and "88dc28d0" not in text and "10.0.0.7" not in text


def test_litellm_spend_logs_json_array_auto(db, tmp_path):
    path = shutil.copy(DATA / "litellm_spend_logs.json", tmp_path / "spend.json")
    result = import_any(path, now=NOW)
    assert result.imported == 2 and not result.refused
    got, _ = rows(db)
    assert got["litellm:resp-1"]["cost"] == Decimal("0.000420") and got["litellm:resp-1"]["execution_ms"] == 1250
    assert (got["litellm:resp-2"]["provider"], got["litellm:resp-2"]["model"], got["litellm:resp-2"]["cost"]) == (
        "ollama",
        "llama3.1:8b",
        Decimal("0"),
    )
    wrapped = tmp_path / "v2.json"
    wrapped.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "request_id": "v2-1",
                        "startTime": "2025-10-07T00:00:00Z",
                        "model": "gpt-4o-mini",
                        "custom_llm_provider": "openai",
                        "prompt_tokens": 5,
                        "completion_tokens": 1,
                        "spend": 0.0000012,
                    }
                ],
                "total": 1,
                "page": 1,
                "page_size": 50,
                "total_pages": 1,
            }
        )
    )
    assert import_any(wrapped, now=NOW).imported == 1
    assert rows(db)[0]["litellm:v2-1"]["cost"] == Decimal("0.000001")


def test_cost_export_is_refused_with_a_hint(db):
    with pytest.raises(FormatError, match="sync openai"):
        import_any(DATA / "openai_cost_export.csv")


def test_cli_import_format_option(db, capsys):
    code = cli_main(["import", str(DATA / "litellm_spend_logs.csv"), "--format", "litellm", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1 and "imported 4" in out and "line 6: request_id: is required" in out
    code = cli_main(["import", str(DATA / "openai_completions_usage_export.csv"), "--quiet"])
    assert code == 1 and "imported 2" in capsys.readouterr().out
    assert cli_main(["import", str(DATA / "openai_cost_export.csv"), "--quiet"]) == 2
    assert "sync openai" in capsys.readouterr().err
