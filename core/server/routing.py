"""Where a request goes: the `model` (or the X-Operation header) names an operation of operations.toml, whose chain
is walked with fallback (core.providers.chain); or a plain model id, sent to the one configured provider that
serves it.

A plain model is found, in this order: `provider/model`; a model the configuration names for a provider
(settings, operations.toml); a model a provider lists at its /models (read at start, then every few minutes); a
model id's well-known family (gpt-…, o1…, gemini-…; ollama for `name:tag`). Otherwise: 404, naming it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from core.config import Settings
from core.providers import chain
from core.providers.chain import Step
from core.providers.operations import Operation, load_operations_cached, operations_path
from core.providers.registry import DEFAULT_CHAIN, ProviderConfig
from core.storage.models import NO_OPERATION

_FAMILIES = (
    (
        "openai",
        (
            "gpt-",
            "o1",
            "o3",
            "o4",
            "chatgpt-",
            "text-embedding-",
            "omni-moderation",
            "davinci",
            "babbage",
            "whisper",
            "tts-",
            "dall-e",
        ),
    ),
    ("gemini", ("gemini-", "gemma-", "text-embedding-004", "embedding-0")),
)
CHECK_OPERATIONS_EVERY = 1.0  # seconds between two looks at operations.toml: an edit is served within a second


class RouteError(Exception):
    def __init__(self, status: int, code: str, message: str, param: str | None = None):
        self.status, self.code, self.param = status, code, param
        super().__init__(message)


@dataclass(frozen=True)
class Route:
    operation: str
    steps: list[Step]
    timeout: float


class Router:
    def __init__(
        self,
        settings: Settings,
        providers: dict[str, ProviderConfig],
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.providers = providers
        self.operations_file = str(operations_path(settings))
        self.listed: dict[str, list[str]] = {}  # provider -> the models it lists at /models (replaced whole)
        self._models: tuple[tuple, dict[str, list[str]]] | None = None
        self._clock = clock
        self._ops: tuple[Operation, dict[str, Operation]] | None = None
        self._ops_seen = 0.0

    def operations(self) -> tuple[Operation, dict[str, Operation]]:
        """operations.toml as last read; its file looked at again (a stat) at most once a second, not per request."""
        now = self._clock()
        if self._ops is None or now - self._ops_seen >= CHECK_OPERATIONS_EVERY:
            self._ops = load_operations_cached(path=self.operations_file)
            self._ops_seen = now
        return self._ops

    def _timeout(self, op: Operation | None) -> float:
        return (op.timeout_seconds if op and op.timeout_seconds else None) or self.settings.provider_timeout_seconds

    def resolve(self, model, operation: str | None) -> Route:
        if model is not None and not isinstance(model, str):
            raise RouteError(400, "invalid_value", "'model' must be a string", "model")
        model = (model or "").strip()
        _, ops = self.operations()  # one read per request: the same file state for the whole resolution
        if operation is not None:
            op = ops.get(operation.strip())
            if op is None:
                raise RouteError(
                    404,
                    "operation_not_found",
                    f"operation {operation.strip()!r} (X-Operation) is not defined in operations.toml",
                )
            steps = chain.steps_for(op, providers=self.providers)
            if model != op.name:
                steps = chain.with_first_model(steps, model)
            return Route(op.name, steps, self._timeout(op))
        if not model:
            raise RouteError(400, "missing_model", "'model' is required: a model id or an operation name", "model")
        op = ops.get(model)
        if op is not None:
            return Route(op.name, chain.steps_for(op, providers=self.providers), self._timeout(op))
        provider, name = self.provider_of(model)
        if provider is None:
            raise RouteError(
                404,
                "model_not_found",
                f"model {model!r} is neither an operation of operations.toml nor a model of a "
                f"configured provider ({', '.join(self.providers) or 'none configured'})",
                "model",
            )
        return Route(NO_OPERATION, [Step(provider, name, self.providers[provider])], self._timeout(None))

    def configured_models(self) -> dict[str, list[str]]:
        """provider -> models named for it by the settings, operations.toml and its own /models listing (built
        again only when the operations file or a listing changed)."""
        ops_now = self.operations()
        stamp = (id(ops_now), *(id(v) for v in self.listed.values()))
        if self._models is None or self._models[0] != stamp:
            self._models = (stamp, self._build_models(ops_now))
        return self._models[1]

    def _build_models(self, operations) -> dict[str, list[str]]:
        s = self.settings
        out = {p: [] for p in self.providers}
        default, ops = operations
        named = [("openai", s.openai_model), ("ollama", s.ollama_model), ("gemini", s.gemini_model)]
        for op in (default, *ops.values()):
            named += list(op.models.items())
        for provider, models in self.listed.items():
            named += [(provider, m) for m in models]
        for provider, model in named:
            if provider in out and model not in out[provider]:
                out[provider].append(model)
        return out

    def provider_of(self, model: str) -> tuple[str | None, str]:
        head, sep, tail = model.partition("/")
        if sep and head.lower() in self.providers and tail:
            return head.lower(), tail
        for provider, models in self.configured_models().items():
            if model in models:
                return provider, model
        low = model.lower()
        for provider, prefixes in _FAMILIES:
            if provider in self.providers and low.startswith(prefixes):
                return provider, model
        if "ollama" in self.providers and ":" in model:
            return "ollama", model
        return None, model

    def model_list(self) -> list[dict]:
        """GET /v1/models: the operations first (owned by "aium-operation"), then each provider's models."""
        _, ops = self.operations()
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "aium-operation"} for name in ops]
        seen = set(ops)
        for provider in [p for p in DEFAULT_CHAIN if p in self.providers]:
            for model in self.configured_models()[provider]:
                if model not in seen:
                    seen.add(model)
                    data.append({"id": model, "object": "model", "created": 0, "owned_by": provider})
        return data
