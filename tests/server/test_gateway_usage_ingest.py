"""POST /v1/usage: import-format records as a JSON array or JSON lines, validated as `python -m core import`
validates them; the answer counts imported and duplicates and names each refusal. Also /healthz, /metrics and the
gateway's own refusals (size, malformed bodies) in OpenAI's error shape."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request

import openai

from core.server.keys import create_key
from tests.helpers.llm import attempts
from tests.server.gateway_harness import gateway, wait_for_rows


def post(url: str, body: bytes, key: str | None = None, **headers) -> tuple[int, dict, dict]:
    h = {"Content-Type": "application/json", **headers} | ({"Authorization": f"Bearer {key}"} if key else {})
    req = urllib.request.Request(url, data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


RECORD = {
    "job_id": "u1",
    "created_at": "2026-11-02T10:00:00Z",
    "brand": "web",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "input_tokens": 1000,
    "output_tokens": 200,
    "cached_tokens": 100,
    "operation": "summarize",
    "execution_time_seconds": 1.25,
}


def test_json_array_and_lines_with_the_import_validation(db, monkeypatch, tmp_path):
    key, _ = create_key("Acme")
    array = json.dumps(
        [RECORD, {**RECORD, "job_id": "u2", "input_tokens": -1}, "nope", {**RECORD, "job_id": "u3", "company": "Other"}]
    ).encode()
    lines = b"\n".join([json.dumps(RECORD).encode(), json.dumps({**RECORD, "job_id": "u4"}).encode(), b"{oops"])
    with gateway(monkeypatch, tmp_path) as g:
        status, report, _ = post(f"{g.base_url}/usage", array, key)
        assert status == 200 and (report["imported"], report["duplicates"]) == (1, 0)
        assert [(r["line"], r["field"]) for r in report["refused"]] == [(2, "input_tokens"), (3, None), (4, "company")]
        assert report["refused"][0]["reason"].startswith("input_tokens=-1:")
        status, report, _ = post(f"{g.base_url}/usage", gzip.compress(lines), key, **{"Content-Encoding": "gzip"})
        assert status == 200 and (report["imported"], report["duplicates"]) == (1, 1)
        assert report["refused"][0]["line"] == 3 and "invalid JSON" in report["refused"][0]["reason"]
        assert post(f"{g.base_url}/usage", b"[{", key)[0] == 400
        assert post(f"{g.base_url}/usage", b"", key)[0] == 400
        assert post(f"{g.base_url}/usage", array)[0] == 401  # no key: once a key exists, every call needs one
    got = {r["job_id"]: r for r in attempts(db)}
    assert set(got) == {"u1", "u4"} and got["u1"]["company"] == "Acme" and got["u1"]["cached"] == 100


def test_refusals_health_and_metrics(fakes, db, monkeypatch, tmp_path):
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path, gateway_max_body_bytes=2048) as g:
        c = openai.OpenAI(base_url=g.base_url, api_key=key, max_retries=0)
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        status, body, _ = post(f"{g.base_url}/chat/completions", b'{"model": "gpt-4o-mini", "messages": [', key)
        assert status == 400 and body["error"]["code"] == "invalid_json" and body["error"]["type"]
        status, body, _ = post(f"{g.base_url}/chat/completions", b"[1, 2]", key)
        assert status == 400 and "JSON object" in body["error"]["message"]
        big = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 4000}]}).encode()
        status, body, _ = post(f"{g.base_url}/chat/completions", big, key)
        assert status == 413 and body["error"]["code"] == "request_too_large"
        assert post(f"{g.url}/v2/nothing", b"{}", key)[0] == 404
        health = json.loads(urllib.request.urlopen(f"{g.url}/healthz").read())
        assert health["status"] == "ok" and isinstance(health["records_waiting"], int)
        assert wait_for_rows(db, 1) == 1
        metrics = urllib.request.urlopen(f"{g.url}/metrics").read().decode()
    assert 'aium_gateway_attempts_total{outcome="completed",provider="openai"} 1.0' in metrics
    assert 'aium_gateway_requests_total{endpoint="/v1/chat/completions",status="200"} 1.0' in metrics
    assert 'aium_gateway_requests_total{endpoint="/v1/chat/completions",status="413"} 1.0' in metrics
    assert "aium_gateway_added_latency_seconds_bucket" in metrics and "aium_gateway_records_waiting" in metrics
    assert key not in metrics
