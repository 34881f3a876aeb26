"""The command line: one module per command group, each with `register(subparsers)`.

Building the parser imports no storage, pricing or analytics code (a command imports what it uses when it runs),
so `--help` and the quick commands start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from core.redact import redact

# Command groups; a module missing here would leave its commands undocumented in --help.
MODULES = (
    "core.cli.ledger_cmds",
    "core.cli.limit_cmds",
    "core.cli.alert_cmds",
    "core.cli.sync_cmds",
    "core.cli.user_cmds",
    "core.cli.gateway_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="AI Usage Monitor: record, price and analyse AI API usage; budgets, quotas and alerts.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in MODULES:
        importlib.import_module(name).register(sub)  # a group that fails to import fails the command line
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    # Imported once a command runs: these load the storage models, which --help does not need.
    from core.errors import InvalidRecord, UsageConflict

    try:
        return int(args.func(args) or 0)
    except (InvalidRecord, UsageConflict) as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, LookupError) as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - last resort: one redacted line, not a traceback carrying a DSN
        print(f"error: {type(e).__name__}: {redact(str(e))}", file=sys.stderr)
        return 1
