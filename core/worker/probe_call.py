"""The probe's provider calls: the chain order and model of the probe operation, one tiny chat completion per
provider with a timeout and no client retries, and the stop request that cuts a call short (the call runs in a
thread the probe stops waiting for)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from core.config import get_settings
from core.providers.registry import DEFAULT_CHAIN, ProviderConfig, classify_error, make_client
from core.redact import redact
from core.worker.probe_report import ProviderCheck

log = logging.getLogger("core.worker.probe")


def _operation(operation: str | None = None):
    """The probe operation's config (core.providers.operations, owned by the LLM client), or None when unavailable."""
    op = operation or get_settings().probe_operation
    try:
        from core.providers.operations import get_operation

        return get_operation(op)
    except Exception as e:  # noqa: BLE001 - a broken operations file must not stop the probe
        log.warning("probe: operations config unusable (%s: %s); default chain", type(e).__name__, redact(e))
        return None


def probe_chain(operation: str | None = None) -> list[str]:
    """Provider order of the probe operation (OPERATIONS_FILE), else the default OpenAI -> Ollama -> Gemini."""
    op = _operation(operation)
    chain = [p.lower() for p in op.chain] if op is not None and op.chain else list(DEFAULT_CHAIN)
    return list(dict.fromkeys(chain))


def model_for(provider: str, cfg: ProviderConfig) -> ProviderConfig:
    """`cfg` with the probe operation's model for `provider` (the settings' model when the operation has none)."""
    op = _operation()
    if op is None:
        return cfg
    try:
        return dataclasses.replace(cfg, model=op.model_for(provider))
    except (KeyError, Exception):  # noqa: BLE001 - unknown provider for the operation: settings' model
        return cfg


STOP_POLL_SECONDS = 0.1  # how often a waiting probe looks at the stop request


class StopRequest:
    """A stop asked of a running job, set from a signal handler (a plain attribute: no lock taken there)."""

    def __init__(self) -> None:
        self.reason: str | None = None  # what asked for the stop, e.g. "SIGTERM"

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def is_set(self) -> bool:
        return self.reason is not None


class ProbeStopped(Exception):
    """The stop request was set while a provider call was in flight."""


def call_provider(
    cfg: ProviderConfig, *, timeout: float, max_tokens: int, stop: StopRequest | None = None
) -> ProviderCheck:
    """One tiny chat completion; never raises, except ProbeStopped when `stop` is set before the call ends."""
    client = make_client(cfg, timeout=timeout, max_retries=0)
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["response"] = client.chat.completions.create(
                model=cfg.model,
                messages=[{"role": "user", "content": "Reply with the single word OK."}],
                max_tokens=max_tokens,
            )
        except Exception as e:  # noqa: BLE001 - every failure is a probe result
            outcome["error"] = e
        finally:
            client.close()

    t0 = time.monotonic()
    if stop is None:
        call()
    else:
        # A blocking HTTP read cannot be interrupted: the call runs in a daemon thread, and on a stop the probe
        # leaves it behind (it ends at its own timeout, or with the process).
        done = threading.Event()

        def run() -> None:
            try:
                call()
            finally:
                done.set()

        threading.Thread(target=run, name=f"probe-{cfg.name}", daemon=True).start()
        while not done.wait(STOP_POLL_SECONDS):
            if stop.is_set():
                raise ProbeStopped(cfg.name)
    latency = int((time.monotonic() - t0) * 1000)
    if "error" in outcome:
        return ProviderCheck(cfg.name, cfg.model, False, latency_ms=latency, error=classify_error(outcome["error"]))
    resp = outcome["response"]
    try:
        from core.providers.usage_shapes import normalize_usage

        tokens = normalize_usage(cfg.name, resp)
        inp, out = tokens["input_tokens"], tokens["output_tokens"]
    except ValueError:  # a provider that omits usage still answered
        inp = out = 0
    return ProviderCheck(cfg.name, getattr(resp, "model", None) or cfg.model, True, inp, out, latency)
