"""The gateway loads at startup what its first calls would otherwise import on their way (the budget check's
queries bring pandas, a third of a second): the first call costs what the others cost. Checked in a fresh
interpreter, where nothing is imported yet."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json, sys, threading, time, urllib.request
import uvicorn
from core.server.app import create_app
from tests.helpers import free_port

port = free_port()
server = uvicorn.Server(uvicorn.Config(create_app(writer="none"), host="127.0.0.1", port=port, loop="uvloop",
                                       http="httptools", lifespan="on", log_level="warning"))
thread = threading.Thread(target=server.run, daemon=True)
thread.start()
deadline = time.monotonic() + 60
while not server.started and time.monotonic() < deadline:
    time.sleep(0.02)
before = set(sys.modules)
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", method="POST",
                             headers={"Content-Type": "application/json"},
                             data=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}')
with urllib.request.urlopen(req, timeout=30) as resp:
    status = resp.status
imported = sorted(set(sys.modules) - before)
server.should_exit = True
thread.join(timeout=30)  # a daemon thread still serving at exit can crash the interpreter
print(json.dumps({"status": status, "imported": imported}))
"""


def test_the_first_call_imports_nothing_more(fakes, db, monkeypatch, tmp_path):
    oa, _, _ = fakes
    monkeypatch.setenv("GATEWAY_SPOOL_DIR", str(tmp_path / "spool"))
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == 200 and oa.calls == 1
    assert [m for m in got["imported"] if m.split(".")[0] in ("core", "pandas", "genai_prices", "sqlalchemy")] == []
