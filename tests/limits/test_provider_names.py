"""Budgets, quotas and prices name a provider that exists: in the pricing catalog, among the configured providers,
in the ledger, or already in a limit. Anything else is refused as a likely typo, with the close matches, and
nothing is written; `allow_new_provider=True` saves a deliberately new one."""

import pytest
from sqlalchemy import func, select

from core import config
from core.errors import InvalidRecord
from core.limits.budgets import list_budgets, list_prices, list_quotas, set_budget, set_price, set_quota
from core.limits.provider_names import check_provider, known_providers
from core.storage.db import session_scope
from core.storage.models import Company
from core.usage import record_usage

WRITES = {
    "budget": lambda p, **kw: set_budget("Acme", "10", provider=p, **kw),
    "quota": lambda p, **kw: set_quota("Acme", p, monthly_usd="5", **kw),
    "price": lambda p, **kw: set_price(p, "gpt-4o", "1", "2", effective_from="2025-01-01", **kw),
}


def stored() -> dict[str, list]:
    return {
        "budget": [b["provider"] for b in list_budgets()],
        "quota": [q["provider"] for q in list_quotas()],
        "price": [p["provider"] for p in list_prices()],
    }


def companies() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Company))


@pytest.mark.parametrize("kind", WRITES)
def test_typo_is_refused_with_the_close_match_and_nothing_is_written(db, kind):
    with pytest.raises(InvalidRecord) as exc:
        WRITES[kind]("opnai")
    message = str(exc.value)
    assert exc.value.field == "provider"
    assert "'opnai'" in message and "unknown provider" in message and "did you mean openai" in message
    assert "--allow-new-provider" in message  # says how to save a provider that is really new
    assert stored() == {"budget": [], "quota": [], "price": []}
    assert companies() == 0  # not even the company of the refused budget or quota


@pytest.mark.parametrize("kind", WRITES)
def test_allow_new_provider_saves_it_and_it_is_known_from_then_on(db, kind):
    WRITES[kind]("opnai", allow_new_provider=True)
    assert stored()[kind] == ["opnai"]
    WRITES[kind]("opnai")  # an update of a provider a limit already names needs no flag again
    assert stored()[kind] == ["opnai"]


@pytest.mark.parametrize("kind", WRITES)
def test_a_provider_only_in_the_ledger_is_accepted(db, kind):
    with pytest.raises(InvalidRecord, match="unknown provider"):
        WRITES[kind]("acme")
    record_usage(
        job_id="a1", provider_name="acme", model_name="custom-1", input_tokens=10, output_tokens=5, company="Acme"
    )
    WRITES[kind]("  ACME ")  # compared (and stored) lower-case and trimmed
    assert stored()[kind] == ["acme"]


def test_ledger_names_are_suggested(db):
    record_usage(job_id="a1", provider_name="acme-cloud", model_name="m", input_tokens=1, output_tokens=1)
    with pytest.raises(InvalidRecord, match="did you mean acme-cloud"):
        set_budget("Acme", "10", provider="acme-clod")


def test_a_configured_provider_is_accepted(db, monkeypatch):
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1")
    config.reset_settings()
    assert set_budget("Acme", "10", provider="ollama")["provider"] == "ollama"
    assert set_quota("Acme", "Ollama", monthly_tokens="1000")["provider"] == "ollama"


def test_catalog_providers_under_our_names(db):
    # genai-prices calls Gemini "google": both names are ours to use, and so are the self-hosted ones.
    for name in ("openai", "anthropic", "mistral", "gemini", "google", "groq", "ollama", "vllm"):
        assert set_budget("Acme", "10", provider=name)["provider"] == name
    assert stored()["budget"] == sorted(
        ["openai", "anthropic", "mistral", "gemini", "google", "groq", "ollama", "vllm"]
    )


def test_known_providers_gathers_every_source(db):
    record_usage(job_id="a1", provider_name="acme", model_name="m", input_tokens=1, output_tokens=1)
    set_price("inhouse", "m", "1", "1", allow_new_provider=True)
    with session_scope() as s:
        known = known_providers(s)
        assert {"openai", "gemini", "ollama", "acme", "inhouse"} <= known
        assert "opnai" not in known
        assert check_provider(s, " OpenAI ") == "openai"


def test_company_wide_budget_names_no_provider(db):
    assert set_budget("Acme", "10")["provider"] is None
    assert set_budget("Acme", "20", provider="")["provider"] is None
