"""POST /v1/usage: usage records in the import format of `python -m core import` (a JSON array, or JSON lines),
validated and stored as that command does; the answer lists what was imported, the duplicates and each refused
record (its line, or its position in the array, the field and the reason).

The key decides the company (a record naming another is refused) and, when it fixes one, the brand.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

from core.server.http import HttpError, respond_json

_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)=")
SOURCE = "import"


def _json_lines(body: bytes) -> Iterator[tuple[int, dict | None, str | None]]:
    """Rows of JSON lines with the rules of an imported file: a line that is not UTF-8, not JSON or not one object
    refuses itself only."""
    from core.ingest.lines import decode_line, unreadable_text

    for lineno, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        text, error = decode_line(raw)
        if error:
            yield lineno, None, error
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            yield lineno, None, f"invalid JSON: {e.msg} at column {e.colno}"
            continue
        if not isinstance(row, dict):
            yield lineno, None, "a line must hold one JSON object"
        elif why := unreadable_text(row):
            yield lineno, None, why
        else:
            yield lineno, row, None


def _rows(body: bytes) -> Iterator[tuple[int, dict | None, str | None]]:
    from core.ingest.lines import unreadable_text

    if not body.lstrip().startswith(b"["):
        yield from _json_lines(body)
        return
    try:
        items = json.loads(body)
    except ValueError as e:
        raise HttpError(400, "invalid_json", f"the body is not a valid JSON array: {e}") from None
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield i, None, "an element must be a JSON object"
        elif why := unreadable_text(item):
            yield i, None, why
        else:
            yield i, item, None


def _scoped(rows, key) -> Iterator[tuple[int, dict | None, str | None]]:
    for line, row, error in rows:
        if row is not None:
            for name, fixed in (("company", key.company), ("brand", key.brand)):
                given = row.get(name)
                if fixed is None or given in (None, ""):
                    continue
                if given != fixed:
                    row, error = None, f"{name}={given!r}: differs from the gateway key's {name} {fixed!r}"
                    break
            if row is not None:
                row = {**row, "company": key.company} | ({"brand": key.brand} if key.brand else {})
        yield line, row, error


def import_body(body: bytes, key) -> dict:
    from core.ingest.files import import_rows

    # A malformed array is refused whole, before anything is stored.
    rows = list(_rows(body.removeprefix(b"\xef\xbb\xbf")))
    if not rows:
        raise HttpError(400, "invalid_body", "no records: send a JSON array or JSON lines of usage records")
    result = import_rows(iter(_scoped(rows, key)), source=SOURCE)
    refused = []
    for line, reason in result.refused:
        m = _FIELD.match(reason)
        refused.append({"line": line, "field": m.group(1) if m else None, "reason": reason})
    return {"imported": result.imported, "duplicates": result.duplicates, "refused": refused}


async def receive_usage(gw, send, body: bytes, key) -> int:
    report = await asyncio.get_running_loop().run_in_executor(None, import_body, body, key)
    m = gw.metrics
    for result, n in (
        ("imported", report["imported"]),
        ("duplicate", report["duplicates"]),
        ("refused", len(report["refused"])),
    ):
        if n:
            m.child(m.usage_records, result).inc(n)
    await respond_json(send, 200, report)
    return 200
