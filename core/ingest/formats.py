"""Import of files people already have, besides our own JSONL/CSV: OpenAI's usage export CSV and LiteLLM spend
logs. Each converter maps a row to our import fields and hands it to `core.ingest.files.import_rows`, so line numbers,
refusals, duplicates and idempotency (deterministic job_ids) work as for our own files.

- openai-csv: the dashboard's "completions usage" export (one row per time bucket, model, project…). Rows are
  the provider's own records: source "provider_bill", left out of the reconciliation's estimate.
- litellm: LiteLLM_SpendLogs rows as CSV, JSONL, a JSON array (/spend/logs) or {"data": [...]} (/spend/logs/v2).
  Prompts, responses, API key hashes and IP addresses are never read into the ledger.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.errors import InvalidRecord
from core.ingest.checks import check_text
from core.ingest.files import FileKind, ImportResult, detect, import_file, import_rows, iter_rows, progress_printer
from core.ingest.lines import Row, unreadable_text

FORMATS = ("auto", "ledger", "openai-csv", "litellm")

OPENAI_USAGE_COLUMNS = (
    "start_time",
    "end_time",
    "start_time_iso",
    "end_time_iso",
    "project_id",
    "num_model_requests",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
)
OPENAI_COST_COLUMNS = ("amount_value", "amount_currency", "line_item")
LITELLM_COLUMNS = (
    "request_id",
    "call_type",
    "spend",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "endTime",
    "request_duration_ms",
    "model",
    "model_group",
    "custom_llm_provider",
    "team_id",
    "request_tags",
    "cache_hit",
    "status",
    "metadata",
)
# LiteLLM's provider names -> ours (Gemini is served through Google AI Studio or Vertex AI).
LITELLM_PROVIDERS = {
    "gemini": "gemini",
    "vertex_ai": "gemini",
    "vertex_ai_beta": "gemini",
    "google": "gemini",
    "openai": "openai",
    "text-completion-openai": "openai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}


class FormatError(ValueError):
    """The file is not in the format asked for (or detected)."""


def detect_format(path: str | Path) -> str:
    """ledger | openai-csv | openai-cost-csv | litellm (core.ingest.files.detect)."""
    return detect(path).format


# -- helpers -------------------------------------------------------------------------------------------------
def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def _decimal(v) -> Decimal | None:
    if _blank(v):
        return None
    try:
        return Decimal(str(v).strip())
    except InvalidOperation:
        return None


def _text_fields(row: dict, names: tuple[str, ...]) -> str | None:
    """Why a field read as text here is not text (a JSON object, array or boolean), or None."""
    try:
        for name in names:
            check_text(name, row.get(name))
    except InvalidRecord as e:
        return str(e)
    return None


def _json_field(v):
    """LiteLLM's Json columns arrive as objects (JSON) or as JSON text (CSV)."""
    if isinstance(v, str) and v.strip()[:1] in ("{", "["):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return None
    return v


# -- OpenAI usage export CSV ---------------------------------------------------------------------------------
def _openai_created_at(row: dict):
    start = _decimal(row.get("start_time"))
    if start is not None:
        return datetime.fromtimestamp(int(start), UTC)
    return row.get("start_time_iso") or row.get("start_time")


def openai_usage_rows(path: Path, kind: FileKind | None = None) -> Iterator[Row]:
    for lineno, row, error in iter_rows(path, (kind or detect(path)).syntax):
        if error is not None:
            yield lineno, None, error
            continue
        if all(_blank(row.get(c)) for c in ("model", "input_tokens", "output_tokens", "num_model_requests")):
            continue  # an empty bucket: the export writes a row per bucket, used or not
        why = _text_fields(row, ("project_id", "model"))
        if why:
            yield lineno, None, why
            continue
        created = _openai_created_at(row)
        if _blank(created):
            yield lineno, None, "start_time: is required (unix seconds) or start_time_iso"
            continue
        key = "|".join(
            str(row.get(c) or "")
            for c in (
                "start_time",
                "start_time_iso",
                "project_id",
                "model",
                "user_id",
                "api_key_id",
                "batch",
                "service_tier",
            )
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        requests = _decimal(row.get("num_model_requests"))
        project = (row.get("project_id") or "").strip()
        yield (
            lineno,
            {
                "job_id": f"openai-export:{digest}",
                "created_at": created,
                "brand": project or None,
                "provider": "openai",
                "model": row.get("model"),
                "job_type": "usage_bucket",
                "status": "completed",
                "operation": "openai-usage-export",
                "input_tokens": row.get("input_tokens"),
                "output_tokens": row.get("output_tokens"),
                "cached_tokens": row.get("input_cached_tokens"),
                "cache_write_tokens": row.get("input_cache_write_tokens"),
                "description": (
                    f"OpenAI usage export: {int(requests)} requests" if requests is not None else "OpenAI usage export"
                )
                + (f" in project {project}" if project else ""),
            },
            None,
        )


# -- LiteLLM spend logs --------------------------------------------------------------------------------------
def _litellm_objects(path: Path, kind: FileKind) -> Iterator[Row]:
    if not kind.document:
        yield from iter_rows(path, kind.syntax)  # CSV or JSONL
        return
    try:
        # A byte that is not UTF-8 is kept (escaped) and refuses the element holding it.
        data = json.loads(path.read_text(encoding="utf-8-sig", errors="surrogateescape"), parse_float=Decimal)
    except json.JSONDecodeError as e:
        yield e.lineno, None, f"invalid JSON: {e.msg} at column {e.colno}"
        return
    items = data.get("data") if isinstance(data, dict) else data
    if not isinstance(items, list):
        yield 1, None, 'expected a JSON array of spend logs or {"data": [...]}'
        return
    for i, obj in enumerate(items, start=1):  # "line" = position in the array
        if not isinstance(obj, dict):
            yield i, None, "an element must be a JSON object"
        elif why := unreadable_text(obj, escaped_bytes=True):
            yield i, None, why
        else:
            yield i, obj, None


def _litellm_provider(row: dict, model: str) -> tuple[str, str]:
    provider = (row.get("custom_llm_provider") or "").strip().lower()
    if not provider and "/" in model:
        provider, model = model.split("/", 1)
        provider = provider.lower()
    elif provider and model.lower().startswith(provider + "/"):
        model = model.split("/", 1)[1]
    return LITELLM_PROVIDERS.get(provider, provider or "litellm"), model


def _seconds(row: dict):
    ms = _decimal(row.get("request_duration_ms"))
    if ms is not None:
        return ms / 1000
    try:
        start = datetime.fromisoformat(str(row.get("startTime")).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(row.get("endTime")).replace("Z", "+00:00"))
    except ValueError:
        return None
    if start.tzinfo is None or end.tzinfo is None:
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    secs = Decimal(int((end - start).total_seconds() * 1000)) / 1000
    return secs if secs >= 0 else None


def litellm_rows(path: Path, kind: FileKind | None = None) -> Iterator[Row]:
    for lineno, row, error in _litellm_objects(path, kind or detect(path)):
        if error is not None:
            yield lineno, None, error
            continue
        rid = row.get("request_id")
        if _blank(rid):
            yield lineno, None, "request_id: is required"
            continue
        why = _text_fields(row, ("request_id", "model", "model_group", "custom_llm_provider", "status"))
        if why:
            yield lineno, None, why
            continue
        model = str(row.get("model") or row.get("model_group") or "").strip()
        provider, model = _litellm_provider(row, model)
        status = str(row.get("status") or "success").strip().lower()
        status = "completed" if status in ("success", "completed", "") else "failed"
        cache_hit = str(row.get("cache_hit") or "").strip().lower() == "true"
        spend = _decimal(row.get("spend"))
        # LiteLLM keeps one spend figure: billed as given (all as input cost); $0 without a cache hit means
        # LiteLLM had no price, so our catalog prices it.
        billed = cache_hit or (spend is not None and spend > 0)
        tags = _json_field(row.get("request_tags"))
        metadata = _json_field(row.get("metadata"))
        error_info = metadata.get("error_information") if isinstance(metadata, dict) else None
        yield (
            lineno,
            {
                "job_id": f"litellm:{str(rid).strip()}",
                "created_at": row.get("startTime"),
                "brand": row.get("team_id") or None,
                "provider": provider,
                "model": model,
                "job_type": row.get("call_type") or None,
                "status": status,
                "operation": tags[0] if isinstance(tags, list) and tags and isinstance(tags[0], str) else None,
                "input_tokens": row.get("prompt_tokens") if not _blank(row.get("prompt_tokens")) else 0,
                "output_tokens": row.get("completion_tokens") if not _blank(row.get("completion_tokens")) else 0,
                "execution_time_seconds": _seconds(row),
                "cost_input": (spend or Decimal(0)) if billed else None,
                "cost_output": Decimal(0) if billed else None,
                "error_class": error_info.get("error_class")
                if isinstance(error_info, dict) and status == "failed"
                else None,
                "description": "LiteLLM cache hit" if cache_hit else None,
            },
            None,
        )


# -- entry point ---------------------------------------------------------------------------------------------
def import_any(
    path: str | Path,
    *,
    fmt: str = "auto",
    company: str | None = None,
    progress: bool = False,
    now: datetime | None = None,
) -> ImportResult:
    """Import a file in our ledger format, OpenAI's usage export CSV or LiteLLM spend logs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import file not found: {path}")
    if fmt not in FORMATS:
        raise FormatError(f"format={fmt!r}: must be one of {', '.join(FORMATS)}")
    kind = detect(path)
    found = kind.format if fmt == "auto" else fmt
    if found == "openai-cost-csv":
        raise FormatError(
            "this is OpenAI's cost export (amount_value, line_item): billed costs come in with "
            "`python -m core sync openai`; import the completions usage export instead"
        )
    if found == "ledger":
        return import_file(path, company=company, progress=progress, now=now)
    rows = openai_usage_rows(path, kind) if found == "openai-csv" else litellm_rows(path, kind)
    source = "provider_bill" if found == "openai-csv" else "import"
    return import_rows(
        rows, company=company, source=source, now=now, progress=progress_printer(path) if progress else None
    )
