"""A notification webhook receiver on loopback: records what apprise posts, answers as a test scripts it."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
                    hook.received.append(
                        {
                            "status": None,
                            "body": body,
                            "path": self.path,
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                    hook.release.wait(30)
                    return
                status = 200 if mode == "ok" else int(mode)
                if hook.delay:
                    time.sleep(hook.delay)
                hook.received.append(
                    {
                        "status": status,
                        "body": body,
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "at": arrived,
                    }
                )
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
