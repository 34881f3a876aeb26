"""Whole-column validation of raw usage records: the rules of `validate_record`, applied a column at a time.

A row that is not plainly well-formed (an odd type, a missing required field, a value out of range, a timestamp
in an unusual shape...) is marked for the scalar validator instead, which names the field and the value — so
every stored value and every refusal message is the one the row path gives; only the speed differs.
"""

from __future__ import annotations

import binascii
import hashlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import InvalidRecord
from core.ingest.checks import MAX_FUTURE, record_cost
from core.storage.bounds import MAX_RECORD_COST_MICROS, RECORD_COUNT_MAX
from core.storage.models import DEFAULT_BRAND, JOB_STATUSES, NO_OPERATION

MAX_SECONDS = 86400 * 7
# The timestamp shapes parsed here; anything else goes to the scalar parser (datetime.fromisoformat).
ISO_RE = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|z|[+-]\d{2}:\d{2})?"
CONTROL_RE = r"[\x00-\x1f\x7f]"


class _Checker:
    """Column checks for one frame; `bad` marks the rows the scalar validator must see."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.n = len(frame)
        self.bad = np.zeros(self.n, dtype=bool)

    def column(self, name: str) -> pd.Series | None:
        return self.frame[name] if name in self.frame.columns else None

    def missing(self, s: pd.Series) -> np.ndarray:
        miss = s.isna().to_numpy().copy()  # pandas hands out read-only views
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            strs = s.astype("str")
            miss |= (strs.str.strip() == "").fillna(False).to_numpy(dtype=bool)
        return miss

    def text(
        self, name: str, default: str | None = None, max_len: int = 200, lower: bool = False, optional: bool = False
    ) -> pa.Array:
        """The column as Arrow strings, defaults filled in. Values the scalar path would change (surrounding
        blanks, non-ASCII case folding) are left to it, so both paths store the same text."""
        s = self.column(name)
        if s is None:
            if default is None and not optional:
                self.bad[:] = True
            return pa.nulls(self.n, pa.string()) if default is None else pa.repeat(pa.scalar(default), self.n)
        if pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty"):
            self.bad |= ~s.isna().to_numpy()  # numbers or mixed types where text is expected
            s = s.where(s.isna(), None)
        arr = pa.array(s.astype("str"), pa.string(), from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        plain = _plain_text(arr)
        if plain is not None:
            # Printable ASCII without blanks at either end: nothing to trim or fold, no control character, and
            # the byte length is the length in characters.
            miss, size = plain
            self.bad |= size > max_len
        else:
            trimmed = pc.utf8_trim_whitespace(arr)
            miss = _mask(pc.or_kleene(pc.is_null(arr), pc.equal(trimmed, "")))
            changed = _mask(pc.not_equal(trimmed, arr)) & ~miss
            too_long = _mask(pc.greater(pc.utf8_length(arr), max_len))
            control = _mask(pc.match_substring_regex(arr, CONTROL_RE))
            self.bad |= changed | too_long | control
            if lower:
                self.bad |= ~_mask(pc.string_is_ascii(arr)) & ~miss
        if default is None and not optional:
            self.bad |= miss
        if lower:
            arr = pc.ascii_lower(arr)
        if miss.any():
            fill = pa.scalar(default, pa.string())
            arr = pc.if_else(pa.array(miss), fill, arr)
        return arr

    def number(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(float values, missing mask); rows with a value that is not a plain finite number are marked bad."""
        s = self.column(name)
        if s is None:
            return np.zeros(self.n), np.ones(self.n, dtype=bool)
        if pd.api.types.is_bool_dtype(s.dtype):
            self.bad |= ~s.isna().to_numpy()
            return np.zeros(self.n), s.isna().to_numpy()
        if pd.api.types.is_numeric_dtype(s.dtype):
            vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
            miss = np.isnan(vals)
        else:
            miss = self.missing(s)
            if s.dtype == object:
                is_bool = np.frompyfunc(lambda v: type(v) is bool, 1, 1)(s.to_numpy()).astype(bool)
                self.bad |= is_bool
            vals = pd.to_numeric(s.where(~miss, None), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            self.bad |= np.isnan(vals) & ~miss
        finite = np.isfinite(vals)
        self.bad |= ~miss & ~finite
        return np.where(miss | ~finite, 0.0, vals), miss

    def count(self, name: str, default: int | np.ndarray | None) -> np.ndarray:
        out, miss = self.optional_count(name)
        if default is None:
            self.bad |= miss
        elif miss.any():
            out = np.where(miss, default, out)
        return out

    def optional_count(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, missing mask): a missing value is 0 in the values, for the caller to fill or store as NULL."""
        vals, miss = self.number(name)
        maximum = RECORD_COUNT_MAX[name]
        self.bad |= (vals != np.floor(vals)) | (vals < 0) | (vals > maximum)
        return np.clip(vals, 0, maximum).astype(np.int64), miss

    def timestamps(self, name: str, now: datetime) -> np.ndarray:
        """UTC datetime64[us]; rows without a timestamp (the scalar path stamps them `now`) are marked bad."""
        s = self.column(name)
        if s is None:
            self.bad[:] = True
            return np.zeros(self.n, dtype="datetime64[us]")
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            ts = s.dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_datetime64_dtype(s.dtype):
            ts = s  # naive: taken as UTC, as the scalar path does
        else:
            kind = pd.api.types.infer_dtype(s, skipna=True)
            if kind == "string":
                ok = s.astype("str").str.fullmatch(ISO_RE).fillna(False).to_numpy(dtype=bool)
                self.bad |= ~ok
                ts = pd.to_datetime(s.where(ok, None), format="ISO8601", utc=True, errors="coerce")
            elif kind == "datetime":
                ts = pd.to_datetime(s, utc=True, errors="coerce")
            else:
                self.bad[:] = True
                return np.zeros(self.n, dtype="datetime64[us]")
            ts = ts.dt.tz_localize(None)
        arr = ts.to_numpy(dtype="datetime64[us]")
        nat = np.isnat(arr)
        self.bad |= nat
        limit = np.datetime64((now + MAX_FUTURE).astimezone(UTC).replace(tzinfo=None), "us")
        self.bad |= ~nat & (arr > limit)
        return np.where(nat, np.datetime64(0, "us"), arr)


def _plain_text(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(missing mask, byte length of each value) of a column whose bytes are all printable ASCII (0x20-0x7e) and
    whose values have no space at either end — the common case, read from the Arrow buffers in a few numpy passes
    instead of five string kernels (the control-character regex alone cost 60 ns a row); None for any other column,
    which the string kernels judge. Missing: NULL or "" (with no blanks, trimming changes nothing)."""
    if arr.type != pa.string() or arr.buffers()[2] is None:
        return None
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    start = int(offsets[0])
    body = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[start : offsets[-1]]
    if body.size and (body.min() < 0x20 or body.max() > 0x7E):
        return None
    size = np.diff(offsets)
    full = size > 0
    # Only a space can be trimmed from printable ASCII: look at the first and last byte of each value.
    if (body[offsets[:-1][full] - start] == 0x20).any() or (body[offsets[1:][full] - 1 - start] == 0x20).any():
        return None
    miss = ~full if not arr.null_count else ~full | ~pc.is_valid(arr).to_numpy(zero_copy_only=False)
    return miss, np.where(miss, 0, size)


def _mask(arr) -> np.ndarray:
    """An Arrow boolean result as a numpy mask, nulls counting as False."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _isoformat(ts: np.ndarray) -> pa.Array:
    """datetime.isoformat() of aware UTC datetimes, for the fingerprint (no fraction when it is zero)."""
    text = pc.cast(pa.array(ts, pa.timestamp("us")), pa.string())  # 2026-10-01 10:00:00.123456
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    whole = ts.astype(np.int64) % 1_000_000 == 0
    if whole.any():  # cut ".000000" (a slice where needed costs less than a regex on every row)
        text = pc.if_else(pa.array(whole), pc.utf8_slice_codeunits(text, 0, 19), text)
    return pc.binary_join_element_wise(text, "+00:00", "")


def _money_column(chk: _Checker, name: str) -> tuple[np.ndarray, list]:
    """(micro-dollars, the Decimal or None per row as the fingerprint shows it); bad values go to the scalar path."""
    micro = np.zeros(chk.n, dtype=np.int64)
    shown: list = [None] * chk.n
    s = chk.column(name)
    if s is None:
        return micro, shown
    miss = chk.missing(s)
    values = s.to_numpy(dtype=object)
    for i in np.flatnonzero(~miss):
        try:
            d = record_cost(name, values[i])
        except InvalidRecord:
            chk.bad[i] = True
            continue
        micro[i] = int(d.scaleb(6))
        shown[i] = d
    return micro, shown


def check_frame(frame: pd.DataFrame, now: datetime, default_company: str | None = None) -> tuple[dict, np.ndarray]:
    """Typed columns for every row, and the mask of rows the scalar validator must judge."""
    chk = _Checker(frame)
    c: dict = {}
    status = chk.text("status", default="completed", max_len=16, lower=True)
    chk.bad |= ~_mask(pc.is_in(status, value_set=pa.array(JOB_STATUSES)))
    completed = _mask(pc.equal(status, "completed"))
    c["status"] = status
    c["job_id"] = chk.text("job_id")
    for name in ("input_tokens", "output_tokens"):
        c[name] = chk.count(name, None)
    for name in ("cached_tokens", "cache_write_tokens", "reasoning_tokens"):
        c[name] = chk.count(name, 0)
    chk.bad |= c["cached_tokens"] + c["cache_write_tokens"] > c["input_tokens"]
    chk.bad |= c["reasoning_tokens"] > c["output_tokens"]
    secs, secs_missing = chk.number("execution_time_seconds")
    chk.bad |= (secs < 0) | (secs > MAX_SECONDS)
    ms = secs * 1000
    # Half-way cases are where float and decimal rounding could disagree: the scalar path decides them.
    chk.bad |= np.abs(ms - np.floor(ms) - 0.5) < 1e-6
    # A missing time or memory is 0 in its column and flagged: written as NULL, left out of the measured jobs.
    c["execution_ms"] = np.where(secs_missing, 0, np.rint(np.clip(ms, 0, MAX_SECONDS * 1000))).astype(np.int64)
    c["timed"] = ~secs_missing
    success = chk.column("success_rate")
    if success is not None:
        chk.bad |= ~chk.missing(success)  # rare outside record_usage: judged row by row
    c["success_rate"] = np.where(completed, 1.0, 0.0)
    c["created_at"] = chk.timestamps("created_at", now)
    c["company"] = chk.text("company", default=default_company or "default")
    c["brand"] = chk.text("brand", default=DEFAULT_BRAND)
    c["provider"] = chk.text("provider", max_len=64, lower=True)
    c["model"] = chk.text("model")
    c["job_type"] = chk.text("job_type", default="chat_completion", max_len=64)
    c["memory_usage_mb"], memory_missing = chk.optional_count("memory_usage_mb")
    c["memory_measured"] = ~memory_missing
    c["error_count"] = chk.count("error_count", np.where(completed, 0, 1))
    c["operation"] = chk.text("operation", default=NO_OPERATION)
    c["description"] = chk.text("description", max_len=2000, optional=True)
    for name in ("error_class", "request_id"):
        extra = chk.column(name)
        if extra is not None:
            chk.bad |= ~chk.missing(extra)  # set by the tracked client, not by imports: row by row
    c["bill_in"], bill_in_shown = _money_column(chk, "cost_input")
    c["bill_out"], bill_out_shown = _money_column(chk, "cost_output")
    chk.bad |= c["bill_in"] + c["bill_out"] > MAX_RECORD_COST_MICROS  # the scalar path names the field
    c["billed"] = np.array([a is not None or b is not None for a, b in zip(bill_in_shown, bill_out_shown)], dtype=bool)
    c["fingerprint"] = _fingerprints(c, bill_in_shown, bill_out_shown)
    return c, chk.bad


def _fingerprints(c: dict, bill_in: list, bill_out: list) -> pa.Array:
    """UsageRecord.compute_fingerprint for every row (same parts, same order, same bytes), as Arrow strings: the
    parts joined by Arrow, each row's UTF-8 bytes hashed straight from the Arrow buffer, the digests turned to hex
    at once."""
    s = pa.string()
    text = _str
    number = lambda values: pc.cast(pa.array(values), s)  # noqa: E731
    parts = [
        text(c["job_id"]),
        text(_isoformat(c["created_at"])),
        text(c["company"]),
        text(c["brand"]),
        text(c["provider"]),
        text(c["model"]),
        text(c["job_type"]),
        text(c["status"]),
        *(
            number(c[k])
            for k in (
                "input_tokens",
                "output_tokens",
                "cached_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "execution_ms",
                "memory_usage_mb",
                "error_count",
            )
        ),
        pc.if_else(pa.array(c["success_rate"] == 1.0), "1.0", "0.0"),
        text(c["operation"]),
        text(c["description"]).fill_null(""),
        _decimal_text(bill_in),
        _decimal_text(bill_out),
    ]
    joined = pc.binary_join_element_wise(*parts, "\x1f").cast(pa.large_binary())
    return _sha256_hex(joined)


def _decimal_text(values: list) -> pa.Array:
    """str() of each Decimal or None, as the fingerprint shows it ("None" for no value)."""
    if all(v is None for v in values):
        return pa.repeat(pa.scalar("None"), len(values))
    return pa.array([str(v) for v in values], pa.string())


def _sha256_hex(data: pa.LargeBinaryArray) -> pa.Array:
    """The SHA-256 hex digest of each value, "" for a null (a row with gaps, refused, judged again by the scalar
    path: no fingerprint)."""
    n = len(data)
    valid = pc.is_valid(data).to_numpy(zero_copy_only=False)
    offsets = np.frombuffer(data.buffers()[1], dtype=np.int64)[data.offset : data.offset + n + 1]
    body = data.buffers()[2]
    raw = memoryview(b"" if body is None else body)
    sha = hashlib.sha256
    # One hashlib call per row (about 0.45 µs) is the floor: no per-row work around it but the slice.
    starts, ends = (offsets[:-1], offsets[1:]) if data.null_count == 0 else (offsets[:-1][valid], offsets[1:][valid])
    digests = b"".join([sha(raw[a:b]).digest() for a, b in zip(starts.tolist(), ends.tolist())])
    hexed = binascii.hexlify(digests)  # lowercase, as hexdigest() gives; in C, unlike numpy's three passes
    ends = np.concatenate([[0], np.cumsum(np.where(valid, 64, 0))]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(ends), pa.py_buffer(hexed)])


def _str(values) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, pa.string())
