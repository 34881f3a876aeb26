"""Helpers of the alert, probe, notification and worker tests: a fixed "now" and one call recorded at a cost.

The fixtures they use with them (`env`, `webhook`, `smtp_server`) are in tests/conftest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.usage import record_usage

NOW = datetime(2026, 2, 12, 15, 0, tzinfo=UTC)  # a Thursday; "today" in the usage-pattern rules
_counter = {"n": 0}


def spend(
    cost="0",
    *,
    when: datetime,
    company: str = "Acme",
    provider: str = "openai",
    model: str = "gpt-4o",
    tokens: tuple[int, int] = (100, 50),
    status: str = "completed",
    secs="1",
    operation: str = "chat",
    job_id: str | None = None,
    session=None,
):
    """Record one call with an exact billed cost (Decimal string) at `when`."""
    _counter["n"] += 1
    return record_usage(
        job_id=job_id or f"t-{_counter['n']}-{when:%Y%m%d%H%M%S%f}",
        created_at=when,
        company=company,
        provider_name=provider,
        model_name=model,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_input=str(Decimal(cost)),
        cost_output="0",
        status=status,
        execution_time_seconds=str(secs),
        operation=operation,
        now=when,
        session=session,
    )


def text_of(body: dict) -> str:
    """The title and message of an apprise JSON notification."""
    return f"{body.get('title', '')}\n{body.get('message', '')}"
