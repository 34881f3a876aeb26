"""sync: read a provider's own usage and billed costs into the ledger (OpenAI's Usage/Costs APIs, Anthropic's
usage and cost reports)."""

from __future__ import annotations

import sys
from datetime import date

_HELP = {
    "openai": (
        "OpenAI organization Usage and Costs APIs (needs OPENAI_ADMIN_KEY)",
        (
            "GET /v1/organization/usage/completions (daily buckets by model and project) and "
            "/v1/organization/costs from OPENAI_BASE_URL with OPENAI_ADMIN_KEY, following every page. Each day "
            "of the range is replaced, never doubled."
        ),
        "OPENAI_SYNC_COMPANY",
    ),
    "anthropic": (
        "Anthropic Admin API usage and cost reports (needs ANTHROPIC_ADMIN_KEY)",
        (
            "GET /v1/organizations/usage_report/messages (daily buckets by model and workspace) and "
            "/v1/organizations/cost_report (by workspace and description; amounts in cents) from "
            "ANTHROPIC_BASE_URL with ANTHROPIC_ADMIN_KEY, following every page. Each day of the range is "
            "replaced, never doubled."
        ),
        "ANTHROPIC_SYNC_COMPANY",
    ),
}


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r}: expected a date YYYY-MM-DD") from None


def register(sub) -> None:
    p = sub.add_parser(
        "sync",
        help="import usage and billed costs from a provider's organization API",
        description="Read a provider's own usage and cost records into the ledger "
        "(source provider_bill). Re-syncing a day replaces it.",
    )
    ps = p.add_subparsers(dest="provider", metavar="PROVIDER", required=True)
    for name, (short, long, company_setting) in _HELP.items():
        o = ps.add_parser(name, help=short, description=long)
        o.add_argument("--since", required=True, help="first day to sync, YYYY-MM-DD (UTC)")
        o.add_argument("--until", help="last day to sync, YYYY-MM-DD (default: today, UTC)")
        o.add_argument("--company", help=f"company the rows belong to (default: {company_setting})")
        o.set_defaults(func=_sync)


def _sync(args) -> int:
    from core.display import usd
    from core.providers.bill_sync import SyncError
    from core.providers.bills import BILLED
    from core.storage.db import migrate

    bill = BILLED[args.provider]
    since = _date(args.since)
    until = _date(args.until) if args.until else None
    migrate()
    try:
        s = bill.sync(since, until, company=args.company)
    except SyncError as e:
        print(f"error: {bill.label} sync failed, nothing written: {e}", file=sys.stderr)
        return 1
    print(
        f"{bill.label} sync {s['since']} .. {s['until']} ({s['days']} days) for company {s['company']!r}: "
        f"{s['usage_rows']} usage rows ({s['removed_rows']} replaced), {s['cost_lines']} cost lines, "
        f"billed {usd(s['billed_usd'])}; pages read: usage {s['usage_pages']}, costs {s['cost_pages']}"
    )
    for reason in s["refused"]:
        print(f"  refused {reason}", file=sys.stderr)
    return 1 if s["refused"] else 0
