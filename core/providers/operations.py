"""Operations config: which providers serve an operation, in which order, with which model.

The file is TOML (path from the OPERATIONS_FILE setting). Each operation names its chain either as a
primary and its fallbacks (`primary` + `fallback`) or as one list (`chain`), and may pick a model per provider:

    [defaults]
    chain = ["openai", "ollama", "gemini"]

    [operations.kb-quality-analysis-short]
    primary = "openai"
    fallback = ["ollama", "gemini"]
    models = { openai = "gpt-4o-mini", ollama = "qwen2.5:3b" }
    timeout_seconds = 30

An operation missing from the file (or a missing file) uses `[defaults]`, else the built-in chain
openai -> ollama -> gemini, with the provider models from the settings.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from core.config import PROJECT_ROOT, Settings, get_settings
from core.providers.registry import DEFAULT_CHAIN

KNOWN_PROVIDERS = frozenset(DEFAULT_CHAIN)


class OperationsConfigError(ValueError):
    """The operations file is unreadable or names something we cannot serve."""


@dataclass(frozen=True)
class Operation:
    name: str
    chain: tuple[str, ...]
    models: dict[str, str] = field(default_factory=dict)  # provider -> model; missing: settings' model
    timeout_seconds: float | None = None

    def model_for(self, provider: str, settings: Settings | None = None) -> str:
        if provider in self.models:
            return self.models[provider]
        s = settings or get_settings()
        return {"openai": s.openai_model, "ollama": s.ollama_model, "gemini": s.gemini_model}[provider]


def operations_path(settings: Settings | None = None) -> Path:
    p = Path((settings or get_settings()).operations_file)
    return p if p.is_absolute() else PROJECT_ROOT / p


def _chain(where: str, table: dict) -> tuple[str, ...] | None:
    if "chain" in table and ("primary" in table or "fallback" in table):
        raise OperationsConfigError(f"{where}: give either 'chain' or 'primary'/'fallback', not both")
    if "chain" in table:
        chain = table["chain"]
    elif "primary" in table:
        fb = table.get("fallback", [])
        chain = [table["primary"], *(fb if isinstance(fb, list) else [fb])]
    else:
        return None
    if not isinstance(chain, list) or not chain or not all(isinstance(p, str) for p in chain):
        raise OperationsConfigError(f"{where}: the chain must be a non-empty list of provider names")
    chain = [p.strip().lower() for p in chain]
    unknown = [p for p in chain if p not in KNOWN_PROVIDERS]
    if unknown:
        raise OperationsConfigError(f"{where}: unknown provider {unknown[0]!r} (known: {', '.join(DEFAULT_CHAIN)})")
    if len(set(chain)) != len(chain):
        raise OperationsConfigError(f"{where}: a provider appears twice in the chain")
    return tuple(chain)


def _operation(name: str, table: dict, default: Operation) -> Operation:
    where = f"operation {name!r}"
    models = table.get("models", {})
    if not isinstance(models, dict) or not all(isinstance(v, str) and v for v in models.values()):
        raise OperationsConfigError(f"{where}: 'models' must map provider names to model names")
    timeout = table.get("timeout_seconds", default.timeout_seconds)
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise OperationsConfigError(f"{where}: timeout_seconds must be a positive number")
    return Operation(
        name,
        _chain(where, table) or default.chain,
        {**default.models, **{k.lower(): v for k, v in models.items()}},
        float(timeout) if timeout is not None else None,
    )


def parse_operations(text: str) -> tuple[Operation, dict[str, Operation]]:
    """(defaults, {name: operation}) from TOML text; raises OperationsConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise OperationsConfigError(f"operations file: {e}") from None
    default = _operation("defaults", data.get("defaults", {}), Operation("defaults", DEFAULT_CHAIN))
    ops = data.get("operations", {})
    if not isinstance(ops, dict):
        raise OperationsConfigError("operations file: [operations] must be a table of operations")
    return default, {name: _operation(name, table, default) for name, table in ops.items()}


def load_operations(settings: Settings | None = None) -> tuple[Operation, dict[str, Operation]]:
    path = operations_path(settings)
    if not path.is_file():
        return Operation("defaults", DEFAULT_CHAIN), {}
    return parse_operations(path.read_text(encoding="utf-8"))


_cached: dict[str, tuple[tuple[int, int], tuple[Operation, dict[str, Operation]]]] = {}


def load_operations_cached(
    settings: Settings | None = None, *, path: str | None = None
) -> tuple[Operation, dict[str, Operation]]:
    """`load_operations`, parsed again only when the file changed (its size or modification time): for callers
    that read it on every request (the gateway), where a stat costs microseconds and a parse a tenth of a ms.
    `path`: the file's path, when the caller keeps it (building it per call costs more than the stat)."""
    path = path or str(operations_path(settings))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _cached.pop(path, None)
        return Operation("defaults", DEFAULT_CHAIN), {}
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _cached.get(path)
    if hit is None or hit[0] != stamp:
        with open(path, encoding="utf-8") as fh:
            hit = _cached[path] = (stamp, parse_operations(fh.read()))
    return hit[1]


def get_operation(name: str, settings: Settings | None = None) -> Operation:
    """The operation's chain and models; the defaults (renamed) for an operation the file does not list.

    Read on each call: the file is small and an edit takes effect without a restart.
    """
    default, ops = load_operations(settings)
    op = ops.get(name)
    if op is None:
        return Operation(name, default.chain, dict(default.models), default.timeout_seconds)
    return op
