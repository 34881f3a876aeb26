"""budget, quota, price. The command line writes as the local operator (core.access.users.LOCAL_OPERATOR)."""

from __future__ import annotations

from core.display import count, plural, usd, when  # stdlib only: costs nothing at start

NEW_PROVIDER_HELP = (
    "accept a provider name that is not yet known (not in the pricing catalog, the configured "
    "providers, the ledger or the existing limits); without it such a name is refused as a "
    "likely typo"
)

# How the list commands show a column: money as on the pages, counts with separators, times in UTC minutes.
_SHOWN = {
    "monthly_usd": usd,
    "input_per_million": usd,
    "cached_input_per_million": usd,
    "cache_write_per_million": usd,
    "output_per_million": usd,
    "monthly_tokens": count,
    "updated_at": when,
    "effective_from": when,
}


def register(sub) -> None:
    b = sub.add_parser(
        "budget",
        help="monthly budgets (USD) per company, optionally per provider",
        description="Set or list monthly budgets.",
    )
    bs = b.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = bs.add_parser("set", help="set a monthly budget", description="Create or update a monthly budget.")
    p.add_argument("--company", required=True, help="company name (created if new)")
    p.add_argument("--provider", help="only this provider (default: all providers)")
    p.add_argument("--monthly-usd", required=True, help="budget in USD per calendar month, e.g. 100.00")
    p.add_argument("--allow-new-provider", action="store_true", help=NEW_PROVIDER_HELP)
    p.set_defaults(func=_budget_set)
    p = bs.add_parser("list", help="list budgets", description="List every budget.")
    p.set_defaults(func=_budget_list)
    p = bs.add_parser("delete", help="delete a budget", description="Delete a budget.")
    p.add_argument("--company", required=True)
    p.add_argument("--provider")
    p.set_defaults(func=_budget_delete)

    q = sub.add_parser(
        "quota",
        help="monthly provider quotas (USD and/or tokens) per company",
        description="Set or list provider quotas.",
    )
    qs = q.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = qs.add_parser("set", help="set a provider quota", description="Create or update a provider quota.")
    p.add_argument("--company", required=True, help="company name (created if new)")
    p.add_argument("--provider", required=True, help="provider name, e.g. openai")
    p.add_argument("--monthly-usd", help="quota in USD per calendar month")
    p.add_argument("--monthly-tokens", help="quota in tokens per calendar month")
    p.add_argument("--allow-new-provider", action="store_true", help=NEW_PROVIDER_HELP)
    p.set_defaults(func=_quota_set)
    p = qs.add_parser("list", help="list quotas", description="List every quota.")
    p.set_defaults(func=_quota_list)
    p = qs.add_parser("delete", help="delete a quota", description="Delete a quota.")
    p.add_argument("--company", required=True)
    p.add_argument("--provider", required=True)
    p.set_defaults(func=_quota_delete)

    pr = sub.add_parser(
        "price",
        help="price overrides (USD per million tokens)",
        description="Set or list price overrides; they win over the bundled catalog.",
    )
    ps = pr.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ps.add_parser(
        "set",
        help="set a price override",
        description="Price a model (or a pattern such as 'llama*'). Applies to records priced "
        "after it; --reprice also recomputes stored records from --effective-from.",
    )
    p.add_argument("--provider", required=True)
    p.add_argument("--model", required=True, help="model name or fnmatch pattern")
    p.add_argument("--input-per-million", required=True, help="USD per million input tokens")
    p.add_argument("--output-per-million", required=True, help="USD per million output tokens")
    p.add_argument("--cached-input-per-million", help="USD per million cached input tokens (cache reads)")
    p.add_argument("--cache-write-per-million", help="USD per million cache-write tokens")
    p.add_argument("--effective-from", help="date or timestamp (UTC) from which it applies (default: now)")
    p.add_argument("--reprice", action="store_true", help="recompute stored, non-billed records from --effective-from")
    p.add_argument("--allow-new-provider", action="store_true", help=NEW_PROVIDER_HELP)
    p.set_defaults(func=_price_set)
    p = ps.add_parser("list", help="list price overrides", description="List every price override.")
    p.set_defaults(func=_price_list)


def _table(rows: list[dict], columns: list[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[("" if r.get(c) is None else str(_SHOWN.get(c, str)(r.get(c)))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _budget_set(args) -> int:
    from core.access.users import LOCAL_OPERATOR
    from core.limits.budgets import set_budget

    r = set_budget(
        args.company,
        args.monthly_usd,
        provider=args.provider,
        actor=LOCAL_OPERATOR,
        allow_new_provider=args.allow_new_provider,
    )
    print(f"budget set: {r['company']} / {r['provider'] or 'all providers'}: {usd(r['monthly_usd'])} per month")
    return 0


def _budget_list(args) -> int:
    from core.limits.budgets import list_budgets

    rows = [r | {"provider": r["provider"] or "all"} for r in list_budgets()]
    _table(rows, ["company", "provider", "monthly_usd", "updated_at"])
    return 0


def _budget_delete(args) -> int:
    from core.access.users import LOCAL_OPERATOR
    from core.limits.budgets import delete_budget

    ok = delete_budget(args.company, args.provider, actor=LOCAL_OPERATOR)
    print("budget deleted" if ok else "no such budget")
    return 0 if ok else 2


def _quota_set(args) -> int:
    from core.access.users import LOCAL_OPERATOR
    from core.limits.budgets import set_quota

    r = set_quota(
        args.company,
        args.provider,
        monthly_usd=args.monthly_usd,
        monthly_tokens=args.monthly_tokens,
        actor=LOCAL_OPERATOR,
        allow_new_provider=args.allow_new_provider,
    )
    limits = [f"{usd(r['monthly_usd'])}"] if r["monthly_usd"] is not None else []
    limits += [f"{count(r['monthly_tokens'])} tokens"] if r["monthly_tokens"] is not None else []
    print(f"quota set: {r['company']} / {r['provider']}: {' and '.join(limits)} per month")
    return 0


def _quota_list(args) -> int:
    from core.limits.budgets import list_quotas

    _table(list_quotas(), ["company", "provider", "monthly_usd", "monthly_tokens", "updated_at"])
    return 0


def _quota_delete(args) -> int:
    from core.access.users import LOCAL_OPERATOR
    from core.limits.budgets import delete_quota

    ok = delete_quota(args.company, args.provider, actor=LOCAL_OPERATOR)
    print("quota deleted" if ok else "no such quota")
    return 0 if ok else 2


def _price_set(args) -> int:
    from core.access.users import LOCAL_OPERATOR
    from core.limits.budgets import set_price
    from core.storage.db import migrate

    migrate()
    r = set_price(
        args.provider,
        args.model,
        args.input_per_million,
        args.output_per_million,
        cached_input_per_million=args.cached_input_per_million,
        cache_write_per_million=args.cache_write_per_million,
        effective_from=args.effective_from,
        reprice=args.reprice,
        actor=LOCAL_OPERATOR,
        allow_new_provider=args.allow_new_provider,
    )
    print(
        f"price set: {r['provider']} / {r['model']} from {when(r['effective_from'])}: in "
        f"{usd(r['input_per_million'])} out {usd(r['output_per_million'])} per million tokens"
        + (f"; repriced {plural(r['repriced'], 'record')}" if args.reprice else "")
    )
    return 0


def _price_list(args) -> int:
    from core.limits.budgets import list_prices

    _table(
        list_prices(),
        [
            "provider",
            "model",
            "input_per_million",
            "cached_input_per_million",
            "cache_write_per_million",
            "output_per_million",
            "effective_from",
        ],
    )
    return 0
