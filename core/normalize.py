"""One function that turns any provider's usage payload into our token shape.

Our shape: `input_tokens` counts every input token (cache reads and cache writes included), `output_tokens`
every output token (reasoning included); `cached_tokens`, `cache_write_tokens` and `reasoning_tokens` say how
many of those were cache reads, cache writes and reasoning.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELDS = ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")
PROVIDERS = ("openai", "anthropic", "gemini", "mistral", "ollama")


def _as_dict(payload: Any) -> dict:
    if hasattr(payload, "model_dump"):  # openai / anthropic SDK objects
        payload = payload.model_dump()
    if not isinstance(payload, Mapping):
        raise ValueError(f"usage payload must be a JSON object, got {type(payload).__name__}")
    return dict(payload)


def _int(d: Mapping | None, *path: str) -> int:
    cur: Any = d
    for key in path:
        if not isinstance(cur, Mapping):
            return 0
        cur = cur.get(key)
    if cur is None:
        return 0
    if isinstance(cur, bool) or not isinstance(cur, int | float) or cur < 0 or int(cur) != cur:
        raise ValueError(f"usage field {'.'.join(path)}: {cur!r} is not a token count")
    return int(cur)


def _shape(input_tokens: int, output_tokens: int, cached: int = 0, cache_write: int = 0,
           reasoning: int = 0) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cached_tokens": cached,
            "cache_write_tokens": cache_write, "reasoning_tokens": reasoning}


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
    if "cache_creation_input_tokens" in usage or "cache_read_input_tokens" in usage or (
            provider == "anthropic" and "input_tokens" in usage):
        return "anthropic", usage
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return "chat", usage
    if "input_tokens" in usage or "output_tokens" in usage:
        return "responses", usage
    raise ValueError(f"{provider}: no usage found in payload (keys: {sorted(payload)[:12]})")


def normalize_usage(provider: str, payload: Any) -> dict[str, int]:
    """Normalise a provider response, or its usage object, to our five token counts."""
    provider = (provider or "").strip().lower()
    shape, u = _locate(provider, _as_dict(payload))
    if shape == "gemini_native":
        prompt = _int(u, "promptTokenCount") + _int(u, "toolUsePromptTokenCount")
        thoughts = _int(u, "thoughtsTokenCount")
        result = _shape(prompt, _int(u, "candidatesTokenCount") + thoughts,
                        cached=_int(u, "cachedContentTokenCount"), reasoning=thoughts)
    elif shape == "ollama_native":
        result = _shape(_int(u, "prompt_eval_count"), _int(u, "eval_count"))
    elif shape == "anthropic":
        # Anthropic's input_tokens excludes cache reads and writes: add them back.
        read, write = _int(u, "cache_read_input_tokens"), _int(u, "cache_creation_input_tokens")
        result = _shape(_int(u, "input_tokens") + read + write, _int(u, "output_tokens"), read, write)
    elif shape == "responses":
        result = _shape(_int(u, "input_tokens"), _int(u, "output_tokens"),
                        cached=_int(u, "input_tokens_details", "cached_tokens"),
                        cache_write=_int(u, "input_tokens_details", "cache_write_tokens"),
                        reasoning=_int(u, "output_tokens_details", "reasoning_tokens"))
    else:  # chat completions: OpenAI, Mistral, Gemini and Ollama OpenAI-compatible endpoints
        prompt, completion = _int(u, "prompt_tokens"), _int(u, "completion_tokens")
        reasoning = _int(u, "completion_tokens_details", "reasoning_tokens")
        cached = _int(u, "prompt_tokens_details", "cached_tokens") or _int(u, "num_cached_tokens")
        cache_write = _int(u, "prompt_tokens_details", "cache_write_tokens")
        hidden = _int(u, "total_tokens") - prompt - completion
        if hidden > 0 and reasoning == 0:
            # Gemini's OpenAI-compatible endpoint counts thinking tokens only in total_tokens.
            reasoning, completion = hidden, completion + hidden
        result = _shape(prompt, completion, cached, cache_write, reasoning)
    if result["cached_tokens"] + result["cache_write_tokens"] > result["input_tokens"]:
        raise ValueError(f"{provider}: cached + cache-write tokens exceed input tokens in {result}")
    if result["reasoning_tokens"] > result["output_tokens"]:
        raise ValueError(f"{provider}: reasoning tokens exceed output tokens in {result}")
    return result
