"""Plotly figures for the pages: titled, axes labelled with units, one colour per provider on every page.

The figures arrive typed (the views' dataclasses, money as Decimal); money becomes float here only to be drawn.
"""
from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.display import percent

PROVIDER_COLORS = {
    "openai": "#10a37f", "anthropic": "#d97757", "gemini": "#4285f4", "google": "#4285f4", "mistral": "#fa520f",
    "ollama": "#6b7280", "azure": "#0078d4", "bedrock": "#ff9900", "groq": "#f55036", "deepseek": "#4d6bfe",
}
_FALLBACK = px.colors.qualitative.Safe
UNITS = {"cost": "Cost (USD)", "tokens": "Tokens", "jobs": "Jobs (calls)"}


def provider_color(provider: str) -> str:
    """A fixed colour per provider; an unknown one gets a colour from its name, stable across pages and runs."""
    if provider in PROVIDER_COLORS:
        return PROVIDER_COLORS[provider]
    h = int(hashlib.sha1(provider.encode()).hexdigest(), 16)
    return _FALLBACK[h % len(_FALLBACK)]


def color_map(providers) -> dict:
    return {p: provider_color(p) for p in providers}


def num(value) -> float:
    """A figure as a float for drawing only (money stays Decimal everywhere else); None -> 0."""
    return float(value) if value is not None else 0.0


def _layout(fig: go.Figure, title: str, x: str, y: str, *, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height, legend_title_text="",
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def daily_stacked(rows, metric: str = "cost") -> go.Figure:
    """Rows with .day, .provider and the metric (cost, tokens, jobs)."""
    df = pd.DataFrame({"date": [r.day.isoformat() for r in rows], "provider": [r.provider for r in rows],
                       "value": [num(getattr(r, metric)) if metric == "cost" else getattr(r, metric) for r in rows]})
    fig = px.bar(df, x="date", y="value", color="provider", color_discrete_map=color_map(df["provider"].unique()),
                 custom_data=["provider"])
    fig.update_layout(barmode="stack")
    return _layout(fig, f"Daily {metric} by provider", "Day (UTC)", UNITS[metric])


def provider_bars(rows, cost_key: str = "cost") -> go.Figure:
    """Rows with .provider, .percentage and a cost attribute named `cost_key`."""
    df = pd.DataFrame({"provider": [r.provider for r in rows], "usd": [num(getattr(r, cost_key)) for r in rows]})
    fig = px.bar(df, x="provider", y="usd", color="provider", color_discrete_map=color_map(df["provider"]),
                 text=[percent(r.percentage) for r in rows])
    fig.update_layout(showlegend=False)
    return _layout(fig, "Cost by provider", "Provider", "Cost (USD)")


def model_bars(rows, top: int = 15) -> go.Figure:
    """Rows with .model, .provider and .cost, dearest first."""
    rows = rows[:top]
    df = pd.DataFrame({"model": [r.model for r in rows], "provider": [r.provider for r in rows],
                       "usd": [num(r.cost) for r in rows]})
    fig = px.bar(df, x="usd", y="model", color="provider", orientation="h",
                 color_discrete_map=color_map(df["provider"].unique()))
    fig.update_yaxes(categoryorder="total ascending")  # largest at the top, whatever the provider
    return _layout(fig, f"Cost by model (top {len(rows)})", "Cost (USD)", "Model",
                   height=max(300, 28 * len(df) + 120))


def operation_bars(rows) -> go.Figure:
    df = pd.DataFrame({"operation": [r.operation for r in rows], "usd": [num(r.cost) for r in rows],
                       "calls": [r.calls for r in rows], "tokens": [r.tokens for r in rows]})
    fig = px.bar(df, x="operation", y="usd", hover_data=["calls", "tokens"])
    fig.update_traces(marker_color="#6366f1")
    return _layout(fig, "Cost by operation", "Operation", "Cost (USD)")


def share_pie(rows, names: str, cost_key: str, title: str) -> go.Figure:
    df = pd.DataFrame({names: [getattr(r, names) for r in rows], "usd": [num(getattr(r, cost_key)) for r in rows]})
    fig = px.pie(df, names=names, values="usd", hole=0.45)
    fig.update_layout(title=title, height=340, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def budget_burn(daily, start: date, end: date, budget: Decimal | None, projected: Decimal) -> go.Figure:
    """Cumulative cost of the month (`daily`: (day, cost), oldest first) against the budget, with the
    straight-line projection to month end."""
    per_day = dict(daily)
    running, xs, ys = Decimal(0), [], []
    last_data = max(per_day) if per_day else None
    d = start
    while last_data is not None and d <= min(end, last_data):
        running += per_day.get(d, Decimal(0))
        xs.append(d.isoformat())
        ys.append(float(running))
        d += timedelta(days=1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="Cost so far", line={"color": "#2563eb"}))
    if xs:
        fig.add_trace(go.Scatter(x=[xs[-1], end.isoformat()], y=[ys[-1], num(projected)], mode="lines",
                                 name="Projection", line={"dash": "dot", "color": "#9333ea"}))
    if budget is not None:
        fig.add_trace(go.Scatter(x=[start.isoformat(), end.isoformat()], y=[num(budget)] * 2, mode="lines",
                                 name="Budget", line={"color": "#dc2626", "dash": "dash"}))
    return _layout(fig, "Month-to-date cost against budget", "Day (UTC)", "Cumulative cost (USD)")


def weekly_bars(weeks) -> go.Figure:
    fig = go.Figure()
    fig.update_xaxes(type="category")
    labels = [w.week for w in weeks]
    fig.add_trace(go.Bar(x=labels, y=[num(w.cost) for w in weeks], name="Week cost", marker_color="#0ea5e9"))
    fig.add_trace(go.Scatter(x=labels, y=[num(w.avg_daily) for w in weeks], name="Average daily cost",
                             mode="lines+markers", line={"color": "#f59e0b"}))
    return _layout(fig, "Cost per ISO week", "ISO week", "Cost (USD)")


def trend_chart(points, metric: str) -> go.Figure:
    """One bar per period with its change; the period in progress hatched, lighter and labelled "so far" (a part
    of a period, so no change is drawn for it)."""
    partial = [p.in_progress for p in points]
    text = ["so far" if part else "" if p.change_percentage is None else f"{p.change_percentage:+.1f}%"
            for p, part in zip(points, partial)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[p.label for p in points], y=[num(p.value) if metric == "cost" else p.value for p in points],
                         name=UNITS[metric],
                         text=text, textposition="outside",
                         marker={"color": ["#bfdbfe" if part else "#2563eb" for part in partial],
                                 "line": {"color": "#2563eb", "width": 1},
                                 "pattern": {"shape": ["/" if part else "" for part in partial],
                                             "fgcolor": "#2563eb"}}))
    fig.update_xaxes(type="category")  # "Nov 2025", "Q4 2025": labels, not dates
    title = f"{UNITS[metric].split(' (')[0]} per period"
    if any(partial):
        title += " (hatched: in progress, so far)"
    return _layout(fig, title, "Period", UNITS[metric])


def efficiency_scatter(models) -> go.Figure:
    rows = [{"model": m.model, "provider": m.provider, "seconds": m.metrics.avg_execution_time,
             "usd_per_1m": float(m.metrics.cost_per_token * 1_000_000), "jobs": m.metrics.jobs_count,
             "score": m.efficiency_score} for m in models if m.metrics.cost_per_token is not None]
    df = pd.DataFrame(rows)
    fig = px.scatter(df, x="seconds", y="usd_per_1m", size="jobs", color="provider", hover_name="model",
                     hover_data=["score"], color_discrete_map=color_map(df["provider"].unique()))
    return _layout(fig, "Cost per 1M tokens against speed (bubble: calls)", "Average execution time (s)",
                   "Cost per 1M tokens (USD)")


def score_bars(models) -> go.Figure:
    df = pd.DataFrame([{"model": m.model, "provider": m.provider, "score": m.efficiency_score} for m in models])
    fig = px.bar(df, x="score", y="model", color="provider", orientation="h",
                 color_discrete_map=color_map(df["provider"].unique()))
    fig.update_xaxes(range=[0, 10])
    fig.update_yaxes(categoryorder="total ascending")
    return _layout(fig, "Efficiency score (0-10)", "Score (0-10)", "Model", height=max(300, 28 * len(df) + 120))


def month_compare(current, previous, cur_label: str, prev_label: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Bar(x=[prev_label, cur_label], y=[num(previous.cost), num(current.cost)],
                         marker_color=["#94a3b8", "#2563eb"]))
    fig.update_xaxes(type="category")  # "2025-11" is a label here, not a date
    return _layout(fig, "Cost: previous month against month to date", "Month", "Cost (USD)")
