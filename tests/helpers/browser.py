"""Shared by the real-browser tests: Debian's Chromium, and a real `streamlit run dashboard.py` on a free port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google on this closed network.
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

# Locally a missing Chromium skips; on CI (.ci/run installs it) the test runs and fails loudly instead.
MARKS = [pytest.mark.browser]
if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    MARKS.append(pytest.mark.skip(reason="Debian chromium not installed (CI installs it)"))


@contextlib.contextmanager
def streamlit_server(
    env: dict, log_path: Path, *extra_args: str, port: int | None = None, script: str = "dashboard.py"
) -> Iterator[int]:
    """Run the dashboard (`streamlit run SCRIPT`: dashboard.py, or app.py as `make run` does) with `env` added to
    the environment; yields its port once /_stcore/health says ok."""
    port = port or free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                script,
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                *extra_args,
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                        if r.read() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("streamlit did not start: " + log_path.read_text()[-2000:])
                time.sleep(0.3)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
