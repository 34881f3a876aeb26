"""migrate, demo, import, export, usage."""

from __future__ import annotations

import argparse
import json
import sys

from core.queries.list_filters import FILTERS


def register(sub) -> None:
    p = sub.add_parser(
        "migrate",
        help="apply database migrations (alembic upgrade head)",
        description="Create or upgrade the schema of the configured DATABASE_URL.",
    )
    p.set_defaults(func=_migrate)

    p = sub.add_parser(
        "demo",
        help="load deterministic demo data (marked as demo)",
        description="Load demo companies, brands, budgets and usage over N days.",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    p.add_argument("--days", type=int, default=120, help="days of history (default 120)")
    p.add_argument("--if-empty", action="store_true", help="do nothing unless the ledger is empty")
    p.add_argument("--replace", action="store_true", help="replace demo data already loaded")
    p.add_argument("--clear", action="store_true", help="delete the demo data and exit")
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "import",
        help="import usage records from a JSONL or CSV file",
        description="Import one usage record per JSONL line or CSV row "
        "(fields: docs/usage-in/imports.md). Idempotent on job_id; "
        "refused lines are reported with their reason.",
    )
    p.add_argument("file", help="path to a .jsonl or .csv file")
    p.add_argument("--company", help="company of every record (a row naming another company is refused)")
    p.add_argument(
        "--format",
        choices=("auto", "ledger", "openai-csv", "litellm"),
        default="auto",
        help="file layout: our JSONL/CSV (ledger), OpenAI's usage export CSV (openai-csv) or LiteLLM "
        "spend logs as CSV, JSONL or JSON (litellm); default: detected from the header",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--max-errors-shown", type=int, default=50, help="refused lines printed (default 50)")
    p.set_defaults(func=_import)

    p = sub.add_parser(
        "export",
        help="export the ledger as CSV (with the usage list's filters) or as FOCUS",
        description="Write the filtered ledger as CSV (RFC 4180, spreadsheet-safe), one row per "
        "record; or, with --format focus, as a FOCUS cost and usage dataset for FinOps "
        "tools: one row per UTC day, company, brand, operation, provider, model, price "
        "and token kind, read from the daily rollup (--month and --company only).",
    )
    _add_filters(p)
    p.add_argument(
        "--format",
        choices=("csv", "focus"),
        default="csv",
        help="csv (default): the ledger's records; focus: FOCUS columns for FinOps tools",
    )
    p.add_argument("--month", metavar="YYYY-MM", help="only this calendar month (UTC)")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "usage",
        help="list usage records (one page, JSON)",
        description="Print one page of the usage list as JSON, with the usage list's filters.",
    )
    _add_filters(p)
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=50)
    p.set_defaults(func=_usage)


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--company", help="only this company")
    for name in FILTERS:
        p.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar="VALUE",
            help=f"filter {name} (as the usage list's ?{name}=)",
        )


def _filters(args) -> dict:
    return {name: getattr(args, name) for name in FILTERS if getattr(args, name, None) not in (None, "")}


def _migrate(args) -> int:
    from core.storage.db import migrate

    migrate()
    print("migrations applied")
    return 0


def _demo(args) -> int:
    from core.ingest.demo import clear_demo, ledger_is_empty, load_demo
    from core.storage.db import migrate, session_scope

    migrate()
    if args.clear:
        with session_scope() as s:
            print(f"deleted {clear_demo(s)} demo records")
        return 0
    if args.if_empty:
        with session_scope() as s:
            if not ledger_is_empty(s):
                print("ledger is not empty: demo data not loaded")
                return 0
    if args.days < 1 or args.days > 3660:
        raise ValueError(f"--days={args.days}: must be between 1 and 3660")
    result = load_demo(seed=args.seed, days=args.days, replace=args.replace)
    print(f"demo data loaded: {result['inserted']} records (seed {args.seed}, {args.days} days)")
    return 0


def _import(args) -> int:
    from core.ingest.formats import import_any
    from core.storage.db import migrate

    migrate()
    result = import_any(args.file, fmt=args.format, company=args.company, progress=not args.quiet)
    if not args.quiet:
        print(file=sys.stderr)
    print(result.summary())
    for lineno, reason in result.refused[: args.max_errors_shown]:
        print(f"  line {lineno}: {reason}")
    if len(result.refused) > args.max_errors_shown:
        print(f"  … and {len(result.refused) - args.max_errors_shown} more refused lines")
    return 1 if result.refused else 0


def _export(args) -> int:
    if args.format == "focus":
        return _export_focus(args)
    from core.queries.usage_export import export_csv

    filters = _filters(args)
    if args.month:
        from core.queries.focus_export import month_range

        if {"created_at__gte", "created_at__lt"} & set(filters):
            raise ValueError("--month: give either --month or --created-at--gte / --created-at--lt, not both")
        first, after = month_range(args.month)
        filters |= {"created_at__gte": first.isoformat(), "created_at__lt": after.isoformat()}
    if args.output:
        from core.display import plural

        with open(args.output, "w", newline="", encoding="utf-8") as fh:  # a file: with the BOM spreadsheets need
            n = export_csv(fh, bom=True, company=args.company, **filters)
        print(f"exported {plural(n, 'record')} to {args.output}", file=sys.stderr)
    else:
        export_csv(sys.stdout, company=args.company, **filters)
    return 0


def _export_focus(args) -> int:
    from core.queries.focus_export import FOCUS_VERSION, export_focus, month_range
    from core.storage.db import migrate

    given = list(_filters(args))
    if given:
        raise ValueError(f"--{given[0].replace('_', '-')}: --format focus takes --month and --company only")
    if args.month:
        month_range(args.month)  # a bad month is refused before any file is opened
    migrate()
    if args.output:
        from core.display import plural

        # For FinOps tools rather than spreadsheets: plain UTF-8, no byte order mark.
        with open(args.output, "w", newline="", encoding="utf-8") as fh:
            done = export_focus(fh, month=args.month, company=args.company)
        print(
            f"exported {plural(done['rows'], 'FOCUS row')} (FOCUS {FOCUS_VERSION}, BilledCost total "
            f"${done['billed_cost']}) to {args.output}",
            file=sys.stderr,
        )
    else:
        export_focus(sys.stdout, month=args.month, company=args.company)
    return 0


def _usage(args) -> int:
    from core.queries.usage_list import list_usage

    print(
        json.dumps(
            list_usage(page=args.page, page_size=args.page_size, company=args.company, **_filters(args)), indent=2
        )
    )
    return 0
