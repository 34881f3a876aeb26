"""Records of the import tests: one valid usage record, a JSONL file of records, what the ledger holds."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from core.storage.db import get_session
from core.storage.models import AIJobUsage, UsageDaily


def rec(i, **kw):
    return {
        "job_id": f"imp-{i}",
        "created_at": "2025-10-02T08:00:00Z",
        "company": "Acme",
        "brand": "Web",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "job_type": "chat_completion",
        "status": "completed",
        "input_tokens": 1000,
        "output_tokens": 100,
        "execution_time_seconds": 1.5,
        "operation": "chat",
    } | kw


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def stored(url):
    s = get_session(url)
    try:
        return (
            s.scalar(select(func.count()).select_from(AIJobUsage)),
            s.scalar(select(func.coalesce(func.sum(UsageDaily.jobs), 0))),
        )
    finally:
        s.close()
