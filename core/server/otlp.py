"""POST /v1/traces: OTLP/HTTP trace exports (protobuf or JSON) whose GenAI spans become ledger records.

A span is a GenAI call when it names its provider (`gen_ai.provider.name`, or the older `gen_ai.system`) and is
not an agent or tool span (`invoke_agent`, `create_agent`, `execute_tool`: their token counts, when they carry
any, sum the calls under them). Read from it: the model (`gen_ai.response.model`, else `gen_ai.request.model`),
the usage (`gen_ai.usage.input_tokens`, `output_tokens`, `cache_read.input_tokens`, `cache_creation.input_tokens`,
`reasoning.output_tokens`; the older `prompt_tokens` / `completion_tokens` and OpenLLMetry's
`cache_read_input_tokens` names too), `gen_ai.operation.name` (the job type), the duration (execution time) and
the status (ERROR: failed, with `error.type`). Input tokens count cache reads and writes: when those exceed the
input count, the instrumentation reported them apart (as Anthropic does) and they are added.

The job id is made of the trace and span ids, so a re-sent export counts once. The company is the key's; the
brand the key's if it fixes one, else the resource's `service.name`. Other spans are counted and ignored; a GenAI
span that cannot be recorded is rejected (OTLP's partial success says how many and why).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

from core.errors import InvalidRecord
from core.ingest.checks import validate_record
from core.server.http import HttpError, respond
from core.storage.models import NO_OPERATION

NOT_CALLS = frozenset({"invoke_agent", "create_agent", "execute_tool"})
JOB_TYPES = {
    "chat": "chat_completion",
    "text_completion": "text_completion",
    "embeddings": "embedding",
    "generate_content": "generate_content",
}
PROVIDERS = {
    "gcp.gemini": "gemini",
    "gcp.vertex_ai": "gemini",
    "gcp.gen_ai": "gemini",
    "vertex_ai": "gemini",
    "google": "gemini",
    "gemini": "gemini",
    "mistral_ai": "mistral",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "aws.bedrock": "bedrock",
    "ibm.watsonx.ai": "watsonx",
    "x_ai": "xai",
}
USAGE = {
    "input": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cache_read": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "cache_write": ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"),
    "reasoning": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"),
}
PROTOBUF = ("application/x-protobuf", "application/protobuf")
_HEX = re.compile(r"[0-9a-fA-F]+")
ERROR = 2  # STATUS_CODE_ERROR


# -- decoding: both encodings to (resource attributes, span dicts) ----------------------------------------------
def _any_value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    return None if kind is None else getattr(v, kind)


def decode_protobuf(body: bytes) -> list[tuple[dict, list[dict]]]:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except DecodeError as e:
        raise HttpError(400, "invalid_otlp", f"not an OTLP ExportTraceServiceRequest: {e}") from None
    out = []
    for rs in req.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in rs.resource.attributes}
        spans = [
            {
                "trace_id": s.trace_id.hex(),
                "span_id": s.span_id.hex(),
                "name": s.name,
                "start": s.start_time_unix_nano,
                "end": s.end_time_unix_nano,
                "status": s.status.code,
                "attributes": {kv.key: _any_value(kv.value) for kv in s.attributes},
            }
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        out.append((resource, spans))
    return out


def _json_value(v):
    if not isinstance(v, dict):
        return v
    for key, value in v.items():
        if key == "intValue":
            try:
                return int(value)
            except (TypeError, ValueError):
                return value
        if key == "arrayValue":
            return [_json_value(x) for x in (value or {}).get("values", [])]
        if key == "kvlistValue":
            return {kv.get("key"): _json_value(kv.get("value")) for kv in (value or {}).get("values", [])}
        return value
    return None


def _attrs(items) -> dict:
    return {kv.get("key"): _json_value(kv.get("value")) for kv in items or [] if isinstance(kv, dict)}


def _id(value) -> str:
    """OTLP/JSON ids are hex; some exporters send protobuf's default base64 instead."""
    text = str(value or "")
    if _HEX.fullmatch(text) and len(text) in (16, 32):
        return text.lower()
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text


def _status(value) -> int:
    code = (value or {}).get("code", 0) if isinstance(value, dict) else 0
    return ERROR if code in (2, "2", "STATUS_CODE_ERROR") else 0


def decode_json(body: bytes) -> list[tuple[dict, list[dict]]]:
    try:
        data = json.loads(body)
    except ValueError as e:
        raise HttpError(400, "invalid_otlp", f"not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceSpans", []), list):
        raise HttpError(400, "invalid_otlp", "an OTLP/JSON trace export is an object with resourceSpans")
    out = []
    for rs in data.get("resourceSpans", []):
        if not isinstance(rs, dict):
            continue
        resource = _attrs((rs.get("resource") or {}).get("attributes"))
        spans = []
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            for s in (ss or {}).get("spans") or []:
                spans.append(
                    {
                        "trace_id": _id(s.get("traceId")),
                        "span_id": _id(s.get("spanId")),
                        "name": s.get("name") or "",
                        "start": int(s.get("startTimeUnixNano") or 0),
                        "end": int(s.get("endTimeUnixNano") or 0),
                        "status": _status(s.get("status")),
                        "attributes": _attrs(s.get("attributes")),
                    }
                )
        out.append((resource, spans))
    return out


# -- spans to records ---------------------------------------------------------------------------------------
def _count(attrs: dict, names: tuple[str, ...]):
    for name in names:
        if name in attrs and attrs[name] is not None:
            value = attrs[name]
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return value
    return 0


def span_record(span: dict, resource: dict, key) -> dict | None:
    """The ledger fields of a GenAI span, None for any other span; InvalidRecord for a GenAI span that is not
    valid."""
    a = span["attributes"]
    system = a.get("gen_ai.provider.name") or a.get("gen_ai.system")
    operation = a.get("gen_ai.operation.name")
    if not system or operation in NOT_CALLS:
        return None
    model = a.get("gen_ai.response.model") or a.get("gen_ai.request.model")
    if not model:
        raise InvalidRecord("gen_ai.request.model", None, "is required on a GenAI span")
    counts = {k: _count(a, names) for k, names in USAGE.items()}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
        if counts["cache_read"] + counts["cache_write"] > counts["input"]:
            counts["input"] += counts["cache_read"] + counts["cache_write"]
        if counts["reasoning"] > counts["output"]:
            counts["output"] += counts["reasoning"]
    start, end = span["start"], span["end"]
    if not start:
        raise InvalidRecord("startTimeUnixNano", start, "is required")
    failed = span["status"] == ERROR
    trace, span_id = span["trace_id"], span["span_id"]
    return {
        "job_id": f"otel-{trace}-{span_id}",
        "request_id": f"otel-{trace}",
        "created_at": datetime.fromtimestamp(start / 1e9, UTC),
        "company": key.company,
        "brand": key.brand or resource.get("service.name") or None,
        "provider": PROVIDERS.get(str(system).lower(), str(system).lower()),
        "model": model,
        "job_type": JOB_TYPES.get(operation, operation or "chat_completion"),
        "status": "failed" if failed else "completed",
        "input_tokens": counts["input"],
        "output_tokens": counts["output"],
        "cached_tokens": counts["cache_read"],
        "cache_write_tokens": counts["cache_write"],
        "reasoning_tokens": counts["reasoning"],
        "execution_time_seconds": Decimal(end - start) / 1_000_000_000 if end >= start else None,
        "error_class": (str(a.get("error.type")) if a.get("error.type") else "SpanError") if failed else None,
        "operation": a.get("aium.operation") or NO_OPERATION,
        "description": f"OpenTelemetry span {span['name']}"[:2000] if span["name"] else None,
    }


def _answer(request, rejected: int, message: str) -> tuple[bytes, bytes]:
    if request.content_type in PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTracePartialSuccess,
            ExportTraceServiceResponse,
        )

        resp = ExportTraceServiceResponse()
        if rejected:
            resp.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=rejected, error_message=message))
        return resp.SerializeToString(), b"application/x-protobuf"
    body = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}} if rejected else {}
    return json.dumps(body).encode(), b"application/json"


async def receive_traces(gw, request, send, body: bytes, key) -> int:
    if request.content_type in PROTOBUF:
        batches = decode_protobuf(body)
    elif request.content_type == "application/json":
        batches = decode_json(body)
    else:
        raise HttpError(
            415, "unsupported_media_type", "OTLP/HTTP traces are application/x-protobuf or application/json"
        )
    recorded = ignored = 0
    problems: list[str] = []
    now = datetime.now(UTC)
    for resource, spans in batches:
        for span in spans:
            try:
                fields = span_record(span, resource, key)
                if fields is None:
                    ignored += 1
                    continue
                validate_record(fields, now=now)
            except (InvalidRecord, TypeError, ValueError, OverflowError) as e:
                problems.append(f"span {span['span_id']}: {e}")
                continue
            gw.record(fields, kind="otel", source="otel")
            recorded += 1
    m = gw.metrics
    for result, n in (("recorded", recorded), ("ignored", ignored), ("rejected", len(problems))):
        if n:
            m.child(m.spans, result).inc(n)
    answer, content_type = _answer(request, len(problems), "; ".join(problems[:5])[:1000])
    await respond(send, 200, answer, content_type=content_type)
    return 200
