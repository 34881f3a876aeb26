"""Sync of OpenAI's organization Usage and Costs APIs into the ledger (source "provider_bill").

- Usage: GET {OPENAI_BASE_URL}/organization/usage/completions, bucket_width=1d, grouped by model and project:
  one ledger row per (day, project, model), brand = the project id, job_id deterministic.
- Costs: GET {OPENAI_BASE_URL}/organization/costs, grouped by line item and project: every line is kept in
  `provider_costs` (the billed side of reconciliation); a usage row whose model has cost lines that day gets
  that billed cost (pricing_status "billed"), otherwise our catalog prices it.
- Both follow has_more / next_page. Every page is fetched before anything is written, then each synced day is
  replaced inside one transaction (old rows deleted, their rollup subtracted, new rows inserted): a re-sync
  never doubles a day and a failed sync leaves the previous data as it was.
The admin key (OPENAI_ADMIN_KEY) is sent only in the Authorization header and never logged or shown.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time as dtime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.storage import rollups as rollup
from core.config import get_settings
from core.storage.db import session_scope
from core.storage.models import DEFAULT_BRAND, AIJob, AIJobUsage, ProviderCost
from core.pricing.catalog import Pricer
from core.redact import redact
from core.storage.types import to_money
from core.ingest.record import get_or_create_company, ingest
from core.ingest.checks import validate_record

log = logging.getLogger(__name__)

USAGE_PATH = "/organization/usage/completions"
COSTS_PATH = "/organization/costs"
SOURCE = "provider_bill"
PROVIDER = "openai"
OPERATION = "openai-usage-api"
JOB_PREFIX = "openai-usage:"
PAGE_LIMIT = 31  # the API's maximum of daily buckets per page
MAX_PAGES = 10_000  # a server that keeps saying has_more must not loop us forever
RETRY_DELAY_SECONDS = 0.2
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class SyncError(RuntimeError):
    """The sync could not read the APIs (message redacted); nothing was written."""


def base_model(model: str) -> str:
    """"gpt-4o-mini-2024-07-18" -> "gpt-4o-mini": the Costs API and our ledger may name snapshots apart."""
    return _DATED.sub("", model or "")


def parse_line_item(line_item: str | None) -> tuple[str, str]:
    """(model, cost kind) from a Costs API line item such as "gpt-4o-mini-2024-07-18, input"."""
    text = (line_item or "").strip()
    model, sep, kind = text.rpartition(",")
    if not sep:
        return text, "other"
    kind = kind.strip().lower()
    return model.strip(), "output" if "output" in kind else "input" if "input" in kind else "other"


# -- HTTP (stdlib: two GET endpoints need no client library) --------------------------------------------------
@dataclass(frozen=True)
class _Api:
    base_url: str
    key: str
    timeout: float
    retries: int


def _message(status: int, body: bytes) -> str:
    try:
        err = json.loads(body or b"{}").get("error") or {}
        text = err.get("message") if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        text = body[:200].decode("utf-8", "replace")
    return redact(f"HTTP {status}: {text}")


def _get(api: _Api, path: str, params: list[tuple[str, str]]) -> dict:
    url = f"{api.base_url}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {api.key}", "Accept": "application/json"})
    last = ""
    for attempt in range(api.retries):
        if attempt:
            time.sleep(RETRY_DELAY_SECONDS * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(req, timeout=api.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
            if status == 429 or status >= 500:
                last = _message(status, body)
                continue
            raise SyncError(f"{path}: {_message(status, body)}") from None
        except (urllib.error.URLError, OSError, socket.timeout) as e:
            last = f"{type(e).__name__}: {redact(getattr(e, 'reason', e))}"
            continue
        try:
            # Amounts are JSON numbers: parse them as Decimal, never as float.
            return json.loads(body, parse_float=Decimal)
        except ValueError:
            raise SyncError(f"{path}: the answer is not JSON") from None
    raise SyncError(f"{path}: gave up after {api.retries} attempts ({last})")


def fetch_buckets(api: _Api, path: str, params: list[tuple[str, str]], stats: dict) -> Iterator[dict]:
    """Every bucket of every page, following has_more / next_page."""
    token = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page = _get(api, path, params + ([("page", token)] if token else []))
        stats["pages"] = stats.get("pages", 0) + 1
        yield from page.get("data") or []
        if not page.get("has_more"):
            return
        token = page.get("next_page")
        if not token or token in seen:
            raise SyncError(f"{path}: has_more without a new next_page")
        seen.add(token)
    raise SyncError(f"{path}: more than {MAX_PAGES} pages")


def _bucket_day(bucket: dict) -> date:
    return datetime.fromtimestamp(int(bucket["start_time"]), UTC).date()


def _int(value) -> int:
    return int(Decimal(str(value or 0)))


# -- the sync ---------------------------------------------------------------------------------------------
@dataclass
class _UsageRow:
    day: date
    project: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached: int = 0
    cache_write: int = 0
    requests: int = 0


def _usage_rows(buckets) -> dict[tuple[date, str, str], _UsageRow]:
    rows: dict[tuple[date, str, str], _UsageRow] = {}
    for b in buckets:
        day = _bucket_day(b)
        for r in b.get("results") or []:
            key = (day, r.get("project_id") or "", r.get("model") or "")
            row = rows.setdefault(key, _UsageRow(*key))
            row.input_tokens += _int(r.get("input_tokens"))
            row.output_tokens += _int(r.get("output_tokens"))
            row.cached += _int(r.get("input_cached_tokens"))
            row.cache_write += _int(r.get("input_cache_write_tokens"))
            row.requests += _int(r.get("num_model_requests"))
    return rows


def _cost_lines(buckets) -> dict[tuple[date, str, str], tuple[Decimal, str]]:
    lines: dict[tuple[date, str, str], tuple[Decimal, str]] = {}
    for b in buckets:
        day = _bucket_day(b)
        for r in b.get("results") or []:
            amount = r.get("amount") or {}
            value = amount.get("value")
            if value is None:
                continue
            key = (day, r.get("project_id") or "", r.get("line_item") or "")
            prev = lines.get(key, (Decimal(0), ""))[0]
            lines[key] = (prev + Decimal(str(value)), (amount.get("currency") or "usd").lower())
    return lines


def _billed(usage: dict, lines: dict) -> dict[tuple, tuple[Decimal, Decimal]]:
    """Billed (input, output) cost per usage row, from the cost lines of the same day, project and model."""
    by_exact = {(k[0], k[1], k[2]): k for k in usage}
    by_base: dict[tuple, list] = defaultdict(list)
    for k in usage:
        by_base[(k[0], k[1], base_model(k[2]))].append(k)
    out: dict[tuple, list[Decimal]] = {}
    for (day, project, item), (amount, currency) in lines.items():
        model, kind = parse_line_item(item)
        if currency != "usd" or kind == "other":
            continue
        key = by_exact.get((day, project, model))
        if key is None:
            candidates = by_base.get((day, project, base_model(model)), [])
            key = candidates[0] if len(candidates) == 1 else None
        if key is None:
            continue
        acc = out.setdefault(key, [Decimal(0), Decimal(0)])
        acc[0 if kind == "input" else 1] += amount
    return {k: (v[0], v[1]) for k, v in out.items()}


def _window(since: date, until: date | None, now: datetime) -> tuple[date, date]:
    today = now.astimezone(UTC).date()
    last = min(until or today, today)
    if since > last:
        raise ValueError(f"since={since.isoformat()}: must not be after until ({last.isoformat()})")
    return since, last + timedelta(days=1)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, dtime.min, UTC)


def _replace_days(s: Session, company: str, d0: date, d1: date, usage: dict, lines: dict, now: datetime) -> dict:
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(724_312)))  # one sync at a time
    cid = get_or_create_company(s, company)
    start, end = _midnight(d0), _midnight(d1)
    old = list(s.scalars(
        select(AIJobUsage).join(AIJob, AIJob.id == AIJobUsage.ai_job_id)
        .where(AIJob.company_id == cid, AIJob.source == SOURCE, AIJob.job_id.like(JOB_PREFIX + "%"),
               AIJobUsage.created_at >= start, AIJobUsage.created_at < end)))
    # The old rows' subtraction goes with the new rows' addition: one rollup update, by the ingest below.
    deltas = rollup.accumulate([rollup.usage_values(u) for u in old], sign=-1)
    if old:
        ids = [u.ai_job_id for u in old]
        for i in range(0, len(ids), 500):
            s.execute(delete(AIJobUsage).where(AIJobUsage.ai_job_id.in_(ids[i:i + 500])))
            s.execute(delete(AIJob).where(AIJob.id.in_(ids[i:i + 500])))
    s.execute(delete(ProviderCost).where(ProviderCost.company_id == cid, ProviderCost.provider == PROVIDER,
                                         ProviderCost.day >= d0, ProviderCost.day < d1))
    billed = _billed(usage, lines)
    records = []
    for key, r in sorted(usage.items()):
        cost = billed.get(key)
        records.append(validate_record({
            "job_id": f"{JOB_PREFIX}{company}:{r.day.isoformat()}:{r.project or '-'}:{r.model or '-'}",
            "created_at": _midnight(r.day), "company": company, "brand": r.project or DEFAULT_BRAND,
            "provider": PROVIDER, "model": r.model or "unknown", "job_type": "usage_bucket",
            "status": "completed", "operation": OPERATION, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "cached_tokens": r.cached, "cache_write_tokens": r.cache_write,
            "description": f"OpenAI Usage API: {r.requests} requests"
                           + (f" in project {r.project}" if r.project else ""),
            "cost_input": cost[0] if cost else None, "cost_output": cost[1] if cost else None,
        }, now=now))
    result = ingest(s, records, source=SOURCE, pricer=Pricer(s), extra_deltas=deltas)
    if result.conflicts:  # cannot happen after the delete unless another company's row holds the job_id
        raise SyncError(f"{len(result.conflicts)} usage rows conflict with existing records")
    cost_rows = []
    for (day, project, item), (amount, currency) in sorted(lines.items()):
        model, kind = parse_line_item(item)
        cost_rows.append({"company_id": cid, "provider": PROVIDER, "day": day, "project_id": project[:200],
                          "line_item": item[:300], "model": model[:200], "cost_kind": kind,
                          "amount": to_money(amount), "currency": currency[:8], "synced_at": now})
    if cost_rows:
        s.execute(ProviderCost.__table__.insert(), cost_rows)
    return {"removed_rows": len(old), "usage_rows": result.inserted, "cost_lines": len(cost_rows),
            "billed_rows": len(billed),
            "billed_usd": str(sum((a for a, c in lines.values() if c == "usd"), Decimal(0)).quantize(
                Decimal("0.000001")))}


def sync_openai(since: date | None = None, until: date | None = None, now: datetime | None = None, *,
                company: str | None = None, session: Session | None = None) -> dict:
    """Read [since, until] (whole UTC days, until defaults to today) from the Usage and Costs APIs and
    replace those days in the ledger. `since` defaults to OPENAI_SYNC_DAYS back (the daily worker job).
    Returns a summary dict; raises SyncError (nothing written) when the APIs cannot be read."""
    settings = get_settings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if since is None:
        since = now.date() - timedelta(days=settings.openai_sync_days - 1)
    d0, d1 = _window(since, until, now)
    company = company or settings.openai_sync_company
    if settings.openai_admin_key is None:
        raise SyncError("OPENAI_ADMIN_KEY is not set: the Usage and Costs APIs need an admin key")
    key = settings.openai_admin_key.get_secret_value()
    common = [("start_time", str(int(_midnight(d0).timestamp()))), ("end_time", str(int(_midnight(d1).timestamp()))),
              ("bucket_width", "1d"), ("limit", str(PAGE_LIMIT))]
    usage_stats: dict = {}
    cost_stats: dict = {}
    api = _Api(settings.openai_base_url.rstrip("/"), key, settings.provider_timeout_seconds,
               settings.openai_sync_retries)
    usage = _usage_rows(fetch_buckets(api, USAGE_PATH, common + [("group_by", "model"), ("group_by", "project_id")],
                                      usage_stats))
    lines = _cost_lines(fetch_buckets(api, COSTS_PATH, common + [("group_by", "line_item"),
                                                                 ("group_by", "project_id")], cost_stats))
    usage = {k: v for k, v in usage.items() if d0 <= k[0] < d1}
    lines = {k: v for k, v in lines.items() if d0 <= k[0] < d1}
    with session_scope(session) as s:
        written = _replace_days(s, company, d0, d1, usage, lines, now)
    summary = {"company": company, "since": d0.isoformat(), "until": (d1 - timedelta(days=1)).isoformat(),
               "days": (d1 - d0).days, "usage_pages": usage_stats.get("pages", 0),
               "cost_pages": cost_stats.get("pages", 0), **written}
    log.info("openai sync %s..%s for %s: %s", summary["since"], summary["until"], company, summary)
    return summary


def daily_sync_job(now: datetime | None = None) -> dict:
    """The worker's daily job: re-read the last OPENAI_SYNC_DAYS days (late usage lands in earlier days)."""
    return sync_openai(now=now)
