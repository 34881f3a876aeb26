"""The gateway with the official openai Python client (sync, async, streaming) in front of fake providers: routing
by operation or model, fallback, budget skips, the caller's own errors, and every attempt in the ledger (source
gateway) on both databases."""

from __future__ import annotations

import asyncio
import gzip
import json
import urllib.request
from decimal import Decimal

import openai
import pytest

from core.limits.budgets import set_budget
from core.server.keys import create_key
from tests.helpers.llm import OPENAI_KEY, attempts
from tests.server.gateway_harness import gateway, wait_for_rows

HI = [{"role": "user", "content": "hi"}]


def client(g, key: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=g.base_url, api_key=key, max_retries=0, **kw)


def rows(db, n: int, request_id: str | None = None) -> list[dict]:
    assert wait_for_rows(db, n) >= n
    return attempts(db, request_id)


def test_json_chat_by_model_records_one_row_and_answers_headers(fakes, db, monkeypatch, tmp_path):
    oa, _, _ = fakes
    key, _ = create_key("Acme", brand="web", label="site")
    with gateway(monkeypatch, tmp_path) as g:
        raw = client(g, key).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    answer = raw.parse()
    assert answer.choices[0].message.content == "OK" and answer.usage.prompt_tokens == 12
    assert raw.headers["x-aium-provider"] == "openai"
    request_id = raw.headers["x-aium-request-id"]
    [row] = rows(db, 1)
    assert row["request_id"] == request_id and row["job_id"] == f"{request_id}-1"
    assert (row["source"], row["company"], row["brand"], row["provider"], row["model"]) == (
        "gateway",
        "Acme",
        "web",
        "openai",
        "gpt-4o-mini",
    )
    assert (row["input"], row["output"], row["cached"], row["reasoning"], row["status"]) == (12, 5, 4, 2, "completed")
    assert Decimal(raw.headers["x-aium-cost-usd"]) == row["cost"] > 0
    # The provider's key went upstream; the app's gateway key did not.
    assert oa.requests[-1]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert key not in repr(oa.requests)


def test_the_callers_body_goes_upstream_byte_for_byte_unless_the_gateway_must_change_it(
    fakes, db, monkeypatch, tmp_path
):
    oa, ol, _ = fakes
    key, _ = create_key("Acme")
    # Spacing, key order, escapes and unknown fields a new encoding would all change.
    sent = (
        b'{ "messages":[{"role":"user","content":"caf\\u00e9 \xc3\xa9"}],\n  "model" : "gpt-4o-mini",'
        b' "x_vendor": {"b": 1, "a": [1.50, 2e3]}, "temperature":0.70 }'
    )

    def post(body: bytes, **headers) -> int:
        req = urllib.request.Request(
            f"{g.base_url}/chat/completions",
            method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers},
            data=body,
        )
        with urllib.request.urlopen(req) as resp:
            return resp.status

    with gateway(monkeypatch, tmp_path) as g:
        assert post(sent) == 200
        assert oa.requests[-1]["raw"] == sent
        assert post(gzip.compress(sent), **{"Content-Encoding": "gzip"}) == 200
        assert oa.requests[-1]["raw"] == sent  # decompressed, then as the caller wrote it
        # The model changes (provider prefix, operation): encoded again, the caller's fields kept.
        assert post(sent.replace(b'"gpt-4o-mini"', b'"openai/gpt-4o-mini"')) == 200
        assert oa.requests[-1]["raw"] != sent
        assert oa.requests[-1]["body"] == json.loads(sent)
        oa.mode = "500"
        assert post(sent.replace(b'"gpt-4o-mini"', b'"summarize"')) == 200
        assert ol.requests[-1]["body"] == {**json.loads(sent), "model": "qwen2.5:3b"}
        oa.mode = "ok"
        # A stream must ask for its usage chunk: encoded again with it.
        streamed = sent.replace(b'"temperature"', b'"stream": true, "temperature"')
        assert post(streamed) == 200
        assert oa.requests[-1]["body"] == {**json.loads(streamed), "stream_options": {"include_usage": True}}
        asked = streamed.replace(b'"temperature"', b'"stream_options": {"include_usage": true}, "temperature"')
        assert post(asked) == 200
        assert oa.requests[-1]["raw"] == asked  # it already did


def test_operation_walks_its_chain_on_quota_and_5xx(fakes, db, monkeypatch, tmp_path):
    oa, ol, ge = fakes
    oa.mode, ol.mode = "429_quota", "500"
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g:
        raw = client(g, key).chat.completions.with_raw_response.create(model="summarize", messages=HI)
    assert raw.headers["x-aium-provider"] == "gemini"
    got = rows(db, 3, raw.headers["x-aium-request-id"])
    assert [(r["provider"], r["model"], r["status"], r["error_class"]) for r in got] == [
        ("openai", "gpt-4o-mini", "failed", "RateLimitError"),
        ("ollama", "qwen2.5:3b", "failed", "InternalServerError"),
        ("gemini", "gemini-2.0-flash", "completed", None),
    ]
    assert all(r["operation"] == "summarize" for r in got)
    assert ge.requests[-1]["body"]["model"] == "gemini-2.0-flash"


def test_x_operation_header_and_unknown_operation_is_404(fakes, db, monkeypatch, tmp_path):
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g:
        c = client(g, key)
        raw = c.chat.completions.with_raw_response.create(
            model="summarize", messages=HI, extra_headers={"X-Operation": "summarize"}
        )
        assert raw.headers["x-aium-provider"] == "openai"
        with pytest.raises(openai.NotFoundError) as e:
            c.chat.completions.create(model="gpt-4o-mini", messages=HI, extra_headers={"X-Operation": "nope"})
        assert "'nope'" in e.value.body["message"] and e.value.body["code"] == "operation_not_found"
        with pytest.raises(openai.NotFoundError) as e:
            c.chat.completions.create(model="no-such-model", messages=HI)
        assert "'no-such-model'" in e.value.body["message"]


def test_the_callers_own_error_comes_back_as_the_provider_sent_it(fakes, db, monkeypatch, tmp_path):
    oa, ol, _ = fakes
    oa.mode = "400"
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g, pytest.raises(openai.BadRequestError) as e:
        client(g, key).chat.completions.create(model="summarize", messages=HI)
    assert e.value.body["param"] == "messages[3]" and e.value.response.headers["x-aium-provider"] == "openai"
    assert ol.calls == 0  # not the kind of error another provider fixes
    [row] = rows(db, 1)
    assert (row["status"], row["error_class"]) == ("failed", "BadRequestError")


def test_a_provider_echoing_its_key_in_the_callers_error_never_shows_it(fakes, db, monkeypatch, tmp_path):
    oa, _, _ = fakes
    oa.mode = "400_echo"
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g, pytest.raises(openai.BadRequestError) as e:
        client(g, key).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert "Incorrect API key provided: ***" in e.value.response.text and OPENAI_KEY not in e.value.response.text


def test_every_provider_failing_is_502_with_the_attempts_and_no_secret(fakes, db, monkeypatch, tmp_path):
    oa, ol, ge = fakes
    oa.mode = ol.mode = ge.mode = "401_echo"
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g, pytest.raises(openai.APIStatusError) as e:
        client(g, key).chat.completions.create(model="summarize", messages=HI)
    assert e.value.status_code == 502 and e.value.body["code"] == "all_providers_failed"
    assert [a["provider"] for a in e.value.body["attempts"]] == ["openai", "ollama", "gemini"]
    assert all(a["outcome"] == "failed" for a in e.value.body["attempts"])
    text = e.value.response.text
    assert OPENAI_KEY not in text and "TESTKEY" not in text
    assert len(rows(db, 3)) == 3


def test_budget_used_up_skips_the_provider_and_records_the_skip(fakes, db, monkeypatch, tmp_path):
    set_budget("Acme", "0.000001", provider="openai")
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g:
        c = client(g, key)
        c.chat.completions.create(model="gpt-4o-mini", messages=HI)  # spends past the budget
        assert wait_for_rows(db, 1) == 1
        served = None
        for _ in range(100):  # the budget state is re-read every GATEWAY_BUDGET_REFRESH_SECONDS
            raw = c.chat.completions.with_raw_response.create(model="summarize", messages=HI)
            served = raw.headers["x-aium-provider"]
            if served == "ollama":
                break
    assert served == "ollama"
    got = rows(db, 2, raw.headers["x-aium-request-id"])
    assert (got[0]["provider"], got[0]["error_class"], got[0]["execution_ms"]) == ("openai", "BudgetExhausted", None)
    assert got[1]["provider"] == "ollama" and got[1]["status"] == "completed"


def test_streaming_passes_the_providers_bytes_and_records_the_usage_chunk(fakes, db, monkeypatch, tmp_path):
    oa, _, _ = fakes
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g:
        stream = client(g, key).chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        chunks = list(stream)
        request_id = stream.response.headers["x-aium-request-id"]
        # Raw bytes: what the provider sent, unchanged.
        req = urllib.request.Request(
            f"{g.base_url}/chat/completions",
            method="POST",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            data=json.dumps({"model": "gpt-4o-mini", "messages": HI, "stream": True}).encode(),
        )
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "OK"
    assert chunks[-1].usage.prompt_tokens == 12
    assert oa.requests[0]["body"]["stream_options"] == {"include_usage": True}
    assert raw == oa.streams[-1] and raw.endswith(b"data: [DONE]\n\n") and b'"usage": {"prompt_tokens": 12' in raw
    [row] = rows(db, 1, request_id)
    assert (row["input"], row["output"], row["cached"], row["reasoning"], row["error_class"]) == (12, 5, 4, 2, None)


def test_a_broken_stream_cuts_the_client_and_records_the_failure(fakes, db, monkeypatch, tmp_path):
    oa, ol, _ = fakes
    oa.mode = "broken_stream"
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g, pytest.raises(openai.APIError):
        for _ in client(g, key).chat.completions.create(model="summarize", messages=HI, stream=True):
            pass
    assert ol.calls == 0  # part of the answer was already used: no second provider
    [row] = rows(db, 1)
    assert (row["status"], row["error_class"]) == ("failed", "APIConnectionError")
    assert row["description"].startswith("stream broke")


def test_slow_provider_times_out_and_the_next_one_serves(fakes, db, monkeypatch, tmp_path):
    oa, _, _ = fakes
    oa.mode, oa.hang_seconds = "slow", 3.0
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path, provider_timeout_seconds=0.5) as g:
        raw = client(g, key).chat.completions.with_raw_response.create(model="summarize", messages=HI)
    assert raw.headers["x-aium-provider"] == "ollama"
    got = rows(db, 2)
    assert [(r["provider"], r["status"], r["error_class"]) for r in got] == [
        ("openai", "timeout", "APITimeoutError"),
        ("ollama", "completed", None),
    ]


def test_async_client_embeddings_and_models(fakes, db, monkeypatch, tmp_path):
    key, _ = create_key("Acme")

    async def calls(g):
        c = openai.AsyncOpenAI(base_url=g.base_url, api_key=key, max_retries=0)
        answers = await asyncio.gather(*[c.chat.completions.create(model="gpt-4o-mini", messages=HI) for _ in range(5)])
        emb = await c.embeddings.create(model="text-embedding-3-small", input="hello")
        models = [m.id async for m in c.models.list()]
        await c.close()
        return answers, emb, models

    with gateway(monkeypatch, tmp_path) as g:
        answers, emb, models = asyncio.run(calls(g))
    assert all(a.choices[0].message.content == "OK" for a in answers)
    assert emb.data[0].embedding == [0.25, -0.5, 0.125] and emb.usage.prompt_tokens == 12
    assert models[0] == "summarize" and {"gpt-4o-mini", "llama3.1:8b", "gemini-2.0-flash"} <= set(models)
    got = rows(db, 6)
    embedding = next(r for r in got if r["model"] == "text-embedding-3-small")
    assert (embedding["input"], embedding["output"], embedding["status"]) == (12, 0, "completed")
