"""The gateway's ASGI app: endpoints, keys, per-key rate limits and budgets (core.server.admission), and the
background upkeep (spool rotation, key ring, prices, budgets, the providers' model lists).

A request without a key is served only while no gateway key exists and the server listens on loopback (the local
operator's first steps, as the dashboard's local mode); any key sent must be valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
from pathlib import Path

from core.config import Settings, get_settings
from core.providers import chain
from core.providers.registry import configured_providers
from core.redact import redact
from core.server import proxy
from core.server import writer as ledger_writer
from core.server.admission import Budgets, RateLimits
from core.server.http import (
    HttpError,
    Request,
    parse_json_object,
    read_body,
    respond,
    respond_error,
    respond_json,
)
from core.server.keys import KeyInfo, KeyRing
from core.server.metrics import CONTENT_TYPE, Metrics
from core.server.routing import RouteError, Router
from core.server.spool import Spool
from core.server.upstream import Pool

log = logging.getLogger("core.server")
LISTING_EVERY = 600.0
PRICES_EVERY = 60.0


def preload() -> None:
    """Import now what the first calls would import on their way (the budget check's queries bring pandas: a
    third of a second on the first call otherwise) and load the usage library's readers (the answers that
    core.providers.usage_shapes.chat_usage_fast hands on)."""
    import core.limits.spend  # chain.company_exhausted
    import core.server.otlp  # POST /v1/traces
    import core.server.usage_in  # noqa: F401 - POST /v1/usage
    from core.providers.usage_shapes import normalize_usage_by_library

    for usage in ({"prompt_tokens": 1, "completion_tokens": 1}, {"input_tokens": 1, "output_tokens": 1}):
        normalize_usage_by_library("openai", usage)


class Timing:
    __slots__ = ("upstream",)

    def __init__(self):
        self.upstream = 0.0


class Gateway:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        loopback: bool = True,
        writer: str = "process",
        shared_dir: Path | None = None,
    ):
        """`writer`: process | thread | none (one of several server processes: their parent runs the writer);
        `shared_dir`: the folder the server processes share (rate-limit buckets), when there are several."""
        self.settings = s = settings or get_settings()
        self.loopback = loopback
        self.writer_mode = writer
        self.providers = configured_providers(s)
        self.router = Router(s, self.providers)
        self.ring = KeyRing()
        self.limits = RateLimits(shared_dir / "rate-limits" if shared_dir is not None else None)
        self.budgets = Budgets(s.gateway_budget_refresh_seconds)
        self.spool = Spool(ledger_writer.spool_dir_for(s), fsync=s.gateway_spool_fsync)
        self.metrics = Metrics(self.spool.waiting)  # every server process's records, not only this one's
        self.local_key = KeyInfo("local", "", s.gateway_company, None, None)
        self.pricer = None
        self.pool: Pool | None = None
        self._targets: dict[str, tuple] = {}
        self._tasks: list[asyncio.Task] = []
        self._writer = None
        self.routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/traces"): self._traces,
            ("POST", "/v1/usage"): self._usage,
            ("GET", "/healthz"): self._health,
            ("GET", "/metrics"): self._metrics,
        }

    # -- ASGI ---------------------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as e:  # noqa: BLE001 - reported to uvicorn, which stops
                    await send({"type": "lifespan.startup.failed", "message": redact(f"{type(e).__name__}: {e}")})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send) -> None:
        request = Request(scope)
        handler = self.routes.get((request.method, request.path))
        endpoint = request.path if handler is not None else "other"
        status = 500
        try:
            if handler is None:
                known = any(path == request.path for _, path in self.routes)
                raise HttpError(
                    405 if known else 404,
                    "method_not_allowed" if known else "not_found",
                    f"{request.method} {request.path} is not served here",
                )
            status = await handler(request, receive, send)
        except HttpError as e:
            status = e.status
            await respond_error(send, e)
        except RouteError as e:
            status = e.status
            await respond_error(send, HttpError(e.status, e.code, str(e), param=e.param))
        except (proxy.StreamAborted, ConnectionResetError):
            status = 499
            raise
        except Exception as e:  # noqa: BLE001 - one redacted line, never the body
            log.error(
                "gateway: %s %s failed: %s: %s", request.method, request.path, type(e).__name__, redact(str(e))[:300]
            )
            with contextlib.suppress(Exception):  # the answer had started: nothing more to say
                await respond_error(send, HttpError(500, "internal_error", "the gateway failed on this request"))
        finally:
            self.metrics.child(self.metrics.requests, endpoint, str(status)).inc()

    # -- keys ----------------------------------------------------------------------------------------------
    def authenticate(self, request: Request) -> KeyInfo:
        token = request.bearer()
        if token is None:
            if not request.authorization and self.loopback and self.ring.empty:
                return self.local_key
            raise HttpError(
                401,
                "invalid_api_key",
                "a gateway key is required: Authorization: Bearer <key> (python -m core key create)",
            )
        key = self.ring.check(token)
        if key is None:
            raise HttpError(401, "invalid_api_key", "the gateway key is not valid (unknown or revoked)")
        wait = self.limits.retry_after(key)
        if wait:
            raise HttpError(
                429,
                "rate_limit_exceeded",
                f"this key may make {key.requests_per_minute} requests per minute: retry in {wait} s",
                headers=[(b"retry-after", str(wait).encode())],
            )
        return key

    # -- endpoints -----------------------------------------------------------------------------------------
    async def _proxied(self, kind: str, request: Request, receive, send) -> int:
        t0 = time.perf_counter()
        key = self.authenticate(request)
        body = await read_body(request, receive, self.settings.gateway_max_body_bytes)
        timing = Timing()
        try:
            return await proxy.forward(self, request, send, kind, parse_json_object(body), key, timing, raw=body)
        finally:
            self.metrics.child(self.metrics.added, kind).observe(max(0.0, time.perf_counter() - t0 - timing.upstream))

    async def _chat(self, request, receive, send) -> int:
        return await self._proxied("chat", request, receive, send)

    async def _embeddings(self, request, receive, send) -> int:
        return await self._proxied("embeddings", request, receive, send)

    async def _models(self, request, receive, send) -> int:
        self.authenticate(request)
        await respond_json(send, 200, {"object": "list", "data": self.router.model_list()})
        return 200

    async def _traces(self, request, receive, send) -> int:
        from core.server import otlp

        key = self.authenticate(request)
        body = await read_body(request, receive, self.settings.gateway_max_body_bytes)
        return await otlp.receive_traces(self, request, send, body, key)

    async def _usage(self, request, receive, send) -> int:
        from core.server import usage_in

        key = self.authenticate(request)
        body = await read_body(request, receive, self.settings.gateway_max_body_bytes)
        return await usage_in.receive_usage(self, send, body, key)

    async def _health(self, request, receive, send) -> int:
        await respond_json(send, 200, {"status": "ok", "records_waiting": self.spool.waiting()})
        return 200

    async def _metrics(self, request, receive, send) -> int:
        await respond(send, 200, self.metrics.render(), content_type=CONTENT_TYPE)
        return 200

    # -- recording -----------------------------------------------------------------------------------------
    def record(self, fields: dict, *, kind: str = "chat", source: str = "gateway") -> None:
        """One attempt into the spool (durable when this returns); counted by provider and outcome."""
        if kind != "otel":
            outcome = "skipped" if fields.get("error_class") == chain.BUDGET_EXHAUSTED else fields["status"]
            self.metrics.child(self.metrics.attempts, fields["provider"], outcome).inc()
        if kind == "embeddings":
            fields["job_type"] = proxy.JOB_TYPES[kind]
        self.spool.append({**fields, "source": source} if source != "gateway" else fields)

    def price(self, fields: dict):
        """The attempt's cost as the ledger will price it (None when unpriced or not yet known)."""
        if self.pricer is None:
            return None
        try:
            cost = self.pricer.price(
                provider=fields["provider"],
                model=fields["model"],
                at=fields["created_at"],
                input_tokens=fields["input_tokens"],
                output_tokens=fields["output_tokens"],
                cached_tokens=fields["cached_tokens"],
                cache_write_tokens=fields["cache_write_tokens"],
            )
        except Exception:  # noqa: BLE001 - a header is not worth failing the answer for
            return None
        return None if cost.pricing_status == "unpriced" else cost.total_cost

    def upstream(self, provider: str):
        found = self._targets.get(provider)
        if found is None:
            found = self._targets[provider] = proxy.upstream_of(self.providers[provider])
        return found

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        self.pool = Pool()
        recovered = self.spool.recover()
        if recovered:
            log.warning("spool: %d record(s) left by a stopped gateway are being written to the ledger", recovered)
        await loop.run_in_executor(None, self.ring.refresh)
        await loop.run_in_executor(None, self._load_prices)
        await loop.run_in_executor(None, preload)
        self._start_writer()
        s = self.settings
        # Startup's objects live as long as the process: out of the collector's way (fewer, shorter collections).
        gc.collect()
        gc.freeze()
        self._tasks = [
            asyncio.create_task(self._every(s.gateway_flush_seconds, self.spool.rotate)),
            asyncio.create_task(self._every(s.gateway_key_refresh_seconds, self.ring.refresh, True)),
            asyncio.create_task(self._every(PRICES_EVERY, self._load_prices, True)),
            asyncio.create_task(self._listings()),
        ]

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.spool.close()
        await asyncio.get_running_loop().run_in_executor(None, self._stop_writer)
        if self.pool is not None:
            self.pool.close()

    async def _every(self, seconds: float, fn, in_thread: bool = False) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(seconds)
            try:
                if in_thread:
                    await loop.run_in_executor(None, fn)
                else:
                    fn()
            except Exception as e:  # noqa: BLE001 - upkeep retries at its next turn
                log.warning(
                    "gateway upkeep %s failed: %s: %s",
                    getattr(fn, "__name__", fn),
                    type(e).__name__,
                    redact(str(e))[:300],
                )

    def _load_prices(self) -> None:
        from core.pricing.catalog import Pricer
        from core.storage.db import session_scope

        with session_scope() as s:
            self.pricer = Pricer(s)

    async def _listings(self) -> None:
        """Each provider's /models, so that a plain model id finds the provider serving it."""
        while True:
            for name in list(self.providers):
                target, headers = self.upstream(name)
                try:
                    resp = await self.pool.request(target, b"GET", b"/models", headers, b"", timeout=10.0)
                    body = await resp.read(4 << 20)
                    data = json.loads(body).get("data") if resp.status == 200 else None
                    if isinstance(data, list):
                        self.router.listed[name] = [
                            m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)
                        ]
                except Exception as e:  # noqa: BLE001 - the listing is a help, not a need
                    log.info("gateway: %s /models not read: %s", name, type(e).__name__)
            await asyncio.sleep(LISTING_EVERY)

    def _start_writer(self) -> None:
        interval = ledger_writer.interval_for(self.settings)
        if self.writer_mode == "thread":
            self._writer = ledger_writer.Writer(self.spool.dir, interval)
            self._writer_thread = self._writer.start_thread()
        elif self.writer_mode == "process":
            self._writer = ledger_writer.start_process(self.spool.dir, interval)

    def _stop_writer(self) -> None:
        w = self._writer
        if w is None:
            return
        if isinstance(w, ledger_writer.Writer):
            w.stopping.set()
            self._writer_thread.join(timeout=60)
        else:
            ledger_writer.stop_process(w)


def create_app(
    settings: Settings | None = None, *, loopback: bool = True, writer: str = "process", shared_dir: Path | None = None
) -> Gateway:
    return Gateway(settings, loopback=loopback, writer=writer, shared_dir=shared_dir)
