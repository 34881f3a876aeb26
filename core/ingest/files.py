"""Import usage files (JSONL or CSV, one record per line/row) through the bulk path.

Valid records are stored, each refused one is reported with its line number and reason; duplicates (same
job_id, same content) are counted, never stored twice.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
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
from core.errors import InvalidRecord

BATCH = 50_000  # records per transaction: large enough for COPY to pay off, small enough to bound memory
BOM = codecs.BOM_UTF8
Row = tuple[int, dict | None, str | None]  # (line number, record, why the line is refused)
# Bytes that are not UTF-8, kept as U+DC80..U+DCFF by errors="surrogateescape" (so that only their line is lost).
_ESCAPED = re.compile("[\udc80-\udcff]")
_CSV_SPECIAL = re.compile(r'[",\r\n]')


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


def iter_rows(path: Path) -> Iterator[Row]:
    """Yield (line number, row, parse error) for each record of a JSONL or CSV file. A line that is not valid
    UTF-8, or a CSV field over the csv module's limit, refuses its own record only."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    bom = len(BOM) if head.startswith(BOM) else 0
    if _detect_format(path, head[bom:].decode("utf-8", "replace")) == "jsonl":
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                shift = bom if lineno == 1 else 0
                raw = raw[shift:]
                if not raw.strip():
                    continue
                text, error = decode_line(raw, shift)
                yield (lineno, None, error) if error else (lineno, *_parse_json_line(text))
    else:
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            yield from csv_rows(fh, bom)


def decode_line(raw: bytes, shift: int = 0) -> tuple[str | None, str | None]:
    """(text, None), or (None, where the line stops being UTF-8); `shift`: bytes cut from the line's start (a BOM)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, f"not valid UTF-8 at byte {e.start + 1 + shift} (0x{raw[e.start]:02x})"


def _escaped_byte(text: str, shift: int = 0) -> str | None:
    """Where a line decoded with errors="surrogateescape" held a byte that is not UTF-8, or None."""
    m = _ESCAPED.search(text)
    if m is None:
        return None
    offset = len(text[:m.start()].encode("utf-8", "surrogateescape")) + 1 + shift
    return f"not valid UTF-8 at byte {offset} (0x{ord(m.group()) - 0xDC00:02x})"


def unreadable_text(row: dict, *, escaped_bytes: bool = False) -> str | None:
    """Why a parsed record holds text no database can store, naming the field: half a surrogate pair (from a JSON
    escape), or with `escaped_bytes` (text decoded with errors="surrogateescape") a byte that was not UTF-8.
    None when it holds none."""
    for key, value in row.items():
        try:
            json.dumps([key, value], ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            m = _ESCAPED.search(json.dumps([key, value], ensure_ascii=False, default=str)) if escaped_bytes else None
            if m is None:
                return str(InvalidRecord(key, value, "is not valid Unicode (a lone surrogate)"))
            shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace") \
                if isinstance(value, str) else value
            return str(InvalidRecord(key, shown, f"not valid UTF-8 (byte 0x{ord(m.group()) - 0xDC00:02x})"))
    return None


class _Tap:
    """The lines a csv.reader takes, counted, those of the current record kept: a refusal then names the line
    and byte of a bad byte, and the field over the size limit."""

    __slots__ = ("_lines", "number", "record", "escaped")

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self.number = 0
        self.start()

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.number += 1
        self.record.append(line)
        if not line.isascii() and _ESCAPED.search(line):
            self.escaped = True
        return line

    def start(self) -> None:
        self.record: list[str] = []
        self.escaped = False

    @property
    def first(self) -> int:
        return self.number - len(self.record) + 1

    def bad_byte(self, bom: int) -> tuple[int, str]:
        """(line, why) of the record's first byte that is not UTF-8 (when `escaped`)."""
        first = self.first
        return next((first + k, why) for k, line in enumerate(self.record)
                    if (why := _escaped_byte(line, bom if first + k == 1 else 0)))

    def skip_quoted(self) -> bool:
        """Take the lines of a quoted field left open by a refused record (the csv module stops at the error);
        False when the file ends first."""
        quoted = True
        while quoted:
            line = next(self._lines, None)
            if line is None:
                return False
            self.number += 1
            quoted = _csv_scan(line, quoted=True)[1]
        return True


def _csv_scan(text: str, quoted: bool = False) -> tuple[list[int], bool]:
    """The length of each field of CSV text (excel dialect), and whether the text ends inside a quoted field."""
    lengths: list[int] = []
    start = i = 0
    n = len(text)
    while i < n:
        if quoted:
            j = text.find('"', i)
            if j < 0:
                break
            if text.startswith('"', j + 1):  # a doubled quote: part of the field
                i = j + 2
                continue
            quoted, i = False, j + 1
            continue
        m = _CSV_SPECIAL.search(text, i)
        if m is None:
            break
        j = m.start()
        if text[j] == '"':
            quoted = j == start  # a quote opens a field only at its start
            i = j + 1
            continue
        lengths.append(j - start)
        start = i = j + 1
    lengths.append(n - start)
    return lengths, quoted


def _csv_refusal(tap: _Tap, error: csv.Error, header: list[str] | None) -> str:
    lengths, quoted = _csv_scan("".join(tap.record))
    closed = tap.skip_quoted() if quoted else True
    tail = "" if closed else " (a quoted field opened there is never closed)"
    limit = csv.field_size_limit()
    if "field limit" not in str(error):
        return f"not valid CSV: {error}{tail}"
    over = next((i for i, n in enumerate(lengths) if n > limit), None)
    if over is None:
        name = "a field"
    elif header is not None and over < len(header):
        name = f"field {header[over]!r}"
    else:
        name = f"field {over + 1}"
    return f"{name} is longer than {limit:,} characters, the CSV field limit{tail}"


def csv_rows(lines: Iterable[str], bom: int = 0) -> Iterator[Row]:
    """Records of CSV text (lines decoded with errors="surrogateescape"), keyed by the header, numbered by their
    last line as csv.DictReader does. A record with a byte that is not UTF-8 is refused at that byte's line; a
    record with a field over the csv module's limit is refused, the rest of the file read on."""
    tap = _Tap(lines)
    reader = csv.reader(tap)
    header: list[str] | None = None
    width = 0
    unnamed: list[int] = []  # header columns whose name is not UTF-8: their values cannot be placed
    while True:
        tap.start()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            first = tap.first
            yield first, None, _csv_refusal(tap, e, header)
            continue
        if header is None:
            if not values:
                continue
            header, width = values, len(values)
            if tap.escaped:
                line, why = tap.bad_byte(bom)
                unnamed = [k for k, name in enumerate(header) if _ESCAPED.search(name)]
                columns = ", ".join(str(k + 1) for k in unnamed)
                yield line, None, f"{why} in the header: column {columns} has no readable name"
            continue
        if tap.escaped:
            line, why = tap.bad_byte(bom)
            yield line, None, why
            continue
        if not values:
            continue
        if len(values) == width and not unnamed:  # the common case
            yield tap.number, dict(zip(header, values)), None
            continue
        if len(values) > width:
            yield tap.number, None, "more values than header columns"
            continue
        lost = next((k for k in unnamed if k < len(values) and values[k].strip()), None)
        if lost is not None:
            yield tap.number, None, f"column {lost + 1}: a value under a header name that is not valid UTF-8"
            continue
        row = dict(zip(header, values))
        for name in header[len(values):]:
            row.setdefault(name, None)
        for k in unnamed:  # empty here; a name no database can store goes too
            row.pop(header[k], None)
        yield tap.number, row, None


def import_rows(rows: Iterator[tuple[int, dict | None, str | None]], *, company: str | None = None,
                source: str = "import", now: datetime | None = None,
                progress: Callable[[int], None] | None = None) -> ImportResult:
    """Validate and ingest rows in batches (columnar: core/ingest/frames.py); each batch is one transaction."""
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
        bom = 0
        for lineno, line in enumerate(fh, start=1):
            if lineno == 1 and line.startswith(BOM):
                line, bom = line[len(BOM):], len(BOM)
            if not line.strip():
                continue
            lines.append(line if line.endswith(b"\n") else line + b"\n")
            numbers.append(lineno)
            if len(lines) >= BATCH:
                yield from _jsonl_block(lines, numbers, company, result, seen, bom)
                lines, numbers = [], []
                if progress:
                    progress(seen[0])
        if lines:
            yield from _jsonl_block(lines, numbers, company, result, seen, bom)


def _jsonl_block(lines: list[bytes], numbers: list[int], company: str | None, result: ImportResult,
                 seen: list[int], bom: int = 0):
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
        yield from _row_batches(_parse_lines(lines, numbers, bom), company, result, None, [0])  # already counted
        return
    if company:
        frame["company"] = company
    yield frame, _Lines(lines, company), numbers


def _parse_lines(lines: list[bytes], numbers: list[int], bom: int = 0) -> Iterator[Row]:
    for lineno, line in zip(numbers, lines):
        text, error = decode_line(line, bom if lineno == 1 else 0)
        yield (lineno, None, error) if error else (lineno, *_parse_json_line(text))


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _parse_json_line(line: str) -> tuple[dict | None, str | None]:
    """(record, None) or (None, why the line is refused)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} at column {e.colno}"
    if not isinstance(row, dict):
        return None, "a line must hold one JSON object"
    if "\\u" in line and _SURROGATE_ESCAPE.search(line):  # half a pair decodes to text no database stores
        why = unreadable_text(row)
        if why:
            return None, why
    return row, None


def import_file(path: str | Path, *, company: str | None = None, progress: bool = False,
                now: datetime | None = None) -> ImportResult:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import file not found: {path}")
    bar = progress_printer(path) if progress else None
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        head = fh.read(4096)
    if _detect_format(path, head) == "jsonl":
        result, seen = ImportResult(), [0]
        return _ingest(_jsonl_batches(path, company, result, bar, seen), result, "import", now, bar, seen)
    return import_rows(iter_rows(path), company=company, now=now, progress=bar)


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
