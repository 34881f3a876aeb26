"""The column checks read a text column of printable ASCII from its Arrow buffers; any other column goes through
Arrow's string kernels. Both ways must judge a value alike: the same value is checked once in a column that takes
the fast way and once in a column that one other value sends through the kernels."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from core.ingest.column_checks import check_frame

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
PLAIN = ["openai", "OpenAI", "", None, "a" * 64, "a" * 65, "x y", "~!@#$%^&*()", "job-1"]
# Each sends its whole column through the kernels: a blank at an end, a control character, DEL, non-ASCII text.
ODD = [" lead", "trail ", "   ", "tab\there", "del\x7f", "naïve", "Ωmega", "\u3000wide"]


def _frame(provider: list, job_ids: list) -> pd.DataFrame:
    n = len(provider)
    return pd.DataFrame(
        {
            "job_id": job_ids,
            "created_at": ["2026-11-30T10:00:00+00:00"] * n,
            "provider": provider,
            "model": ["gpt-4o"] * n,
            "input_tokens": [10] * n,
            "output_tokens": [5] * n,
        }
    )


@pytest.mark.parametrize("odd", ODD)
def test_plain_ascii_fast_way_judges_as_the_string_kernels(odd):
    ids = [f"j{i}" for i in range(len(PLAIN) + 1)]
    fast_cols, fast_bad = check_frame(_frame(PLAIN + ["openai"], ids), NOW)
    slow_cols, slow_bad = check_frame(_frame(PLAIN + [odd], ids), NOW)
    n = len(PLAIN)
    assert fast_bad[:n].tolist() == slow_bad[:n].tolist()
    assert fast_cols["provider"].to_pylist()[:n] == slow_cols["provider"].to_pylist()[:n]
    # The plain values themselves: missing and too long are refused, case is folded, the rest pass.
    assert fast_bad[:n].tolist() == [False, False, True, True, False, True, False, False, False]
    assert slow_bad[n]  # and the odd one is left to the scalar validator


@pytest.mark.parametrize("value", ["job 1", "job-ü", " job", "job\n"])
def test_required_text_with_odd_values_alone(value):
    """A column of one odd value: judged by the kernels, as before."""
    _, bad = check_frame(_frame(["openai"], [value]), NOW)
    assert bad.tolist() == [value not in ("job 1", "job-ü")]
