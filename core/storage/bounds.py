"""What the ledger's columns hold, and the per-record maximums derived from it: one definition for the validator,
the columnar checks, the write guard (core/storage/headroom.py) and the manual.

Money is NUMERIC(18,6) on PostgreSQL and int64 micro-dollars on SQLite; counts are BIGINT (int64) on both. Every
rollup row, and every total a view reads, is a sum of records no larger than the ledger's lifetime total of that
measure: keeping each lifetime total within what its column holds keeps every sum exact, on both databases.

The per-record maximums are far above any real call or usage bucket, and small enough that the ledger takes about
a million records that each reach them, and that a batch of such records is summed exactly in int64 (numpy).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger

from core.storage.models import AIJobUsage
from core.storage.types import Money

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
RECORDS_AT_MAXIMUM = 10**6

MONEY_SCALE = Money.impl.scale
# NUMERIC(p, s) holds p digits, s of them decimals; SQLite holds int64 micro-dollars: the smaller one bounds both.
MONEY_MAX_MICROS = min(10**Money.impl.precision - 1, INT64_MAX)
MONEY_MAX = Decimal(MONEY_MAX_MICROS).scaleb(-MONEY_SCALE)  # 999,999,999,999.999999
COUNT_MAX = INT64_MAX  # tokens, jobs, milliseconds, errors, megabytes: BIGINT


def _round_figure(n: int) -> int:
    """The power of ten at or below n."""
    return 10 ** (len(str(n)) - 1)


# -(-a // b): a / b rounded up, so that the maximum is the round $1,000,000 and not $999,999.999999.
MAX_RECORD_COST_MICROS = _round_figure(-(-MONEY_MAX_MICROS // RECORDS_AT_MAXIMUM))
MAX_RECORD_COST = Decimal(MAX_RECORD_COST_MICROS) / 10**MONEY_SCALE  # $1,000,000 per record
# A record's total_tokens is input + output, two counts at the maximum.
MAX_RECORD_COUNT = _round_figure(COUNT_MAX // RECORDS_AT_MAXIMUM // 2)  # 10^12 tokens per field


def _column_max(name: str) -> int:
    return INT64_MAX if isinstance(AIJobUsage.__table__.c[name].type, BigInteger) else INT32_MAX


# The count fields of a record and their maximums: within the record's own column too (memory_usage_mb and
# error_count are INTEGER there: 10^9).
RECORD_COUNT_MAX = {
    name: _round_figure(min(MAX_RECORD_COUNT, _column_max(name)))
    for name in (
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "memory_usage_mb",
        "error_count",
    )
}
