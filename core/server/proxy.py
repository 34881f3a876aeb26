"""POST /v1/chat/completions and /v1/embeddings: the route's provider chain walked as core.llm walks it (shared
rules: core.providers.chain), over raw HTTP, the answer passed back byte for byte.

Per attempt: a provider not configured is passed; one whose budget is used up is skipped (recorded); an answer
the caller caused (400, 404, 422…) comes back as the provider sent it; quota, rate limit, auth, 5xx, timeout
and connection errors fall over to the next provider; when none served, 502 lists the attempts. Every attempt is
a record in the spool before the answer is finished. A stream asks the provider for its usage chunk
(`stream_options.include_usage`) and is recorded when it ends; one that breaks after it started is not retried
elsewhere (part of the answer was already used): the client's connection is cut, as the provider cut ours.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from core.providers import chain
from core.providers.chain import Attempt, Context, Step
from core.providers.registry import ErrorInfo, classify_status
from core.redact import redact
from core.server.http import HttpError, Request, respond
from core.server.upstream import Response, Target, UpstreamError

MAX_ERROR_BODY = 1 << 20
MAX_ANSWER = 256 << 20
PATHS = {"chat": b"/chat/completions", "embeddings": b"/embeddings"}
JOB_TYPES = {"chat": "chat_completion", "embeddings": "embedding"}
PASSED_HEADERS = (b"content-type", b"x-request-id", b"openai-processing-ms")


class StreamAborted(Exception):
    """The provider's stream broke after it started: the client's connection is cut (logged as nothing more)."""


def _headers(
    resp: Response, ctx: Context, provider: str, cost=None, *, with_type: bool = False
) -> list[tuple[bytes, bytes]]:
    passed = PASSED_HEADERS if with_type else PASSED_HEADERS[1:]
    out = [(n, v) for n, v in resp.headers if n in passed]
    out += [(b"x-aium-provider", provider.encode()), (b"x-aium-request-id", ctx.request_id.encode())]
    if cost is not None:
        out.append((b"x-aium-cost-usd", str(cost).encode()))
    return out


def _error_message(body: bytes, status: int) -> tuple[dict | None, str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
    inner = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(inner, dict) and inner.get("message"):
        return parsed, f"Error code: {status} - {inner['message']}"
    if isinstance(inner, str):
        return parsed, f"Error code: {status} - {inner}"
    return parsed, f"HTTP {status}"


def _usage_of(kind: str, payload) -> dict | None:
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if kind == "embeddings" and isinstance(usage, dict):  # embeddings have no output: their usage says nothing
        usage = {"completion_tokens": 0, **usage}
    return usage


async def forward(gw, request: Request, send, kind: str, payload: dict, key, timing, raw: bytes | None = None) -> int:
    """Serve one request through its route; returns the status sent. Raises HttpError for the gateway's own
    refusals (unknown model or operation…). `raw`: the body `payload` was parsed from, sent as it is to a provider
    whose model is the one asked for when nothing else needs changing (encoding it again costs CPU on every call)."""
    asked = payload.get("model")
    route = gw.router.resolve(asked, request.operation)
    stream = kind == "chat" and payload.get("stream") is True
    if stream:
        options = payload.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            raw = None
            payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    ctx = chain.new_context(route.operation, key.company, key.brand)
    exhausted = await gw.budgets.get(ctx.company)
    attempts: list[Attempt] = []
    for n, step in enumerate(route.steps, start=1):
        if step.config is None:
            attempts.append(Attempt(step.provider, step.model, "not_configured"))
            continue
        reason = chain.budget_reason(exhausted, step.provider)
        if reason:
            fields = chain.skip_record(ctx, n, step, reason)
            gw.record(fields, kind=kind)
            attempts.append(
                Attempt(
                    step.provider, step.model, "skipped", "budget", chain.BUDGET_EXHAUSTED, reason, fields["job_id"]
                )
            )
            continue
        if raw is not None and step.model == asked:
            body = raw
        else:
            payload["model"] = step.model
            body = json.dumps(payload, ensure_ascii=False).encode()
        target, headers = gw.upstream(step.provider)
        started, t0 = datetime.now(UTC), time.perf_counter()
        try:
            resp = await gw.pool.request(target, b"POST", PATHS[kind], headers, body, timeout=route.timeout)
        except UpstreamError as e:
            info = ErrorInfo(e.kind, e.error_class, True, redact(str(e)))
            _failed(gw, timing, ctx, n, step, started, t0, info, attempts, kind)
            continue
        if resp.status >= 400:
            try:
                answer = await resp.read(MAX_ERROR_BODY)
            except UpstreamError as e:
                info = ErrorInfo(e.kind, e.error_class, True, redact(str(e)))
                _failed(gw, timing, ctx, n, step, started, t0, info, attempts, kind)
                continue
            parsed, message = _error_message(answer, resp.status)
            info = classify_status(resp.status, parsed, message)
            _failed(gw, timing, ctx, n, step, started, t0, info, attempts, kind)
            if not info.fallback:  # the caller's own error: theirs to see, as the provider wrote it
                secret = step.config.api_key
                if secret and secret.encode() in answer:  # all but the provider's key, should it echo it
                    answer = answer.replace(secret.encode(), b"***")
                await respond(
                    send,
                    resp.status,
                    answer,
                    _headers(resp, ctx, step.provider),
                    resp.header(b"content-type") or b"application/json",
                )
                return resp.status
            continue
        if stream:
            return await _stream(gw, timing, send, resp, ctx, n, step, started, t0)
        try:
            answer = await resp.read(MAX_ANSWER)
        except UpstreamError as e:
            info = ErrorInfo(e.kind, e.error_class, True, redact(str(e)))
            _failed(gw, timing, ctx, n, step, started, t0, info, attempts, kind)
            continue
        elapsed = time.perf_counter() - t0
        timing.upstream += elapsed
        try:
            parsed = json.loads(answer)
        except ValueError:
            parsed = None
        usage = _usage_of(kind, parsed)
        tokens, note = (
            chain.tokens_of(step.provider, usage, usage_object=True)
            if usage is not None
            else ({}, "the answer carries no usage: tokens unknown")
        )
        model = parsed.get("model") if isinstance(parsed, dict) and isinstance(parsed.get("model"), str) else None
        fields = chain.attempt_record(
            ctx,
            n,
            provider=step.provider,
            model=model or step.model,
            started=started,
            elapsed=elapsed,
            status="completed",
            tokens=tokens,
            description=note,
        )
        cost = gw.price(fields)
        gw.record(fields, kind=kind)  # durable before the answer leaves
        await respond(
            send,
            resp.status,
            answer,
            _headers(resp, ctx, step.provider, cost),
            resp.header(b"content-type") or b"application/json",
        )
        return resp.status
    raise HttpError(
        502,
        "all_providers_failed",
        f"no provider served {route.operation if route.operation != 'unspecified' else 'the model'}: "
        + (
            "; ".join(f"{a.provider}: {a.outcome}" + (f" ({a.message})" if a.message else "") for a in attempts)
            or "no provider configured"
        ),
        headers=[(b"x-aium-request-id", ctx.request_id.encode())],
        extra={
            "attempts": [
                {"provider": a.provider, "model": a.model, "outcome": a.outcome, "reason": a.message or a.error_kind}
                for a in attempts
            ]
        },
    )


def _failed(
    gw,
    timing,
    ctx: Context,
    n: int,
    step: Step,
    started: datetime,
    t0: float,
    info: ErrorInfo,
    attempts: list[Attempt],
    kind: str,
) -> None:
    elapsed = time.perf_counter() - t0
    timing.upstream += elapsed
    fields = chain.failure_record(ctx, n, step, started=started, elapsed=elapsed, info=info)
    gw.record(fields, kind=kind)
    attempts.append(
        Attempt(
            step.provider,
            step.model,
            chain.outcome_of(info),
            info.kind,
            info.error_class,
            info.message,
            fields["job_id"],
        )
    )


class _UsageScanner:
    """Finds the usage chunk (and the model) in SSE bytes as they pass, without holding the stream."""

    __slots__ = ("model", "tail", "usage")

    def __init__(self):
        self.tail = b""
        self.usage = None
        self.model = None

    def feed(self, data: bytes) -> None:
        if b"\n" not in data:
            self.tail += data
            return
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()
        for line in lines:
            if line.startswith(b"data:") and b'"usage"' in line:
                try:
                    event = json.loads(line[5:])
                except ValueError:
                    continue
                if isinstance(event, dict) and isinstance(event.get("usage"), dict):
                    self.usage = event["usage"]
                    if isinstance(event.get("model"), str):
                        self.model = event["model"]


async def _stream(
    gw, timing, send, resp: Response, ctx: Context, n: int, step: Step, started: datetime, t0: float
) -> int:
    timing.upstream += time.perf_counter() - t0
    await send(
        {
            "type": "http.response.start",
            "status": resp.status,
            "headers": _headers(resp, ctx, step.provider, with_type=True),
        }
    )
    scan = _UsageScanner()
    held = b""  # the end of the stream ([DONE]) waits until the record is in the spool
    try:
        async for data in resp.chunks():
            scan.feed(data)
            if b"[DONE]" in data:
                held += data
                continue
            if held:
                data, held = held + data, b""
            await send({"type": "http.response.body", "body": data, "more_body": True})
    except UpstreamError as e:
        info = ErrorInfo(e.kind, e.error_class, True, redact(str(e)))
        tokens, _ = chain.tokens_of(step.provider, scan.usage, usage_object=True) if scan.usage else ({}, None)
        gw.record(
            chain.failure_record(
                ctx,
                n,
                step,
                started=started,
                elapsed=time.perf_counter() - t0,
                info=info,
                tokens=tokens,
                prefix="stream broke: ",
            ),
            kind="chat",
        )
        raise StreamAborted(str(e)) from None
    tokens, note = chain.tokens_of(step.provider, scan.usage, usage_object=True) if scan.usage else ({}, None)
    error_class, missing = chain.stream_end_note(scan.usage is not None, False)
    gw.record(
        chain.attempt_record(
            ctx,
            n,
            provider=step.provider,
            model=scan.model or step.model,
            started=started,
            elapsed=time.perf_counter() - t0,
            status="completed",
            tokens=tokens,
            error_class=error_class,
            description=missing or note,
        ),
        kind="chat",
    )
    await send({"type": "http.response.body", "body": held, "more_body": False})
    return resp.status


def upstream_of(step_config) -> tuple[Target, bytes]:
    """A provider's target and its fixed request headers (its key stays here: never sent anywhere else)."""
    headers = b"Content-Type: application/json\r\nUser-Agent: aium-gateway\r\n"
    if step_config.api_key:
        headers += b"Authorization: Bearer " + step_config.api_key.encode() + b"\r\n"
    return Target.parse(step_config.base_url), headers
