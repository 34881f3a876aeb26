"""One function that turns any provider's usage payload into our token shape.

Our shape: `input_tokens` counts every input token (cache reads and cache writes included), `output_tokens`
every output token (reasoning included); `cached_tokens`, `cache_write_tokens` and `reasoning_tokens` say how
many of those were cache reads, cache writes and reasoning.

The reading itself is genai-prices' (its per-provider, per-API extractors), so a new response shape arrives
with a library update. Our own code only finds the usage object, checks the raw counts (so an error names the
field) and covers what the library has no reader for: Ollama's native API, Mistral's `num_cached_tokens` and the
thinking tokens that Gemini's OpenAI-compatible endpoint reports only in `total_tokens`.

`chat_usage_fast` reads the usage object of a plain chat completion (the gateway's every answer) directly: the
library's reader costs tens of microseconds a call. Anything it does not know field by field goes to the library.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from genai_prices import data_snapshot

FIELDS = ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")
PROVIDERS = ("openai", "anthropic", "gemini", "mistral", "ollama")

# Our provider name -> the library's provider id; any other provider speaking the OpenAI chat API (Ollama,
# DeepSeek behind a proxy…) is read with OpenAI's extractor for that API.
_LIBRARY_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "gemini": "google", "mistral": "mistral"}
# Shape found in the payload -> (library provider, API flavour) when the provider's own id has no such reader.
_SHAPE_READER = {
    "chat": ("openai", "chat"),
    "responses": ("openai", "responses"),
    "anthropic": ("anthropic", "default"),
    "gemini_native": ("google", "default"),
}


def _as_dict(payload: Any) -> dict:
    if hasattr(payload, "model_dump"):  # openai / anthropic SDK objects
        payload = payload.model_dump()
    if not isinstance(payload, Mapping):
        raise ValueError(f"usage payload must be a JSON object, got {type(payload).__name__}")
    return dict(payload)


def _check_counts(obj: Any, path: str = "") -> None:
    """Every number in the usage object must be a token count; the error names the field."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            _check_counts(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _check_counts(value, f"{path}[{i}]")
    elif isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    elif isinstance(obj, int | float) and (obj < 0 or int(obj) != obj):
        raise ValueError(f"usage field {path}: {obj!r} is not a token count")


def _int(d: Mapping, *path: str) -> int:
    cur: Any = d
    for key in path:
        if not isinstance(cur, Mapping):
            return 0
        cur = cur.get(key)
    return int(cur) if isinstance(cur, int | float) and not isinstance(cur, bool) else 0


def _locate(provider: str, payload: dict) -> tuple[str, dict]:
    """Find the usage object inside a whole response (or take the payload as one) and name its shape."""
    if "usageMetadata" in payload:
        return "gemini_native", payload["usageMetadata"] or {}
    if "promptTokenCount" in payload or "candidatesTokenCount" in payload:
        return "gemini_native", payload
    if "prompt_eval_count" in payload or "eval_count" in payload:
        return "ollama_native", payload
    usage = payload
    if isinstance(payload.get("response"), Mapping) and "usage" in payload["response"]:
        usage = payload["response"]["usage"] or {}  # Responses API stream: response.completed event
    elif "usage" in payload:
        usage = payload["usage"] or {}
    if not isinstance(usage, Mapping):
        raise ValueError(f"{provider}: 'usage' is not an object")
    if (
        "cache_creation_input_tokens" in usage
        or "cache_read_input_tokens" in usage
        or (provider == "anthropic" and "input_tokens" in usage)
    ):
        return "anthropic", usage
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return "chat", usage
    if "input_tokens" in usage or "output_tokens" in usage:
        return "responses", usage
    raise ValueError(f"{provider}: no usage found in payload (keys: {sorted(payload)[:12]})")


@functools.cache
def _reader(provider: str, shape: str):
    """The library's provider object and API flavour that read `shape` for `provider`."""
    snapshot = data_snapshot.get_snapshot()
    own = _LIBRARY_PROVIDER.get(provider)
    if own is not None:
        lib_provider = snapshot.find_provider(None, own, None)
        flavours = {e.api_flavor for e in lib_provider.extractors or ()}
        wanted = {"chat": "chat", "responses": "responses"}.get(shape, "default")
        if wanted in flavours:
            return lib_provider, wanted
        if wanted == "chat" and "default" in flavours and shape == "chat":
            return lib_provider, "default"  # Mistral's chat API is its default flavour
    lib_id, flavour = _SHAPE_READER[shape]
    return snapshot.find_provider(None, lib_id, None), flavour


def _shape(
    input_tokens: int, output_tokens: int, cached: int = 0, cache_write: int = 0, reasoning: int = 0
) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": cached,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
    }


def normalize_usage_by_library(provider: str, payload: Any) -> dict[str, int]:
    """Normalise a provider response, or its usage object, to our five token counts (the library's readers)."""
    provider = (provider or "").strip().lower()
    shape, u = _locate(provider, _as_dict(payload))
    _check_counts(u)
    if shape == "ollama_native":  # the library has no Ollama reader
        result = _shape(_int(u, "prompt_eval_count"), _int(u, "eval_count"))
    else:
        lib_provider, flavour = _reader(provider, shape)
        root = {"usageMetadata": u} if shape == "gemini_native" else {"usage": u}
        _, got = lib_provider.extract_usage(root, api_flavor=flavour)
        result = _shape(
            int(got.input_tokens or 0),
            int(got.output_tokens or 0),
            int(got.cache_read_tokens or 0),
            int(got.cache_write_tokens or 0),
            int(getattr(got, "output_reasoning_tokens", 0) or 0),
        )
        if shape == "chat":
            if not result["cached_tokens"]:
                result["cached_tokens"] = _int(u, "num_cached_tokens")  # Mistral's second shape
            hidden = _int(u, "total_tokens") - _int(u, "prompt_tokens") - _int(u, "completion_tokens")
            if hidden > 0 and result["reasoning_tokens"] == 0:
                # Gemini's OpenAI-compatible endpoint counts thinking tokens only in total_tokens.
                result["reasoning_tokens"] = hidden
                result["output_tokens"] += hidden
    if result["cached_tokens"] + result["cache_write_tokens"] > result["input_tokens"]:
        raise ValueError(f"{provider}: cached + cache-write tokens exceed input tokens in {result}")
    if result["reasoning_tokens"] > result["output_tokens"]:
        raise ValueError(f"{provider}: reasoning tokens exceed output tokens in {result}")
    return result


# The public name: the library's reading (a whole response or a usage object, any provider).
normalize_usage = normalize_usage_by_library

# The usage object of a plain OpenAI chat completion, as OpenAI, Ollama, Gemini and Mistral send it. These
# providers' library readers all take exactly these fields (Anthropic's chat reader differs: not read here).
_CHAT_KEYS = frozenset(
    ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details")
)
_PROMPT_DETAILS = frozenset(("cached_tokens", "audio_tokens"))
_COMPLETION_DETAILS = frozenset(
    ("reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens")
)
_FAST_PROVIDERS = frozenset(("openai", "ollama", "gemini", "mistral"))


def _details(obj: Any, keys: frozenset, wanted: str) -> int | None:
    """`wanted` of a details object whose fields are all known counts (0 when absent or null); None otherwise."""
    if obj is None:
        return 0
    if type(obj) is not dict or not keys.issuperset(obj):
        return None
    for value in obj.values():
        if value is not None and (type(value) is not int or value < 0):
            return None
    return obj.get(wanted) or 0


def chat_usage_fast(provider: str, usage: Any) -> dict[str, int]:
    """`normalize_usage_by_library(provider, {"usage": usage})`, read directly when `usage` is a chat completion's
    usage object of the common shape (every field known, every count a plain int); the library reads the rest."""
    if provider in _FAST_PROVIDERS and type(usage) is dict and _CHAT_KEYS.issuperset(usage):
        prompt, completion, total = (
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            usage.get("total_tokens"),
        )
        cached = _details(usage.get("prompt_tokens_details"), _PROMPT_DETAILS, "cached_tokens")
        reasoning = _details(usage.get("completion_tokens_details"), _COMPLETION_DETAILS, "reasoning_tokens")
        if (
            type(prompt) is int
            and type(completion) is int
            and prompt >= 0
            and completion >= 0
            and (total is None or (type(total) is int and total >= 0))
            and cached is not None
            and reasoning is not None
        ):
            hidden = (total or 0) - prompt - completion
            if hidden > 0 and reasoning == 0:  # Gemini's thinking tokens, seen only in total_tokens
                reasoning, completion = hidden, completion + hidden
            if cached <= prompt and reasoning <= completion:  # else the library raises its own error
                return _shape(prompt, completion, cached, 0, reasoning)
    return normalize_usage_by_library(provider, {"usage": usage})
