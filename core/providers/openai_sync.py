"""Sync of OpenAI's organization Usage and Costs APIs into the ledger (source "provider_bill").

- Usage: GET {OPENAI_BASE_URL}/organization/usage/completions, bucket_width=1d, grouped by model and project:
  one ledger row per (day, project, model), brand = the project id, job_id deterministic.
- Costs: GET {OPENAI_BASE_URL}/organization/costs, grouped by line item and project: every line is kept in
  `provider_costs`; a usage row whose model has cost lines that day gets that billed cost.
Paging, retries and the idempotent replacement of each synced day are core.providers.bill_sync's.
The admin key (OPENAI_ADMIN_KEY) is sent only in the Authorization header and never logged or shown.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from core.access.users import User
from core.clock import midnight
from core.config import get_settings
from core.providers import bill_sync
from core.providers.bill_sync import (  # noqa: F401 - SyncError, SOURCE and base_model: this module's names too
    SOURCE,
    Api,
    BillSource,
    Gathered,
    SyncError,
    base_model,
    fetch_buckets,
    window,
)

log = logging.getLogger(__name__)

USAGE_PATH = "/organization/usage/completions"
COSTS_PATH = "/organization/costs"
PROVIDER = "openai"
OPERATION = "openai-usage-api"
JOB_PREFIX = "openai-usage:"
BILL = BillSource(provider=PROVIDER, label="OpenAI", operation=OPERATION, job_prefix=JOB_PREFIX)


def parse_line_item(line_item: str | None) -> tuple[str, str]:
    """(model, cost kind) from a Costs API line item such as "gpt-4o-mini-2024-07-18, input"."""
    text = (line_item or "").strip()
    model, sep, kind = text.rpartition(",")
    if not sep:
        return text, "other"
    kind = kind.strip().lower()
    return model.strip(), "output" if "output" in kind else "input" if "input" in kind else "other"


def _bucket_day(bucket: dict) -> date:
    return datetime.fromtimestamp(int(bucket["start_time"]), UTC).date()


def _usage(buckets, got: Gathered) -> None:
    requests: dict[tuple, int] = {}
    for b in buckets:
        day = _bucket_day(b)
        for r in b.get("results") or []:
            values = {
                f: bill_sync.count(r.get(f), f, day, got.refused)
                for f in (
                    "input_tokens",
                    "output_tokens",
                    "input_cached_tokens",
                    "input_cache_write_tokens",
                    "num_model_requests",
                )
            }
            if None in values.values():
                continue
            row = got.row(day, r.get("project_id") or "", r.get("model") or "")
            row.input_tokens += values["input_tokens"]
            row.output_tokens += values["output_tokens"]
            row.cached += values["input_cached_tokens"]
            row.cache_write += values["input_cache_write_tokens"]
            key = (row.day, row.group, row.model)
            requests[key] = requests.get(key, 0) + values["num_model_requests"]
    for key, row in got.usage.items():
        row.description = f"OpenAI Usage API: {requests.get(key, 0)} requests" + (
            f" in project {row.group}" if row.group else ""
        )


def _costs(buckets, got: Gathered) -> None:
    for b in buckets:
        day = _bucket_day(b)
        for r in b.get("results") or []:
            money = r.get("amount") or {}
            if money.get("value") is None:
                continue
            value = bill_sync.amount(money.get("value"), "amount.value", day, got.refused)
            if value is None:
                continue
            item = r.get("line_item") or ""
            model, kind = parse_line_item(item)
            got.add_line(
                day, r.get("project_id") or "", item, model, kind, value, (money.get("currency") or "usd").lower()
            )


def sync_openai(
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
    *,
    company: str | None = None,
    session: Session | None = None,
    actor: User | None = None,
) -> dict:
    """Read [since, until] (whole UTC days, until defaults to today) from the Usage and Costs APIs and
    replace those days in the ledger. `since` defaults to OPENAI_SYNC_DAYS back (the daily worker job).
    Returns a summary dict; raises SyncError (nothing written) when the APIs cannot be read."""
    settings = get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if since is None:
        since = now.date() - timedelta(days=settings.openai_sync_days - 1)
    d0, d1 = window(since, until, now)
    company = company or settings.openai_sync_company
    bill_sync.check_actor(actor, company)
    if settings.openai_admin_key is None:
        raise SyncError("OPENAI_ADMIN_KEY is not set: the Usage and Costs APIs need an admin key")
    key = settings.openai_admin_key.get_secret_value()
    common = [
        ("start_time", str(int(midnight(d0).timestamp()))),
        ("end_time", str(int(midnight(d1).timestamp()))),
        ("bucket_width", "1d"),
        ("limit", str(bill_sync.PAGE_LIMIT)),
    ]
    usage_stats: dict = {}
    cost_stats: dict = {}
    api = Api(
        settings.openai_base_url.rstrip("/"),
        (("Authorization", f"Bearer {key}"),),
        settings.provider_timeout_seconds,
        settings.openai_sync_retries,
    )
    got = Gathered()
    _usage(
        fetch_buckets(api, USAGE_PATH, common + [("group_by", "model"), ("group_by", "project_id")], usage_stats), got
    )
    _costs(
        fetch_buckets(api, COSTS_PATH, common + [("group_by", "line_item"), ("group_by", "project_id")], cost_stats),
        got,
    )
    summary = bill_sync.store(BILL, company, d0, d1, got, now, session=session)
    summary |= {"usage_pages": usage_stats.get("pages", 0), "cost_pages": cost_stats.get("pages", 0)}
    log.info("openai sync %s..%s for %s: %s", summary["since"], summary["until"], company, summary)
    return summary


def daily_sync_job(now: datetime | None = None) -> dict:
    """The worker's daily job: re-read the last OPENAI_SYNC_DAYS days (late usage lands in earlier days)."""
    return sync_openai(now=now)
