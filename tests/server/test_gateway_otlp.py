"""POST /v1/traces: the OpenTelemetry Python SDK's OTLP/HTTP exporter sends GenAI spans (protobuf); OTLP/JSON too.
GenAI spans become ledger records (source otel), once however often they are sent; other spans are ignored."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from core.server.keys import create_key
from tests.helpers.llm import attempts
from tests.server.gateway_harness import gateway, wait_for_rows


def exporter_provider(g, key: str, service: str) -> tuple[TracerProvider, OTLPSpanExporter]:
    exporter = OTLPSpanExporter(endpoint=f"{g.url}/v1/traces", headers={"Authorization": f"Bearer {key}"})
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_sdk_exporter_genai_spans_become_records(db, monkeypatch, tmp_path):
    key, _ = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g:
        provider, _ = exporter_provider(g, key, "checkout-app")
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:
            span.set_attributes(
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.usage.cache_read.input_tokens": 100,
                    "gen_ai.usage.reasoning.output_tokens": 10,
                }
            )
            time.sleep(0.02)
        with tracer.start_as_current_span("messages claude") as span:  # the older attribute, Anthropic's counting
            span.set_attributes(
                {
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-3-5-haiku-latest",
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 3,
                    "gen_ai.usage.cache_read.input_tokens": 50,
                    "gen_ai.usage.cache_creation.input_tokens": 20,
                    "error.type": "overloaded_error",
                }
            )
            span.set_status(Status(StatusCode.ERROR))
        with tracer.start_as_current_span("invoke_agent planner") as span:  # sums its calls: not a call itself
            span.set_attributes(
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.usage.input_tokens": 130,
                }
            )
        with tracer.start_as_current_span("GET /health"):
            pass
        provider.shutdown()
        assert wait_for_rows(db, 2, source="otel") == 2
        [chat, claude] = sorted(attempts(db), key=lambda r: r["provider"], reverse=True)
        assert (chat["company"], chat["brand"], chat["provider"], chat["model"]) == (
            "Acme",
            "checkout-app",
            "openai",
            "gpt-4o-2024-08-06",
        )
        assert (chat["input"], chat["output"], chat["cached"], chat["reasoning"], chat["status"]) == (
            120,
            40,
            100,
            10,
            "completed",
        )
        assert chat["execution_ms"] >= 20 and chat["cost"] > 0 and chat["source"] == "otel"
        assert (claude["input"], claude["cached"], claude["status"], claude["error_class"]) == (
            80,
            50,
            "failed",
            "overloaded_error",
        )
        metrics = urllib.request.urlopen(f"{g.url}/metrics").read().decode()
        assert 'aium_gateway_otlp_spans_total{result="recorded"} 2.0' in metrics
        assert 'aium_gateway_otlp_spans_total{result="ignored"} 2.0' in metrics


def _otlp_json(trace: str, span: str, service: str = "json-app", **attrs) -> bytes:
    values = [
        {"key": k.replace("__", "."), "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
        for k, v in attrs.items()
    ]
    now = time.time_ns()
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [
                        {
                            "scope": {"name": "x"},
                            "spans": [
                                {
                                    "traceId": trace,
                                    "spanId": span,
                                    "name": "chat",
                                    "kind": 3,
                                    "startTimeUnixNano": str(now - 1_500_000_000),
                                    "endTimeUnixNano": str(now),
                                    "attributes": values,
                                    "status": {},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()


def post(g, key: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{g.url}/v1/traces",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_json_replays_count_once_and_the_key_fixes_the_brand(db, monkeypatch, tmp_path):
    key, _ = create_key("Acme", brand="fixed")
    body = _otlp_json(
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        gen_ai__system="openai",
        gen_ai__request__model="gpt-4o-mini",
        gen_ai__usage__prompt_tokens=7,
        gen_ai__usage__completion_tokens=2,
    )
    with gateway(monkeypatch, tmp_path) as g:
        assert post(g, key, body) == (200, {})
        assert post(g, key, body) == (200, {})  # an exporter's retry
        assert wait_for_rows(db, 1, source="otel") == 1
        time.sleep(0.5)
        [row] = attempts(db)
        assert (row["brand"], row["input"], row["output"], row["execution_ms"]) == ("fixed", 7, 2, 1500)
        assert row["job_id"] == "otel-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"
        bad = _otlp_json(
            "5b8efff798038103d269b633813fc60d",
            "eee19b7ec3c1b175",
            gen_ai__system="openai",
            gen_ai__usage__input_tokens=7,
        )
        status, answer = post(g, key, bad)
        assert status == 200 and answer["partialSuccess"]["rejectedSpans"] == "1"
        assert "gen_ai.request.model" in answer["partialSuccess"]["errorMessage"]
        assert post(g, key, b"not json")[0] == 400
        assert post(g, key, body, "text/plain")[0] == 415
        assert post(g, "sk-aium-000000000000-nope", body)[0] == 401
