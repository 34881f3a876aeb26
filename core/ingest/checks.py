"""Validation of one usage record: each refusal names the field and the value.

Hand-written rather than a pydantic model: the bulk path validates ~100k records/s and the messages must say
exactly which field and value were refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core import fields
from core.errors import InvalidRecord, UsageConflict  # noqa: F401  (raised here; callers import them from here)
from core.fields import check_text, missing, money, number, text  # noqa: F401
from core.storage.bounds import MAX_RECORD_COST, MAX_RECORD_COUNT, RECORD_COUNT_MAX
from core.storage.models import DEFAULT_BRAND, JOB_STATUSES, NO_OPERATION

MAX_FUTURE = timedelta(minutes=5)
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")
IMPORT_FIELDS = (
    "job_id",
    "created_at",
    "company",
    "brand",
    "provider",
    "model",
    "job_type",
    "status",
    *TOKEN_FIELDS,
    "execution_time_seconds",
    "memory_usage_mb",
    "error_count",
    "operation",
    "description",
    "cost_input",
    "cost_output",
)


@dataclass(slots=True)
class UsageRecord:
    job_id: str
    created_at: datetime
    company: str
    brand: str
    provider: str
    model: str
    job_type: str
    status: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    execution_ms: int | None  # None: not measured (stored NULL, never 0)
    memory_usage_mb: int | None
    error_count: int
    success_rate: float
    operation: str
    description: str | None
    cost_input: Decimal | None
    cost_output: Decimal | None
    error_class: str | None = None
    request_id: str | None = None
    fingerprint: str = field(default="")
    # False when the caller gave no timestamp ("now"): a retry of that call must still be a duplicate.
    created_at_given: bool = True

    def compute_fingerprint(self) -> str:
        parts = (
            self.job_id,
            self.created_at.isoformat() if self.created_at_given else "",
            self.company,
            self.brand,
            self.provider,
            self.model,
            self.job_type,
            self.status,
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
            _hashed(self.execution_ms),
            _hashed(self.memory_usage_mb),
            self.error_count,
            repr(self.success_rate),
            self.operation,
            self.description or "",
            str(self.cost_input),
            str(self.cost_output),
        )
        return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def _hashed(measure: int | None) -> int:
    """A measure as the fingerprint holds it: a missing one as 0, the way it was hashed when a missing value was
    stored as 0, so that replaying an import made back then is still a duplicate, not a conflict."""
    return 0 if measure is None else measure


def count_field(name: str, v, default: int | None = None) -> int:
    return fields.count(name, v, default, RECORD_COUNT_MAX.get(name, MAX_RECORD_COUNT))


def parse_timestamp(name: str, v, now: datetime) -> datetime:
    if isinstance(v, datetime):
        ts = v
    elif missing(v):
        return now
    else:
        s = str(v).strip()
        try:
            ts = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s)
        except ValueError:
            raise InvalidRecord(name, v, "must be an ISO 8601 timestamp") from None
    # A timestamp without an offset is taken as UTC.
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if ts > now + MAX_FUTURE:
        raise InvalidRecord(name, v, "is more than 5 minutes in the future")
    return ts


def record_cost(name: str, v) -> Decimal | None:
    """A record's billed cost_input or cost_output: at most the per-record maximum (core/storage/bounds.py)."""
    return money(name, v, MAX_RECORD_COST, "the per-record maximum")


def check_record_total(cost_input: Decimal | None, cost_output: Decimal | None, raw_output) -> None:
    """cost_input + cost_output within the per-record maximum (each alone already is)."""
    if cost_input is not None and cost_output is not None and cost_input + cost_output > MAX_RECORD_COST:
        raise InvalidRecord(
            "cost_output",
            raw_output,
            f"cost_input + cost_output is more than the per-record maximum (${MAX_RECORD_COST:,})",
        )


def validate_record(
    raw: Mapping, *, now: datetime | None = None, default_company: str | None = None, require_job_id: bool = True
) -> UsageRecord:
    """Check one raw record (import row or record_usage keywords) and return it typed; raise InvalidRecord."""
    now = now or datetime.now(UTC)
    g = raw.get
    status = text("status", g("status"), default="completed", max_len=16, lower=True)
    if status not in JOB_STATUSES:
        raise InvalidRecord("status", g("status"), f"must be one of {', '.join(JOB_STATUSES)}")
    if require_job_id:
        job_id = text("job_id", g("job_id"))
    else:
        job_id = text("job_id", g("job_id"), default="")
    inp = count_field("input_tokens", g("input_tokens"))
    out = count_field("output_tokens", g("output_tokens"))
    cached = count_field("cached_tokens", g("cached_tokens"), 0)
    write = count_field("cache_write_tokens", g("cache_write_tokens"), 0)
    reasoning = count_field("reasoning_tokens", g("reasoning_tokens"), 0)
    if cached > inp:
        raise InvalidRecord("cached_tokens", g("cached_tokens"), f"exceeds input_tokens ({inp})")
    if cached + write > inp:
        raise InvalidRecord(
            "cache_write_tokens",
            g("cache_write_tokens"),
            f"cached_tokens + cache_write_tokens exceed input_tokens ({inp})",
        )
    if reasoning > out:
        raise InvalidRecord("reasoning_tokens", g("reasoning_tokens"), f"exceeds output_tokens ({out})")
    exec_raw = g("execution_time_seconds")
    if missing(exec_raw):
        exec_ms = None
    else:
        secs = number("execution_time_seconds", exec_raw)
        if secs < 0:
            raise InvalidRecord("execution_time_seconds", exec_raw, "must not be negative")
        if secs > 86400 * 7:
            raise InvalidRecord("execution_time_seconds", exec_raw, "is longer than a week")
        exec_ms = int((secs * 1000).to_integral_value())
    sr_raw = g("success_rate")
    if missing(sr_raw):
        success = 1.0 if status == "completed" else 0.0
    else:
        sr = number("success_rate", sr_raw)
        if not (0 <= sr <= 1):
            raise InvalidRecord("success_rate", sr_raw, "must be between 0.0 and 1.0")
        success = float(sr)
    rec = UsageRecord(
        job_id=job_id,
        created_at=parse_timestamp("created_at", g("created_at"), now),
        company=text("company", g("company"), default=default_company or "default"),
        brand=text("brand", g("brand"), default=DEFAULT_BRAND),
        provider=text("provider", g("provider"), max_len=64, lower=True),
        model=text("model", g("model")),
        job_type=text("job_type", g("job_type"), default="chat_completion", max_len=64),
        status=status,
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=cached,
        cache_write_tokens=write,
        reasoning_tokens=reasoning,
        execution_ms=exec_ms,
        memory_usage_mb=None if missing(g("memory_usage_mb")) else count_field("memory_usage_mb", g("memory_usage_mb")),
        error_count=count_field("error_count", g("error_count"), 0 if status == "completed" else 1),
        success_rate=success,
        operation=text("operation", g("operation"), default=NO_OPERATION),
        description=None if missing(g("description")) else text("description", g("description"), max_len=2000),
        cost_input=record_cost("cost_input", g("cost_input")),
        cost_output=record_cost("cost_output", g("cost_output")),
        error_class=None if missing(g("error_class")) else text("error_class", g("error_class"), max_len=120),
        request_id=None if missing(g("request_id")) else text("request_id", g("request_id")),
        created_at_given=not missing(g("created_at")),
    )
    check_record_total(rec.cost_input, rec.cost_output, g("cost_output"))
    rec.fingerprint = rec.compute_fingerprint()
    return rec
