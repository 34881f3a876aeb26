"""CSV export of the usage list: the filtered ledger as spreadsheet-safe rows, streamed in batches.

Every text a caller chose is redacted, and a cell a spreadsheet would run as a formula is quoted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy.orm import Session

from core.clock import iso_z
from core.errors import InvalidRecord
from core.queries.usage_list import ORDERINGS, joined, usage_conditions
from core.redact import redact
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage, Brand, Company

EXPORT_COLUMNS = (
    "id",
    "job_id",
    "created_at",
    "company",
    "brand",
    "provider_name",
    "model_name",
    "job_type",
    "status",
    "operation",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_input",
    "cost_output",
    "total_cost",
    "pricing_status",
    "execution_time_seconds",
    "memory_usage_mb",
    "success_rate",
    "error_count",
    "description",
)


# A cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _export_row(u: AIJobUsage, job: AIJob, brand: Brand, comp: Company) -> list[str]:
    # Every text a caller chose goes through redact: an export is text leaving the process.
    return [
        safe_cell(redact(v) if isinstance(v, str) else v)
        for v in (
            u.id,
            job.job_id,
            iso_z(u.created_at),
            comp.name,
            brand.name,
            u.provider_name,
            u.model_name,
            job.job_type,
            job.status,
            job.operation,
            u.input_tokens,
            u.output_tokens,
            u.total_tokens,
            u.cached_tokens,
            u.cache_write_tokens,
            u.reasoning_tokens,
            u.cost_input,
            u.cost_output,
            u.total_cost,
            u.pricing_status,
            u.execution_time_seconds,
            u.memory_usage_mb,
            u.success_rate,
            u.error_count,
            job.description,
        )
    ]


def iter_export_rows(
    *,
    company: str | None = None,
    session: Session | None = None,
    batch: int = 5000,
    ordering: str | None = None,
    **filters,
) -> Iterator[list[str]]:
    """Rows of the filtered ledger in the usage list's `ordering` (one of ORDERINGS), streamed from one query
    `batch` rows at a time (a server-side cursor on PostgreSQL); without an ordering, by id in batches."""
    if ordering is not None and ordering not in ORDERINGS:
        raise InvalidRecord("ordering", ordering, f"must be one of {', '.join(ORDERINGS)}")
    with session_scope(session) as s:
        conds = usage_conditions(s, filters, company)
        if ordering is not None:
            q = joined().where(*conds).order_by(*ORDERINGS[ordering]).execution_options(yield_per=batch)
            for row in s.execute(q):
                yield _export_row(*row)
            return
        last = 0
        while True:
            rows = s.execute(joined().where(*conds, AIJobUsage.id > last).order_by(AIJobUsage.id).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield _export_row(*row)
            last = rows[-1][0].id


BOM = "\ufeff"  # UTF-8 byte order mark: spreadsheet programs read the file as UTF-8 only when it starts with it


def export_csv(out, *, bom: bool = False, **kwargs) -> int:
    """Write the filtered ledger as RFC 4180 CSV to a text stream (in the list's `ordering` when given), after a
    UTF-8 byte order mark when `bom`; returns the number of rows."""
    if bom:
        out.write(BOM)
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for row in iter_export_rows(**kwargs):
        writer.writerow(row)
        n += 1
    return n


def export_csv_text(**kwargs) -> str:
    """The export as one text, starting with the UTF-8 byte order mark (a download opened in a spreadsheet)."""
    buf = io.StringIO()
    export_csv(buf, bom=True, **kwargs)
    return buf.getvalue()
