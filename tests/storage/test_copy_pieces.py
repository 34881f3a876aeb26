"""`copy_arrow` sends a table's CSV in pieces of COPY_CHUNK rows: every row arrives once, in order, with its NULLs,
empty strings, quotes, commas and newlines as they were, across the pieces' edges."""

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from core.storage.columns import COPY_CHUNK, copy_arrow, money_array
from core.storage.db import session_scope
from core.storage.rollups import driver_cursor

EPOCH = datetime(1970, 1, 1)
ODD = [None, "", 'say "hi"', "a,b", "two\nlines", "plain"]


def test_a_table_longer_than_a_piece_arrives_whole_and_exact(pg_db):
    n = 2 * COPY_CHUNK + 17  # two whole pieces and a part
    rows = np.arange(n, dtype=np.int64)
    data = pa.table(
        {
            "k": pa.array(rows),
            "t": pa.array([ODD[i % len(ODD)] for i in range(n)], pa.string()),
            "m": money_array(rows * 1_000_001),
            "at": pa.array(rows * 1_000_000 + 1_764_547_200_000_000, pa.timestamp("us")),
        }
    )
    with session_scope() as s:
        s.connection().exec_driver_sql(
            "CREATE TEMP TABLE pieces (k bigint, t text, m numeric(20, 6), at timestamp) ON COMMIT DROP"
        )
        copy_arrow(driver_cursor(s), "pieces", data)
        got = s.connection().exec_driver_sql("SELECT k, t, m, at FROM pieces ORDER BY k").all()
    assert len(got) == n
    for k, t, m, at in got:
        assert t == ODD[k % len(ODD)]
        assert str(m) == f"{k * 1_000_001 // 1_000_000}.{k * 1_000_001 % 1_000_000:06d}"
        assert at == EPOCH + timedelta(seconds=1_764_547_200 + k)
