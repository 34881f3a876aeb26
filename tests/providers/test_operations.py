"""The operations file: both chain shapes, models per provider, defaults, and refusals naming the problem."""

import pytest

from core import config
from core.providers.operations import OperationsConfigError, get_operation, parse_operations


def test_example_file_parses_with_seed_000_chain():
    text = (config.PROJECT_ROOT / "operations.example.toml").read_text()
    _, ops = parse_operations(text)
    op = ops["kb-quality-analysis-short"]
    assert op.chain == ("openai", "ollama", "gemini")
    assert op.models["ollama"] == "qwen2.5:3b" and op.timeout_seconds == 30.0


def test_defaults_apply_to_unlisted_operations(tmp_path, monkeypatch):
    f = tmp_path / "ops.toml"
    f.write_text(
        '[defaults]\nchain = ["ollama", "openai"]\nmodels = { ollama = "phi3" }\n[operations.x]\nchain = ["gemini"]\n'
    )
    monkeypatch.setenv("OPERATIONS_FILE", str(f))
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4.1-nano")
    config.reset_settings()
    try:
        other = get_operation("anything")
        assert other.chain == ("ollama", "openai") and other.model_for("ollama") == "phi3"
        assert other.model_for("openai") == "gpt-4.1-nano"
        assert get_operation("x").chain == ("gemini",) and get_operation("x").model_for("ollama") == "phi3"
        monkeypatch.setenv("OPERATIONS_FILE", str(tmp_path / "missing.toml"))
        config.reset_settings()
        assert get_operation("x").chain == ("openai", "ollama", "gemini")
    finally:
        config.reset_settings()


@pytest.mark.parametrize(
    "text,needle",
    [
        ('[operations.a]\nchain = ["openai", "mistral"]\n', "unknown provider 'mistral'"),
        ("[operations.a]\nchain = []\n", "non-empty list"),
        ('[operations.a]\nchain = ["openai"]\nprimary = "ollama"\n', "either 'chain' or 'primary'"),
        ('[operations.a]\nchain = ["openai", "openai"]\n', "appears twice"),
        ("[operations.a]\ntimeout_seconds = -1\n", "timeout_seconds"),
        ("[operations.a\n", "operations file"),
    ],
)
def test_bad_files_are_refused(text, needle):
    with pytest.raises(OperationsConfigError) as ei:
        parse_operations(text)
    assert needle in str(ei.value)
