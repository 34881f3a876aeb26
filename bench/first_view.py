"""Cold first view: from `streamlit run dashboard.py` to the Overview's first figure in headless Chromium.

    python -m bench.first_view [--runs 3] [--days 90] [--script dashboard.py|app.py] [--delay SECONDS]

Loads the demo data (`python -m core demo`) into a fresh temporary SQLite database once, then for each run starts
a new `streamlit run SCRIPT` process (dashboard.py, or app.py with --script) on a free port and opens "/" in
Debian's Chromium as soon as the server answers `/_stcore/health`. Printed per run (seconds since the process
started): the server answering, Streamlit's page loaded in the browser, the first thing drawn in it (a spinner,
a title or a figure), and the first metric value. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_DRAWN = "h1, [data-testid='stSpinner'], [data-testid='stStatusWidget'], [data-testid='stMetricValue']"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
            return r.read() == b"ok"
    except OSError:
        return False


def one_run(
    env: dict, browser, log: Path, script: str = "dashboard.py", delay: float = 0.0
) -> tuple[float, float, float, float]:
    port = _free_port()
    with open(log, "w") as out:
        start = time.monotonic()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                script,
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            while not _health(port):
                if proc.poll() is not None or time.monotonic() - start > 120:
                    raise RuntimeError("streamlit did not start: " + log.read_text()[-2000:])
                time.sleep(0.05)
            healthy = time.monotonic() - start
            time.sleep(delay)  # a person opening the page a moment after the start
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_test_id("stApp").wait_for(state="attached", timeout=120_000)
            shell = time.monotonic() - start
            page.locator(FIRST_DRAWN).first.wait_for(state="visible", timeout=120_000)
            drawn = time.monotonic() - start
            page.get_by_test_id("stMetricValue").first.wait_for(state="visible", timeout=120_000)
            metric = time.monotonic() - start
            page.close()
            return healthy, shell, drawn, metric
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--days", type=int, default=90, help="days of demo data (python -m core demo --days)")
    ap.add_argument("--script", default="dashboard.py", help="the script `streamlit run` starts")
    ap.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="seconds between the server answering and the browser opening the page (default 0)",
    )
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/first_view.db"}
        subprocess.run(
            [sys.executable, "-m", "core", "demo", "--days", str(args.days)],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        results = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for i in range(args.runs):
                healthy, shell, drawn, metric = one_run(
                    env, browser, Path(tmp) / f"streamlit{i}.log", args.script, args.delay
                )
                results.append(metric)
                print(
                    f"run {i + 1}: server ok {healthy:.2f} s, page loaded {shell:.2f} s, first drawn {drawn:.2f} s, "
                    f"first metric {metric:.2f} s"
                )
            browser.close()
        print(f"median time to the first metric: {statistics.median(results):.2f} s over {len(results)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
