"""sync: read provider usage and billed costs into the ledger (OpenAI organization Usage/Costs APIs)."""
from __future__ import annotations

import sys
from datetime import date


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r}: expected a date YYYY-MM-DD") from None


def register(sub) -> None:
    p = sub.add_parser("sync", help="import usage and billed costs from a provider's organization API",
                       description="Read a provider's own usage and cost records into the ledger "
                                   "(source provider_bill). Re-syncing a day replaces it.")
    ps = p.add_subparsers(dest="provider", metavar="PROVIDER", required=True)
    o = ps.add_parser("openai", help="OpenAI organization Usage and Costs APIs (needs OPENAI_ADMIN_KEY)",
                      description="GET /v1/organization/usage/completions (daily buckets by model and project) "
                                  "and /v1/organization/costs from OPENAI_BASE_URL with OPENAI_ADMIN_KEY, "
                                  "following every page. Each day of the range is replaced, never doubled.")
    o.add_argument("--since", required=True, help="first day to sync, YYYY-MM-DD (UTC)")
    o.add_argument("--until", help="last day to sync, YYYY-MM-DD (default: today, UTC)")
    o.add_argument("--company", help="company the rows belong to (default: OPENAI_SYNC_COMPANY)")
    o.set_defaults(func=_sync_openai)


def _sync_openai(args) -> int:
    from core.display import usd
    from core.providers.openai_sync import SyncError, sync_openai
    from core.storage.db import migrate

    since = _date(args.since)
    until = _date(args.until) if args.until else None
    migrate()
    try:
        s = sync_openai(since, until, company=args.company)
    except SyncError as e:
        print(f"error: OpenAI sync failed, nothing written: {e}", file=sys.stderr)
        return 1
    print(f"OpenAI sync {s['since']} .. {s['until']} ({s['days']} days) for company {s['company']!r}: "
          f"{s['usage_rows']} usage rows ({s['removed_rows']} replaced), {s['cost_lines']} cost lines, "
          f"billed {usd(s['billed_usd'])}; pages read: usage {s['usage_pages']}, costs {s['cost_pages']}")
    return 0
