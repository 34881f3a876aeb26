"""The ten costliest jobs of a window on the embedded SQLite database: the planner's own plan against the walk.

    python -m bench.generate --kind sqlite --db aium_sqlite_1m --rows 1000000   # once: /tmp/aium_sqlite_1m.db
    python -m bench.costliest [--db /tmp/aium_sqlite_1m.db] [--runs 7]

For 7, 30 and 120 days (and 30 days for one company, and one provider): the median of `--runs` runs of
  - the plain query (`ORDER BY total_cost DESC LIMIT 10` as SQLAlchemy writes it; SQLite's planner takes the
    created_at index and sorts the whole window),
  - `core.queries.costliest.costliest_ids` (walks the total_cost index, at most WALK_ROWS entries, then sorts a narrow
    window itself),
  - `get_usage_dashboard` as a whole,
checking that both costliest reads give the same ids.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bench.scale import median_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="/tmp/aium_sqlite_1m.db", help="SQLite file made by bench.generate --kind sqlite")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not os.path.exists(args.db):
        raise SystemExit(f"{args.db} not found: python -m bench.generate --kind sqlite --db aium_sqlite_1m first")
    os.environ["DATABASE_URL"] = f"sqlite:///{args.db}"
    os.environ["USERS_FILE"] = "/nonexistent/aium-bench-users.json"
    os.environ["AUTH_SECRETS_FILE"] = "/nonexistent/aium-bench-secrets.toml"

    from core.analytics import get_usage_dashboard
    from core.queries.costliest import costliest_ids
    from core.storage.db import read_scope
    from core.storage.models import AIJobUsage as U
    from core.storage.models import Company

    with read_scope() as s:
        rows = s.scalar(select(func.count()).select_from(U))
        newest = s.scalar(select(func.max(U.created_at)))
        company = s.scalar(select(Company.name).order_by(Company.id).limit(1))
        company_id = s.scalar(select(Company.id).where(Company.name == company))
    now = newest.astimezone(UTC) + timedelta(minutes=1) if newest else datetime.now(UTC)
    load = os.getloadavg()
    print(
        f"SQLite {args.db}: {rows:,} records; now = {now:%Y-%m-%d %H:%M} UTC; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; medians of {args.runs}"
    )
    print(f"{'window':<28}{'plain sort':>12}{'walk':>10}{'dashboard':>12}")
    cases = [
        ("7 days", 7, []),
        ("30 days", 30, []),
        ("120 days", 120, []),
        (f"30 days, {company}", 30, [U.company_id == company_id]),
        ("30 days, provider mistral", 30, [U.provider_name == "mistral"]),
        ("1 hour", 1 / 24, []),
    ]
    for label, days, conds in cases:
        start = now - timedelta(days=days)
        with read_scope() as s:

            def plain(s=s, start=start, conds=conds):
                return list(
                    s.scalars(
                        select(U.id)
                        .where(U.created_at >= start, U.created_at < now, *conds)
                        .order_by(U.total_cost.desc(), U.id.desc())
                        .limit(10)
                    )
                )

            def walk(s=s, start=start, conds=conds):
                return costliest_ids(s, start, now, conds, 10)

            if plain() != walk():
                raise SystemExit(f"{label}: the walk and the plain sort disagree")
            plain_ms, walk_ms = median_ms(plain, args.runs), median_ms(walk, args.runs)
        dash = "—"
        if not conds and days >= 1:
            dash = f"{median_ms(lambda d=int(days): get_usage_dashboard(days=d, now=now), args.runs):,.0f} ms"
        print(f"{label:<28}{plain_ms:>9,.1f} ms{walk_ms:>7,.1f} ms{dash:>12}")


if __name__ == "__main__":
    main()
