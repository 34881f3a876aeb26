"""Import usage files through the bulk path (core/ingest/frames.py): the ledger's own format (JSONL or CSV, one record
per line or row), and what the other formats' converters (core/ingest/formats.py) share with it: the one detector of
a file's format, the rows of a file, the import of rows.

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

from core.ingest.frames import ingest_frames
from core.ingest.lines import Row, csv_rows, json_line

BATCH = 50_000  # records per transaction: large enough for COPY to pay off, small enough to bound memory
BOM = codecs.BOM_UTF8
HEAD = 65536  # characters read to detect a file's format
Progress = Callable[[int], None]


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    read: int = 0  # records read so far, refused ones included (what the progress bar counts)

    def summary(self) -> str:
        return f"imported {self.imported}, duplicates {self.duplicates}, refused {len(self.refused)}"


# -- detection ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileKind:
    format: str  # ledger | openai-csv | openai-cost-csv | litellm
    syntax: str  # jsonl | csv: how its lines hold records
    document: bool  # the whole file is one JSON document (an array, or {"data": [...]}): LiteLLM's spend logs


def _head(path: Path) -> str:
    # A byte that is not UTF-8 refuses its own line later; detection reads past it.
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        return fh.read(HEAD)


def _columns(head: str) -> set[str]:
    """The field names of the first record: a CSV header, or the keys of the first JSON object."""
    text = head.lstrip()
    if text.startswith("["):
        text = text[1:].lstrip()
    if text.startswith("{"):
        line = text.split("\n", 1)[0]
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if '"data"' in text[:200]:
                return {"request_id", "startTime"}  # a LiteLLM /spend/logs/v2 answer
            # A pretty-printed JSON array: keys appear as "key": on the first lines.
            return {part.split('"')[1] for part in text[:4000].split("\n") if part.strip().startswith('"')}
        if isinstance(obj, dict) and isinstance(obj.get("data"), list):
            return {"request_id", "startTime"}
        return set(obj) if isinstance(obj, dict) else set()
    first = next(csv.reader([text.split("\n", 1)[0]]), [])
    return {c.strip() for c in first}


def detect(path: str | Path) -> FileKind:
    """A file's format, from its header (CSV) or its first object (JSON), and how its records are written: JSON
    lines or CSV by its suffix (.jsonl, .ndjson, .json; .csv), else by its first character."""
    path = Path(path)
    head = _head(path)
    cols = _columns(head)
    if {"amount_value", "line_item"} <= cols:
        kind = "openai-cost-csv"
    elif "num_model_requests" in cols or (
        {"start_time", "input_tokens", "output_tokens"} <= cols and "job_id" not in cols
    ):
        kind = "openai-csv"
    elif "request_id" in cols and ({"startTime", "call_type", "spend"} & cols):
        kind = "litellm"
    else:
        kind = "ledger"
    text = head.lstrip()
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        syntax = "jsonl"
    elif suffix == ".csv":
        syntax = "csv"
    else:
        syntax = "jsonl" if text.startswith("{") else "csv"
    return FileKind(kind, syntax, text.startswith("[") or (text.startswith("{") and '"data"' in text[:200]))


# -- rows ----------------------------------------------------------------------------------------------------
def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """(line number, line, bytes cut from its start: a BOM) of each line that is not blank."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            shift = len(BOM) if lineno == 1 and line.startswith(BOM) else 0
            line = line[shift:]
            if line.strip():
                yield lineno, line, shift


def iter_rows(path: Path, syntax: str | None = None) -> Iterator[Row]:
    """Yield (line number, row, why the line is refused) for each record of a JSONL or CSV file (`syntax`, or as
    detected). A line that is not valid UTF-8, or a CSV field over the csv module's limit, refuses its own record
    only."""
    if (syntax or detect(path).syntax) == "jsonl":
        for lineno, line, shift in _jsonl_lines(path):
            yield lineno, *json_line(line, shift)
        return
    with open(path, "rb") as fh:
        bom = len(BOM) if fh.read(len(BOM)) == BOM else 0
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        yield from csv_rows(fh, bom)


# -- import --------------------------------------------------------------------------------------------------
def import_rows(
    rows: Iterable[Row],
    *,
    company: str | None = None,
    source: str = "import",
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate and ingest rows in batches (columnar: core/ingest/frames.py); each batch is one transaction."""
    result = ImportResult()
    return _store(_row_batches(rows, company, result, progress), result, source, now, progress)


def import_file(
    path: str | Path, *, company: str | None = None, progress: bool = False, now: datetime | None = None
) -> ImportResult:
    """Import a file in the ledger's own format (JSONL or CSV)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import file not found: {path}")
    bar = progress_printer(path) if progress else None
    syntax = detect(path).syntax
    if syntax == "csv":
        return import_rows(iter_rows(path, syntax), company=company, now=now, progress=bar)
    result = ImportResult()
    return _store(_jsonl_batches(path, company, result, bar), result, "import", now, bar)


def _store(
    batches: Iterator[tuple[pd.DataFrame, Sequence, list[int]]],
    result: ImportResult,
    source: str,
    now: datetime | None,
    progress: Progress | None,
) -> ImportResult:
    for lines, res in ingest_frames(((f, r, ln) for f, r, ln in batches), source=source, now=now or datetime.now(UTC)):
        result.imported += res.inserted
        result.duplicates += res.duplicates
        result.refused.extend((lines[pos], reason) for pos, reason in res.refused)
        for pos, job_id in res.conflicts:
            result.refused.append((lines[pos], f"job_id={job_id!r}: already recorded with different content"))
    if progress:
        progress(result.read)
    result.refused.sort()
    return result


def _company_refusal(company: str, given) -> str:
    return f"company={given!r}: differs from --company {company!r}"


def _row_batches(
    rows: Iterable[Row], company: str | None, result: ImportResult, progress: Progress | None, counted: bool = False
):
    """Parsed rows in batches of BATCH: (frame, the rows as given, their line numbers). `counted`: the rows are
    already in `result.read`."""
    raw: list[dict] = []
    lines: list[int] = []
    for lineno, row, error in rows:
        if not counted:
            result.read += 1
        if error is not None:
            result.refused.append((lineno, error))
        elif company and row.get("company") and row["company"] != company:
            result.refused.append((lineno, _company_refusal(company, row["company"])))
        else:
            raw.append({**row, "company": company} if company else row)
            lines.append(lineno)
        if len(raw) >= BATCH:
            yield pd.DataFrame.from_records(raw), raw, lines
            raw, lines = [], []
        if progress and result.read % 10_000 == 0:
            progress(result.read)
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
_JSON_TEXT = pa.schema(
    [
        (name, pa.string())
        for name in (
            "job_id",
            "created_at",
            "company",
            "brand",
            "provider",
            "model",
            "job_type",
            "status",
            "operation",
            "description",
        )
    ]
)


def _jsonl_batches(path: Path, company: str | None, result: ImportResult, progress: Progress | None):
    """A JSONL file in blocks of BATCH lines, each parsed at once by Arrow's JSON reader; a block it cannot read
    (a malformed line, a field whose type changes) is parsed line by line, with the same messages."""
    block: list[tuple[int, bytes, int]] = []
    for item in _jsonl_lines(path):
        block.append(item)
        if len(block) >= BATCH:
            yield from _jsonl_block(block, company, result)
            block = []
            if progress:
                progress(result.read)
    if block:
        yield from _jsonl_block(block, company, result)


def _jsonl_block(block: list[tuple[int, bytes, int]], company: str | None, result: ImportResult):
    result.read += len(block)
    numbers = [lineno for lineno, _, _ in block]
    lines = [line if line.endswith(b"\n") else line + b"\n" for _, line, _ in block]
    try:
        table = pa_json.read_json(
            io.BytesIO(b"".join(lines)),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 30),
            parse_options=pa_json.ParseOptions(explicit_schema=_JSON_TEXT),
        )
        table.validate(full=True)  # the reader lets invalid UTF-8 through; this catches it
        if table.num_rows != len(lines):
            raise ValueError("a line did not give one record")
    except (pa.ArrowInvalid, ValueError):
        rows = ((lineno, *json_line(line, shift)) for lineno, line, shift in block)
        yield from _row_batches(rows, company, result, None, counted=True)
        return
    frame = table.to_pandas()
    if company and "company" in frame.columns:
        given = frame["company"]
        other = (given.notna() & (given != "") & (given != company)).to_numpy(dtype=bool)
        if other.any():
            for i in np.flatnonzero(other):
                result.refused.append((numbers[i], _company_refusal(company, given.iloc[i])))
            keep = np.flatnonzero(~other)
            frame = frame.iloc[keep].reset_index(drop=True)
            lines, numbers = [lines[i] for i in keep], [numbers[i] for i in keep]
    if company:
        frame["company"] = company
    yield frame, _Lines(lines, company), numbers


def progress_printer(path: Path) -> Callable[[int], None]:
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
