"""The tracked LLM client: `complete()` walks an operation's provider chain, `instrument()` wraps an existing
`openai.OpenAI` client. Every attempt lands in the ledger, grouped by one request_id per logical request.

Routing rules:
- Fall over to the next provider on quota, rate limit, authentication, 5xx, timeout or connection errors
  (`core.providers.registry.classify_error` says which); the caller's own 4xx (bad request…) is raised at once.
- Budget-aware: before calling, a provider whose monthly budget or quota for the company is used up is skipped,
  and the skip is recorded (status "failed", error_class "BudgetExhausted", 0 tokens, $0). An exhausted
  company-wide budget (no provider named) skips every paid provider: self-hosted ones (Ollama, $0) still serve.
- Streaming (`stream=True`) asks for `stream_options.include_usage` and records the attempt when the stream
  ends. A stream that fails after it started is not retried elsewhere: part of the answer was already used.
Recording never breaks the caller's call: a ledger write that fails is logged (redacted) and the answer returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import openai

from core.ingest.record import record_usage
from core.providers import chain
from core.providers.chain import BUDGET_EXHAUSTED, DEFAULT_COMPANY, INCOMPLETE_STREAM, Attempt  # noqa: F401
from core.providers.chain import Context as _Context
from core.providers.operations import Operation, get_operation
from core.providers.registry import ProviderConfig, classify_error, make_client
from core.redact import redact

log = logging.getLogger(__name__)

SOURCE = "api"


class AllProvidersFailed(RuntimeError):
    """Every provider of the chain was skipped or failed with a fallback-able error."""

    def __init__(self, operation: str, request_id: str, attempts: list[Attempt]):
        self.operation = operation
        self.request_id = request_id
        self.attempts = attempts
        tried = "; ".join(f"{a.provider}: {a.outcome}" + (f" ({a.message})" if a.message else "") for a in attempts)
        super().__init__(
            redact(
                f"operation {operation!r} (request {request_id}): no provider served it: "
                f"{tried or 'no provider configured'}"
            )
        )


@dataclass
class Traced:
    """An answer with the route it took: which provider served it and every attempt before."""

    response: object
    request_id: str
    provider: str
    model: str
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(frozen=True)
class _Step:
    provider: str
    model: str
    client: Callable[[], openai.OpenAI] | None  # None: the provider is not configured


# -- clients ----------------------------------------------------------------------------------------------
_clients: dict[tuple[ProviderConfig, float | None], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client_for(cfg: ProviderConfig, timeout: float | None) -> openai.OpenAI:
    # One client per configuration: its connection pool is reused across calls.
    key = (cfg, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = make_client(cfg, timeout=timeout, max_retries=0)
        return client


def _configured_steps(op: Operation, skip: str | None = None) -> list[_Step]:
    return [
        _Step(
            s.provider, s.model, None if s.config is None else (lambda c=s.config: _client_for(c, op.timeout_seconds))
        )
        for s in chain.steps_for(op, skip=skip)
    ]


# -- ledger -------------------------------------------------------------------------------------------------
def _store(fields: dict) -> str | None:
    try:
        record_usage(source=SOURCE, **fields)
        return fields["job_id"]
    except Exception as e:  # noqa: BLE001 - tracking must never break the caller's AI feature
        log.warning("could not record attempt %s: %s: %s", fields["job_id"], type(e).__name__, redact(str(e)))
        return None


def _record(ctx: _Context, attempt_no: int, **kwargs) -> str | None:
    return _store(chain.attempt_record(ctx, attempt_no, **kwargs))


# -- the chain ----------------------------------------------------------------------------------------------
def _run(
    ctx: _Context, steps: list[_Step], messages, params: dict, now: datetime | None, reraise_last: bool = False
) -> Traced:
    stream = bool(params.get("stream"))
    if stream:
        params = params | {"stream_options": {**(params.get("stream_options") or {}), "include_usage": True}}
    exhausted = chain.company_exhausted(ctx.company, now)
    attempts: list[Attempt] = []
    last_exc: BaseException | None = None
    for n, step in enumerate(steps, start=1):
        if step.client is None:
            attempts.append(Attempt(step.provider, step.model, "not_configured"))
            continue
        reason = chain.budget_reason(exhausted, step.provider)
        if reason:
            job = _store(chain.skip_record(ctx, n, chain.Step(step.provider, step.model, None), reason))
            attempts.append(Attempt(step.provider, step.model, "skipped", "budget", BUDGET_EXHAUSTED, reason, job))
            continue
        started, t0 = datetime.now(UTC), time.perf_counter()
        try:
            resp = step.client().chat.completions.create(model=step.model, messages=messages, **params)
        except Exception as exc:  # classified below; non-fallback errors are re-raised
            info = classify_error(exc)
            status = chain.outcome_of(info)
            job = _store(
                chain.failure_record(
                    ctx,
                    n,
                    chain.Step(step.provider, step.model, None),
                    started=started,
                    elapsed=time.perf_counter() - t0,
                    info=info,
                )
            )
            attempts.append(Attempt(step.provider, step.model, status, info.kind, info.error_class, info.message, job))
            if not info.fallback:
                raise
            last_exc = exc
            log.info("operation %s: %s failed (%s), trying the next provider", ctx.operation, step.provider, info.kind)
            continue
        if stream:
            tracked = TrackedStream(resp, ctx, n, step.provider, step.model, started, t0)
            attempts.append(Attempt(step.provider, step.model, "completed", job_id=tracked.job_id))
            return Traced(tracked, ctx.request_id, step.provider, step.model, attempts)
        tokens, note = chain.tokens_of(step.provider, resp)
        model = getattr(resp, "model", None) or step.model
        job = _record(
            ctx,
            n,
            provider=step.provider,
            model=model,
            started=started,
            elapsed=time.perf_counter() - t0,
            status="completed",
            tokens=tokens,
            description=note,
        )
        attempts.append(Attempt(step.provider, model, "completed", job_id=job))
        return Traced(resp, ctx.request_id, step.provider, model, attempts)
    if reraise_last and last_exc is not None:
        raise last_exc  # a client without fallback behaves as the bare client would
    raise AllProvidersFailed(ctx.operation, ctx.request_id, attempts)


class TrackedStream:
    """Iterates an openai Stream and records the attempt once: at its end, on an error, or when closed early."""

    def __init__(self, stream, ctx: _Context, attempt_no: int, provider: str, model: str, started: datetime, t0: float):
        self._stream = stream
        self._ctx, self._n, self._provider, self._model = ctx, attempt_no, provider, model
        self._started, self._t0 = started, t0
        self._usage = None
        self._done = False
        self.job_id = f"{ctx.request_id}-{attempt_no}"

    @property
    def response(self):
        return self._stream.response

    def __iter__(self) -> Iterator:
        try:
            for chunk in self._stream:
                if getattr(chunk, "usage", None):
                    self._usage = chunk.usage
                if getattr(chunk, "model", None):
                    self._model = chunk.model
                yield chunk
        except GeneratorExit:
            self._finish(closed_early=True)
            raise
        except Exception as exc:
            self._finish(error=exc)
            raise
        self._finish()

    def __enter__(self) -> TrackedStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()
        self._finish(closed_early=True)

    def _finish(self, error: BaseException | None = None, closed_early: bool = False) -> None:
        if self._done:
            return
        self._done = True
        elapsed = time.perf_counter() - self._t0
        tokens, note = (
            chain.tokens_of(self._provider, {"usage": self._usage.model_dump()}) if self._usage else ({}, None)
        )
        if error is not None:
            _store(
                chain.failure_record(
                    self._ctx,
                    self._n,
                    chain.Step(self._provider, self._model, None),
                    started=self._started,
                    elapsed=elapsed,
                    info=classify_error(error),
                    tokens=tokens,
                    prefix="stream broke: ",
                )
            )
            return
        error_class, missing = chain.stream_end_note(self._usage is not None, closed_early)
        note = missing or note
        _record(
            self._ctx,
            self._n,
            provider=self._provider,
            model=self._model,
            started=self._started,
            elapsed=elapsed,
            status="completed",
            tokens=tokens,
            error_class=error_class,
            description=note,
        )


_context = chain.new_context


def complete_traced(
    operation: str,
    messages,
    *,
    company: str | None = None,
    brand: str | None = None,
    now: datetime | None = None,
    **params,
) -> Traced:
    """`complete`, returning the route too (provider that served, request_id, every attempt)."""
    op = get_operation(operation)
    steps = _configured_steps(op)
    model = params.pop("model", None)
    if model and steps:  # a caller's model is meant for the chain's first provider only (chain.with_first_model)
        steps[0] = _Step(steps[0].provider, model, steps[0].client)
    return _run(_context(operation, company, brand), steps, messages, params, now)


def complete(operation: str, messages, *, company: str | None = None, brand: str | None = None, **params):
    """Chat completion through the operation's provider chain; returns the provider's ChatCompletion (or a
    TrackedStream of chunks when stream=True). Raises the caller's own 4xx at once, AllProvidersFailed when
    no provider could serve."""
    return complete_traced(operation, messages, company=company, brand=brand, **params).response


# -- instrumenting an existing client -------------------------------------------------------------------------
class _Completions:
    def __init__(self, owner: InstrumentedClient):
        self._owner = owner

    def create(
        self,
        *,
        model: str,
        messages,
        operation: str | None = None,
        company: str | None = None,
        brand: str | None = None,
        **params,
    ):
        o = self._owner
        op = get_operation(operation or o.operation)
        base = o.client.with_options(max_retries=0) if o.fallback and len(op.chain) > 1 else o.client
        steps = [_Step(o.provider, model, lambda: base)]
        if o.fallback:
            steps += _configured_steps(op, skip=o.provider)
        ctx = _context(op.name, company or o.company, brand or o.brand)
        return _run(ctx, steps, messages, params, None, reraise_last=not o.fallback).response

    def __getattr__(self, name):
        return getattr(self._owner.client.chat.completions, name)


class _Chat:
    def __init__(self, owner: InstrumentedClient):
        self.completions = _Completions(owner)
        self._owner = owner

    def __getattr__(self, name):
        return getattr(self._owner.client.chat, name)


class InstrumentedClient:
    """Proxy of an openai.OpenAI client: chat.completions.create is tracked, everything else passes through."""

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        provider: str,
        company: str | None,
        operation: str | None,
        brand: str | None,
        fallback: bool,
    ):
        self.client = client
        self.provider = provider
        self.company = company
        self.operation = operation or "unspecified"
        self.brand = brand
        self.fallback = fallback
        self.chat = _Chat(self)

    def __getattr__(self, name):
        return getattr(self.client, name)


def instrument(
    client: openai.OpenAI,
    *,
    provider: str = "openai",
    company: str | None = None,
    operation: str | None = None,
    brand: str | None = None,
    fallback: bool = True,
) -> InstrumentedClient:
    """Wrap `client` so that its chat.completions.create calls are recorded; on a fallback-able error the
    rest of the operation's chain (its other providers) serves the call, unless fallback=False."""
    return InstrumentedClient(
        client, provider=provider, company=company, operation=operation, brand=brand, fallback=fallback
    )
