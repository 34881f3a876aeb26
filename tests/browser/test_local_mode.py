"""Local mode (no login configured) serves this machine only, however Streamlit is started: the project's config
binds loopback, and the gate checks the sockets the server really listens on and where the request comes from.

The real dashboard runs as a subprocess (`streamlit run dashboard.py`, as the manual shows it) on SQLite and on
PostgreSQL; what it serves is read in headless Chromium.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.helpers import ROOT, free_port
from tests.helpers.browser import ARGS, CHROMIUM, MARKS
from ui.local_only import is_loopback, listening_sockets, refusal

REFUSED = "No login is configured, so this dashboard serves this machine only"


def browser_test(fn):
    for mark in MARKS:  # skipped without Debian's chromium (outside CI)
        fn = mark(fn)
    return fn


@contextlib.contextmanager
def dashboard(db_url: str, log_path, *args: str) -> Iterator[tuple[int, int]]:
    """`streamlit run dashboard.py --server.port P *args` from the project folder; yields (port, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "USERS_FILE": "/nonexistent/aium-test-users.json",
        "AUTH_SECRETS_FILE": "/nonexistent/aium-test-secrets.toml",
    }
    env.pop("STREAMLIT_SERVER_ADDRESS", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                *args,
            ],
            cwd=ROOT,
            env=env,
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
            yield port, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def page_text(port: int, headers: dict | None = None) -> str:
    """The text of the dashboard's first page once the script has rendered (the sidebar caption or a refusal)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(extra_http_headers=headers or {})
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("Local mode, no login").or_(page.get_by_text(REFUSED)).first.wait_for(timeout=45_000)
            return page.inner_text("body")
        finally:
            browser.close()


def test_the_decision_on_given_addresses():
    """The gate's rule on its own: what is bound (or configured, where /proc cannot tell) and where the request
    comes from."""
    assert refusal([("127.0.0.1", 8501)], "127.0.0.1", None, []) is None
    assert refusal([("::1", 8501)], None, "::ffff:127.0.0.1", ["127.0.0.1"]) is None
    assert refusal([], None, None, []) is None  # nothing listens: nothing is served (tests, bare mode)
    for sockets in ([("0.0.0.0", 8501)], [("::", 8501)], [("127.0.0.1", 8501), ("192.0.2.10", 8501)]):
        message = refusal(sockets, "127.0.0.1", None, [])
        assert message.startswith(REFUSED) and "python -m core user add" in message and "[auth]" in message
    assert "listens on [::]:8501" in refusal([("::", 8501)], None, None, [])
    # Where /proc cannot tell, an unset address is not loopback.
    assert "server.address is not set" in refusal(None, None, None, [])
    assert refusal(None, "localhost", None, []) is None
    assert refusal(None, "0.0.0.0", None, []) is not None
    # A client on another machine, directly or through a proxy on this one.
    assert "comes from 192.0.2.7" in refusal([("127.0.0.1", 8501)], "127.0.0.1", "192.0.2.7", [])
    assert "comes from 2001:db8::1" in refusal([("127.0.0.1", 8501)], "127.0.0.1", None, ["2001:db8::1"])
    assert refusal([("127.0.0.1", 8501)], "127.0.0.1", None, ["unknown"]) is not None
    assert [is_loopback(a) for a in ("127.0.0.9", "::1", "localhost", "10.0.0.1", "", "::ffff:10.0.0.1")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_listening_sockets_of_this_process():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert ("127.0.0.1", port) in listening_sockets()
    assert ("127.0.0.1", port) not in listening_sockets()


def test_own_sockets_asked_directly_agree_with_proc_net():
    """This process's sockets are asked of the sockets themselves; /proc/net/tcp (read for another process) says
    the same: TCP listeners on every family, not a UDP socket or a connection, and a socket's mode untouched."""
    import os
    import socket

    with socket.socket() as any4, socket.socket() as lo4, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        any4.bind(("0.0.0.0", 0))
        any4.listen()
        lo4.bind(("127.0.0.1", 0))
        lo4.listen()
        udp.bind(("0.0.0.0", 0))
        with socket.create_connection(lo4.getsockname()) as conn:
            own = listening_sockets()
            assert sorted(own) == sorted(listening_sockets(os.getpid()))
            assert ("0.0.0.0", any4.getsockname()[1]) in own and ("127.0.0.1", lo4.getsockname()[1]) in own
            assert ("0.0.0.0", udp.getsockname()[1]) not in own
            assert conn.getsockname() not in own
        assert any4.getblocking() and lo4.getblocking()


@browser_test
def test_plain_run_listens_on_loopback_and_refuses_forwarded_clients(db, tmp_path):
    """The manual's command, no address given: the project's config binds 127.0.0.1, and only there; a request
    that a proxy on this machine forwards from another one is refused."""
    with dashboard(db, tmp_path / "streamlit.log") as (port, pid):
        assert listening_sockets(pid) == [("127.0.0.1", port)]
        assert "Local mode, no login" in page_text(port)
        refused = page_text(port, {"X-Forwarded-For": "203.0.113.9"})
        assert REFUSED in refused and "this request comes from 203.0.113.9" in refused
        assert "Local mode, no login" not in refused and "Overview" not in refused


@browser_test
@pytest.mark.parametrize("address", ["0.0.0.0", ""], ids=["all-interfaces", "empty"])
def test_network_bind_without_login_is_refused_on_the_page(db, tmp_path, address):
    """Bound to every interface (given explicitly, or an empty address, which Streamlit also binds to 0.0.0.0):
    the page says why and how to configure a login, and shows nothing else."""
    with dashboard(db, tmp_path / "streamlit.log", "--server.address", address) as (port, pid):
        assert any(not is_loopback(a) for a, _ in listening_sockets(pid))
        text = page_text(port)
    assert REFUSED in text and f"listens on 0.0.0.0:{port}" in text
    assert "python -m core user add" in text and "[auth]" in text
    assert "Local mode, no login" not in text and "Overview" not in text
