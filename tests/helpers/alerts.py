"""Fixtures and helpers for the alert, probe, notification and worker tests: real servers on loopback.

Import explicitly: `from alert_fixtures import webhook, smtp_server, env, spend, NOW` (pytest finds fixtures
imported into a test module).
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from core import config
from core.usage import record_usage

NOW = datetime(2026, 2, 12, 15, 0, tzinfo=UTC)  # a Thursday; "today" in the usage-pattern rules
_counter = {"n": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spend(cost="0", *, when: datetime, company: str = "Acme", provider: str = "openai", model: str = "gpt-4o",
          tokens: tuple[int, int] = (100, 50), status: str = "completed", secs="1", operation: str = "chat",
          job_id: str | None = None, session=None):
    """Record one call with an exact billed cost (Decimal string) at `when`."""
    _counter["n"] += 1
    return record_usage(job_id=job_id or f"t-{_counter['n']}-{when:%Y%m%d%H%M%S%f}", created_at=when,
                        company=company, provider_name=provider, model_name=model, input_tokens=tokens[0],
                        output_tokens=tokens[1], cost_input=str(Decimal(cost)), cost_output="0", status=status,
                        execution_time_seconds=str(secs), operation=operation, now=when, session=session)


@pytest.fixture
def env(monkeypatch):
    """env(NAME=value, ...) sets environment variables and forgets cached settings."""

    def set_env(**values):
        for k, v in values.items():
            if v is None:
                monkeypatch.delenv(k, raising=False)
            else:
                monkeypatch.setenv(k, str(v))
        config.reset_settings()

    # Quiet defaults for tests: no notification channel, no pause between delivery attempts; rate rules judge
    # any sample (ALERT_MIN_JOBS=1) so that a test shows one threshold with a few records — the default of 20
    # has its own tests in test_alerts_rules.py.
    set_env(ALERT_MIN_JOBS="1", NOTIFY_URLS=None, ADMIN_NOTIFY_URLS=None, NOTIFY_RETRY_DELAY_SECONDS="0", OPENAI_API_KEY=None,
            OLLAMA_BASE_URL=None, GEMINI_API_KEY=None, LOG_FILE=None, PROBE_TIME="09:00", PROBE_TIMEZONE="UTC")
    yield set_env
    config.reset_settings()


class Webhook:
    """A real HTTP receiver: `mode` "ok" answers 200, "500" (any status) answers it, "hang" answers nothing until
    `release` is set (its requests are recorded on arrival with status None); `script` queues modes per call;
    `delay` seconds pass before each answer."""

    def __init__(self):
        self.mode = "ok"
        self.delay = 0.0
        self.release = threading.Event()
        self.redirect_to: str | None = None  # answer 307 to this URL instead (redirects must not be followed)
        self.script: deque[str] = deque()
        self.received: list[dict] = []  # every request: {"status", "body", "path", "authorization", "at"}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if hook.redirect_to:
                    hook.received.append({"status": 307, "body": {}, "path": self.path, "authorization": None})
                    self.send_response(307)
                    self.send_header("Location", hook.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                mode = hook.script.popleft() if hook.script else hook.mode
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                if mode == "hang":
                    hook.received.append({"status": None, "body": body, "path": self.path,
                                          "authorization": self.headers.get("Authorization")})
                    hook.release.wait(30)
                    return
                status = 200 if mode == "ok" else int(mode)
                if hook.delay:
                    time.sleep(hook.delay)
                hook.received.append({"status": status, "body": body, "path": self.path,
                                      "authorization": self.headers.get("Authorization"), "at": arrived})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "hook", credentials: str = "") -> str:
        return f"json://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}/{path}"

    @property
    def delivered(self) -> list[dict]:
        return [r["body"] for r in self.received if r["status"] == 200]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


class _Mailbox:
    def __init__(self):
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode("utf-8", errors="replace"))
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self):
        self.box = _Mailbox()
        self.port = free_port()
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[str]:
        return self.box.messages

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=a@example.test&to=b@example.test&mode=insecure"

    def close(self):
        self.controller.stop()


@pytest.fixture
def smtp_server():
    server = SMTPServer()
    yield server
    server.close()


def text_of(body: dict) -> str:
    """The title and message of an apprise JSON notification."""
    return f"{body.get('title', '')}\n{body.get('message', '')}"


__all__ = ["NOW", "spend", "env", "webhook", "smtp_server", "free_port", "text_of", "Webhook", "SMTPServer"]
