"""Parts of the gateway benchmark: a fake OpenAI-compatible upstream answering in a fixed time (its own process:
`python -m bench.gateway_load --upstream PORT --delay-ms MS`), and the load generator.

The load generator keeps `concurrency` requests in flight over keep-alive connections (the gateway's own HTTP/1.1
client, core.server.upstream, the cheapest on CPU here: the generator shares the machine with what it measures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field

ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1764460800,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "OK", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 5,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
    }
).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "bench"}]})
BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Say OK."}],
        "max_tokens": 5,
    }
).encode()


def upstream_app(delay: float):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        if scope["path"].endswith("/models"):
            body = MODELS.encode()
        else:
            if delay:
                await asyncio.sleep(delay)
            body = ANSWER
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


@dataclass
class Run:
    name: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    request_ids: list[str] = field(default_factory=list)

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def load(
    base_url: str,
    key: str | None,
    *,
    concurrency: int,
    requests: int,
    name: str = "",
    warmup: int = 0,
    body: bytes = BODY,
    keep_ids: bool = False,
    stop: asyncio.Event | None = None,
    timeout: float = 30.0,
    run: Run | None = None,
) -> Run:
    """Send `requests` requests (after `warmup` unmeasured ones), `concurrency` at a time; `run` (given) fills as
    the answers come."""
    from core.server.upstream import Pool, Target, UpstreamError

    pool = Pool()
    target = Target.parse(base_url)
    headers = b"Content-Type: application/json\r\n" + (
        b"Authorization: Bearer " + key.encode() + b"\r\n" if key else b""
    )
    run = run or Run(name, concurrency)

    async def one(measured: bool) -> None:
        t0 = time.perf_counter()
        try:
            resp = await pool.request(target, b"POST", b"/chat/completions", headers, body, timeout=timeout)
            await resp.read()
        except (UpstreamError, OSError):
            run.errors += 1
            return
        if resp.status != 200:
            run.errors += 1
            return
        if measured:
            run.latencies.append(time.perf_counter() - t0)
        if keep_ids:
            rid = resp.header(b"x-aium-request-id")
            if rid:
                run.request_ids.append(rid.decode())

    async def batch(n: int, measured: bool) -> None:
        left = [n]

        async def worker() -> None:
            while left[0] > 0 and not (stop and stop.is_set()):
                left[0] -= 1
                await one(measured)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    if warmup:
        await batch(warmup, False)
    t0 = time.perf_counter()
    await batch(requests, True)
    run.seconds = time.perf_counter() - t0
    pool.close()
    return run


def main() -> int:
    p = argparse.ArgumentParser(description="The benchmark's fake upstream.")
    p.add_argument("--upstream", type=int, required=True, help="port")
    p.add_argument("--delay-ms", type=float, default=20.0)
    args = p.parse_args()
    import uvicorn

    uvicorn.run(
        upstream_app(args.delay_ms / 1000),
        host="127.0.0.1",
        port=args.upstream,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=120,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
