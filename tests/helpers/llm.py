"""Shared setup of the tracked-client tests: three fake providers on loopback wired through the environment."""

from __future__ import annotations

import contextlib

from sqlalchemy import select

from core import config
from core.storage.db import get_session
from core.storage.models import AIJob, AIJobUsage
from tests.fakes.provider_server import FakeProvider
from tests.helpers import free_port

OPENAI_KEY = "sk-proj-TESTKEYabcdefghijklmnop1234"
GEMINI_KEY = "AIzaTESTKEYabcdefghijklmnopqrstu"


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


@contextlib.contextmanager
def providers(monkeypatch, tmp_path, *, operations: str | None = None, timeout: float = 5.0, **tokens):
    """Fake openai, ollama and gemini servers, configured through the environment."""
    with (
        FakeProvider("openai", "gpt-4o-mini", **tokens) as oa,
        FakeProvider("ollama", "llama3.1:8b", **tokens) as ol,
        FakeProvider("gemini", "gemini-2.0-flash", **tokens) as ge,
    ):
        ops = tmp_path / "operations.toml"
        ops.write_text(operations or "")
        monkeypatch.setenv("OPENAI_BASE_URL", oa.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("OLLAMA_BASE_URL", ol.base_url)
        monkeypatch.setenv("GEMINI_BASE_URL", ge.base_url)
        monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
        monkeypatch.setenv("OPERATIONS_FILE", str(ops))
        monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", str(timeout))
        config.reset_settings()
        yield oa, ol, ge
    config.reset_settings()


def attempts(url: str, request_id: str | None = None) -> list[dict]:
    """Ledger rows (job + usage) in insertion order, optionally of one request."""
    s = get_session(url)
    try:
        q = select(AIJob, AIJobUsage).join(AIJobUsage, AIJobUsage.ai_job_id == AIJob.id).order_by(AIJob.id)
        if request_id:
            q = q.where(AIJob.request_id == request_id)
        out = []
        for job, u in s.execute(q):
            out.append(
                {
                    "job_id": job.job_id,
                    "request_id": job.request_id,
                    "source": job.source,
                    "operation": job.operation,
                    "description": job.description,
                    "status": u.job_status,
                    "provider": u.provider_name,
                    "model": u.model_name,
                    "input": u.input_tokens,
                    "output": u.output_tokens,
                    "cached": u.cached_tokens,
                    "reasoning": u.reasoning_tokens,
                    "cost": u.total_cost,
                    "pricing": u.pricing_status,
                    "error_class": u.error_class,
                    "execution_ms": u.execution_ms,
                    "company": job.company.name,
                    "brand": job.brand.name,
                    "created_at": u.created_at,
                }
            )
        return out
    finally:
        s.close()
