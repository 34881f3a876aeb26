"""Column helpers for batches of records: Arrow text, row selection, distinct value tuples, exact money arrays, and
the COPY of an Arrow table (CSV written by Arrow, in C). Shared by the ledger writer and column pricing.

Only modules that write batches import this one (it loads pyarrow): reading, budgets and the command line's
listings never do.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

_CSV = pa_csv.WriteOptions(include_header=False)


def text(values) -> pa.Array:
    """Strings (None for a missing one) as one Arrow array."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values if isinstance(values, pa.Array) else pa.array(values, pa.string())


def pylist(values) -> list:
    return values.to_pylist() if isinstance(values, (pa.Array, pa.ChunkedArray)) else list(values)


def take(c: dict, idx) -> dict:
    """The rows at `idx` of every column (Arrow, numpy or list); other values (constants) as they are."""
    idx = np.asarray(idx, dtype=np.int64)
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


def concat(a: dict, b: dict) -> dict:
    """The rows of `a`, then those of `b` (same columns)."""
    out = {}
    for k, v in a.items():
        w = b[k]
        if isinstance(v, (pa.Array, pa.ChunkedArray)) or isinstance(w, (pa.Array, pa.ChunkedArray)):
            out[k] = pa.concat_arrays([text(v), text(w)])
        elif isinstance(v, np.ndarray):
            out[k] = np.concatenate([v, np.asarray(w, dtype=v.dtype)])
        else:
            out[k] = list(v) + list(w)
    return out


def factorize(*columns) -> tuple[list[tuple], np.ndarray, np.ndarray]:
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


def money_array(micro: np.ndarray) -> pa.Array:
    """Micro-dollars as NUMERIC(…, 6): the same integers read with a scale of 6, exact."""
    whole = pa.array(micro, pa.int64()).cast(pa.decimal128(38, 0))
    return pa.Array.from_buffers(pa.decimal128(38, 6), len(whole), whole.buffers())


COPY_CHUNK = 8192  # rows of CSV written per piece sent


def copy_arrow(cur, table: str, data: pa.Table) -> None:
    """COPY an Arrow table into `table` (its columns named as the table's), the CSV written by Arrow in C.

    The CSV goes out in pieces, each written as the server parses the one before: the server is not left waiting
    for a whole batch's CSV (a tenth of its COPY time at 50k records). Arrow writes into its own buffer, without
    the interpreter's lock: other threads run meanwhile."""
    with cur.copy(f"COPY {table} ({', '.join(data.column_names)}) FROM STDIN WITH (FORMAT csv)") as copy:
        for at in range(0, max(data.num_rows, 1), COPY_CHUNK):
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(data.slice(at, COPY_CHUNK), sink, _CSV)
            copy.write(memoryview(sink.getvalue()))
