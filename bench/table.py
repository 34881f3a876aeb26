"""The bench tables: a figure with its target and the load average beside it, medians, the printed table."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.common import load_average

T30_MS, T120_MS, MIN_RATIO, PEER_RATIO = 50, 80, 15, 10
PAGE_S, MEMORY_MB, ALERTS_S, RECORD_MS = 0.3, 300, 2.0, 3.0
COPY_SHARE = 0.8  # bulk ingest / what the server accepts by COPY into the same ledger (bench.copy_ceiling)


@dataclass
class Row:
    measure: str
    span: str = ""
    filt: str = ""
    value: float | None = None
    unit: str = "ms"
    target: float | None = None
    higher_is_better: bool = False
    plain_ms: float | None = None
    note: str = ""
    load: str = field(default_factory=load_average)  # the load average when the figure was taken
    min_ratio: float = MIN_RATIO

    @property
    def ratio(self) -> float | None:
        return self.plain_ms / self.value if self.plain_ms and self.value else None

    @property
    def passed(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        ok = self.value >= self.target if self.higher_is_better else self.value <= self.target
        if self.plain_ms is not None:
            ok = ok and (self.ratio or 0) >= self.min_ratio
        return ok


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the table ----------------------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "rec/s":
        return f"{value:,.0f}/s"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "×":
        return f"{value:.1f}×"
    if unit == "share":
        return f"{value:.2f}×"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    cols = ("measure", "range", "filter", "median", "target", "plain GROUP BY", "plain/this", "load average", "result")
    cells = []
    for r in rows:
        target = "-" if r.target is None else (("≥ " if r.higher_is_better else "≤ ") + fmt(r.target, r.unit))
        if r.plain_ms is not None:
            target += f", ≥{r.min_ratio}×"
        result = {None: "", True: "PASS", False: "FAIL"}[r.passed]
        cells.append(
            (
                r.measure,
                r.span,
                r.filt,
                fmt(r.value, r.unit),
                target,
                fmt(r.plain_ms, "ms") if r.plain_ms is not None else "",
                f"{r.ratio:.0f}×" if r.ratio is not None else "",
                r.load,
                (result + " " + r.note).strip(),
            )
        )
    widths = [max(len(c[i]) for c in [cols, *cells]) for i in range(len(cols))]
    line = "  ".join(f"{{:<{w}}}" if i in (0, 1, 2, 7, 8) else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*cols))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print(line.format(*c))
    verdicts = [r.passed for r in rows if r.passed is not None]
    print(f"\n{sum(verdicts)} PASS, {len(verdicts) - sum(verdicts)} FAIL")
