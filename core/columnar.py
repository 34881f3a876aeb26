"""Columnar ingest: a batch of raw records as a pandas frame, validated, priced and written a column at a time.

The rules are those of `validate_record`, applied to whole columns. A row that is not plainly well-formed (an
odd type, a missing required field, a value out of range, a timestamp in an unusual shape...) goes through the
scalar validator instead, which names the field and the value — so every stored value and every refusal message
is the one the row path gives; only the speed differs. Prices are looked up once per (provider, model, day) and
applied in integer micro-dollars with the catalog's exact decimal rates (no float ever touches money).
"""
from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core import rollup, writers
from core.db import get_engine, session_scope
from core.models import DEFAULT_BRAND, JOB_STATUSES, NO_OPERATION
from core.pricing import Pricer, apply_rates
from core.usage import IngestResult, _Names, ingest
from core.validation import MAX_FUTURE, InvalidRecord, UsageRecord, _money, validate_record

MAX_COUNT = 10**15
MAX_SECONDS = 86400 * 7
US_PER_DAY = 86_400_000_000
# The timestamp shapes parsed here; anything else goes to the scalar parser (datetime.fromisoformat).
ISO_RE = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|z|[+-]\d{2}:\d{2})?"
CONTROL_RE = r"[\x00-\x1f\x7f]"


@dataclass
class FrameResult:
    inserted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (position in the frame, job_id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (position in the frame, reason)


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

    def text(self, name: str, default: str | None = None, max_len: int = 200, lower: bool = False,
             optional: bool = False) -> pa.Array:
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
        trimmed = pc.utf8_trim_whitespace(arr)
        miss = _mask(pc.or_kleene(pc.is_null(arr), pc.equal(trimmed, "")))
        changed = _mask(pc.not_equal(trimmed, arr)) & ~miss
        too_long = _mask(pc.greater(pc.utf8_length(arr), max_len))
        control = _mask(pc.match_substring_regex(arr, CONTROL_RE))
        self.bad |= changed | too_long | control
        if default is None and not optional:
            self.bad |= miss
        if lower:
            self.bad |= ~_mask(pc.string_is_ascii(arr)) & ~miss
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
        vals, miss = self.number(name)
        if default is None:
            self.bad |= miss
        self.bad |= (vals != np.floor(vals)) | (vals < 0) | (vals > MAX_COUNT)
        out = np.clip(vals, 0, MAX_COUNT).astype(np.int64)
        if default is not None and miss.any():
            out = np.where(miss, default, out)
        return out

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


def _mask(arr) -> np.ndarray:
    """An Arrow boolean result as a numpy mask, nulls counting as False."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _isoformat(ts: np.ndarray) -> pa.Array:
    """datetime.isoformat() of aware UTC datetimes, for the fingerprint (no fraction when it is zero)."""
    text = pc.cast(pa.array(ts, pa.timestamp("us")), pa.string())  # 2026-10-01 10:00:00.123456
    text = pc.replace_substring_regex(pc.replace_substring(text, " ", "T", max_replacements=1), r"\.000000$", "")
    return pc.binary_join_element_wise(text, pa.repeat(pa.scalar("+00:00"), len(ts)), "")


def _round_half_even(num: np.ndarray, den: int) -> np.ndarray:
    q = num // den
    r2 = (num - q * den) * 2
    return q + ((r2 > den) | ((r2 == den) & (q % 2 == 1)))


def _scaled(value: Decimal | None, fallback: Decimal, exp: int) -> int:
    return int((fallback if value is None else Decimal(value)).scaleb(exp))


class _Prices:
    """Costs for a block of rows, in micro-dollars, the rates looked up once per (provider, model, day)."""

    def __init__(self, pricer: Pricer):
        self.pricer = pricer

    def costs(self, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(c["provider"])
        ci = np.zeros(n, dtype=np.int64)
        co = np.zeros(n, dtype=np.int64)
        status = np.full(n, "catalog", dtype=object)
        billed = c["billed"]
        day = (c["created_at"].astype(np.int64) // US_PER_DAY)
        uniq, first, codes = _factorize(c["provider"], c["model"], day)
        rates, per_row = [], np.zeros(len(uniq), dtype=bool)
        for k, (provider, model, _) in enumerate(uniq):
            at = pd.Timestamp(c["created_at"][first[k]]).tz_localize(UTC).to_pydatetime()
            # Overrides start at an exact instant: a day where one starts is priced row by row.
            per_row[k] = (provider, at.date()) in self.pricer._override_days
            rates.append(self.pricer.rates(provider, model, at))
        exp = max([0] + [-Decimal(v).as_tuple().exponent for r in rates for v in (r.input, r.output, r.cache_read,
                                                                                      r.cache_write) if v is not None])
        r_in = np.array([_scaled(r.input, r.input, exp) for r in rates] + [0], dtype=object)
        r_cache = np.array([_scaled(r.cache_read, r.input, exp) for r in rates] + [0], dtype=object)
        r_write = np.array([_scaled(r.cache_write, r.input, exp) for r in rates] + [0], dtype=object)
        r_out = np.array([_scaled(r.output, r.output, exp) for r in rates] + [0], dtype=object)
        kind = np.array([r.status if r.tiered is None else "tiered" for r in rates], dtype=object)
        row_kind = kind[codes]
        scalar = per_row[codes] | (row_kind == "tiered")
        plain = ~billed & ~scalar
        inp, out, cached, write = c["input_tokens"], c["output_tokens"], c["cached_tokens"], c["cache_write_tokens"]
        big = max(int(r_in.max()), int(r_cache.max()), int(r_write.max()), int(r_out.max()), 1)
        den = 10 ** exp
        if int(max(inp.max(initial=0), out.max(initial=0))) * big * 3 < 2**62:
            as_int = lambda a: a.astype(np.int64)  # noqa: E731
        else:  # products that could overflow int64: exact Python integers, slower but rare
            as_int = lambda a: a.astype(object)  # noqa: E731
        ri, rc, rw, ro = (as_int(a)[codes] for a in (r_in, r_cache, r_write, r_out))
        raw_in = (inp - cached - write) * ri + cached * rc + write * rw
        ci_all = _round_half_even(raw_in, den).astype(np.int64)
        co_all = _round_half_even(out * ro, den).astype(np.int64)
        ci[plain], co[plain] = ci_all[plain], co_all[plain]
        status[plain] = row_kind[plain]
        for i in np.flatnonzero(scalar & ~billed):
            at = pd.Timestamp(c["created_at"][i]).tz_localize(UTC).to_pydatetime()
            cost = self.pricer.price(provider=c["provider"][i].as_py(), model=c["model"][i].as_py(), at=at,
                                     input_tokens=int(inp[i]), output_tokens=int(out[i]),
                                     cached_tokens=int(cached[i]), cache_write_tokens=int(write[i]))
            ci[i], co[i] = int(cost.cost_input.scaleb(6)), int(cost.cost_output.scaleb(6))
            status[i] = cost.pricing_status
        unpriced = plain & (row_kind == "unpriced")
        ci[unpriced] = co[unpriced] = 0
        ci[billed], co[billed] = c["bill_in"][billed], c["bill_out"][billed]
        status[billed] = "billed"
        return ci, co, status


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
            d = _money(name, values[i])
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
    chk.bad |= (c["cached_tokens"] + c["cache_write_tokens"] > c["input_tokens"])
    chk.bad |= c["reasoning_tokens"] > c["output_tokens"]
    secs, secs_missing = chk.number("execution_time_seconds")
    chk.bad |= (secs < 0) | (secs > MAX_SECONDS)
    ms = secs * 1000
    # Half-way cases are where float and decimal rounding could disagree: the scalar path decides them.
    chk.bad |= np.abs(ms - np.floor(ms) - 0.5) < 1e-6
    c["execution_ms"] = np.where(secs_missing, 0, np.rint(np.clip(ms, 0, MAX_SECONDS * 1000))).astype(np.int64)
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
    c["memory_usage_mb"] = chk.count("memory_usage_mb", 0)
    c["error_count"] = chk.count("error_count", np.where(completed, 0, 1))
    c["operation"] = chk.text("operation", default=NO_OPERATION)
    c["description"] = chk.text("description", max_len=2000, optional=True)
    for name in ("error_class", "request_id"):
        extra = chk.column(name)
        if extra is not None:
            chk.bad |= ~chk.missing(extra)  # set by the tracked client, not by imports: row by row
    c["bill_in"], bill_in_shown = _money_column(chk, "cost_input")
    c["bill_out"], bill_out_shown = _money_column(chk, "cost_output")
    c["billed"] = np.array([a is not None or b is not None for a, b in zip(bill_in_shown, bill_out_shown)],
                           dtype=bool)
    c["fingerprint"] = _fingerprints(c, bill_in_shown, bill_out_shown)
    return c, chk.bad


def _fingerprints(c: dict, bill_in: list, bill_out: list) -> list[str]:
    """UsageRecord.compute_fingerprint for every row (same parts, same order), the joining done by Arrow."""
    s = pa.string()
    text = _str
    number = lambda values: pc.cast(pa.array(values), s)  # noqa: E731
    parts = [text(c["job_id"]), text(_isoformat(c["created_at"])), text(c["company"]), text(c["brand"]),
             text(c["provider"]), text(c["model"]), text(c["job_type"]), text(c["status"]),
             *(number(c[k]) for k in ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens",
                                      "reasoning_tokens", "execution_ms", "memory_usage_mb", "error_count")),
             text(np.where(c["success_rate"] == 1.0, "1.0", "0.0")), text(c["operation"]),
             text(c["description"]).fill_null(""), text([str(d) for d in bill_in]),
             text([str(d) for d in bill_out])]
    joined = pc.binary_join_element_wise(*parts, "\x1f").to_pylist()
    sha = hashlib.sha256
    # Rows with gaps (refused ones, judged again by the scalar path) get no fingerprint.
    return [sha(v.encode()).hexdigest() if v is not None else "" for v in joined]


def _str(values) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, pa.string())


def _factorize(*columns) -> tuple[list[tuple], np.ndarray, np.ndarray]:
    """Distinct value tuples of the columns (Arrow strings or integers), the first row of each, each row's code."""
    n = len(columns[0])
    key = np.zeros(n, dtype=np.int64)
    decoders = []
    for col in columns:
        if isinstance(col, pa.Array):
            enc = pc.dictionary_encode(col)
            codes, values = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()
        else:
            values, codes = np.unique(col, return_inverse=True)
            values = values.tolist()
        key = key * max(len(values), 1) + codes
        decoders.append((values, codes))
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    uniq = [tuple(values[codes[i]] for values, codes in decoders) for i in first]
    return uniq, first, inverse.reshape(-1)


def _take(c: dict, idx: np.ndarray) -> dict:
    out = {}
    for k, v in c.items():
        if isinstance(v, pa.Array):
            out[k] = v.take(pa.array(idx, pa.int64()))
        elif isinstance(v, np.ndarray):
            out[k] = v[idx]
        elif isinstance(v, list):
            out[k] = [v[i] for i in idx]
        else:
            out[k] = v
    return out


def ingest_frame(session, frame: pd.DataFrame, *, source: str = "import", is_demo: bool = False,
                 now: datetime | None = None, default_company: str | None = None,
                 pricer: Pricer | None = None, raw: list | None = None) -> FrameResult:
    """Validate, price and store a batch of raw records (columns named as the import fields). The caller commits.

    Same outcome as validating each row and calling `ingest`: valid rows stored once, replays counted as
    duplicates, same job_id with other content reported as a conflict, invalid rows refused with the reason.
    `raw`, when given, holds the records the frame was built from: refusals then quote the values as given
    (a frame turns 11 into 11.0 in a column with gaps).
    """
    now = now or datetime.now(UTC)
    frame = frame.reset_index(drop=True)
    result = FrameResult()
    if frame.empty:
        return result
    pricer = pricer or Pricer(session)
    cols, bad = check_frame(frame, now, default_company)
    slow: list[tuple[int, UsageRecord]] = []
    if bad.any():
        where = np.flatnonzero(bad).tolist()
        records = [raw[i] for i in where] if raw is not None else [
            {k: (None if _is_na(v) else v) for k, v in r.items()} for r in frame.iloc[where].to_dict("records")]
        for pos, rec in zip(where, records):
            try:
                slow.append((pos, validate_record(rec, now=now, default_company=default_company)))
            except InvalidRecord as e:
                result.refused.append((pos, str(e)))
    good = np.flatnonzero(~bad)
    # The same job_id twice in the frame: the first (fast or slow) wins, the rest are duplicates or conflicts.
    pos_all = np.concatenate([good, np.array([p for p, _ in slow], dtype=np.int64)])
    job_ids = cols["job_id"].to_pylist()
    ids_all = [job_ids[i] for i in good] + [r.job_id for _, r in slow]
    fps_all = [cols["fingerprint"][i] for i in good] + [r.fingerprint for _, r in slow]
    order = np.argsort(pos_all, kind="stable")
    keep = np.ones(len(pos_all), dtype=bool)
    dup_mask = pd.Series([ids_all[i] for i in order]).duplicated(keep="first").to_numpy()
    if dup_mask.any():
        first_fp: dict[str, str] = {}
        for j, i in enumerate(order):
            if not dup_mask[j]:
                first_fp.setdefault(ids_all[i], fps_all[i])
            else:
                keep[i] = False
                if fps_all[i] == first_fp[ids_all[i]]:
                    result.duplicates += 1
                else:
                    result.conflicts.append((int(pos_all[i]), ids_all[i]))
    fast_idx = good[keep[:len(good)]]
    slow_kept = [s for s, k in zip(slow, keep[len(good):]) if k]
    if len(fast_idx):
        _store(session, _take(cols, fast_idx), fast_idx, source, is_demo, pricer, result)
    if slow_kept:
        res: IngestResult = ingest(session, (r for _, r in slow_kept), source=source, is_demo=is_demo, pricer=pricer)
        result.inserted += res.inserted
        result.duplicates += res.duplicates
        result.conflicts.extend((slow_kept[p][0], jid) for p, jid in res.conflicts)
    result.conflicts.sort()
    result.refused.sort()
    return result


def _is_na(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _store(session, c: dict, positions: np.ndarray, source: str, is_demo: bool, pricer: Pricer,
           result: FrameResult) -> None:
    names = _Names(session)
    pairs, _, pair_codes = _factorize(c["company"], c["brand"])
    ids = np.array([names.ids(co, br) for co, br in pairs], dtype=np.int64).reshape(-1, 2)
    c["company_id"], c["brand_id"] = ids[pair_codes, 0], ids[pair_codes, 1]
    c["cost_input"], c["cost_output"], c["pricing_status"] = _Prices(pricer).costs(c)
    c["total_cost"] = c["cost_input"] + c["cost_output"]
    c["total_tokens"] = c["input_tokens"] + c["output_tokens"]
    c["source"], c["is_demo"] = source, is_demo
    for _ in range(3):
        stored = writers.write(session, c)
        if stored is None:
            break
        # Some job_ids were already there: classify them, store the rest.
        job_ids = c["job_id"].to_pylist()
        known = np.array([j in stored for j in job_ids], dtype=bool)
        for i in np.flatnonzero(known):
            if stored[job_ids[i]] == c["fingerprint"][i]:
                result.duplicates += 1
            else:
                result.conflicts.append((int(positions[i]), job_ids[i]))
        keep = np.flatnonzero(~known)
        c, positions = _take(c, keep), positions[keep]
        if not len(c["job_id"]):
            return
    else:
        raise RuntimeError("ingest: a concurrent writer keeps storing the same job_ids; run the import again")
    rollup.apply(session, _deltas(c))
    result.inserted += len(c["job_id"])


def _np(arr: pa.Array) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _deltas(c: dict) -> dict[tuple, dict]:
    """The rollup additions of these rows (money summed in micro-dollars, exact)."""
    df = pd.DataFrame({
        "day": c["created_at"].astype("datetime64[D]"), "company_id": c["company_id"], "brand_id": c["brand_id"],
        "provider_name": _np(c["provider"]), "model_name": _np(c["model"]), "operation": _np(c["operation"]),
        "job_status": _np(c["status"]), "pricing_status": c["pricing_status"], "jobs": 1,
        "input_tokens": c["input_tokens"], "output_tokens": c["output_tokens"], "total_tokens": c["total_tokens"],
        "cached_tokens": c["cached_tokens"], "cache_write_tokens": c["cache_write_tokens"],
        "reasoning_tokens": c["reasoning_tokens"], "execution_ms": c["execution_ms"],
        "error_count": c["error_count"], "memory_mb": c["memory_usage_mb"], "cost_input": c["cost_input"],
        "cost_output": c["cost_output"], "total_cost": c["total_cost"], "success_sum": c["success_rate"]})
    sums = df.groupby(list(rollup.KEYS), sort=False).sum()
    out: dict[tuple, dict] = {}
    money = set(rollup.MONEY_MEASURES)
    for key, row in zip(sums.index.tolist(), sums.to_dict("records")):
        day = key[0].date() if hasattr(key[0], "date") else key[0]
        out[(day, int(key[1]), int(key[2]), *key[3:])] = {
            m: (Decimal(int(v)).scaleb(-6) if m in money else float(v) if m == "success_sum" else int(v))
            for m, v in row.items()}
    return out



def _job_id_keys(frame: pd.DataFrame) -> set:
    if "job_id" not in frame.columns:
        return set()
    return set(frame["job_id"].dropna().astype("str").str.strip().tolist())


def ingest_frames(batches: Iterable[tuple[pd.DataFrame, list | None, object]], *, workers: int | None = None,
                  source: str = "import", is_demo: bool = False, now: datetime | None = None,
                  default_company: str | None = None) -> Iterator[tuple[object, FrameResult]]:
    """Ingest (frame, raw, tag) batches, each in its own transaction; yields (tag, result) in batch order.

    On PostgreSQL two batches are in flight: while one waits on the server (COPY, index upkeep), the other is
    validated and priced — the two halves of the work run on two cores. A batch sharing a job_id with one still
    in flight waits for it, so the earlier record always wins, as in a sequential import.
    """
    if workers is None:
        workers = 1 if get_engine().dialect.name == "sqlite" else 2  # SQLite has one writer at a time

    def one(frame: pd.DataFrame, raw: list | None) -> FrameResult:
        with session_scope() as s:
            return ingest_frame(s, frame, source=source, is_demo=is_demo, now=now,
                                default_company=default_company, raw=raw)

    if workers <= 1:
        for frame, raw, tag in batches:
            yield tag, one(frame, raw)
        return
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest") as pool:
        for frame, raw, tag in batches:
            keys = _job_id_keys(frame)
            while pending and (len(pending) >= workers or any(keys & p_keys for p_keys, _, _ in pending)):
                _, p_tag, fut = pending.popleft()
                yield p_tag, fut.result()
            pending.append((keys, tag, pool.submit(one, frame, raw)))
        while pending:
            _, p_tag, fut = pending.popleft()
            yield p_tag, fut.result()
