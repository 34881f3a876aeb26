"""A real single sign-on round trip in headless Chromium: st.login against an OIDC provider on loopback, then
the dashboard shows the signed-in user's company only."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.auth import add_user
from core.usage import record_usage
from tests.fakes.oidc_server import FakeOIDC

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser
if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason="Debian chromium not installed (CI installs it)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_oidc_login_round_trip(sqlite_db, tmp_path, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    users = tmp_path / "users.json"
    monkeypatch.setenv("USERS_FILE", str(users))
    from core import config
    config.reset_settings()
    add_user("carol@example.test", None, role="viewer", companies=["Humari"])
    now = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(4):
        record_usage(job_id=f"h{i}", company="Humari", provider_name="openai", model_name="gpt-4o-mini",
                     input_tokens=100, output_tokens=10, created_at=now)
    record_usage(job_id="q1", company="Qadhya", provider_name="openai", model_name="gpt-4o-mini",
                 input_tokens=100, output_tokens=10, created_at=now)
    port = _free_port()
    with FakeOIDC("carol@example.test") as idp:
        secrets_file = tmp_path / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
            'cookie_secret = "a-test-cookie-secret-that-is-long-enough-0123456789"\n'
            f'client_id = "{idp.client_id}"\n'
            f'client_secret = "{idp.client_secret}"\n'
            f'server_metadata_url = "{idp.issuer}/.well-known/openid-configuration"\n')
        env = dict(os.environ, DATABASE_URL=sqlite_db, USERS_FILE=str(users), AUTH_SECRETS_FILE=str(secrets_file))
        log = open(tmp_path / "streamlit.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--secrets.files", str(secrets_file), "--browser.gatherUsageStats", "false"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://localhost:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    pass
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("streamlit did not start: " + (tmp_path / "streamlit.log").read_text()[-2000:])
                time.sleep(0.3)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page()
                page.goto(base + "/")
                sign_in = page.get_by_role("button", name="Sign in")
                expect(sign_in).to_be_visible(timeout=30_000)
                assert page.get_by_test_id("stMetricValue").count() == 0  # nothing before signing in
                sign_in.click()
                expect(page.get_by_text("Signed in as carol@example.test · viewer")).to_be_visible(timeout=30_000)
                jobs = page.get_by_test_id("stMetric").filter(has_text="Jobs").get_by_test_id("stMetricValue")
                expect(jobs.first).to_have_text("4", timeout=30_000)  # Humari's 4 calls, not Qadhya's
                browser.close()
            assert idp.token_requests == 1
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
