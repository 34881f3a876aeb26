"""A gateway running in this process (uvicorn in a thread, the ledger writer as a thread) against the fake
providers of tests/fakes, with the settings of the test's environment."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn
from sqlalchemy import func, select

from core import config
from core.server.app import create_app
from core.storage.db import get_session
from core.storage.models import AIJob
from tests.helpers import free_port


class Running:
    def __init__(self, app, port: int):
        self.app, self.port = app, port
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"


@contextlib.contextmanager
def gateway(monkeypatch, tmp_path, *, loopback: bool = True, writer: str = "thread", **env):
    """Start a gateway (spool under tmp_path, quick hand-overs); extra settings as GATEWAY_… keyword arguments."""
    monkeypatch.setenv("GATEWAY_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("GATEWAY_FLUSH_SECONDS", "0.05")
    monkeypatch.setenv("GATEWAY_KEY_REFRESH_SECONDS", "0.2")
    monkeypatch.setenv("GATEWAY_BUDGET_REFRESH_SECONDS", "0.2")
    for name, value in env.items():
        monkeypatch.setenv(name.upper(), str(value))
    config.reset_settings()
    port = free_port()
    app = create_app(config.get_settings(), loopback=loopback, writer=writer)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield Running(app, port)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def ledger_count(url: str, source: str | None = None) -> int:
    s = get_session(url)
    try:
        q = select(func.count()).select_from(AIJob)
        if source:
            q = q.where(AIJob.source == source)
        return s.scalar(q)
    finally:
        s.close()


def wait_for_rows(url: str, n: int, *, source: str | None = None, timeout: float = 30.0) -> int:
    """Poll the ledger until it holds `n` records (of `source`); returns the count found."""
    deadline = time.monotonic() + timeout
    found = ledger_count(url, source)
    while found < n and time.monotonic() < deadline:
        time.sleep(0.05)
        found = ledger_count(url, source)
    return found


def serve_process(env: dict, port: int, *args: str) -> subprocess.Popen:
    """`python -m core serve` in its own session (a process group to kill whole), once /healthz answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the gateway did not start: {proc.stdout.read().decode()[-2000:]}")


def child_processes(pid: int, marker: bytes) -> list[int]:
    """The children of `pid` whose command line holds `marker` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and marker in cmdline:
            found.append(int(entry))
    return sorted(found)
