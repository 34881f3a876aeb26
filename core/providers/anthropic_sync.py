"""Sync of Anthropic's Admin API usage and cost reports into the ledger (source "provider_bill").

- Usage: GET {ANTHROPIC_BASE_URL}/v1/organizations/usage_report/messages, bucket_width=1d, grouped by model and
  workspace_id: one ledger row per (day, workspace, model), brand = the workspace id ("default" for the default
  workspace). Anthropic counts `uncached_input_tokens`, `cache_read_input_tokens`, the cache writes and
  `output_tokens` apart; the ledger's input_tokens is their input sum (cached_tokens = the reads, cache_write_tokens
  = the writes). Cache writes come nested (`cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`)
  or flat (`cache_creation_input_tokens`, or `cache_creation_5m_input_tokens` / `cache_creation_1h_input_tokens`).
- Costs: GET {ANTHROPIC_BASE_URL}/v1/organizations/cost_report, grouped by workspace_id and description: `amount`
  is a decimal string in the currency's lowest units (cents for USD), with `currency`, `cost_type`, `model` and
  `token_type`. Token costs are input (uncached, cache read, cache write) or output; web search, code execution
  and other costs are kept as "other" lines (reconciled, never put on a usage row).
- Requests carry `x-api-key` (ANTHROPIC_ADMIN_KEY, never logged or shown) and `anthropic-version`.
Anthropic marks these two endpoints as legacy beside its newer analytics endpoints: every request detail is in
ENDPOINTS below, so a switch is one change there. Paging, retries and the idempotent replacement of each synced
day are core.providers.bill_sync's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from core.access.users import User
from core.clock import midnight
from core.config import get_settings
from core.providers import bill_sync
from core.providers.bill_sync import (
    Api,
    BillSource,
    Gathered,
    SyncError,
    fetch_buckets,
    window,
)

log = logging.getLogger(__name__)

API_VERSION = "2023-06-01"  # the anthropic-version header


@dataclass(frozen=True)
class Endpoints:
    """Where and how the usage and cost reports are asked for (paths under ANTHROPIC_BASE_URL, query fields)."""

    usage_path: str = "/v1/organizations/usage_report/messages"
    cost_path: str = "/v1/organizations/cost_report"
    start_param: str = "starting_at"
    end_param: str = "ending_at"
    group_param: str = "group_by[]"
    usage_groups: tuple[str, ...] = ("model", "workspace_id")
    cost_groups: tuple[str, ...] = ("workspace_id", "description")


ENDPOINTS = Endpoints()
PROVIDER = "anthropic"
OPERATION = "anthropic-usage-report"
JOB_PREFIX = "anthropic-usage:"
BILL = BillSource(provider=PROVIDER, label="Anthropic", operation=OPERATION, job_prefix=JOB_PREFIX)
# A cost line's token_type -> our cost kind (cache writes are "cache_creation.ephemeral_5m_input_tokens"...).
_OUTPUT_TOKEN_TYPES = {"output_tokens"}


def _rfc3339(d: date) -> str:
    return midnight(d).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bucket_day(bucket: dict) -> date:
    raw = str(bucket.get("starting_at") or "")
    try:
        start = datetime.fromisoformat(raw)
    except ValueError:
        raise SyncError(f"a bucket's starting_at={raw[:40]!r}: not an RFC 3339 time") from None
    return (start if start.tzinfo else start.replace(tzinfo=UTC)).astimezone(UTC).date()


def cache_write_tokens(result: dict) -> list[tuple[str, object]]:
    """The cache-creation fields of a usage result, in whichever shape it comes: [(name, value), ...]."""
    nested = result.get("cache_creation")
    if isinstance(nested, dict):
        return [
            (f"cache_creation.{k}", nested.get(k)) for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
        ]
    split = [k for k in ("cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens") if k in result]
    if split:
        return [(k, result.get(k)) for k in split]
    return [("cache_creation_input_tokens", result.get("cache_creation_input_tokens"))]


def _usage(buckets, got: Gathered) -> None:
    tools: dict[tuple, int] = {}
    for b in buckets:
        day = _bucket_day(b)
        for r in b.get("results") or []:
            fields = [(f, r.get(f)) for f in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")]
            fields += cache_write_tokens(r)
            values = [bill_sync.count(v, name, day, got.refused) for name, v in fields]
            if None in values:
                continue
            uncached, read, output, *writes = values
            row = got.row(day, r.get("workspace_id") or "", r.get("model") or "")
            row.input_tokens += uncached + read + sum(writes)
            row.cached += read
            row.cache_write += sum(writes)
            row.output_tokens += output
            searches = (r.get("server_tool_use") or {}).get("web_search_requests")
            if isinstance(searches, int) and searches > 0:
                key = (row.day, row.group, row.model)
                tools[key] = tools.get(key, 0) + searches
    for key, row in got.usage.items():
        row.description = (
            "Anthropic usage report"
            + (f" in workspace {row.group}" if row.group else "")
            + (f": {tools[key]} web searches" if tools.get(key) else "")
        )


def _cost_kind(result: dict) -> str:
    if (result.get("cost_type") or "tokens") != "tokens" or not result.get("token_type"):
        return "other"
    return "output" if result["token_type"] in _OUTPUT_TOKEN_TYPES else "input"


def _line_item(result: dict) -> str:
    if result.get("description"):
        return str(result["description"])
    parts = [
        result.get("model"),
        result.get("token_type") or result.get("cost_type"),
        result.get("service_tier"),
        result.get("context_window"),
    ]
    return ", ".join(str(p) for p in parts if p)


def _costs(buckets, got: Gathered) -> None:
    for b in buckets:
        day = _bucket_day(b)
        for r in b.get("results") or []:
            cents = bill_sync.amount(r.get("amount"), "amount", day, got.refused)
            if cents is None:
                continue
            item = _line_item(r)
            # A cost without a model (web search, code execution) is reconciled under its own name.
            # Lowest currency units: cents for USD ("123.45" is $1.2345).
            got.add_line(
                day,
                r.get("workspace_id") or "",
                item,
                r.get("model") or item,
                _cost_kind(r),
                cents / 100,
                (r.get("currency") or "USD").lower(),
            )


def sync_anthropic(
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    *,
    company: str | None = None,
    session: Session | None = None,
    actor: User | None = None,
) -> dict:
    """Read [since, until] (whole UTC days, until defaults to today) from the usage and cost reports and replace
    those days in the ledger. `since` defaults to ANTHROPIC_SYNC_DAYS back (the daily worker job).
    Returns a summary dict; raises SyncError (nothing written) when the reports cannot be read."""
    settings = get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if since is None:
        since = now.date() - timedelta(days=settings.anthropic_sync_days - 1)
    d0, d1 = window(since, until, now)
    company = company or settings.anthropic_sync_company
    bill_sync.check_actor(actor, company)
    if settings.anthropic_admin_key is None:
        raise SyncError("ANTHROPIC_ADMIN_KEY is not set: the usage and cost reports need an admin key")
    e = ENDPOINTS
    api = Api(
        settings.anthropic_base_url.rstrip("/"),
        (("x-api-key", settings.anthropic_admin_key.get_secret_value()), ("anthropic-version", API_VERSION)),
        settings.provider_timeout_seconds,
        settings.anthropic_sync_retries,
    )
    common = [
        (e.start_param, _rfc3339(d0)),
        (e.end_param, _rfc3339(d1)),
        ("bucket_width", "1d"),
        ("limit", str(bill_sync.PAGE_LIMIT)),
    ]
    usage_stats: dict = {}
    cost_stats: dict = {}
    got = Gathered()
    _usage(fetch_buckets(api, e.usage_path, common + [(e.group_param, g) for g in e.usage_groups], usage_stats), got)
    _costs(fetch_buckets(api, e.cost_path, common + [(e.group_param, g) for g in e.cost_groups], cost_stats), got)
    summary = bill_sync.store(BILL, company, d0, d1, got, now, session=session)
    summary |= {"usage_pages": usage_stats.get("pages", 0), "cost_pages": cost_stats.get("pages", 0)}
    log.info("anthropic sync %s..%s for %s: %s", summary["since"], summary["until"], company, summary)
    return summary


def daily_sync_job(now: datetime | None = None) -> dict:
    """The worker's daily job: re-read the last ANTHROPIC_SYNC_DAYS days (late usage lands in earlier days)."""
    return sync_anthropic(now=now)
