"""The shape of core/: imports point down the layers, nobody imports another module's private names, core never
imports streamlit, and no module grows past 400 lines. Read from the source, so a new import that breaks the rule
fails here before it becomes a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core"
# Lower layers never import higher ones; a folder imports no other folder of its own layer.
LAYER = {
    "config": 0,
    "errors": 0,
    "fields": 0,
    "display": 0,
    "redact": 0,
    "clock": 0,
    "money": 0,
    "storage": 1,
    "access": 1,
    "pricing": 2,
    "queries": 3,
    "limits": 4,
    "ingest": 5,
    "providers": 6,
    "analytics": 7,
    "alerts": 7,
    "worker": 8,
    "server": 8,
    "cli": 9,
    # public facades and entry points: they sit on top
    "usage": 10,
    "llm": 10,
    "__main__": 10,
    "__init__": 10,
}
MODULES = sorted(p for p in CORE.rglob("*.py"))


def _imports(path: Path):
    """(imported top-level part of core, imported name or '') for each import of core.* in a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "core":
            parts = node.module.split(".")
            for alias in node.names:
                yield (parts[1] if len(parts) > 1 else alias.name), alias.name, parts
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "core" and len(parts) > 1:
                    yield parts[1], "", parts


def _part(path: Path) -> str:
    return path.relative_to(CORE).with_suffix("").parts[0]


def test_every_part_of_core_has_a_layer():
    assert {_part(p) for p in MODULES} <= set(LAYER), "a new folder or leaf in core/ needs a layer here"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_imports_point_down_and_stay_public(path):
    me = _part(path)
    wrong = []
    for part, name, module in _imports(path):
        if part != me and (LAYER[part] > LAYER[me] or LAYER[part] == LAYER[me] > 0):  # leaves may use each other
            wrong.append(f"{'.'.join(module)} ({part} is not below {me})")
        if name.startswith("_") and not name.startswith("__"):
            wrong.append(f"private name {name} from {'.'.join(module)}")
    assert not wrong, f"{path.relative_to(CORE)}: " + "; ".join(wrong)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_stays_free_of_streamlit_and_small(path):
    text = path.read_text()
    assert not any(m[0] == "streamlit" for m in (n.split(".") for n in _all_imported(text)))
    assert len(text.splitlines()) <= 400, f"{path.relative_to(CORE)} has {len(text.splitlines())} lines"


def _all_imported(text: str):
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
