"""Import usage files (JSONL or CSV, one record per line/row) through the bulk path.

Valid records are stored, each refused one is reported with its line number and reason; duplicates (same
job_id, same content) are counted, never stored twice.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from core.columnar import ingest_frames

BATCH = 50_000  # records per transaction: large enough for COPY to pay off, small enough to bound memory


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def summary(self) -> str:
        return f"imported {self.imported}, duplicates {self.duplicates}, refused {len(self.refused)}"


def _detect_format(path: Path, head: str) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    return "jsonl" if head.lstrip().startswith("{") else "csv"


def iter_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line number, row, parse error) for each record of a JSONL or CSV file."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        head = fh.read(4096)
        fh.seek(0)
        if _detect_format(path, head) == "jsonl":
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    yield lineno, None, f"invalid JSON: {e.msg} at column {e.colno}"
                    continue
                if not isinstance(row, dict):
                    yield lineno, None, "a line must hold one JSON object"
                    continue
                yield lineno, row, None
        else:
            reader = csv.DictReader(fh)
            for row in reader:
                lineno = reader.line_num
                if None in row:
                    yield lineno, None, "more values than header columns"
                    continue
                yield lineno, row, None


def import_rows(rows: Iterator[tuple[int, dict | None, str | None]], *, company: str | None = None,
                source: str = "import", now: datetime | None = None,
                progress: Callable[[int], None] | None = None) -> ImportResult:
    """Validate and ingest rows in batches (columnar: core/columnar.py); each batch is one transaction."""
    now = now or datetime.now(UTC)
    result = ImportResult()
    seen = 0

    def batches() -> Iterator[tuple[pd.DataFrame, list[dict], list[int]]]:
        nonlocal seen
        raw: list[dict] = []
        lines: list[int] = []
        for lineno, row, error in rows:
            seen += 1
            if error is not None:
                result.refused.append((lineno, error))
            elif company and row.get("company") and row["company"] != company:
                result.refused.append((lineno, f"company={row['company']!r}: differs from --company {company!r}"))
            else:
                if company:
                    row = {**row, "company": company}
                raw.append(row)
                lines.append(lineno)
            if len(raw) >= BATCH:
                yield pd.DataFrame.from_records(raw), raw, lines
                raw, lines = [], []
            if progress and seen % 10_000 == 0:
                progress(seen)
        if raw:
            yield pd.DataFrame.from_records(raw), raw, lines

    for lines, res in ingest_frames(((f, r, ln) for f, r, ln in batches()), source=source, now=now):
        result.imported += res.inserted
        result.duplicates += res.duplicates
        result.refused.extend((lines[pos], reason) for pos, reason in res.refused)
        for pos, job_id in res.conflicts:
            result.refused.append((lines[pos], f"job_id={job_id!r}: already recorded with different content"))
    if progress:
        progress(seen)
    result.refused.sort()
    return result


def import_file(path: str | Path, *, company: str | None = None, progress: bool = False,
                now: datetime | None = None) -> ImportResult:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import file not found: {path}")
    bar = _progress_printer(path) if progress else None
    return import_rows(iter_rows(path), company=company, now=now, progress=bar)


def _progress_printer(path: Path) -> Callable[[int], None]:
    total_bytes = path.stat().st_size
    approx_lines = None
    if total_bytes:
        with open(path, "rb") as fh:
            sample = fh.read(1 << 20)
        approx_lines = max(1, int(total_bytes / max(1, len(sample)) * sample.count(b"\n")))
    stream = sys.stderr
    interactive = stream.isatty()

    def show(done: int) -> None:
        if approx_lines:
            pct = min(100, done * 100 // approx_lines)
            bar = "#" * (pct // 4)
            text = f"[{bar:<25}] {pct:3d}% {done:,} records"
        else:
            text = f"{done:,} records"
        stream.write(("\r" + text) if interactive else text + "\n")
        stream.flush()

    return show


def parse_text(text: str, fmt: str) -> Iterator[tuple[int, dict | None, str | None]]:
    """Rows from an in-memory upload (the dashboard), same rules as files."""
    if fmt == "jsonl":
        for lineno, line in enumerate(io.StringIO(text), start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                    yield (lineno, row, None) if isinstance(row, dict) else (lineno, None, "not a JSON object")
                except json.JSONDecodeError as e:
                    yield lineno, None, f"invalid JSON: {e.msg}"
    else:
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            yield reader.line_num, row, None
