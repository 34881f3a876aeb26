"""Records out of the lines of a file: UTF-8 decoded line by line (a bad byte refuses its own line), one JSON object
per line, or CSV records keyed by the header (the csv module's errors and field limit turned into refusals).

Each reader yields Row tuples (line number, record, why the line is refused): a refusal costs only its line.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator

from core.errors import InvalidRecord

Row = tuple[int, dict | None, str | None]  # (line number, record, why the line is refused)
# Bytes that are not UTF-8, kept as U+DC80..U+DCFF by errors="surrogateescape" (so that only their line is lost).
_ESCAPED = re.compile("[\udc80-\udcff]")
_CSV_SPECIAL = re.compile(r'[",\r\n]')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def decode_line(raw: bytes, shift: int = 0) -> tuple[str | None, str | None]:
    """(text, None), or (None, where the line stops being UTF-8); `shift`: bytes cut from the line's start (a BOM)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        return None, f"not valid UTF-8 at byte {e.start + 1 + shift} (0x{raw[e.start]:02x})"


def escaped_byte(text: str, shift: int = 0) -> str | None:
    """Where a line decoded with errors="surrogateescape" held a byte that is not UTF-8, or None."""
    m = _ESCAPED.search(text)
    if m is None:
        return None
    offset = len(text[: m.start()].encode("utf-8", "surrogateescape")) + 1 + shift
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
            shown = (
                value.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if isinstance(value, str) else value
            )
            return str(InvalidRecord(key, shown, f"not valid UTF-8 (byte 0x{ord(m.group()) - 0xDC00:02x})"))
    return None


def json_line(raw: bytes, shift: int = 0) -> tuple[dict | None, str | None]:
    """(record, None) or (None, why the line is refused), for one line of a JSONL file (bytes; `shift`: bytes cut
    from its start, a BOM)."""
    text, error = decode_line(raw, shift)
    if error is not None:
        return None, error
    try:
        row = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} at column {e.colno}"
    if not isinstance(row, dict):
        return None, "a line must hold one JSON object"
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):  # half a pair decodes to text no database stores
        why = unreadable_text(row)
        if why:
            return None, why
    return row, None


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
        return next(
            (first + k, why)
            for k, line in enumerate(self.record)
            if (why := escaped_byte(line, bom if first + k == 1 else 0))
        )

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
        for name in header[len(values) :]:
            row.setdefault(name, None)
        for k in unnamed:  # empty here; a name no database can store goes too
            row.pop(header[k], None)
        yield tap.number, row, None
