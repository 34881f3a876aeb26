"""A fake OpenAI organization admin API (Usage and Costs): a real HTTP server on loopback.

Serves GET /v1/organization/usage/completions and /v1/organization/costs with the documented `page` shape
(`object: page`, `data` of daily `bucket`s, `has_more`, `next_page`), filtering buckets by start_time/end_time
and paging `page_size` buckets at a time. Failures are injected per request with `failures` (a queue of HTTP
statuses, consumed one per request) or per page with `fail_pages` {(endpoint, page_index): status}.
Result objects carry every field of the spec examples (Usage: organization.usage.completions.result;
Costs: organization.costs.result with amount {value, currency}).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ERRORS = {
    401: {
        "error": {
            "message": "Incorrect API key provided: sk-admin-***. You must use an admin key.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    },
    429: {
        "error": {
            "message": "Rate limit reached for requests",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    500: {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    },
}


def day_start(d: date) -> int:
    return int(datetime.combine(d, datetime.min.time(), UTC).timestamp())


def usage_result(
    model: str | None,
    project_id: str | None,
    input_tokens: int,
    output_tokens: int,
    *,
    cached: int = 0,
    cache_write: int = 0,
    requests: int = 1,
) -> dict:
    """One organization.usage.completions.result, as the spec example (all fields present)."""
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "input_cached_tokens": cached,
        "input_cache_write_tokens": cache_write,
        "input_uncached_tokens": input_tokens - cached - cache_write,
        "output_tokens": output_tokens,
        "input_text_tokens": input_tokens,
        "output_text_tokens": output_tokens,
        "input_cached_text_tokens": cached,
        "input_audio_tokens": 0,
        "input_cached_audio_tokens": 0,
        "output_audio_tokens": 0,
        "input_image_tokens": 0,
        "input_cached_image_tokens": 0,
        "output_image_tokens": 0,
        "num_model_requests": requests,
        "project_id": project_id,
        "user_id": None,
        "api_key_id": None,
        "model": model,
        "batch": None,
        "service_tier": None,
    }


def cost_result(amount: str, line_item: str | None, project_id: str | None) -> dict:
    """One organization.costs.result; `amount` as a decimal string, sent as a JSON number."""
    return {
        "object": "organization.costs.result",
        "amount": {"value": Decimal(amount), "currency": "usd"},
        "line_item": line_item,
        "project_id": project_id,
        "api_key_id": None,
        "quantity": None,
        "quantity_unit": None,
    }


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return float(o)  # repr of a short decimal round-trips; the client parses it back as Decimal
        return super().default(o)


class FakeOpenAIAdmin:
    def __init__(self, admin_key: str = "sk-admin-TESTADMINKEY1234567890", page_size: int = 2):
        self.admin_key = admin_key
        self.page_size = page_size
        self.usage: dict[date, list[dict]] = {}  # day -> results
        self.costs: dict[date, list[dict]] = {}
        self.failures: deque[int] = deque()
        self.fail_pages: dict[tuple[str, int], int] = {}
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAIAdmin:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def buckets(self, table: dict[date, list[dict]], start: int, end: int) -> list[dict]:
        out = []
        for d in sorted(table):
            s = day_start(d)
            if start <= s < end:
                out.append({"object": "bucket", "start_time": s, "end_time": s + 86400, "results": table[d]})
        return out

    def page(self, endpoint: str, query: dict) -> tuple[int, dict]:
        start = int(query["start_time"][0])
        end = int(query.get("end_time", [str(start + 86400 * 7)])[0])
        token = query.get("page", [None])[0]
        offset = int(base64.b64decode(token.removeprefix("page_")).decode()) if token else 0
        index = offset // self.page_size
        status = self.fail_pages.pop((endpoint, index), None)
        if status:
            return status, ERRORS[status]
        table = self.usage if endpoint == "usage" else self.costs
        every = self.buckets(table, start, end)
        chunk = every[offset : offset + self.page_size]
        more = offset + self.page_size < len(every)
        nxt = "page_" + base64.b64encode(str(offset + self.page_size).encode()).decode() if more else None
        return 200, {"object": "page", "data": chunk, "has_more": more, "next_page": nxt}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body, cls=_Encoder).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                with fake._lock:
                    fake.requests.append(
                        {"path": url.path, "query": query, "authorization": self.headers.get("Authorization")}
                    )
                    injected = fake.failures.popleft() if fake.failures else None
                if injected:
                    self._send(injected, ERRORS[injected])
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.admin_key}":
                    self._send(401, ERRORS[401])
                    return
                endpoint = {"/v1/organization/usage/completions": "usage", "/v1/organization/costs": "costs"}.get(
                    url.path.rstrip("/")
                )
                if endpoint is None:
                    self._send(
                        404,
                        {
                            "error": {
                                "message": "not found",
                                "type": "invalid_request_error",
                                "param": None,
                                "code": None,
                            }
                        },
                    )
                    return
                if query.get("bucket_width", ["1d"])[0] != "1d":
                    self._send(
                        400,
                        {
                            "error": {
                                "message": "only 1d here",
                                "type": "invalid_request_error",
                                "param": "bucket_width",
                                "code": None,
                            }
                        },
                    )
                    return
                status, body = fake.page(endpoint, query)
                self._send(status, body)

        return Handler


def days_between(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]
