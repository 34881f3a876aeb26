"""A fake Anthropic Admin API (usage and cost reports): a real HTTP server on loopback.

Serves GET /v1/organizations/usage_report/messages and /v1/organizations/cost_report with the documented report
shape (`data` of daily buckets {starting_at, ending_at, results}, `has_more`, `next_page`), keeping the buckets
that start at or after `starting_at` and end at or before `ending_at`, `page_size` buckets a page. Requests must
carry `x-api-key` and `anthropic-version` (401 / 400 otherwise, with Anthropic's error body). Failures are
injected with `failures` (a queue of HTTP statuses, one per request). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"

ERRORS = {
    400: ("invalid_request_error", "anthropic-version: header is required"),
    401: ("authentication_error", "invalid x-api-key"),
    404: ("not_found_error", "Not found"),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def error_body(status: int) -> dict:
    kind, message = ERRORS[status]
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CFAKE"}


def rfc3339(d: date) -> str:
    return datetime.combine(d, datetime.min.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_result(
    model: str | None,
    workspace_id: str | None,
    *,
    uncached: int,
    output: int,
    cache_read: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    shape: str = "nested",
    web_searches: int = 0,
) -> dict:
    """One usage result. `shape`: "nested" (cache_creation {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}),
    "flat" (one cache_creation_input_tokens) or "flat_split" (cache_creation_5m/1h_input_tokens)."""
    r = {
        "uncached_input_tokens": uncached,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": web_searches},
        "api_key_id": None,
        "workspace_id": workspace_id,
        "model": model,
        "service_tier": None,
        "context_window": None,
        "inference_geo": None,
    }
    if shape == "nested":
        r["cache_creation"] = {"ephemeral_1h_input_tokens": write_1h, "ephemeral_5m_input_tokens": write_5m}
    elif shape == "flat":
        r["cache_creation_input_tokens"] = write_5m + write_1h
    else:
        r["cache_creation_5m_input_tokens"] = write_5m
        r["cache_creation_1h_input_tokens"] = write_1h
    return r


def cost_result(
    cents: str,
    workspace_id: str | None,
    model: str | None,
    token_type: str | None,
    *,
    cost_type: str = "tokens",
    description: str | None = None,
) -> dict:
    """One cost result: `amount` a decimal string in cents, as the report sends it."""
    if description is None:
        description = f"{model} Usage - {token_type}" if cost_type == "tokens" else cost_type.replace("_", " ")
    return {
        "amount": cents,
        "currency": "USD",
        "workspace_id": workspace_id,
        "description": description,
        "cost_type": cost_type,
        "context_window": "0-200k" if cost_type == "tokens" else None,
        "model": model if cost_type == "tokens" else None,
        "service_tier": "standard" if cost_type == "tokens" else None,
        "token_type": token_type if cost_type == "tokens" else None,
        "inference_geo": None,
    }


class FakeAnthropicAdmin:
    def __init__(self, admin_key: str = "sk-ant-admin01-TESTADMINKEY1234567890", page_size: int = 2):
        self.admin_key = admin_key
        self.page_size = page_size
        self.usage: dict[date, list[dict]] = {}
        self.costs: dict[date, list[dict]] = {}
        self.failures: deque[int] = deque()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAnthropicAdmin:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def page(self, table: dict[date, list[dict]], query: dict) -> dict:
        start = datetime.fromisoformat(query["starting_at"][0])
        end = datetime.fromisoformat(query["ending_at"][0]) if "ending_at" in query else start + timedelta(days=7)
        buckets = []
        for d in sorted(table):
            b0 = datetime.combine(d, datetime.min.time(), UTC)
            if start <= b0 and b0 + timedelta(days=1) <= end:
                buckets.append(
                    {"starting_at": rfc3339(d), "ending_at": rfc3339(d + timedelta(days=1)), "results": table[d]}
                )
        token = query.get("page", [None])[0]
        offset = int(token.removeprefix("page_")) if token else 0
        chunk = buckets[offset : offset + self.page_size]
        more = offset + self.page_size < len(buckets)
        return {"data": chunk, "has_more": more, "next_page": f"page_{offset + self.page_size}" if more else None}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                with fake._lock:
                    fake.requests.append(
                        {
                            "path": url.path,
                            "query": query,
                            "api_key": self.headers.get("x-api-key"),
                            "version": self.headers.get("anthropic-version"),
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                    injected = fake.failures.popleft() if fake.failures else None
                if injected:
                    self._send(injected, error_body(injected))
                    return
                if self.headers.get("x-api-key") != fake.admin_key:
                    self._send(401, error_body(401))
                    return
                if not self.headers.get("anthropic-version"):
                    self._send(400, error_body(400))
                    return
                table = {USAGE_PATH: fake.usage, COST_PATH: fake.costs}.get(url.path.rstrip("/"))
                if table is None:
                    self._send(404, error_body(404))
                    return
                if query.get("bucket_width", ["1d"])[0] != "1d" or "starting_at" not in query:
                    self._send(400, error_body(400))
                    return
                self._send(200, fake.page(table, query))

        return Handler
