"""Pricing against the prices providers publish, across a price change, and with overrides."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.limits.budgets import set_price
from core.pricing.catalog import Pricer, price_usage
from core.usage import record_usage

AT = datetime(2025, 11, 1, 12, tzinfo=UTC)
M = 1_000_000


def cost(provider, model, i, o, c=0, w=0, at=AT, session=None):
    return price_usage(
        session,
        provider=provider,
        model=model,
        at=at,
        input_tokens=i,
        output_tokens=o,
        cached_tokens=c,
        cache_write_tokens=w,
    )


def test_gpt_4o_mini_published_prices():
    # $0.15 / $0.60 per million input / output tokens.
    c = cost("openai", "gpt-4o-mini", M, M)
    assert (c.cost_input, c.cost_output, c.total_cost) == (Decimal("0.15"), Decimal("0.60"), Decimal("0.75"))
    assert c.pricing_status == "catalog"
    assert isinstance(c.total_cost, Decimal)


def test_cached_input_at_half_price():
    # 1M input of which 400k cache reads: 600k x 0.15 + 400k x 0.075.
    c = cost("openai", "gpt-4o-mini", M, 0, c=400_000)
    assert c.cost_input == Decimal("0.090000") + Decimal("0.030000")


def test_seed_example_gpt_4o():
    # The usage spec's example (125 in, 275 out of gpt-4o) at today's $2.50 / $10: 0.0003125 rounds half-even to
    # 6 places (unbiased over millions of records).
    c = cost("openai", "gpt-4o", 125, 275)
    assert (c.cost_input, c.cost_output) == (Decimal("0.000312"), Decimal("0.002750"))
    assert c.total_cost == c.cost_input + c.cost_output


def test_reasoning_tokens_are_billed_once_as_output():
    # o3-mini: $1.10 / $4.40. 809 output tokens of which 768 reasoning: billed 809 x 4.40, not 1577.
    c = cost("openai", "o3-mini", 11, 809)
    assert c.cost_output == Decimal("0.003560")


def test_price_changes_over_time():
    # o3 went from $10 / $40 to $2 / $8 per million on 2025-06-10.
    before = cost("openai", "o3", M, M, at=datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    after = cost("openai", "o3", M, M, at=datetime(2025, 6, 10, 0, 1, tzinfo=UTC))
    assert before.total_cost == Decimal("50")
    assert after.total_cost == Decimal("10")


def test_anthropic_cache_write_and_read_rates():
    # claude-3-5-sonnet: $3 input, $3.75 cache write, $0.30 cache read, $15 output per million.
    c = cost("anthropic", "claude-3-5-sonnet-20241022", 1529, 33, c=1111, w=418)
    expected_in = (Decimal(0) * 3 + Decimal(1111) * Decimal("0.30") + Decimal(418) * Decimal("3.75")) / M
    assert c.cost_input == expected_in.quantize(Decimal("0.000001"))
    assert c.cost_output == Decimal("0.000495")


def test_gemini_provider_name_maps_to_catalog():
    c = cost("gemini", "gemini-2.0-flash", M, M)
    assert c.total_cost == Decimal("0.50")


def test_tiered_prices_depend_on_request_size():
    small = cost("gemini", "gemini-1.5-pro", 100_000, 0)
    large = cost("gemini", "gemini-1.5-pro", 200_000, 0)
    assert small.cost_input == Decimal("0.125")
    assert large.cost_input > 2 * small.cost_input  # above 128k the whole request is at the higher tier


def test_ollama_is_free_and_unknown_models_are_unpriced():
    assert cost("ollama", "llama3.1:8b", M, M).total_cost == 0
    assert cost("ollama", "llama3.1:8b", M, M).pricing_status == "catalog"
    u = cost("openai", "ft:gpt-4o-mini:acme::x1", M, M)
    assert (u.pricing_status, u.total_cost) == ("unpriced", 0)
    assert cost("nobody", "nothing", 10, 10).pricing_status == "unpriced"


def test_override_wins_over_catalog_from_its_date(db):
    set_price("openai", "gpt-4o-mini", "1.00", "2.00", effective_from="2025-10-01")
    p = Pricer(session=None, overrides=None)
    from core.storage.db import session_scope

    with session_scope() as s:
        p = Pricer(s)
        before = p.price(
            provider="openai",
            model="gpt-4o-mini",
            at=datetime(2025, 9, 30, tzinfo=UTC),
            input_tokens=M,
            output_tokens=M,
        )
        after = p.price(provider="openai", model="gpt-4o-mini", at=AT, input_tokens=M, output_tokens=M)
    assert (before.pricing_status, before.total_cost) == ("catalog", Decimal("0.75"))
    assert (after.pricing_status, after.total_cost) == ("override", Decimal("3.00"))


def test_override_effective_mid_day(db):
    set_price("acme", "m1", "1", "1", effective_from="2025-11-01T12:00:00Z", allow_new_provider=True)
    from core.storage.db import session_scope

    with session_scope() as s:
        p = Pricer(s)
        morning = p.price(
            provider="acme", model="m1", at=datetime(2025, 11, 1, 11, tzinfo=UTC), input_tokens=M, output_tokens=0
        )
        noon = p.price(
            provider="acme", model="m1", at=datetime(2025, 11, 1, 12, tzinfo=UTC), input_tokens=M, output_tokens=0
        )
    assert morning.pricing_status == "unpriced"
    assert (noon.pricing_status, noon.total_cost) == ("override", Decimal("1"))


def test_pattern_override_prices_self_hosted_models(db):
    set_price("ollama", "llama*", "0.05", "0.10", effective_from="2020-01-01")
    set_price("ollama", "llama3.1:8b", "0.01", "0.02", effective_from="2020-01-01")
    u1 = record_usage(provider_name="ollama", model_name="llama3.1:70b", input_tokens=M, output_tokens=M)
    u2 = record_usage(provider_name="ollama", model_name="llama3.1:8b", input_tokens=M, output_tokens=M)
    u3 = record_usage(provider_name="ollama", model_name="qwen2.5:7b", input_tokens=M, output_tokens=M)
    assert (u1.pricing_status, u1.total_cost) == ("override", Decimal("0.15"))
    assert u2.total_cost == Decimal("0.03")  # the exact name beats the pattern
    assert (u3.pricing_status, u3.total_cost) == ("catalog", Decimal("0"))


def test_billed_cost_is_kept_as_given(db):
    u = record_usage(
        provider_name="openai",
        model_name="gpt-4o",
        input_tokens=125,
        output_tokens=275,
        cost_input=Decimal("0.000625"),
        cost_output=Decimal("0.004125"),
    )
    assert (u.cost_input, u.cost_output, u.total_cost) == (
        Decimal("0.000625"),
        Decimal("0.004125"),
        Decimal("0.004750"),
    )
    assert u.pricing_status == "billed"


def test_float_money_is_refused():
    from core.money import to_money

    with pytest.raises(TypeError):
        to_money(0.1)


def test_new_override_reprices_nothing_stored_unless_asked(db):
    old = record_usage(
        job_id="p1",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=M,
        output_tokens=0,
        created_at=datetime(2025, 10, 5, tzinfo=UTC),
    )
    result = set_price("openai", "gpt-4o-mini", "1", "1", effective_from="2025-10-01")
    assert result["repriced"] == 0
    from core.queries.usage_list import get_usage

    assert get_usage(old.id)["total_cost"] == "0.150000"
    new = record_usage(
        job_id="p2",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=M,
        output_tokens=0,
        created_at=datetime(2025, 10, 6, tzinfo=UTC),
    )
    assert (new.pricing_status, new.total_cost) == ("override", Decimal("1"))
    again = set_price("openai", "gpt-4o-mini", "1", "1", effective_from="2025-10-01", reprice=True)
    assert again["repriced"] == 1
    assert get_usage(old.id)["total_cost"] == "1.000000"
