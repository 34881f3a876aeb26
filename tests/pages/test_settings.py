"""Settings through AppTest: budgets, quotas and prices edited with the CLI's validation, a confirmation dialog
before any write, and one click to price an unpriced model (its stored calls are repriced)."""

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core import analytics
from core.limits.budgets import list_budgets, list_prices, list_quotas, set_budget
from tests.helpers.apptest import dashboard
from tests.helpers.ledger import load

pytestmark = pytest.mark.usefixtures("navigation_mode")


def settings_app() -> AppTest:
    at = dashboard("settings").run()
    assert not at.exception
    return at


def submit(at, form: str, label: str):
    at.button(key=f"FormSubmitter:{form}-{label}").click().run()
    assert not at.exception
    return at


@pytest.fixture
def company(db):
    load(
        [
            {
                "job_id": "a",
                "created_at": datetime.now(UTC) - timedelta(days=2),
                "company": "Acme",
                "provider": "acme",
                "model": "custom-1",
                "input_tokens": 1_000_000,
                "output_tokens": 500_000,
            },
            {
                "job_id": "b",
                "created_at": datetime.now(UTC) - timedelta(days=1),
                "company": "Acme",
                "provider": "acme",
                "model": "custom-1",
                "input_tokens": 2_000_000,
                "output_tokens": 0,
            },
        ]
    )
    return "Acme"


def test_budget_is_validated_then_confirmed(company):
    at = settings_app()
    at.selectbox(key="b_company").set_value("Acme")
    at.text_input(key="b_amount").set_value("-5")
    submit(at, "budget_form", "Save budget…")
    assert any("monthly_usd='-5': must not be negative" in e.value for e in at.error)
    assert "confirm_yes" not in [b.key for b in at.button]  # an invalid change never reaches the dialog
    assert list_budgets() == []
    at.text_input(key="b_amount").set_value("250.50")
    submit(at, "budget_form", "Save budget…")
    assert list_budgets() == []  # not before confirmation
    at.button(key="confirm_yes").click().run()
    assert [(b["company"], b["provider"], b["monthly_usd"]) for b in list_budgets()] == [("Acme", None, "250.500000")]
    assert any("Budget saved for Acme" in s.value for s in at.success)


def test_cancel_leaves_nothing(company):
    at = settings_app()
    at.text_input(key="q_provider").set_value("openai")
    at.text_input(key="q_tokens").set_value("1000000")
    submit(at, "quota_form", "Save quota…")
    at.button(key="confirm_no").click().run()
    assert list_quotas() == []
    submit(at, "quota_form", "Save quota…")
    at.button(key="confirm_yes").click().run()
    assert [(q["provider"], q["monthly_tokens"]) for q in list_quotas()] == [("openai", 1000000)]


def test_quota_needs_a_limit_and_budget_delete(company):
    set_budget("Acme", "100")
    at = settings_app()
    at.text_input(key="q_provider").set_value("openai")
    submit(at, "quota_form", "Save quota…")
    assert any("give --monthly-usd and/or --monthly-tokens" in e.value for e in at.error)
    at.button(key="b_delete_btn").click().run()
    at.button(key="confirm_yes").click().run()
    assert list_budgets() == []


def test_one_click_pricing_of_an_unpriced_model(company):
    assert analytics.unpriced_models()[0]["jobs"] == 2
    at = settings_app()
    assert any("custom\\-1" in m.value and "2 calls" in m.value for m in at.markdown)
    at.button(key="price_it_0").click().run()
    assert any("2 unpriced calls" in m.value for m in at.markdown)
    assert at.button(key="d_save").disabled
    at.text_input(key="d_input").set_value("2")
    at.text_input(key="d_output").set_value("bad").run()
    assert any("output_per_million='bad': must be a number" in e.value for e in at.error)
    assert at.button(key="d_save").disabled and list_prices() == []
    at.text_input(key="d_output").set_value("10").run()
    assert any("Saving prices up to 2 stored calls" in i.value for i in at.info)
    assert list_prices() == []  # nothing saved before the confirmation
    at.button(key="d_save").click().run()
    assert [(p["provider"], p["model"], p["input_per_million"]) for p in list_prices()] == [
        ("acme", "custom-1", "2.000000")
    ]
    assert analytics.unpriced_models() == []
    # 3M input tokens at $2 + 0.5M output tokens at $10 = $11.
    assert analytics.get_usage_stats()["lifetime"]["total_cost"] == "11.000000"
    assert any("Every recorded call has a price" in s.value for s in at.success)
    assert any("2 calls repriced" in s.value for s in at.success)


def test_price_override_form(company):
    at = settings_app()
    at.text_input(key="p_provider").set_value("ollama")
    at.text_input(key="p_model").set_value("llama*")
    at.text_input(key="p_input").set_value("0.1")
    at.text_input(key="p_output").set_value("999999")
    submit(at, "price_form", "Save price…")
    assert any("implausibly large" in e.value for e in at.error)
    at.text_input(key="p_output").set_value("0.2")
    submit(at, "price_form", "Save price…")
    at.button(key="confirm_yes").click().run()
    assert [(p["provider"], p["model"], p["output_per_million"]) for p in list_prices()] == [
        ("ollama", "llama*", "0.200000")
    ]


def test_empty_database_renders(db):
    at = settings_app()
    assert any(i.value == "No budget yet." for i in at.info)
    assert any("Every recorded call has a price" in s.value for s in at.success)


def test_unknown_provider_is_refused_until_marked_new(company):
    at = settings_app()
    at.selectbox(key="b_company").set_value("Acme")
    at.text_input(key="b_provider").set_value("opnai")
    at.text_input(key="b_amount").set_value("10")
    submit(at, "budget_form", "Save budget…")
    assert any("provider='opnai': unknown provider — did you mean openai?" in e.value for e in at.error)
    assert "confirm_yes" not in [b.key for b in at.button]  # refused before the confirmation dialog
    assert list_budgets() == []
    at.text_input(key="q_provider").set_value("opnai")
    at.text_input(key="q_tokens").set_value("1000")
    submit(at, "quota_form", "Save quota…")
    assert any("did you mean openai" in e.value for e in at.error) and list_quotas() == []
    at.text_input(key="p_provider").set_value("opnai")
    at.text_input(key="p_model").set_value("m")
    at.text_input(key="p_input").set_value("1")
    at.text_input(key="p_output").set_value("2")
    submit(at, "price_form", "Save price…")
    assert any("did you mean openai" in e.value for e in at.error) and list_prices() == []
    at.checkbox(key="b_new_provider").check()
    submit(at, "budget_form", "Save budget…")
    at.button(key="confirm_yes").click().run()
    assert [(b["company"], b["provider"], b["monthly_usd"]) for b in list_budgets()] == [("Acme", "opnai", "10.000000")]
    at.text_input(key="b_provider").set_value("acme")  # in the ledger: no need to mark it new
    at.checkbox(key="b_new_provider").uncheck()
    submit(at, "budget_form", "Save budget…")
    at.button(key="confirm_yes").click().run()
    assert ("Acme", "acme") in [(b["company"], b["provider"]) for b in list_budgets()]
