"""What every provider-bill sync shares (OpenAI's Usage/Costs APIs, Anthropic's usage and cost reports).

- HTTP: GET with retries on 429, 5xx and connection errors (doubling pause), every page followed through
  `has_more` / `next_page`; the keys travel in headers only and never reach a message (redacted).
- Ledger: one row per (day, group, model) — the group is OpenAI's project or Anthropic's workspace, recorded as
  the brand — with source "provider_bill" and a deterministic job_id. Every billed cost line is kept in
  `provider_costs` (the billed side of reconciliation); a usage row whose model has cost lines that day carries
  that billed cost (pricing_status "billed"), otherwise our catalog prices it.
- Idempotence: every page is fetched before anything is written; then each synced day is replaced in one
  transaction (old rows deleted, their rollup subtracted, new rows inserted), so a re-sync never doubles a day and
  a failed sync leaves the previous data as it was.
A source line that cannot be read (a token count or amount that is not a number) is refused alone, named with
its field, value and day in the summary; the rest of the sync goes on.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.access.users import User, authorize
from core.clock import midnight
from core.ingest.checks import validate_record
from core.ingest.record import get_or_create_company, ingest
from core.money import ZERO, exact, to_money
from core.pricing.catalog import Pricer
from core.redact import redact
from core.storage import rollups as rollup
from core.storage.db import is_sqlite, session_scope
from core.storage.models import DEFAULT_BRAND, AIJob, AIJobUsage, ProviderCost

log = logging.getLogger(__name__)

SOURCE = "provider_bill"
PAGE_LIMIT = 31  # both providers' maximum of daily buckets per page
MAX_PAGES = 10_000  # a server that keeps saying has_more must not loop us forever
RETRY_DELAY_SECONDS = 0.2
SYNC_LOCK = 724_312  # PostgreSQL advisory lock: one bill sync writes at a time
# Snapshot suffixes: "gpt-4o-mini-2024-07-18" (OpenAI), "claude-3-5-haiku-20241022" (Anthropic).
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


class SyncError(RuntimeError):
    """The sync could not read the provider's APIs (message redacted); nothing was written."""


def base_model(model: str) -> str:
    """The model without its snapshot date: a bill and our ledger may name snapshots apart."""
    return _DATED.sub("", model or "")


# -- HTTP (stdlib: a few GET endpoints need no client library) ------------------------------------------------
@dataclass(frozen=True)
class Api:
    base_url: str
    headers: tuple[tuple[str, str], ...] = field(repr=False)  # holds the admin key: never printed
    timeout: float
    retries: int


def _message(status: int, body: bytes) -> str:
    """The error text of an answer: OpenAI's {"error": {"message"}} and Anthropic's {"type": "error", "error":
    {"type", "message"}} share the path."""
    try:
        err = json.loads(body or b"{}").get("error") or {}
        text = err.get("message") if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        text = body[:200].decode("utf-8", "replace")
    return redact(f"HTTP {status}: {text}")


def get_json(api: Api, path: str, params: list[tuple[str, str]]) -> dict:
    """One GET, retried on 429, 5xx and connection errors; SyncError (redacted) otherwise or when retries run out."""
    url = f"{api.base_url}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, headers={"Accept": "application/json", **dict(api.headers)})
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
        except (TimeoutError, urllib.error.URLError, OSError) as e:
            last = f"{type(e).__name__}: {redact(getattr(e, 'reason', e))}"
            continue
        try:
            # Amounts may be JSON numbers: parse them as Decimal, never as float.
            page = json.loads(body, parse_float=Decimal)
        except ValueError:
            raise SyncError(f"{path}: the answer is not JSON") from None
        if not isinstance(page, dict):
            raise SyncError(f"{path}: the answer is not a JSON object")
        return page
    raise SyncError(f"{path}: gave up after {api.retries} attempts ({last})")


def fetch_buckets(api: Api, path: str, params: list[tuple[str, str]], stats: dict) -> Iterator[dict]:
    """Every time bucket of every page, following has_more / next_page (sent back as `page`)."""
    token = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page = get_json(api, path, params + ([("page", token)] if token else []))
        stats["pages"] = stats.get("pages", 0) + 1
        data = page.get("data") or []
        if not isinstance(data, list):
            raise SyncError(f"{path}: 'data' is not a list")
        yield from (b for b in data if isinstance(b, dict))
        if not page.get("has_more"):
            return
        token = page.get("next_page")
        if not token or token in seen:
            raise SyncError(f"{path}: has_more without a new next_page")
        seen.add(token)
    raise SyncError(f"{path}: more than {MAX_PAGES} pages")


# -- what a provider module hands over -------------------------------------------------------------------------
@dataclass(frozen=True)
class BillSource:
    """One provider's bill: names of its rows in the ledger."""

    provider: str  # "openai"
    label: str  # "OpenAI", in messages
    operation: str  # operation of the ledger rows
    job_prefix: str  # job_id prefix of the ledger rows: only these are replaced by a re-sync


@dataclass
class UsageRow:
    """One day, group (project / workspace) and model of the provider's usage; input includes the cache tokens."""

    day: date
    group: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached: int = 0
    cache_write: int = 0
    description: str = ""


@dataclass
class CostLine:
    """One billed line of a day and group, amount in the currency's units (dollars for USD)."""

    day: date
    group: str
    line_item: str
    model: str
    kind: str  # input | output | other
    amount: Decimal
    currency: str


@dataclass
class Gathered:
    """Usage rows and cost lines read from a provider, keyed for the write, and what was refused."""

    usage: dict[tuple[date, str, str], UsageRow] = field(default_factory=dict)
    lines: dict[tuple[date, str, str], CostLine] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def row(self, day: date, group: str, model: str) -> UsageRow:
        key = (day, group, model)
        row = self.usage.get(key)
        if row is None:
            row = self.usage[key] = UsageRow(day, group, model)
        return row

    def add_line(
        self, day: date, group: str, line_item: str, model: str, kind: str, amount: Decimal, currency: str
    ) -> None:
        key = (day, group, line_item)
        prev = self.lines.get(key)
        if prev is None:
            self.lines[key] = CostLine(day, group, line_item, model, kind, amount, currency)
        else:
            prev.amount += amount

    def within(self, d0: date, d1: date) -> Gathered:
        return Gathered(
            {k: v for k, v in self.usage.items() if d0 <= k[0] < d1},
            {k: v for k, v in self.lines.items() if d0 <= k[0] < d1},
            self.refused,
        )


def count(value, name: str, day: date, refused: list[str]) -> int | None:
    """A token count from the provider (int or integral decimal); None, and the reason in `refused`, otherwise."""
    if value is None:
        return 0
    try:
        number = Decimal(str(value))
        if number < 0 or number != number.to_integral_value() or isinstance(value, bool):
            raise InvalidOperation
        return int(number)
    except (InvalidOperation, ValueError):
        refused.append(f"{day.isoformat()}: {name}={value!r}: not a token count")
        return None


def amount(value, name: str, day: date, refused: list[str]) -> Decimal | None:
    """A decimal amount (a string or JSON number); None, and the reason in `refused`, otherwise."""
    try:
        if value is None or isinstance(value, bool | float):
            raise InvalidOperation
        number = Decimal(str(value).strip())
        if not number.is_finite():
            raise InvalidOperation
        return number
    except (InvalidOperation, ValueError):
        refused.append(f"{day.isoformat()}: {name}={value!r}: not a decimal amount")
        return None


def billed(usage: dict, lines: dict) -> dict[tuple, tuple[Decimal, Decimal]]:
    """Billed (input, output) cost per usage row, from the USD cost lines of the same day, group and model (exact
    model name first; otherwise the one usage row of that model without its snapshot date)."""
    by_base: dict[tuple, list] = defaultdict(list)
    for k in usage:
        by_base[(k[0], k[1], base_model(k[2]))].append(k)
    out: dict[tuple, list[Decimal]] = {}
    for line in lines.values():
        if line.currency != "usd" or line.kind == "other":
            continue
        key = (line.day, line.group, line.model)
        if key not in usage:
            candidates = by_base.get((line.day, line.group, base_model(line.model)), [])
            key = candidates[0] if len(candidates) == 1 else None
        if key is None:
            continue
        acc = out.setdefault(key, [Decimal(0), Decimal(0)])
        acc[0 if line.kind == "input" else 1] += line.amount
    return {k: (v[0], v[1]) for k, v in out.items()}


def window(since: date, until: date | None, now: datetime) -> tuple[date, date]:
    """[since, until] as [d0, d1) whole UTC days; until defaults to (and stops at) today."""
    today = now.astimezone(UTC).date()
    last = min(until or today, today)
    if since > last:
        raise ValueError(f"since={since.isoformat()}: must not be after until ({last.isoformat()})")
    return since, last + timedelta(days=1)


# -- the write ---------------------------------------------------------------------------------------------
def replace_days(s: Session, src: BillSource, company: str, d0: date, d1: date, got: Gathered, now: datetime) -> dict:
    """Replace the days [d0, d1) of this provider's bill rows and cost lines for `company` (one transaction)."""
    if not is_sqlite(s):
        s.execute(select(func.pg_advisory_xact_lock(SYNC_LOCK)))
    cid = get_or_create_company(s, company)
    start, end = midnight(d0), midnight(d1)
    old = list(
        s.scalars(
            select(AIJobUsage)
            .join(AIJob, AIJob.id == AIJobUsage.ai_job_id)
            .where(
                AIJob.company_id == cid,
                AIJob.source == SOURCE,
                AIJob.job_id.like(src.job_prefix + "%"),
                AIJobUsage.provider_name == src.provider,
                AIJobUsage.created_at >= start,
                AIJobUsage.created_at < end,
            )
        )
    )
    # The old rows' subtraction goes with the new rows' addition: one rollup update, by the ingest below.
    deltas = rollup.accumulate([rollup.usage_row(u) for u in old], sign=-1)
    if old:
        ids = [u.ai_job_id for u in old]
        for i in range(0, len(ids), 500):
            s.execute(delete(AIJobUsage).where(AIJobUsage.ai_job_id.in_(ids[i : i + 500])))
            s.execute(delete(AIJob).where(AIJob.id.in_(ids[i : i + 500])))
    s.execute(
        delete(ProviderCost).where(
            ProviderCost.company_id == cid,
            ProviderCost.provider == src.provider,
            ProviderCost.day >= d0,
            ProviderCost.day < d1,
        )
    )
    costs = billed(got.usage, got.lines)
    records = []
    for key, r in sorted(got.usage.items()):
        cost = costs.get(key)
        records.append(
            validate_record(
                {
                    "job_id": f"{src.job_prefix}{company}:{r.day.isoformat()}:{r.group or '-'}:{r.model or '-'}",
                    "created_at": midnight(r.day),
                    "company": company,
                    "brand": r.group or DEFAULT_BRAND,
                    "provider": src.provider,
                    "model": r.model or "unknown",
                    "job_type": "usage_bucket",
                    "status": "completed",
                    "operation": src.operation,
                    "input_tokens": r.input_tokens,
                    "output_tokens": r.output_tokens,
                    "cached_tokens": r.cached,
                    "cache_write_tokens": r.cache_write,
                    "description": r.description,
                    "cost_input": cost[0] if cost else None,
                    "cost_output": cost[1] if cost else None,
                },
                now=now,
            )
        )
    result = ingest(s, records, source=SOURCE, pricer=Pricer(s), extra_deltas=deltas)
    if result.conflicts:  # cannot happen after the delete unless another company's row holds the job_id
        raise SyncError(f"{len(result.conflicts)} usage rows conflict with existing records")
    cost_rows = [
        {
            "company_id": cid,
            "provider": src.provider,
            "day": line.day,
            "project_id": line.group[:200],
            "line_item": line.line_item[:300],
            "model": line.model[:200],
            "cost_kind": line.kind,
            "amount": to_money(line.amount),
            "currency": line.currency[:8],
            "synced_at": now,
        }
        for _, line in sorted(got.lines.items())
    ]
    if cost_rows:
        s.execute(ProviderCost.__table__.insert(), cost_rows)
    usd = sum((line.amount for line in got.lines.values() if line.currency == "usd"), ZERO)
    return {
        "removed_rows": len(old),
        "usage_rows": result.inserted,
        "cost_lines": len(cost_rows),
        "billed_rows": len(costs),
        "billed_usd": exact(usd),
    }


def store(
    src: BillSource, company: str, d0: date, d1: date, got: Gathered, now: datetime, *, session: Session | None = None
) -> dict:
    """Write what was gathered for [d0, d1) and return the summary (with the refused source lines)."""
    got = got.within(d0, d1)
    with session_scope(session) as s:
        written = replace_days(s, src, company, d0, d1, got, now)
    summary = {
        "company": company,
        "since": d0.isoformat(),
        "until": (d1 - timedelta(days=1)).isoformat(),
        "days": (d1 - d0).days,
        **written,
        "refused": list(got.refused),
    }
    for reason in got.refused:
        log.warning("%s sync: refused %s", src.provider, redact(reason))
    return summary


def check_actor(actor: User | None, company: str) -> None:
    """A sync writes the company's ledger: only an admin of that company (or the local operator) may run it."""
    authorize(actor, "sync provider bills", company=company)
