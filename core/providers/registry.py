"""The OpenAI-compatible providers (OpenAI, Ollama, Gemini): configuration, clients, error classification.

All three serve the OpenAI chat API, so one client class talks to each. Retries are off by default: a 429
`insufficient_quota` retried twice would hide, for about 1.4 s, the very failure the fallback must see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import Settings, get_settings
from core.redact import redact

if TYPE_CHECKING:
    import openai

DEFAULT_CHAIN = ("openai", "ollama", "gemini")


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str
    api_key: str | None
    model: str

    def __repr__(self) -> str:  # never print the key
        return f"ProviderConfig(name={self.name!r}, base_url={redact(self.base_url)!r}, model={self.model!r})"


def configured_providers(settings: Settings | None = None) -> dict[str, ProviderConfig]:
    """Providers with enough configuration to be called, in the default fallback order."""
    s = settings or get_settings()
    keys = {"openai": s.openai_api_key, "ollama": None, "gemini": s.gemini_api_key}
    urls = {"openai": s.openai_base_url, "ollama": s.ollama_base_url, "gemini": s.gemini_base_url}
    models = {"openai": s.openai_model, "ollama": s.ollama_model, "gemini": s.gemini_model}
    out: dict[str, ProviderConfig] = {}
    for name in s.configured_providers():
        key = keys[name]
        out[name] = ProviderConfig(name, urls[name], key.get_secret_value() if key is not None else None, models[name])
    return out


def make_client(cfg: ProviderConfig, *, timeout: float | None = None, max_retries: int = 0) -> openai.OpenAI:
    import openai  # here, not at the top: naming the configured providers must not load the SDK

    return openai.OpenAI(base_url=cfg.base_url, api_key=cfg.api_key or "not-needed",
                         timeout=timeout or get_settings().provider_timeout_seconds, max_retries=max_retries)


@dataclass(frozen=True)
class ErrorInfo:
    kind: str  # quota | rate_limit | auth | server | timeout | connection | bad_request | unknown
    error_class: str
    fallback: bool  # True: try the next provider; False: the caller's own error, raise it
    message: str  # redacted, safe to log and show

    def describe(self) -> str:
        return f"{self.kind} ({self.error_class}): {self.message}"


def classify_error(exc: BaseException) -> ErrorInfo:
    import openai

    cls = type(exc).__name__
    msg = redact(getattr(exc, "message", None) or str(exc))[:300]
    if isinstance(exc, openai.APITimeoutError):
        return ErrorInfo("timeout", cls, True, msg)
    if isinstance(exc, openai.APIConnectionError):
        return ErrorInfo("connection", cls, True, msg)
    if isinstance(exc, openai.RateLimitError):
        code = getattr(exc, "code", None)
        body = getattr(exc, "body", None)
        if code is None and isinstance(body, dict):
            code = (body.get("error") or body).get("code") if isinstance(body.get("error") or body, dict) else None
        kind = "quota" if code == "insufficient_quota" or "insufficient_quota" in msg else "rate_limit"
        return ErrorInfo(kind, cls, True, msg)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ErrorInfo("auth", cls, True, msg)
    if isinstance(exc, openai.InternalServerError):
        return ErrorInfo("server", cls, True, msg)
    if isinstance(exc, openai.APIStatusError):
        status = getattr(exc, "status_code", 0) or 0
        if status >= 500:
            return ErrorInfo("server", cls, True, msg)
        return ErrorInfo("bad_request", cls, False, msg)
    return ErrorInfo("unknown", cls, False, msg)
