"""Import usage files (JSONL or CSV, one record per line/row) through the bulk path.

Valid records are stored, each refused one is reported with its line number and reason; duplicates (same
job_id, same content) are counted, never stored twice.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

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
                yield lineno, *_parse_json_line(line)
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
    result = ImportResult()
    seen = [0]
    return _ingest(_row_batches(rows, company, result, progress, seen), result, source, now, progress, seen)


def _ingest(batches: Iterator[tuple[pd.DataFrame, Sequence, list[int]]], result: ImportResult, source: str,
            now: datetime | None, progress: Callable[[int], None] | None, seen: list[int]) -> ImportResult:
    for lines, res in ingest_frames(((f, r, ln) for f, r, ln in batches), source=source, now=now or datetime.now(UTC)):
        result.imported += res.inserted
        result.duplicates += res.duplicates
        result.refused.extend((lines[pos], reason) for pos, reason in res.refused)
        for pos, job_id in res.conflicts:
            result.refused.append((lines[pos], f"job_id={job_id!r}: already recorded with different content"))
    if progress:
        progress(seen[0])
    result.refused.sort()
    return result


def _row_batches(rows: Iterable[tuple[int, dict | None, str | None]], company: str | None, result: ImportResult,
                 progress: Callable[[int], None] | None, seen: list[int]):
    """Parsed rows in batches of BATCH: (frame, the rows as given, their line numbers)."""
    raw: list[dict] = []
    lines: list[int] = []
    for lineno, row, error in rows:
        seen[0] += 1
        if error is not None:
            result.refused.append((lineno, error))
        elif company and row.get("company") and row["company"] != company:
            result.refused.append((lineno, f"company={row['company']!r}: differs from --company {company!r}"))
        else:
            raw.append({**row, "company": company} if company else row)
            lines.append(lineno)
        if len(raw) >= BATCH:
            yield pd.DataFrame.from_records(raw), raw, lines
            raw, lines = [], []
        if progress and seen[0] % 10_000 == 0:
            progress(seen[0])
    if raw:
        yield pd.DataFrame.from_records(raw), raw, lines


class _Lines(Sequence):
    """The records of a JSONL block, parsed again one by one only for the rows the scalar validator must see
    (so that a refusal quotes the value exactly as the file gives it)."""

    def __init__(self, lines: list[bytes], company: str | None):
        self.lines, self.company = lines, company

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, i):
        row = json.loads(self.lines[i])
        return {**row, "company": self.company} if self.company else row


# Text fields read as text whatever they look like (Arrow would otherwise turn timestamps into its own type).
_JSON_TEXT = pa.schema([(name, pa.string()) for name in ("job_id", "created_at", "company", "brand", "provider",
                                                         "model", "job_type", "status", "operation", "description")])


def _jsonl_batches(path: Path, company: str | None, result: ImportResult,
                   progress: Callable[[int], None] | None, seen: list[int]):
    """A JSONL file in blocks of BATCH lines, each parsed at once by Arrow's JSON reader; a block it cannot read
    (a malformed line, a field whose type changes) is parsed line by line, with the same messages as before."""
    with open(path, "rb") as fh:
        lines: list[bytes] = []
        numbers: list[int] = []
        for lineno, line in enumerate(fh, start=1):
            if lineno == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            if not line.strip():
                continue
            lines.append(line if line.endswith(b"\n") else line + b"\n")
            numbers.append(lineno)
            if len(lines) >= BATCH:
                yield from _jsonl_block(lines, numbers, company, result, seen)
                lines, numbers = [], []
                if progress:
                    progress(seen[0])
        if lines:
            yield from _jsonl_block(lines, numbers, company, result, seen)


def _jsonl_block(lines: list[bytes], numbers: list[int], company: str | None, result: ImportResult,
                 seen: list[int]):
    seen[0] += len(lines)
    try:
        table = pa_json.read_json(io.BytesIO(b"".join(lines)),
                                  read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 30),
                                  parse_options=pa_json.ParseOptions(explicit_schema=_JSON_TEXT))
        table.validate(full=True)  # the reader lets invalid UTF-8 through; this catches it
        if table.num_rows != len(lines):
            raise ValueError("a line did not give one record")
        frame = table.to_pandas()
        if company and "company" in frame.columns:
            given = frame["company"]
            other = (given.notna() & (given != "") & (given != company)).to_numpy(dtype=bool)
            if other.any():
                for i in np.flatnonzero(other):
                    result.refused.append(
                        (numbers[i], f"company={given.iloc[i]!r}: differs from --company {company!r}"))
                keep = np.flatnonzero(~other)
                frame = frame.iloc[keep].reset_index(drop=True)
                lines, numbers = [lines[i] for i in keep], [numbers[i] for i in keep]
    except (pa.ArrowInvalid, ValueError):
        yield from _row_batches(_parse_lines(lines, numbers), company, result, None, [0])  # already counted
        return
    if company:
        frame["company"] = company
    yield frame, _Lines(lines, company), numbers


def _parse_lines(lines: list[bytes], numbers: list[int]) -> Iterator[tuple[int, dict | None, str | None]]:
    for lineno, line in zip(numbers, lines):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield lineno, None, "not valid UTF-8"
            continue
        yield lineno, *_parse_json_line(text)


def _parse_json_line(line: str) -> tuple[dict | None, str | None]:
    """(record, None) or (None, why the line is refused)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} at column {e.colno}"
    if not isinstance(row, dict):
        return None, "a line must hold one JSON object"
    return row, None


def import_file(path: str | Path, *, company: str | None = None, progress: bool = False,
                now: datetime | None = None) -> ImportResult:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import file not found: {path}")
    bar = _progress_printer(path) if progress else None
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        head = fh.read(4096)
    if _detect_format(path, head) == "jsonl":
        result, seen = ImportResult(), [0]
        return _ingest(_jsonl_batches(path, company, result, bar, seen), result, "import", now, bar, seen)
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
