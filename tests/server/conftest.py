"""The gateway tests' fixtures: `fakes`, three fake providers in front of which the gateway runs."""

from __future__ import annotations

import pytest

from tests.helpers.llm import providers

OPERATIONS = """
[operations.summarize]
chain = ["openai", "ollama", "gemini"]
models = { openai = "gpt-4o-mini", ollama = "qwen2.5:3b", gemini = "gemini-2.0-flash" }
"""


@pytest.fixture
def fakes(db, monkeypatch, tmp_path):
    """(openai, ollama, gemini) fake providers; operations.toml has `summarize` (openai -> ollama -> gemini)."""
    with providers(monkeypatch, tmp_path, operations=OPERATIONS, timeout=5.0, cached_tokens=4, reasoning_tokens=2) as f:
        yield f
