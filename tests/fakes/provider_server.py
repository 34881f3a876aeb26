"""A fake OpenAI-compatible provider: a real HTTP server on loopback, with failures injected at will.

OpenAI, Ollama (/v1) and Gemini (OpenAI-compatible endpoint) all speak this chat API, so one fake serves
as each. Error bodies are the providers' real ones (recorded from public reports and the OpenAPI spec).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_BODIES = {
    401: {
        "error": {
            "message": "Incorrect API key provided: CHANGE_ME. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    },
    "429_quota": {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing "
            "details. For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    },
    "429_rate": {
        "error": {
            "message": "Rate limit reached for gpt-4o-mini in organization org-**** on tokens "
            "per min (TPM): Limit 200000, Used 162960, Requested 42288. Please try "
            "again in 1.574s.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    400: {
        "error": {
            "message": "Invalid value for 'messages[3]'.",
            "type": "invalid_request_error",
            "param": "messages[3]",
            "code": "invalid_value",
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
STATUS = {"ok": 200, "401": 401, "429_quota": 429, "429_rate": 429, "400": 400, "500": 500}


class FakeProvider:
    """`mode` is one of ok | 401 | 401_echo | 400_echo | 429_quota | 429_rate | 400 | 500 | hang | slow | broken_stream;
    `script` queues modes per call. `slow` answers OK after `hang_seconds`; `broken_stream` sends the first chunks
    of a stream, then closes the connection mid-body (a JSON call answers normally).

    401_echo answers 401 with a body that repeats the key it was sent, then `echo` (what a careless proxy puts in
    its errors: its own settings, say), as some OpenAI-compatible proxies do.
    """

    def __init__(
        self,
        name: str = "openai",
        model: str = "gpt-4o-mini",
        *,
        prompt_tokens: int = 12,
        completion_tokens: int = 5,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        hang_seconds: float = 5.0,
    ):
        self.name = name
        self.model = model
        self.mode = "ok"
        self.script: deque[str] = deque()
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.hang_seconds = hang_seconds
        self.echo = ""
        self.requests: list[dict] = []
        self.streams: list[bytes] = []  # the body of each stream sent, as sent
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        return len(self.requests)

    def next_mode(self) -> str:
        with self._lock:
            return self.script.popleft() if self.script else self.mode

    # -- responses -------------------------------------------------------------------------------------
    def usage(self) -> dict:
        u = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        return u

    def completion(self, model: str) -> dict:
        return {
            "id": f"chatcmpl-fake{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "OK", "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def stream_chunks(self, model: str, include_usage: bool) -> list[dict]:
        base = {
            "id": "chatcmpl-fakestream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model or self.model,
            "system_fingerprint": "fp_fake",
        }
        chunks = [
            base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            base | {"choices": [{"index": 0, "delta": {"content": "OK"}, "finish_reason": None}]},
            base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        if include_usage:
            chunks.append(base | {"choices": [], "usage": self.usage()})
        return chunks

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, {"object": "list", "data": [{"id": fake.model, "object": "model", "owned_by": fake.name}]}
                    )
                else:
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw or b"{}")
                with fake._lock:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "body": body,
                            "raw": raw,
                            "authorization": self.headers.get("Authorization"),
                        }
                    )
                embeddings = self.path.rstrip("/").endswith("/embeddings")
                if not self.path.rstrip("/").endswith("/chat/completions") and not embeddings:
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                mode = fake.next_mode()
                if mode in ("hang", "slow"):
                    time.sleep(fake.hang_seconds)
                    mode = "500" if mode == "hang" else "ok"
                if mode == "broken_stream" and not body.get("stream"):
                    mode = "ok"
                if mode in ("401_echo", "400_echo"):
                    key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    self._send(
                        int(mode[:3]),
                        {
                            "error": {
                                "message": f"Incorrect API key provided: {key}. {fake.echo}".strip(),
                                "type": "invalid_request_error",
                                "param": None,
                                "code": "invalid_api_key",
                            }
                        },
                    )
                    return
                if mode not in ("ok", "broken_stream"):
                    key = {"401": 401, "400": 400, "500": 500}.get(mode, mode)
                    self._send(STATUS[mode], ERROR_BODIES[key])
                    return
                model = body.get("model", fake.model)
                if embeddings:
                    self._send(
                        200,
                        {
                            "object": "list",
                            "model": model,
                            "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125]}],
                            "usage": {"prompt_tokens": fake.prompt_tokens, "total_tokens": fake.prompt_tokens},
                        },
                    )
                    return
                if body.get("stream"):
                    include = bool((body.get("stream_options") or {}).get("include_usage"))
                    # Chunked, as the providers send streams: a connection cut mid-body is then visible.
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in fake.stream_chunks(model, include)]
                    events.append(b"data: [DONE]\n\n")
                    if mode == "broken_stream":
                        events = events[:2]
                    fake.streams.append(b"".join(events))
                    for event in events:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                        self.wfile.flush()
                    if mode != "broken_stream":
                        self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(200, fake.completion(model))

        return Handler
