"""The charts as the specs they send: each one a spec plotly's validated go.Figure accepts and sends alike (what
the pages sent before ui.charts skipped the validation), with the traces, colours, axis titles and values the
pages show."""

import json
from datetime import date
from decimal import Decimal

import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest
from streamlit.testing.v1 import AppTest

from core.analytics.costs import ModelCost, ProviderCost, Week
from core.analytics.dashboard_figures import BrandShare, DayProvider, ModelShare, OperationShare, ProviderShare
from core.analytics.efficiency_scores import Metrics, ModelEfficiency, ScoreParts
from core.analytics.stats import Month
from core.analytics.trends import Point
from ui import charts

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def day_rows():
    return [
        DayProvider(D1, "openai", 10, 1000, Decimal("1.25")),
        DayProvider(D1, "anthropic", 4, 800, Decimal("0.50")),
        DayProvider(D2, "openai", 12, 1500, Decimal("2.00")),
        DayProvider(D2, "acme-llm", 1, 10, Decimal("0.01")),
    ]


def model_rows():
    return [
        ModelShare("gpt-4o", "openai", 10, 1000, Decimal("3.5"), 70.0, 100, Decimal("0.35")),
        ModelShare("claude-3-5-haiku", "anthropic", 5, 500, Decimal("1"), 20.0, 100, Decimal("0.2")),
        ModelShare("gpt-4o-mini", "openai", 20, 2000, Decimal("0.5"), 10.0, 100, Decimal("0.025")),
    ]


def efficiency(model, provider, seconds, per_token, jobs, score):
    metrics = Metrics(Decimal("0.01"), seconds, 0.99, 500, per_token, jobs, Decimal("1"), 0)
    return ModelEfficiency(model, provider, False, metrics, score, ScoreParts(5.0, 5.0, 9.0), ())


def every_chart() -> dict[str, charts.Chart]:
    points = [
        Point("Oct 2026", "2026-10", D1, D2, Decimal("12.5"), 10, 100, Decimal("12.5"), None, True),
        Point("Nov 2026", "2026-11", D2, D3, Decimal("15"), 12, 120, Decimal("15"), 20.0, True),
        Point("Dec 2026", "2026-12", D3, D3, Decimal("3"), 2, 20, Decimal("3"), -80.0, False),
    ]
    models = [
        efficiency("gpt-4o", "openai", 3.5, Decimal("0.0000025"), 400, 6.5),
        efficiency("llama3.1:8b", "ollama", 1.2, None, 50, 7.0),
        efficiency("claude-3-5-haiku", "anthropic", 2.0, Decimal("0.000001"), 100, 8.1),
    ]
    weeks = [
        Week("2026-W44", D1, D1, Decimal("1.5"), 3, 30, Decimal("1.5")),
        Week("2026-W45", D2, D3, Decimal("4"), 8, 80, Decimal("2")),
    ]
    return {
        "daily_stacked": charts.daily_stacked(day_rows()),
        "daily_tokens": charts.daily_stacked(day_rows(), "tokens"),
        "provider_bars": charts.provider_bars(
            [ProviderShare("openai", 22, 2500, Decimal("3.25"), 86.67, 80.0, Decimal("0.15"), 0)]
        ),
        "provider_costs": charts.provider_bars(
            [ProviderCost("anthropic", Decimal("0.5"), 100.0, 4, 800, Decimal("0.125"))], "total_cost"
        ),
        "model_bars": charts.model_bars(model_rows()),
        "model_costs": charts.model_bars([ModelCost("gpt-4o", "openai", Decimal("2"), 3, 30, 100.0)]),
        "operation_bars": charts.operation_bars([OperationShare("chat-support", 1234, 56789, Decimal("7.5"), 100.0)]),
        "share_pie": charts.share_pie(
            [
                BrandShare(1, "Brand A", "Acme", 3, 30, Decimal("2"), 80.0),
                BrandShare(2, "B", "Acme", 1, 5, Decimal("0.5"), 20.0),
            ],
            "brand_name",
            "cost",
            "Cost by brand",
        ),
        "budget_burn": charts.budget_burn(
            [(D1, Decimal("1.5")), (D3, Decimal("2.25"))], D1, date(2026, 11, 30), Decimal("50"), Decimal("40")
        ),
        "weekly_bars": charts.weekly_bars(weeks),
        "trend_chart": charts.trend_chart(points, "cost"),
        "efficiency_scatter": charts.efficiency_scatter(models),
        "score_bars": charts.score_bars(models),
        "month_compare": charts.month_compare(
            Month("2026-11", 5, Decimal("4.5"), 50),
            Month("2026-10", 9, Decimal("9"), 90),
            "2026-11 (to date)",
            "2026-10",
        ),
    }


@pytest.mark.parametrize("name", list(every_chart()))
def test_each_chart_sends_what_a_validated_figure_sends(name):
    chart = every_chart()[name]
    # go.Figure raises on a property plotly does not know, and coerces what it would send differently.
    assert chart.to_dict() == go.Figure(chart.spec).to_dict()
    # What st.plotly_chart does with a figure before sending it.
    sent = plotly.tools.return_figure_from_figure_or_data(chart, validate_figure=True)
    assert sent["layout"]["template"] == pio.templates[pio.templates.default].to_plotly_json()
    assert json.loads(chart.to_json()) == json.loads(go.Figure(chart.spec).to_json())


def test_sending_leaves_the_spec_as_it_was():
    chart = every_chart()["daily_stacked"]
    before = json.dumps(chart.spec)
    chart.to_dict()["data"][0]["uid"] = "x"
    chart.to_dict()["layout"]["title"] = "changed"
    assert json.dumps(chart.spec) == before
    assert "template" not in chart.spec["layout"]


def test_daily_stacked_one_bar_trace_per_provider_in_its_colour():
    spec = charts.daily_stacked(day_rows()).spec
    assert [t["name"] for t in spec["data"]] == ["openai", "anthropic", "acme-llm"]
    openai, anthropic, other = spec["data"]
    assert openai["x"] == ["2026-11-01", "2026-11-02"] and openai["y"] == [1.25, 2.0]
    assert anthropic["x"] == ["2026-11-01"] and anthropic["y"] == [0.5]
    assert openai["marker"]["color"] == "#10a37f" and anthropic["marker"]["color"] == "#d97757"
    assert other["marker"]["color"] == charts.provider_color("acme-llm")
    assert other["marker"]["color"].startswith("rgb(")
    layout = spec["layout"]
    assert layout["barmode"] == "stack"
    assert layout["title"]["text"] == "Daily cost by provider"
    assert layout["xaxis"]["title"]["text"] == "Day (UTC)"
    assert layout["yaxis"]["title"]["text"] == "Cost (USD)"
    tokens = charts.daily_stacked(day_rows(), "tokens").spec
    assert tokens["data"][0]["y"] == [1000, 1500]
    assert tokens["layout"]["yaxis"]["title"]["text"] == "Tokens"


def test_model_bars_horizontal_dearest_on_top():
    spec = charts.model_bars(model_rows(), top=2).spec
    assert [(t["name"], t["orientation"], t["y"], t["x"]) for t in spec["data"]] == [
        ("openai", "h", ["gpt-4o"], [3.5]),
        ("anthropic", "h", ["claude-3-5-haiku"], [1.0]),
    ]
    layout = spec["layout"]
    assert layout["title"]["text"] == "Cost by model (top 2)"
    assert layout["yaxis"] == {"title": {"text": "Model"}, "categoryorder": "total ascending"}
    assert layout["xaxis"]["title"]["text"] == "Cost (USD)"
    assert layout["height"] == 300


def test_operation_bars_hover_shows_calls_and_tokens():
    (trace,) = every_chart()["operation_bars"].spec["data"]
    assert trace["x"] == ["chat-support"] and trace["y"] == [7.5]
    assert trace["customdata"] == [[1234, 56789]]
    assert "calls %{customdata[0]:,}" in trace["hovertemplate"]
    assert "tokens %{customdata[1]:,}" in trace["hovertemplate"]


def test_budget_burn_cumulates_the_month_and_draws_projection_and_budget():
    spec = every_chart()["budget_burn"].spec
    cost, projection, budget = spec["data"]
    assert cost["x"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert cost["y"] == [1.5, 1.5, 3.75]
    assert projection["x"] == ["2026-11-03", "2026-11-30"] and projection["y"] == [3.75, 40.0]
    assert budget["y"] == [50.0, 50.0] and budget["line"] == {"color": "#dc2626", "dash": "dash"}
    assert spec["layout"]["yaxis"]["title"]["text"] == "Cumulative cost (USD)"


def test_trend_chart_hatches_the_period_in_progress():
    spec = every_chart()["trend_chart"].spec
    (trace,) = spec["data"]
    assert trace["y"] == [12.5, 15.0, 3.0]
    assert trace["text"] == ["", "+20.0%", "so far"]
    assert trace["marker"]["pattern"]["shape"] == ["", "", "/"]
    assert trace["marker"]["color"] == ["#2563eb", "#2563eb", "#bfdbfe"]
    assert spec["layout"]["title"]["text"] == "Cost per period (hatched: in progress, so far)"
    assert spec["layout"]["xaxis"] == {"title": {"text": "Period"}, "type": "category"}


def test_efficiency_scatter_leaves_out_unpriced_models():
    spec = every_chart()["efficiency_scatter"].spec
    assert [t["name"] for t in spec["data"]] == ["openai", "anthropic"]
    openai = spec["data"][0]
    assert openai["x"] == [3.5] and openai["y"] == [2.5] and openai["text"] == ["gpt-4o"]
    assert openai["marker"]["size"] == [400] and openai["marker"]["sizeref"] == 2.0 * 400 / 40**2
    assert spec["layout"]["yaxis"]["title"]["text"] == "Cost per 1M tokens (USD)"


def _month_compare_page():
    from decimal import Decimal

    import streamlit as st

    from core.analytics.stats import Month
    from ui import charts

    cur, prev = Month("2026-11", 5, Decimal("4.5"), 50), Month("2026-10", 9, Decimal("9"), 90)
    st.plotly_chart(charts.month_compare(cur, prev, "2026-11 (to date)", "2026-10"), width="stretch")


def test_streamlit_draws_a_chart_from_its_spec():
    at = AppTest.from_function(_month_compare_page, default_timeout=30).run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"] == [
        {
            "type": "bar",
            "x": ["2026-10", "2026-11 (to date)"],
            "y": [9.0, 4.5],
            "marker": {"color": ["#94a3b8", "#2563eb"]},
        }
    ]
    assert spec["layout"]["title"]["text"] == "Cost: previous month against month to date"
    # Streamlit's own plotly template (its theme's colours) is the default in its process, as for go.Figure.
    assert pio.templates.default == "streamlit"
    expected = go.Figure(every_chart()["month_compare"].spec)
    assert spec == json.loads(pio.to_json(expected))
