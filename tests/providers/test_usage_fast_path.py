"""chat_usage_fast reads the common chat usage shape itself: it must agree with the library's reading
(normalize_usage_by_library) on every real payload and on thousands of random usage blocks, errors included."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from core.providers.usage_shapes import chat_usage_fast, normalize_usage, normalize_usage_by_library

PAYLOADS = sorted((Path(__file__).resolve().parent.parent / "data" / "payloads").glob("*.json"))
PROVIDERS = ("openai", "ollama", "gemini", "mistral", "anthropic", "vllm")


def outcome(fn, *args):
    try:
        return fn(*args)
    except ValueError as e:
        return ("ValueError", str(e))


def both(provider: str, usage) -> tuple:
    return outcome(chat_usage_fast, provider, usage), outcome(normalize_usage_by_library, provider, {"usage": usage})


def usage_objects(payload) -> list:
    """The payload and every usage object inside it (a chat answer's, a Responses event's, Gemini's)."""
    found = [payload]
    for key in ("usage", "usageMetadata"):
        if isinstance(payload.get(key), dict):
            found.append(payload[key])
    if isinstance(payload.get("response"), dict) and isinstance(payload["response"].get("usage"), dict):
        found.append(payload["response"]["usage"])
    return found


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.stem)
def test_every_real_payload_reads_as_the_library_reads_it(path):
    payload = json.loads(path.read_text())
    for usage in usage_objects(payload):
        for provider in PROVIDERS:
            fast, library = both(provider, usage)
            assert fast == library, (provider, usage)


def test_the_real_chat_answers_take_their_counts_from_the_usage_block():
    # The fast path's answer on a whole recorded completion's usage is the one the public reader gives.
    payload = json.loads((PAYLOADS[0].parent / "openai_chat_completion_o3mini_reasoning.json").read_text())
    assert chat_usage_fast("openai", payload["usage"]) == normalize_usage("openai", payload)
    assert chat_usage_fast("openai", payload["usage"])["reasoning_tokens"] == 768


def _count(rng: random.Random):
    return rng.choice([0, 0, 1, 7, 12, 250, 4096, 123_456, None, -3, 2.0, 2.5, True, "12", rng.randint(0, 5000)])


def _details(rng: random.Random, keys: list[str]):
    roll = rng.random()
    if roll < 0.15:
        return "absent"
    if roll < 0.25:
        return None
    if roll < 0.3:
        return rng.choice([[], "x", 3])
    d = {}
    for key in keys:
        if rng.random() < 0.7:
            d[key] = rng.choice([0, 0, rng.randint(0, 3000), None]) if rng.random() < 0.85 else _count(rng)
    return d


def random_usage(rng: random.Random) -> dict:
    u = {}
    for key in ("prompt_tokens", "completion_tokens"):
        if rng.random() < 0.93:
            u[key] = rng.randint(0, 5000) if rng.random() < 0.8 else _count(rng)
    roll = rng.random()
    if roll < 0.6 and isinstance(u.get("prompt_tokens"), int) and isinstance(u.get("completion_tokens"), int):
        u["total_tokens"] = u["prompt_tokens"] + u["completion_tokens"] + rng.choice([0, 0, 0, 1, 5, 300, -1])
    elif roll < 0.75:
        u["total_tokens"] = _count(rng)
    for key, keys in (
        (
            "prompt_tokens_details",
            ["cached_tokens", "audio_tokens", "cache_write_tokens", "text_tokens"][: rng.randint(1, 4)],
        ),
        (
            "completion_tokens_details",
            ["reasoning_tokens", "audio_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens", "x"][
                : rng.randint(1, 5)
            ],
        ),
    ):
        d = _details(rng, keys)
        if d != "absent":
            u[key] = d
    if rng.random() < 0.05:
        u[rng.choice(["num_cached_tokens", "cached_tokens", "input_tokens", "cache_read_input_tokens"])] = _count(rng)
    return u


def test_three_thousand_random_usage_blocks_read_as_the_library_reads_them():
    rng = random.Random(20261130)
    plain = 0
    for _ in range(3000):
        usage = random_usage(rng)
        provider = rng.choice(PROVIDERS)
        fast, library = both(provider, usage)
        assert fast == library, (provider, usage)
        plain += isinstance(fast, dict) and provider in ("openai", "ollama", "gemini", "mistral")
    # The fast path's own shape is well represented, and so are the shapes it hands to the library.
    assert 800 < plain < 2700
