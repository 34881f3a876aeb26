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

    return openai.OpenAI(
        base_url=cfg.base_url,
        api_key=cfg.api_key or "not-needed",
        timeout=timeout or get_settings().provider_timeout_seconds,
        max_retries=max_retries,
    )


@dataclass(frozen=True)
class ErrorInfo:
    kind: str  # quota | rate_limit | auth | server | timeout | connection | bad_request | unknown
    error_class: str
    fallback: bool  # True: try the next provider; False: the caller's own error, raise it
    message: str  # redacted, safe to log and show

    def describe(self) -> str:
        return f"{self.kind} ({self.error_class}): {self.message}"


# The openai SDK's exception class for each HTTP status: the ledger names a failure the same way whichever
# client (the SDK in core.llm, raw HTTP in the gateway) met it.
STATUS_ERROR_CLASS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}


def error_class_for(status: int) -> str:
    return STATUS_ERROR_CLASS.get(status) or ("InternalServerError" if status >= 500 else "APIStatusError")


def _error_code(body) -> str | None:
    if not isinstance(body, dict):
        return None
    inner = body.get("error") or body
    return inner.get("code") if isinstance(inner, dict) else None


def classify_status(status: int, body=None, message: str = "", error_class: str | None = None) -> ErrorInfo:
    """An upstream's HTTP error answer: fall over (quota, rate limit, auth, 5xx) or hand it back (the caller's
    own 4xx). `body`: the parsed error JSON, if any; `message`: text safe to redact and show."""
    cls = error_class or error_class_for(status)
    msg = redact(message)[:300]
    if status == 429:
        kind = "quota" if _error_code(body) == "insufficient_quota" or "insufficient_quota" in msg else "rate_limit"
        return ErrorInfo(kind, cls, True, msg)
    if status in (401, 403):
        return ErrorInfo("auth", cls, True, msg)
    if status >= 500:
        return ErrorInfo("server", cls, True, msg)
    return ErrorInfo("bad_request", cls, False, msg)


def classify_error(exc: BaseException) -> ErrorInfo:
    import openai

    cls = type(exc).__name__
    msg = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, openai.APITimeoutError):
        return ErrorInfo("timeout", cls, True, redact(msg)[:300])
    if isinstance(exc, openai.APIConnectionError):
        return ErrorInfo("connection", cls, True, redact(msg)[:300])
    if isinstance(exc, openai.APIStatusError):
        return classify_status(getattr(exc, "status_code", 0) or 0, getattr(exc, "body", None), msg, cls)
    return ErrorInfo("unknown", cls, False, redact(msg)[:300])
