"""Walking an operation's provider chain: the rules shared by the tracked client (core.providers.tracked, sync, the
openai SDK) and the gateway (core.server, async, raw HTTP). Each walks the chain with its own transport; what to try,
what to skip, when to fall over and how an attempt becomes a ledger record are decided here, once.

- `steps_for`: the chain's providers in order, each with its model and its configuration (None: not configured).
- `budget_reason`: why a provider is skipped before calling (its budget or quota, or the company-wide budget for a
  paid provider, is used up this month); `company_exhausted` reads those limits.
- `attempt_record`, `skip_record`, `failure_record`: the `record_usage` fields of one attempt (job id
  "<request id>-<attempt number>", one request id per logical request).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from core.pricing.catalog import SELF_HOSTED
from core.providers.operations import Operation
from core.providers.registry import ErrorInfo, ProviderConfig, configured_providers
from core.providers.usage_shapes import chat_usage_fast, normalize_usage
from core.redact import redact

log = logging.getLogger(__name__)

BUDGET_EXHAUSTED = "BudgetExhausted"
INCOMPLETE_STREAM = "IncompleteStream"
DEFAULT_COMPANY = "default"


@dataclass(frozen=True)
class Step:
    provider: str
    model: str
    config: ProviderConfig | None  # None: the provider is not configured


@dataclass
class Attempt:
    provider: str
    model: str
    outcome: str  # completed | failed | timeout | skipped | not_configured
    error_kind: str | None = None
    error_class: str | None = None
    message: str = ""
    job_id: str | None = None


@dataclass(frozen=True)
class Context:
    operation: str
    company: str
    brand: str | None
    request_id: str


def new_context(operation: str | None, company: str | None, brand: str | None) -> Context:
    return Context(operation or "unspecified", company or DEFAULT_COMPANY, brand, f"req_{uuid.uuid4().hex}")


def steps_for(
    op: Operation, *, skip: str | None = None, providers: dict[str, ProviderConfig] | None = None
) -> list[Step]:
    """The operation's chain in order (less `skip`), each provider with its model and configuration."""
    providers = configured_providers() if providers is None else providers
    return [Step(name, op.model_for(name), providers.get(name)) for name in op.chain if name != skip]


def with_first_model(steps: list[Step], model: str | None) -> list[Step]:
    """A caller's model is meant for the chain's first provider only; the others keep the operation's models."""
    if model and steps:
        return [Step(steps[0].provider, model, steps[0].config), *steps[1:]]
    return steps


# -- budgets ------------------------------------------------------------------------------------------------
def company_exhausted(company: str, now: datetime | None = None) -> dict[str, str]:
    """{provider: reason} of the company's used-up budgets and quotas ("" key: company-wide); {} when unknown."""
    from sqlalchemy import select

    from core.limits.spend import exhausted_providers
    from core.storage.db import session_scope
    from core.storage.models import Company

    try:
        with session_scope() as s:
            cid = s.scalar(select(Company.id).where(Company.name == company))
            return {} if cid is None else exhausted_providers(s, company_id=cid, now=now)
    except Exception as e:  # noqa: BLE001 - no ledger, no budget check; the call itself must go on
        log.warning("budget check skipped for %r: %s: %s", company, type(e).__name__, redact(str(e)))
        return {}


def budget_reason(exhausted: dict[str, str], provider: str) -> str | None:
    if provider in exhausted:
        return exhausted[provider]
    if "" in exhausted and provider not in SELF_HOSTED:
        return "company-wide " + exhausted[""]
    return None


# -- ledger records -----------------------------------------------------------------------------------------
def tokens_of(provider: str, payload, *, usage_object: bool = False) -> tuple[dict, str | None]:
    """Our five token counts from a response or usage object, or ({}, why they could not be read).
    `usage_object`: `payload` is the answer's `usage` itself (the gateway's case: its common chat shape is read
    without the library, core.providers.usage_shapes.chat_usage_fast)."""
    try:
        return (chat_usage_fast(provider, payload) if usage_object else normalize_usage(provider, payload)), None
    except ValueError as e:
        return {}, f"usage not understood: {e}"


def outcome_of(info: ErrorInfo) -> str:
    return "timeout" if info.kind == "timeout" else "failed"


def job_id_of(ctx: Context, attempt_no: int) -> str:
    return f"{ctx.request_id}-{attempt_no}"


def attempt_record(
    ctx: Context,
    attempt_no: int,
    *,
    provider: str,
    model: str,
    started: datetime,
    elapsed: float | None,
    status: str,
    tokens: dict | None = None,
    error_class: str | None = None,
    description: str | None = None,
) -> dict:
    """The `record_usage` fields of one attempt. `elapsed` None: no call was made (stored NULL, not 0 s)."""
    tokens = tokens or {}
    return {
        "job_id": job_id_of(ctx, attempt_no),
        "request_id": ctx.request_id,
        "created_at": started,
        "company": ctx.company,
        "brand": ctx.brand,
        "provider": provider,
        "model": model,
        "operation": ctx.operation,
        "status": status,
        "input_tokens": tokens.get("input_tokens", 0),
        "output_tokens": tokens.get("output_tokens", 0),
        "cached_tokens": tokens.get("cached_tokens", 0),
        "cache_write_tokens": tokens.get("cache_write_tokens", 0),
        "reasoning_tokens": tokens.get("reasoning_tokens", 0),
        "execution_time_seconds": None if elapsed is None else Decimal(int(elapsed * 1000)) / 1000,
        "error_class": error_class,
        "error_count": 0 if status == "completed" or error_class == BUDGET_EXHAUSTED else 1,
        "success_rate": 1.0 if status == "completed" else 0.0,
        "description": redact(description)[:2000] if description else None,
    }


def skip_record(ctx: Context, attempt_no: int, step: Step, reason: str) -> dict:
    """A provider skipped before calling: its budget or quota is used up (failed, 0 tokens, $0, no time)."""
    return attempt_record(
        ctx,
        attempt_no,
        provider=step.provider,
        model=step.model,
        started=datetime.now(UTC),
        elapsed=None,
        status="failed",
        error_class=BUDGET_EXHAUSTED,
        description=f"skipped before calling: {reason}",
    )


def failure_record(
    ctx: Context,
    attempt_no: int,
    step: Step,
    *,
    started: datetime,
    elapsed: float,
    info: ErrorInfo,
    tokens: dict | None = None,
    prefix: str = "",
) -> dict:
    return attempt_record(
        ctx,
        attempt_no,
        provider=step.provider,
        model=step.model,
        started=started,
        elapsed=elapsed,
        status=outcome_of(info),
        tokens=tokens,
        error_class=info.error_class,
        description=f"{prefix}{info.kind}: {info.message}",
    )


def stream_end_note(usage_seen: bool, closed_early: bool) -> tuple[str | None, str | None]:
    """(error_class, description) of a stream that ended: IncompleteStream when its usage chunk never came."""
    if usage_seen:
        return None, None
    return INCOMPLETE_STREAM, (
        "stream closed before its usage chunk: tokens unknown"
        if closed_early
        else "stream ended without a usage chunk: tokens unknown"
    )
