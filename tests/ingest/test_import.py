"""Import of JSONL/CSV files: valid records stored, refused ones reported by line, replays counted once."""

import csv

from sqlalchemy import select

from core.ingest.files import import_file
from core.storage.db import get_session
from core.storage.models import AIJob, AIJobUsage, Brand, Company
from tests.helpers.records import rec, stored, write_jsonl


def test_jsonl_mixed_valid_and_invalid(db, tmp_path):
    rows = [
        rec(1),
        rec(2, input_tokens=-4),
        "{not json",
        rec(3, status="weird"),
        rec(4, cached_tokens=10),
        rec(5, created_at="2999-01-01T00:00:00Z"),
        rec(6),
    ]
    result = import_file(write_jsonl(tmp_path / "u.jsonl", rows))
    assert result.imported == 3
    assert [line for line, _ in result.refused] == [2, 3, 4, 6]
    reasons = dict(result.refused)
    assert "input_tokens=-4" in reasons[2] and "invalid JSON" in reasons[3]
    assert "status='weird'" in reasons[4] and "future" in reasons[6]
    assert stored(db) == (3, 3)


def test_reimport_counts_duplicates_and_conflicts(db, tmp_path):
    f = write_jsonl(tmp_path / "u.jsonl", [rec(i) for i in range(5)])
    assert import_file(f).imported == 5
    again = import_file(f)
    assert (again.imported, again.duplicates, again.refused) == (0, 5, [])
    changed = import_file(write_jsonl(tmp_path / "v.jsonl", [rec(0, output_tokens=1)]))
    assert changed.imported == 0 and "different content" in changed.refused[0][1]
    assert stored(db) == (5, 5)


def test_csv_with_optional_columns_and_companies_created(db, tmp_path):
    path = tmp_path / "u.csv"
    fields = [
        "job_id",
        "created_at",
        "company",
        "brand",
        "provider",
        "model",
        "status",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_input",
        "cost_output",
        "description",
    ]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerow(
            {
                "job_id": "c1",
                "created_at": "2025-10-02T08:00:00Z",
                "company": "Beta",
                "brand": "App",
                "provider": "anthropic",
                "model": "claude-3-5-haiku-20241022",
                "status": "completed",
                "input_tokens": "2000",
                "output_tokens": "100",
                "cached_tokens": "",
                "cost_input": "",
                "cost_output": "",
                "description": "Résumé, avec virgule",
            }
        )
        w.writerow(
            {
                "job_id": "c2",
                "created_at": "2025-10-02T09:00:00Z",
                "company": "Beta",
                "brand": "App",
                "provider": "openai",
                "model": "gpt-4o",
                "status": "failed",
                "input_tokens": "10",
                "output_tokens": "0",
                "cached_tokens": "0",
                "cost_input": "0.5",
                "cost_output": "0",
                "description": "",
            }
        )
    result = import_file(path)
    assert (result.imported, result.refused) == (2, [])
    s = get_session(db)
    assert s.scalar(select(Company.name)) == "Beta"
    assert s.scalar(select(Brand.name)) == "App"
    billed = s.scalar(select(AIJobUsage).join(AIJob, AIJob.id == AIJobUsage.ai_job_id).where(AIJob.job_id == "c2"))
    assert (billed.pricing_status, str(billed.total_cost)) == ("billed", "0.500000")
    assert s.scalar(select(AIJob.description).where(AIJob.job_id == "c1")) == "Résumé, avec virgule"
    s.close()


def test_company_option_assigns_and_refuses_other_companies(db, tmp_path):
    f = write_jsonl(tmp_path / "u.jsonl", [rec(1, company=None), rec(2, company="Other"), rec(3)])
    result = import_file(f, company="Acme")
    assert result.imported == 2 and result.refused[0][0] == 2


def test_cli_import_summary_and_exit_code(db, tmp_path, cli):
    f = write_jsonl(tmp_path / "u.jsonl", [rec(1), rec(2, model="")])
    proc = cli("import", f, "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "imported 1, duplicates 0, refused 1" in proc.stdout
    assert "line 2: model=''" in proc.stdout


def test_large_batch_spans_several_transactions(db, tmp_path):
    f = write_jsonl(tmp_path / "big.jsonl", [rec(i) for i in range(12_345)] + [rec(1)])
    result = import_file(f)
    assert (result.imported, result.duplicates) == (12_345, 1)
    assert stored(db) == (12_345, 12_345)
